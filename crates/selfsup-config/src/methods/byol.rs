use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::error::{positive_int, probability};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ByolConfig {
    /// tau of the target's EMA at step 0; it rises to 1 on a cosine over the run (0.996 in the
    /// paper; 0.99 suits short runs, as solo-learn's CIFAR recipe).
    pub momentum_base: f64,
    /// Hidden size of the projector and of the predictor (4096 in the paper); the projection
    /// size is model.proj_output_dim (256 in the paper).
    pub hidden_dim: usize,
}

impl Default for ByolConfig {
    fn default() -> Self {
        Self {
            momentum_base: 0.99,
            hidden_dim: 1024,
        }
    }
}

impl ByolConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        probability("byol.momentum_base", self.momentum_base)?;
        positive_int("byol.hidden_dim", self.hidden_dim)
    }
}
