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
    InstDiscConfig, MethodKind, MocoConfig, SimclrConfig, SimsiamConfig, SwavConfig, WclConfig,
};
pub use resume::material_differences;
pub use selfsup_config::*;

use crate::methods::{MethodSettings, for_each_method};

/// Defines [`Config`]: the general sections, then one section per method of the registry
/// (methods/mod.rs), named as the method (`[wcl]`), and checks those sections.
macro_rules! define_config {
    ($($variant:ident: $module:ident::{$method:ident, $settings:ident}, $about:literal;)*) => {
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
            /// The views of the first `train.augment_warmup_epochs` epochs (WCL: MoCo v2's
            /// weaker views before SimCLR's); keys it leaves out are `augment`'s. Unset:
            /// `augment` throughout.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub augment_warmup: Option<ViewConfig>,
            #[serde(default)]
            pub eval: EvalConfig,
            $(
                #[doc = $about]
                #[serde(default)]
                pub $module: $settings,
            )*
            #[serde(default)]
            pub checkpoint: CheckpointConfig,
            #[serde(default)]
            pub distill: DistillConfig,
        }

        impl Config {
            /// Every method's section, in the registry's order.
            fn validate_method_sections(&self) -> Result<(), ConfigError> {
                $(self.$module.validate(self)?;)*
                Ok(())
            }
        }
    };
}

for_each_method!(define_config);

fn default_backend() -> BackendKind {
    BackendKind::Cpu
}
