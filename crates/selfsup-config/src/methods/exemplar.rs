use serde::{Deserialize, Serialize};

use crate::error::invalid;
use crate::{Config, ConfigError, MethodKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExemplarConfig {
    /// N surrogate classes: seed images drawn (seeded) from the training set, each a class of
    /// its own (the paper: 8000 was best).
    pub classes: usize,
}

impl Default for ExemplarConfig {
    fn default() -> Self {
        Self { classes: 8000 }
    }
}

impl ExemplarConfig {
    pub(crate) fn validate(&self, config: &Config) -> Result<(), ConfigError> {
        let batch_size = config.train.batch_size;
        if config.method == MethodKind::Exemplar && self.classes < batch_size {
            return Err(invalid(
                "exemplar.classes",
                self.classes,
                &format!(
                    "at least train.batch_size = {batch_size} (the seed images are the training set)"
                ),
            ));
        }
        Ok(())
    }
}
