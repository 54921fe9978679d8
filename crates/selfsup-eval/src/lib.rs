//! How good are the learned features: weighted kNN, computed in chunks on the device, a linear
//! probe on cached features, semi-supervised fine-tuning on class-balanced label subsets and
//! distillation of the fine-tuned model into a smaller one, where a classifier fails
//! (per-class accuracy, confusion matrix), and a 2-D map of the features.

mod classifier;
mod distill;
mod embedding;
mod finetune;
pub mod health;
mod knn;
mod linear;
mod metrics;
mod sgd_epochs;
mod splits;

pub use classifier::Classifier;
pub use distill::{DistillData, DistillError, DistillResult, DistillSettings, distill};
pub use embedding::{EmbeddingError, tsne_2d};
pub use finetune::{FinetuneConfig, FinetuneData, FinetuneError, FinetuneResult, finetune};
pub use knn::{KnnAccuracy, KnnConfig, KnnError, KnnIndex, KthValue, top_k_accuracy};
pub use linear::{
    LinearProbeConfig, LinearProbeError, LinearProbeResult, label_tensor, linear_probe,
};
pub use metrics::{ClassReport, argmax_rows, class_report};
pub use sgd_epochs::{AfterEpoch, EpochHooks, Progress};
pub use splits::{SplitError, class_balanced_subset};
