//! What `RUN_DIR/eval/<kind>.json` holds, and the class names its plots show.

use std::path::PathBuf;

use serde::Serialize;

use super::request::EvalKind;
use crate::config::{Config, DatasetKind};

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
