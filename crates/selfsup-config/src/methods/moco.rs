use serde::{Deserialize, Serialize};

use crate::error::{invalid, positive, positive_int, probability};
use crate::{Config, ConfigError, MethodKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MocoConfig {
    /// 1: linear head, tau 0.07. 2: MLP head (no BN), tau 0.2.
    pub version: u8,
    /// Unset: 0.07 for version 1, 0.2 for version 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// K, keys in the queue (the batch size need not divide it).
    pub queue_size: usize,
    /// m of the key encoder's EMA (0.999 in the paper for 200 ImageNet epochs).
    pub momentum: f64,
    /// Shuffled groups the keys are encoded in, each with its own batch-norm statistics: the
    /// single-device stand-in for shuffle-BN. 1 turns it off.
    pub bn_splits: usize,
}

impl Default for MocoConfig {
    fn default() -> Self {
        Self {
            version: 2,
            temperature: None,
            queue_size: 4096,
            momentum: 0.99,
            bn_splits: 8,
        }
    }
}

impl MocoConfig {
    pub fn temperature(&self) -> f64 {
        self.temperature
            .unwrap_or(if self.version == 1 { 0.07 } else { 0.2 })
    }
}

impl MocoConfig {
    pub(crate) fn validate(&self, config: &Config) -> Result<(), ConfigError> {
        if !(self.version == 1 || self.version == 2) {
            return Err(invalid("moco.version", self.version, "1 or 2"));
        }
        positive("moco.temperature", self.temperature())?;
        positive_int("moco.queue_size", self.queue_size)?;
        probability("moco.momentum", self.momentum)?;
        positive_int("moco.bn_splits", self.bn_splits)?;
        let batch_size = config.train.batch_size;
        if config.method == MethodKind::Moco && self.bn_splits > batch_size {
            return Err(invalid(
                "moco.bn_splits",
                self.bn_splits,
                &format!("at most train.batch_size = {batch_size}"),
            ));
        }
        Ok(())
    }
}
