use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::error::{invalid, positive};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimclrConfig {
    pub temperature: f64,
    /// Projection head depth: 2 (v1: Linear-BN-ReLU-Linear) or 3 (v2: Linear-BN-ReLU twice,
    /// then Linear-BN).
    pub head_layers: usize,
}

impl Default for SimclrConfig {
    fn default() -> Self {
        Self {
            temperature: 0.2,
            head_layers: 2,
        }
    }
}

impl SimclrConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        positive("simclr.temperature", self.temperature)?;
        if !(2..=3).contains(&self.head_layers) {
            return Err(invalid(
                "simclr.head_layers",
                self.head_layers,
                "2 (SimCLR v1's head) or 3 (v2's)",
            ));
        }
        Ok(())
    }
}
