use serde::{Deserialize, Serialize};

use crate::error::{invalid, positive, positive_int};
use crate::{Config, ConfigError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwavConfig {
    /// K prototypes (3000 in the paper; solo-learn's CIFAR recipe too).
    pub prototypes: usize,
    /// tau of the softmax over prototype scores.
    pub temperature: f64,
    /// epsilon of the Sinkhorn-Knopp codes.
    pub epsilon: f64,
    pub sinkhorn_iterations: usize,
    /// Epochs during which the prototypes get no update (the paper: the first).
    pub freeze_prototypes_epochs: usize,
    /// Feature queue: projections of this many earlier global crops (per global crop) join
    /// each batch's Sinkhorn-Knopp problem once full; 0 = off (the paper's small-batch option).
    pub queue_length: usize,
    /// Epoch (0-based) from which the queue is filled (official code: 15).
    pub queue_start_epoch: usize,
}

impl Default for SwavConfig {
    fn default() -> Self {
        Self {
            prototypes: 3000,
            temperature: 0.1,
            epsilon: 0.05,
            sinkhorn_iterations: 3,
            freeze_prototypes_epochs: 1,
            queue_length: 0,
            queue_start_epoch: 15,
        }
    }
}

impl SwavConfig {
    pub(crate) fn validate(&self, config: &Config) -> Result<(), ConfigError> {
        positive_int("swav.prototypes", self.prototypes)?;
        positive("swav.temperature", self.temperature)?;
        positive("swav.epsilon", self.epsilon)?;
        positive_int("swav.sinkhorn_iterations", self.sinkhorn_iterations)?;
        let epochs = config.train.epochs;
        if self.queue_length > 0 && self.queue_start_epoch >= epochs {
            return Err(invalid(
                "swav.queue_start_epoch",
                self.queue_start_epoch,
                &format!(
                    "below train.epochs = {epochs} (or swav.queue_length = 0): the queue would never be used"
                ),
            ));
        }
        Ok(())
    }
}
