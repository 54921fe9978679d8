//! `[model]`: the backbone and the projection head's shape.

use serde::{Deserialize, Serialize};

use crate::{BackboneKind, StemKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub backbone: BackboneKind,
    /// The first layers: "small" (3x3 convolution, no max-pool, for small images) or
    /// "imagenet" (7x7 stride-2 convolution and max-pool, for 224-pixel images).
    pub stem: StemKind,
    /// Channels of the first ResNet stage (64 = the standard network).
    pub width: usize,
    /// Hidden width of the projection heads (unset: the backbone's feature size, 8 x width; 32 x
    /// width for resnet50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proj_hidden_dim: Option<usize>,
    pub proj_output_dim: usize,
    /// On several devices: batch norm statistics over every peer's batch (PyTorch's
    /// SyncBatchNorm) instead of each peer's own.
    pub sync_bn: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            backbone: BackboneKind::Resnet18,
            stem: StemKind::Small,
            width: 64,
            proj_hidden_dim: None,
            proj_output_dim: 128,
            sync_bn: false,
        }
    }
}
