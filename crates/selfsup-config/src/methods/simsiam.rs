use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::error::positive_int;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimsiamConfig {
    /// Width of the 3-layer projector's layers and its output (2048 in the paper).
    pub proj_dim: usize,
    /// The predictor's bottleneck (512 in the paper: a quarter of proj_dim).
    pub pred_hidden_dim: usize,
    /// `false` removes the stop-gradient: the paper's ablation, which collapses (its
    /// Figure 2); the training-health metrics should then warn.
    pub stop_gradient: bool,
}

impl Default for SimsiamConfig {
    fn default() -> Self {
        Self {
            proj_dim: 512,
            pred_hidden_dim: 128,
            stop_gradient: true,
        }
    }
}

impl SimsiamConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        positive_int("simsiam.proj_dim", self.proj_dim)?;
        positive_int("simsiam.pred_hidden_dim", self.pred_hidden_dim)
    }
}
