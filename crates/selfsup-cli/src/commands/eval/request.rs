//! Which evaluation a command asks for, and the name its files take.

use anyhow::Result;
use serde::Serialize;

use crate::config::config_name;

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
