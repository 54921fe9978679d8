//! The checks of the warm-up views.

use super::invalid;
use super::{Config, ConfigError};

impl Config {
    pub(crate) fn validate_augment_warmup(&self) -> Result<(), ConfigError> {
        let epochs = self.train.augment_warmup_epochs;
        let Some(warmup) = &self.augment_warmup else {
            if epochs > 0 {
                return Err(invalid(
                    "train.augment_warmup_epochs",
                    epochs,
                    "0, or an [augment_warmup] table with the warm-up views",
                ));
            }
            return Ok(());
        };
        if epochs == 0 || epochs >= self.train.epochs {
            return Err(invalid(
                "train.augment_warmup_epochs",
                epochs,
                &format!(
                    "between 1 and train.epochs - 1 = {} when [augment_warmup] is given",
                    self.train.epochs.saturating_sub(1)
                ),
            ));
        }
        warmup.validate().map_err(|e| ConfigError::Invalid {
            key: format!("augment_warmup.{}", e.field),
            value: e.value,
            expected: e.expected.trim_start_matches("expected ").to_string(),
        })?;
        // The views change strength, not shape: every step's tensors keep their sizes.
        for (key, warm, main) in [
            ("crop_size", warmup.crop_size, self.augment.crop_size),
            ("local_crops", warmup.local_crops, self.augment.local_crops),
            (
                "local_crop_size",
                warmup.local_crop_size,
                self.augment.local_crop_size,
            ),
        ] {
            if warm != main {
                return Err(invalid(
                    &format!("augment_warmup.{key}"),
                    warm,
                    &format!("the same as augment.{key} = {main}"),
                ));
            }
        }
        Ok(())
    }
}
