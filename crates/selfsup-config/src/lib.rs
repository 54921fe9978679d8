//! The run configuration: TOML, every key documented in docs/configuration.md, unknown keys
//! rejected, every bad value reported with its key and what is allowed.

mod checkpoint;
mod data;
mod error;
mod eval;
mod kinds;
mod load;
mod methods;
mod model;
mod resume;
mod train;
mod validate;
mod validate_views;

use selfsup_augment::ViewConfig;
use serde::{Deserialize, Serialize};

pub use checkpoint::*;
pub use data::*;
pub use error::ConfigError;
pub use eval::*;
pub use kinds::*;
pub use load::config_name;
pub use methods::*;
pub use model::*;
pub use resume::material_differences;
pub use train::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub method: MethodKind,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "default_backend")]
    pub backend: BackendKind,
    /// Which GPU of the backend (`--device N`); unset: the backend's default device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<usize>,
    #[serde(default)]
    pub data: DataConfig,
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub train: TrainConfig,
    #[serde(default)]
    pub augment: ViewConfig,
    /// The views of the first `train.augment_warmup_epochs` epochs (WCL: MoCo v2's weaker
    /// views before SimCLR's); keys it leaves out are `augment`'s. Unset: `augment` throughout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment_warmup: Option<ViewConfig>,
    #[serde(default)]
    pub eval: EvalConfig,
    #[serde(default)]
    pub simclr: SimclrConfig,
    #[serde(default)]
    pub wcl: WclConfig,
    #[serde(default)]
    pub instdisc: InstDiscConfig,
    #[serde(default)]
    pub cmc: CmcConfig,
    #[serde(default)]
    pub moco: MocoConfig,
    #[serde(default)]
    pub byol: ByolConfig,
    #[serde(default)]
    pub simsiam: SimsiamConfig,
    #[serde(default)]
    pub barlow: BarlowConfig,
    #[serde(default)]
    pub swav: SwavConfig,
    #[serde(default)]
    pub exemplar: ExemplarConfig,
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    #[serde(default)]
    pub distill: DistillConfig,
}

fn default_backend() -> BackendKind {
    BackendKind::Cpu
}
