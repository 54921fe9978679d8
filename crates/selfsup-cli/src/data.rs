//! Loading the datasets a config names: the images to pretrain on, the labelled splits the
//! kNN monitor and `selfsup eval` use, unlabeled folders.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use selfsup_data::{
    Cifar100Labels, ClassChoice, Dataset, Split, StlSplit, TRAIN, load_cifar10, load_cifar100,
    load_image_folder, load_stl10, mnist, test_split,
};
use tracing::{info, warn};

use crate::config::{Cifar100LabelKind, Config, DataConfig, DatasetKind, data_dir_of};
use crate::storage::image_options;
use selfsup_train::methods;
use selfsup_train::run_inputs::EvalSets;

/// The images to pretrain on and the labelled sets the kNN monitor uses, if any.
pub(crate) fn load_pretraining_data(config: &Config) -> Result<(Arc<Dataset>, Option<EvalSets>)> {
    let eval_sets = match config.labelled_data() {
        Some(_) => {
            let (train, test) = load_data(config)?;
            if config.eval.knn_k > train.len() {
                bail!(
                    "eval.knn_k = {}: at most the number of labelled training images ({})",
                    config.eval.knn_k,
                    train.len()
                );
            }
            Some(EvalSets {
                train: Arc::new(train),
                test: Arc::new(test),
            })
        }
        None => None,
    };
    let images: Arc<Dataset> = match (config.data.dataset, &eval_sets) {
        (DatasetKind::Images, _) => Arc::new(load_unlabeled(config)?),
        (dataset, sets) => {
            let train = match sets {
                Some(sets) if config.eval.dataset.is_none() => sets.train.clone(),
                _ => {
                    // Evaluated on another set: the training dataset's own training split.
                    let own = Config {
                        eval: crate::config::EvalConfig::default(),
                        ..config.clone()
                    };
                    Arc::new(load_data(&own)?.0)
                }
            };
            if dataset == DatasetKind::Stl10 && config.data.stl10_unlabeled {
                let unlabeled = load_stl10(&config.data_dir()?, StlSplit::Unlabeled)
                    .context("loading the unlabeled split")?;
                info!(
                    unlabeled = unlabeled.len(),
                    "pretraining on the labelled and unlabeled images"
                );
                let mut all = (*train).clone();
                all.append(unlabeled);
                Arc::new(all)
            } else {
                train
            }
        }
    };
    // The method's own choice out of them (Exemplar-CNN's seed images).
    Ok((methods::training_set(config, images)?, eval_sets))
}

/// The labelled training split and the test split the kNN and `selfsup eval` use: the
/// training dataset's own, or `[eval] dataset`'s (see `Config::labelled_data`).
pub(crate) fn load_data(config: &Config) -> Result<(Dataset, Dataset)> {
    let Some(data) = config.labelled_data() else {
        bail!(
            "data.dataset = \"images\" has no labels: set eval.dataset and eval.dir to a \
             labelled set (e.g. eval.dataset = \"imagefolder\") to evaluate on"
        );
    };
    let separate = config.eval.dataset.is_some();
    let key = if separate { "eval.dir" } else { "data.dir" };
    let dir = data_dir_of(&data, key)?;
    let what = if separate {
        "the evaluation set's"
    } else {
        "the"
    };
    let load = |split| -> Result<Dataset> {
        Ok(match data.dataset {
            DatasetKind::FashionMnist | DatasetKind::Mnist => mnist::load_split(&dir, split)?,
            DatasetKind::Cifar10 => load_cifar10(&dir, split)?,
            DatasetKind::Imagefolder | DatasetKind::Stl10 | DatasetKind::Images => {
                unreachable!("loaded by their own branches")
            }
            DatasetKind::Cifar100 => {
                let labels = match data.cifar100_labels {
                    Cifar100LabelKind::Fine => Cifar100Labels::Fine,
                    Cifar100LabelKind::Coarse => Cifar100Labels::Coarse,
                };
                load_cifar100(&dir, split, labels)?
            }
        })
    };
    let (mut train, mut test) = if data.dataset == DatasetKind::Imagefolder {
        load_image_folders(&data, &dir)?
    } else if data.dataset == DatasetKind::Stl10 {
        (
            load_stl10(&dir, StlSplit::Train)
                .with_context(|| format!("loading {what} training split"))?,
            load_stl10(&dir, StlSplit::Test)
                .with_context(|| format!("loading {what} test split"))?,
        )
    } else {
        (
            load(Split::Train).with_context(|| format!("loading {what} training split"))?,
            load(Split::Test).with_context(|| format!("loading {what} test split"))?,
        )
    };
    if let Some(limit) = data.train_limit {
        train.truncate(limit);
    }
    if let Some(limit) = data.test_limit {
        test.truncate(limit);
    }
    if !separate && train.len() < config.train.batch_size {
        bail!(
            "{}: {} training images, fewer than train.batch_size = {}",
            dir.display(),
            train.len(),
            config.train.batch_size
        );
    }
    info!(train = train.len(), test = test.len(), dir = %dir.display(), "labelled data loaded");
    Ok((train, test))
}

/// The unlabeled images under `data.dir` (`data.dataset = "images"`), as an image folder's
/// are decoded.
pub(crate) fn load_unlabeled(config: &Config) -> Result<Dataset> {
    let dir = config.data_dir()?;
    let loaded = selfsup_data::load_images(&dir, &image_options(&config.data))
        .with_context(|| format!("loading the images under {}", dir.display()))?;
    if !loaded.skipped.is_empty() {
        warn!(
            skipped = loaded.skipped.len(),
            "undecodable image files skipped (data.skip_bad = true)"
        );
    }
    let mut images = loaded.dataset;
    if let Some(limit) = config.data.train_limit {
        images.truncate(limit);
    }
    if images.len() < config.train.batch_size {
        bail!(
            "{}: {} images, fewer than train.batch_size = {}",
            dir.display(),
            images.len(),
            config.train.batch_size
        );
    }
    info!(images = images.len(), dir = %dir.display(), "unlabeled images loaded");
    Ok(images)
}

/// The class folder names a `data.classes` file lists, one per line (blank lines and `#`
/// comments left out), sorted as the folders are.
fn class_list(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("data.classes = {}: cannot read", path.display()))?;
    let mut classes: Vec<String> = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .map(String::from)
        .collect();
    classes.sort();
    classes.dedup();
    if classes.is_empty() {
        bail!("data.classes = {}: lists no class", path.display());
    }
    Ok(classes)
}

/// `dir/train` and `dir/test` (or ImageNet's `dir/val`), decoded and resized; the test split
/// uses the training classes; with `data.classes`, only the classes it lists.
fn load_image_folders(data: &DataConfig, dir: &Path) -> Result<(Dataset, Dataset)> {
    let options = image_options(data);
    let chosen = data.classes.as_deref().map(class_list).transpose()?;
    let train_choice = match &chosen {
        Some(chosen) => ClassChoice::Only(chosen),
        None => ClassChoice::Own,
    };
    let train = load_image_folder(dir, TRAIN, train_choice, &options)
        .context("loading the training split")?;
    let test_choice = match &chosen {
        Some(_) => ClassChoice::Only(&train.classes),
        None => ClassChoice::Known(&train.classes),
    };
    let test_split = test_split(dir);
    let test = load_image_folder(dir, test_split, test_choice, &options)
        .with_context(|| format!("loading the test split ({test_split}/)"))?;
    let skipped = train.skipped.len() + test.skipped.len();
    if skipped > 0 {
        warn!(
            skipped,
            "undecodable image files skipped (data.skip_bad = true)"
        );
    }
    info!(classes = ?train.classes, "image folder classes");
    for (split, data) in [("train", &train.dataset), ("test", &test.dataset)] {
        let decoded_mb = (data.len() * data.image_len()) as f64 / 1e6;
        if data.files.is_some() {
            info!(
                split,
                decoded_mb, "images decoded on the fly (data.storage)"
            );
        } else {
            info!(split, decoded_mb, "images decoded once, kept in memory");
        }
    }
    Ok((train.dataset, test.dataset))
}
