use serde::{Deserialize, Serialize};

use crate::error::{invalid, non_negative, positive, positive_int};
use crate::{Config, ConfigError, MethodKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WclConfig {
    /// Temperature of both heads' losses.
    pub temperature: f64,
    /// lambda: weight of the swapped weak-label loss.
    pub swap_weight: f64,
    /// beta: weight of the multi-crop instance term L_cNCE (with `augment.local_crops > 0`).
    pub crop_nce_weight: f64,
    /// gamma: weight of the multi-crop weak-label term L_cswap.
    pub crop_swap_weight: f64,
    /// KNN multi-crop: after `knn_warmup_epochs` epochs of ordinary multi-crop, cut each
    /// image's local crops from its `knn_neighbours` nearest training images (backbone
    /// features, cosine, recomputed at every epoch's end).
    pub knn_crops: bool,
    pub knn_neighbours: usize,
    pub knn_warmup_epochs: usize,
}

impl Default for WclConfig {
    fn default() -> Self {
        Self {
            temperature: 0.1,
            swap_weight: 1.0,
            crop_nce_weight: 0.5,
            crop_swap_weight: 0.5,
            knn_crops: false,
            knn_neighbours: 4,
            knn_warmup_epochs: 1,
        }
    }
}

impl WclConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        positive("wcl.temperature", self.temperature)?;
        for (key, weight) in [
            ("wcl.swap_weight", self.swap_weight),
            ("wcl.crop_nce_weight", self.crop_nce_weight),
            ("wcl.crop_swap_weight", self.crop_swap_weight),
        ] {
            non_negative(key, weight)?;
        }
        Ok(())
    }

    /// KNN multi-crop: WCL's alone, on its local crops, from a trained epoch on.
    pub(crate) fn validate_knn_crops(&self, config: &Config) -> Result<(), ConfigError> {
        if !self.knn_crops {
            return Ok(());
        }
        if config.method != MethodKind::Wcl {
            return Err(invalid(
                "wcl.knn_crops",
                true,
                "false unless method = \"wcl\"",
            ));
        }
        if config.augment.local_crops == 0 {
            return Err(invalid(
                "wcl.knn_crops",
                true,
                "false, or augment.local_crops > 0 (the neighbours' crops are the local crops)",
            ));
        }
        positive_int("wcl.knn_neighbours", self.knn_neighbours)?;
        if !(1..config.train.epochs).contains(&self.knn_warmup_epochs) {
            return Err(invalid(
                "wcl.knn_warmup_epochs",
                self.knn_warmup_epochs,
                &format!(
                    "between 1 (the first table needs a trained epoch) and train.epochs - 1 = {}",
                    config.train.epochs.saturating_sub(1)
                ),
            ));
        }
        Ok(())
    }
}
