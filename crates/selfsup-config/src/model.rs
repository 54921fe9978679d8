//! `[model]`: the backbone and the projection head's shape.

use serde::{Deserialize, Serialize};

use crate::BackboneKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub backbone: BackboneKind,
    /// Channels of the first ResNet stage (64 = the standard network).
    pub width: usize,
    /// Hidden width of the projection heads (unset: the backbone's feature size, 8 x width).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proj_hidden_dim: Option<usize>,
    pub proj_output_dim: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            backbone: BackboneKind::Resnet18,
            width: 64,
            proj_hidden_dim: None,
            proj_output_dim: 128,
        }
    }
}
