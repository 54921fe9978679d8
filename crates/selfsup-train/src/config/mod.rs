//! The whole run configuration: selfsup-config's general sections (data, model, train, eval,
//! checkpoint, distill) and every method's own section, whose type lives in the method's file
//! (`methods::wcl::WclConfig`, ...). TOML with unknown keys refused, `--set key=value`
//! overrides (load.rs), every bad value reported with its key (validate.rs: the general
//! sections, each method's `validate`, the rules across sections), and what a resumed run may
//! change (resume.rs).

mod datasets;
mod load;
mod resume;
mod validate;
mod validate_views;

use selfsup_augment::ViewConfig;
use serde::{Deserialize, Serialize};

pub use crate::methods::{
    BankLoss, BarlowConfig, ByolConfig, CmcConfig, CmcGraph, CmcViews, ExemplarConfig,
    InstDiscConfig, MocoConfig, SimclrConfig, SimsiamConfig, SwavConfig, WclConfig,
};
pub use resume::material_differences;
pub use selfsup_config::*;

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
