//! `[eval]` and `[distill]`: how an encoder is evaluated, and SimCLR v2's distillation.

use serde::{Deserialize, Serialize};

use std::path::PathBuf;

use crate::DatasetKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Run the kNN evaluation every N epochs (0: only at the end); it always runs at the end.
    pub every: usize,
    pub knn_k: usize,
    pub knn_temperature: f64,
    /// Test queries per chunk of the similarity matrix.
    pub knn_chunk_size: usize,
    /// Training features for kNN: recomputed by the backbone (default), or, for instdisc, read
    /// from the memory bank as lemniscate does (test images then go through the head too).
    pub knn_features: KnnFeatures,
    /// `selfsup eval linear`: epochs, batch size, peak learning rate (cosine to 0) and weight
    /// decay of the linear classifier on the cached, standardised features.
    pub linear_epochs: usize,
    pub linear_batch_size: usize,
    pub linear_lr: f64,
    pub linear_weight_decay: f64,
    /// `selfsup eval finetune`: epochs over the labelled subset (0: SimCLR's 60 for 1% of the
    /// labels or fewer, 30 above), batch size, learning rate per 256 images (scaled by
    /// batch / 256; Nesterov momentum 0.9, cosine to 0, no weight decay, crop and flip only).
    pub finetune_epochs: usize,
    pub finetune_batch_size: usize,
    pub finetune_lr: f64,
    /// Test images drawn in the 2-D t-SNE map `eval/embedding.png` (0: no map).
    pub embedding_points: usize,
    /// A labelled set to evaluate on, apart from the images pretrained on: its training split
    /// is what the kNN stores (and the linear probe and fine-tuning learn from), its test split
    /// the queries. Any labelled kind; unset: the training dataset's own splits (with
    /// `data.dataset = "images"`: no kNN, only the health metrics).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetKind>,
    /// Where the evaluation set is (as `data.dir`; Fashion-MNIST has a default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// ImageFolder evaluation sets: side and channels to decode to (unset: `data`'s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KnnFeatures {
    Backbone,
    MemoryBank,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            every: 5,
            knn_k: 200,
            knn_temperature: 0.07,
            knn_chunk_size: 256,
            knn_features: KnnFeatures::Backbone,
            linear_epochs: 100,
            linear_batch_size: 256,
            linear_lr: 0.1,
            linear_weight_decay: 0.0,
            finetune_epochs: 0,
            finetune_batch_size: 256,
            finetune_lr: 0.05,
            embedding_points: 2000,
            dataset: None,
            dir: None,
            image_size: None,
            channels: None,
        }
    }
}

/// `selfsup distill` (SimCLR v2): a smaller student trained on the unlabeled training images
/// from a fine-tuned teacher's softened predictions. Nesterov momentum 0.9, cosine learning rate
/// to 0, crop and flip views (as fine-tuning).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistillConfig {
    /// Channels of the student ResNet's first stage (same depth as the teacher's); 0: half the
    /// teacher's `model.width`.
    pub student_width: usize,
    pub epochs: usize,
    pub batch_size: usize,
    /// Learning rate per 256 images (scaled by batch / 256).
    pub lr: f64,
    pub weight_decay: f64,
    /// tau of the teacher's and the student's softmax.
    pub temperature: f64,
}

impl Default for DistillConfig {
    fn default() -> Self {
        Self {
            student_width: 0,
            epochs: 5,
            batch_size: 256,
            lr: 0.1,
            weight_decay: 5e-4,
            temperature: 1.0,
        }
    }
}

impl DistillConfig {
    /// The student's width for a teacher of `teacher_width`.
    pub fn student_width(&self, teacher_width: usize) -> usize {
        match self.student_width {
            0 => (teacher_width / 2).max(1),
            width => width,
        }
    }
}
