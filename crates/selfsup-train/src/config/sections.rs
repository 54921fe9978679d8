//! The [`Config`] struct: the general sections from selfsup-config, then one section per
//! method of the registry.

use selfsup_augment::ViewConfig;
use serde::{Deserialize, Serialize};

use crate::methods::{MethodKind, MethodSettings, for_each_method};
use selfsup_config::{
    BackendKind, CheckpointConfig, ConfigError, DataConfig, DistillConfig, EvalConfig, ModelConfig,
    TrainConfig,
};

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
                pub $module: crate::methods::$settings,
            )*
            #[serde(default)]
            pub checkpoint: CheckpointConfig,
            #[serde(default)]
            pub distill: DistillConfig,
        }

        impl Config {
            /// Every method's section, in the registry's order.
            pub(super) fn validate_method_sections(&self) -> Result<(), ConfigError> {
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
