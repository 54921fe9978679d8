use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::error::{non_negative, positive_int};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BarlowConfig {
    /// Width of the 3-layer projector's layers and its output (8192 in the paper, 2048 in
    /// solo-learn's CIFAR recipe).
    pub proj_dim: usize,
    /// lambda: weight of the off-diagonal (redundancy) term (5e-3 in the paper).
    pub lambda: f64,
}

impl Default for BarlowConfig {
    fn default() -> Self {
        Self {
            proj_dim: 1024,
            lambda: 5e-3,
        }
    }
}

impl BarlowConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        positive_int("barlow.proj_dim", self.proj_dim)?;
        non_negative("barlow.lambda", self.lambda)
    }
}
