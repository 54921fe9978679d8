//! `selfsup eval knn|linear|finetune --checkpoint RUN_DIR`: loads a run's saved encoder,
//! measures it, and writes `RUN_DIR/eval/<kind>.json` (with per-class accuracy and the
//! confusion matrix), `<kind>_confusion.png`, for the frozen-feature kinds a t-SNE map of
//! the test features, `embedding.png`, and for fine-tuning the fine-tuned classifier,
//! `<kind>.safetensors` (a teacher for `selfsup distill`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use selfsup_data::Dataset;
use selfsup_eval::{
    FinetuneConfig, FinetuneData, FinetuneError, LinearProbeConfig, argmax_rows,
    class_balanced_subset, class_report, finetune, linear_probe, top_k_accuracy, tsne_2d,
};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::backend::{BackendJob, run_on};
use crate::config::{Config, DatasetKind, config_name};
use crate::epoch_checkpoints::{Continuation, EpochCheckpoints, remove_old};
use crate::plots::{confusion_png, embedding_png};
use crate::progress::EpochBar;
use crate::saved::{CLASSIFIER_FORMAT, finished_run, load_encoder, load_head_layer};
use selfsup_train::features::{CropFlipViews, encode, image_batch, labels};
use selfsup_train::methods::normalization;
use selfsup_train::run_dir::{HEAD_LAYER_FILE, save_module};
use selfsup_train::run_inputs::knn_config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalKind {
    /// Weighted kNN (the same as during pretraining).
    Knn,
    /// A linear classifier on the frozen, cached features (eval.linear_* keys).
    Linear,
    /// Backbone + linear head fine-tuned on a class-balanced fraction of the training labels
    /// (--labels; eval.finetune_* keys).
    Finetune,
}

/// What `RUN_DIR/eval/<kind>.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub kind: EvalKind,
    pub dataset: String,
    pub top1: f64,
    pub top5: f64,
    pub train_images: usize,
    pub test_images: usize,
    /// Fine-tuning only: the fraction of training labels used, how many images that is and the
    /// file listing them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels_fraction: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labelled_images: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_split: Option<PathBuf>,
    /// Fine-tuning only: whether SimCLR v2's first head layer was fine-tuned with the backbone,
    /// and where the fine-tuned classifier was saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_head_layer: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<PathBuf>,
    /// Linear probe only: accuracy on the training features.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_top1: Option<f64>,
    /// Linear probe and fine-tuning: the last epoch's mean loss.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    pub class_names: Vec<String>,
    /// Top-1 of each class's test images (null for a class without test images).
    pub per_class_top1: Vec<f64>,
    /// `confusion[true][predicted]`, image counts.
    pub confusion: Vec<Vec<u64>>,
    pub seconds: f64,
}

/// Which evaluation, and for fine-tuning the fraction of labels and where it starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalRequest {
    pub kind: EvalKind,
    pub labels: Option<f64>,
    /// Fine-tune SimCLR v2's first head layer with the backbone (the head on top of it).
    pub from_head_layer: bool,
}

impl EvalRequest {
    /// `knn`, `linear`, `finetune_0.01`, `finetune_0.01_head_layer`: the report's file stem.
    pub fn name(&self) -> Result<String> {
        let kind = config_name(self.kind)?;
        let name = match self.labels {
            Some(fraction) => format!("{kind}_{fraction}"),
            None => kind,
        };
        Ok(if self.from_head_layer {
            format!("{name}_head_layer")
        } else {
            name
        })
    }
}

/// The indices of a fine-tuning label subset, saved so every evaluation of the run (and anyone
/// comparing with it) uses the same images.
#[derive(Debug, Serialize, Deserialize)]
struct LabelSplit {
    fraction: f64,
    seed: u64,
    train_images: usize,
    indices: Vec<usize>,
}

/// Reads the run's config (with `overrides`, e.g. `eval.linear_epochs=50`), its data and its
/// encoder, evaluates, and writes the report and its pictures. Returns it and where it was
/// written.
pub fn evaluate(
    run: &Path,
    request: EvalRequest,
    overrides: &[String],
    continuation: &Continuation,
) -> Result<(EvalReport, PathBuf)> {
    let started = Instant::now();
    match (request.kind, request.labels) {
        (EvalKind::Finetune, None) => {
            bail!("finetune needs --labels FRACTION, e.g. --labels 0.01 (1% of the labels)")
        }
        (EvalKind::Knn | EvalKind::Linear, Some(_)) => {
            bail!("--labels is for finetune only (knn and linear use every training label)")
        }
        (_, Some(fraction)) if !(fraction > 0.0 && fraction <= 1.0) => {
            bail!("--labels {fraction}: must be a fraction in (0, 1], e.g. 0.01 or 0.1")
        }
        _ => {}
    }
    if request.kind != EvalKind::Finetune
        && (continuation.resume || continuation.stop_after_epoch.is_some())
    {
        bail!("--resume and --stop-after-epoch are for finetune only (knn and linear are quick)");
    }
    if request.from_head_layer && request.kind != EvalKind::Finetune {
        bail!(
            "--from-head-layer is for finetune only (knn and linear use the backbone's features)"
        );
    }
    let (config, encoder_path) = finished_run(run, overrides)?;
    let head_layer_path = run.join(HEAD_LAYER_FILE);
    if request.from_head_layer && !head_layer_path.exists() {
        bail!(
            "{}: no head layer to fine-tune from (a SimCLR run with simclr.head_layers = 3 saves \
             its first head layer when it finishes)",
            head_layer_path.display()
        );
    }
    let (train, test) = crate::data::load_data(&config)?;
    let dir = run.join("eval");
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let subset = match request.labels {
        Some(fraction) => Some(label_split(&dir, &train, fraction, config.seed)?),
        None => None,
    };
    let name = request.name()?;
    let job = EvalJob {
        config: &config,
        request,
        encoder_path: &encoder_path,
        train: &train,
        test: &test,
        subset: subset.as_ref().map(|(indices, _)| indices.as_slice()),
        head_layer_path: request.from_head_layer.then_some(head_layer_path.as_path()),
        model_path: dir.join(format!("{name}.safetensors")),
        checkpoint_dir: dir.join(format!("{name}.checkpoint")),
        continuation,
        embedding_path: dir.join("embedding.png"),
        class_names: class_names(&config, train.num_classes.max(test.num_classes)),
    };
    let mut report = run_on(config.backend, config.device, job)?;
    if let Some((indices, path)) = subset {
        report.labelled_images = Some(indices.len());
        report.label_split = Some(path);
    }
    confusion_png(
        &dir.join(format!("{name}_confusion.png")),
        &report.confusion,
        &report.class_names,
        &format!(
            "{name} on {}: top-1 {:.2}%",
            report.dataset,
            report.top1 * 100.0
        ),
    )?;
    report.seconds = started.elapsed().as_secs_f64();
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok((report, path))
}

/// The subset for `fraction`: read from `eval/labels_<fraction>.json` when an earlier
/// evaluation saved one for the same training set, drawn (class-balanced, seeded) and saved
/// otherwise.
fn label_split(
    dir: &Path,
    train: &Dataset,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, PathBuf)> {
    let path = dir.join(format!("labels_{fraction}.json"));
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let saved: LabelSplit = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a label split", path.display()))?;
        if saved.train_images != train.len() || saved.indices.iter().any(|&i| i >= train.len()) {
            bail!(
                "{}: drawn from {} training images, the data now has {}; delete it to draw a new split",
                path.display(),
                saved.train_images,
                train.len()
            );
        }
        info!(path = %path.display(), images = saved.indices.len(), "label split reused");
        return Ok((saved.indices, path));
    }
    let indices = class_balanced_subset(&train.labels, fraction, seed)?;
    let split = LabelSplit {
        fraction,
        seed,
        train_images: train.len(),
        indices,
    };
    std::fs::write(&path, serde_json::to_string(&split)? + "\n")
        .with_context(|| format!("{}: cannot write", path.display()))?;
    info!(path = %path.display(), images = split.indices.len(), "label split drawn and saved");
    Ok((split.indices, path))
}

/// Class names for the plots: the dataset's own where it has them, else the label numbers.
pub(crate) fn class_names(config: &Config, classes: usize) -> Vec<String> {
    let Some(data) = config.labelled_data() else {
        return (0..classes).map(|c| c.to_string()).collect();
    };
    let known: Option<Vec<String>> = match data.dataset {
        DatasetKind::FashionMnist => Some(
            selfsup_data::FASHION_MNIST_CLASSES
                .map(String::from)
                .to_vec(),
        ),
        DatasetKind::Cifar10 => Some(selfsup_data::CIFAR10_CLASSES.map(String::from).to_vec()),
        DatasetKind::Stl10 => Some(selfsup_data::STL10_CLASSES.map(String::from).to_vec()),
        DatasetKind::Imagefolder => crate::config::data_dir_of(&data, "eval.dir")
            .ok()
            .and_then(|dir| selfsup_data::imagefolder::class_names(&dir.join("train")).ok()),
        DatasetKind::Mnist | DatasetKind::Cifar100 | DatasetKind::Images => None,
    };
    match known {
        Some(names) if names.len() == classes => names,
        _ => (0..classes).map(|c| c.to_string()).collect(),
    }
}

struct EvalJob<'a> {
    config: &'a Config,
    request: EvalRequest,
    encoder_path: &'a Path,
    train: &'a Dataset,
    test: &'a Dataset,
    subset: Option<&'a [usize]>,
    /// Fine-tuning from SimCLR v2's head layer: its file.
    head_layer_path: Option<&'a Path>,
    /// Where the fine-tuned classifier goes.
    model_path: PathBuf,
    /// Fine-tuning's checkpoint after each epoch (removed once the classifier is saved).
    checkpoint_dir: PathBuf,
    continuation: &'a Continuation,
    embedding_path: PathBuf,
    class_names: Vec<String>,
}

/// Test-set scores of one evaluation: top-1 / top-5 and the predicted classes.
struct Scored {
    top1: f64,
    top5: f64,
    predictions: Vec<u32>,
}

impl BackendJob for EvalJob<'_> {
    type Output = EvalReport;

    fn run<B: AutodiffBackend>(self, device: B::Device, _device_name: &str) -> Result<EvalReport> {
        let config = self.config;
        let classes = self.train.num_classes.max(self.test.num_classes);
        let mut report = EvalReport {
            kind: self.request.kind,
            dataset: config_name(config.data.dataset)?,
            top1: 0.0,
            top5: 0.0,
            train_images: self.train.len(),
            test_images: self.test.len(),
            labels_fraction: self.request.labels,
            labelled_images: None,
            label_split: None,
            from_head_layer: None,
            model: None,
            train_top1: None,
            final_loss: None,
            epochs: None,
            class_names: self.class_names.clone(),
            per_class_top1: Vec::new(),
            confusion: Vec::new(),
            seconds: 0.0,
        };
        let scored = match self.request.kind {
            EvalKind::Knn | EvalKind::Linear => {
                let encoder = load_encoder::<B::InnerBackend>(
                    config,
                    self.train.channels,
                    self.encoder_path,
                    &device,
                )?;
                let normalize = normalization(config, self.train);
                let features =
                    |data: &Dataset| encode(|x| encoder.forward(x), data, &normalize, &device);
                let (train_features, test_features) = (features(self.train), features(self.test));
                self.embedding_plot(test_features.clone())?;
                if self.request.kind == EvalKind::Knn {
                    self.knn(train_features, test_features, classes)?
                } else {
                    self.linear::<B>(train_features, test_features, classes, &mut report)?
                }
            }
            EvalKind::Finetune => self.finetune::<B>(&device, classes, &mut report)?,
        };
        let classes_report = class_report(&scored.predictions, &self.test.labels, classes);
        report.top1 = scored.top1;
        report.top5 = scored.top5;
        report.per_class_top1 = classes_report.per_class_top1;
        report.confusion = classes_report.confusion;
        Ok(report)
    }
}

impl<'a> EvalJob<'a> {
    fn knn<B: Backend>(
        &self,
        train_features: Tensor<B, 2>,
        test_features: Tensor<B, 2>,
        classes: usize,
    ) -> Result<Scored> {
        let device = train_features.device();
        let index =
            selfsup_eval::KnnIndex::new(train_features, labels(self.train, &device), classes)?;
        let scores = index.class_scores(test_features, &knn_config(self.config))?;
        let accuracy = top_k_accuracy(scores.clone(), labels(self.test, &device));
        Ok(Scored {
            top1: accuracy.top1,
            top5: accuracy.top5,
            predictions: argmax_rows(scores),
        })
    }

    fn linear<B: AutodiffBackend>(
        &self,
        train_features: Tensor<B::InnerBackend, 2>,
        test_features: Tensor<B::InnerBackend, 2>,
        classes: usize,
        report: &mut EvalReport,
    ) -> Result<Scored> {
        let eval = &self.config.eval;
        info!("features computed once; training the linear classifier");
        let probe = LinearProbeConfig {
            epochs: eval.linear_epochs,
            batch_size: eval.linear_batch_size,
            lr: eval.linear_lr,
            momentum: 0.9,
            weight_decay: eval.linear_weight_decay,
            seed: self.config.seed,
        };
        let result = linear_probe::<B>(
            train_features,
            &self.train.labels,
            test_features,
            &self.test.labels,
            classes,
            &probe,
        )?;
        report.train_top1 = Some(result.train_top1);
        report.final_loss = Some(result.final_loss);
        report.epochs = Some(probe.epochs);
        Ok(Scored {
            top1: result.test.top1,
            top5: result.test.top5,
            predictions: result.test_predictions,
        })
    }

    fn finetune<B: AutodiffBackend>(
        &self,
        device: &B::Device,
        classes: usize,
        report: &mut EvalReport,
    ) -> Result<Scored> {
        let config = self.config;
        let eval = &config.eval;
        let subset = self.subset.context("fine-tuning without a label subset")?;
        let fraction = self.request.labels.unwrap_or(1.0);
        let epochs = match eval.finetune_epochs {
            0 if fraction <= 0.01 => 60,
            0 => 30,
            epochs => epochs,
        };
        let encoder = load_encoder::<B>(config, self.train.channels, self.encoder_path, device)?;
        let tail = match self.head_layer_path {
            Some(path) => Some(load_head_layer::<B>(
                config,
                self.train.channels,
                path,
                device,
            )?),
            None => None,
        };
        let normalize = normalization(config, self.train);
        let views = CropFlipViews::new(config, self.train, normalize.clone());
        let subset_labels: Vec<u32> = subset.iter().map(|&i| self.train.labels[i]).collect();
        let finetune_config = FinetuneConfig {
            epochs,
            batch_size: eval.finetune_batch_size,
            lr: eval.finetune_lr * eval.finetune_batch_size as f64 / 256.0,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.0,
            seed: config.seed,
        };
        info!(
            labelled = subset.len(),
            epochs,
            lr = finetune_config.lr,
            from_head_layer = tail.is_some(),
            "fine-tuning backbone and linear head"
        );
        let bar = EpochBar::new(
            "fine-tune",
            epochs,
            subset.len().div_ceil(eval.finetune_batch_size),
        );
        let train_batch = |positions: &[usize], epoch: usize| {
            let indices: Vec<usize> = positions.iter().map(|&p| subset[p]).collect();
            bar.batch(indices.len());
            views.batch::<B>(&indices, epoch, device)
        };
        let test = self.test;
        let test_batch = |range: std::ops::Range<usize>| {
            let indices: Vec<usize> = range.collect();
            image_batch::<B::InnerBackend>(test, &indices, &normalize, device)
        };
        let data = FinetuneData {
            train_labels: &subset_labels,
            train_batch,
            test_labels: &test.labels,
            test_batch,
            classes,
        };
        let mut hooks = self.checkpoints::<B>(&bar, &finetune_config, subset.len(), device);
        let result = match finetune(encoder, tail, data, &finetune_config, &mut hooks) {
            Ok(result) => result,
            Err(FinetuneError::Stopped { epoch }) => {
                bar.finish();
                return Err(hooks.stopped(epoch));
            }
            Err(other) => return Err(other.into()),
        };
        bar.finish();
        save_module(&self.model_path, CLASSIFIER_FORMAT, &result.model)?;
        remove_old(&self.checkpoint_dir).map_err(anyhow::Error::msg)?;
        info!(path = %self.model_path.display(), "fine-tuned classifier saved");
        report.final_loss = Some(result.final_loss);
        report.epochs = Some(epochs);
        report.from_head_layer = Some(self.head_layer_path.is_some());
        report.model = Some(self.model_path.clone());
        Ok(Scored {
            top1: result.test.top1,
            top5: result.test.top5,
            predictions: result.predictions,
        })
    }

    /// Fine-tuning's progress bar and checkpoints, with what a resume must match.
    fn checkpoints<B: AutodiffBackend>(
        &self,
        bar: &'a EpochBar,
        schedule: &FinetuneConfig,
        labelled: usize,
        device: &B::Device,
    ) -> EpochCheckpoints<'a, B> {
        EpochCheckpoints {
            bar,
            dir: self.checkpoint_dir.clone(),
            epochs: schedule.epochs,
            settings: serde_json::json!({
                "labelled_images": labelled,
                "from_head_layer": self.head_layer_path.is_some(),
                "epochs": schedule.epochs,
                "batch_size": schedule.batch_size,
                "lr": schedule.lr,
                "seed": schedule.seed,
            }),
            continuation: self.continuation,
            device: device.clone(),
        }
    }

    /// t-SNE of (up to `eval.embedding_points`, evenly spaced) test features, coloured by class.
    fn embedding_plot<B: Backend>(&self, test_features: Tensor<B, 2>) -> Result<()> {
        let wanted = self.config.eval.embedding_points.min(self.test.len());
        if wanted == 0 {
            return Ok(());
        }
        let [count, dim] = test_features.dims();
        let stride = count.div_ceil(wanted).max(1);
        let values: Vec<f32> = test_features
            .into_data()
            .convert::<f32>()
            .into_vec()
            .map_err(|e| anyhow::anyhow!("cannot read the test features: {e:?}"))?;
        let rows: Vec<Vec<f32>> = (0..count)
            .step_by(stride)
            .map(|i| values[i * dim..(i + 1) * dim].to_vec())
            .collect();
        let point_labels: Vec<u32> = (0..count)
            .step_by(stride)
            .map(|i| self.test.labels[i])
            .collect();
        let started = Instant::now();
        let points = match tsne_2d(&rows, 30.0, 1000, self.config.seed) {
            Ok(points) => points,
            Err(error) => {
                info!(%error, "no embedding plot");
                return Ok(());
            }
        };
        embedding_png(
            &self.embedding_path,
            &points,
            &point_labels,
            &self.class_names,
            &format!(
                "t-SNE of {} test features ({})",
                rows.len(),
                config_name(self.config.method)?
            ),
        )?;
        info!(path = %self.embedding_path.display(), seconds = started.elapsed().as_secs_f64(), "embedding plot written");
        Ok(())
    }
}
