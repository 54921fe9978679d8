//! One file per method. A method names the views it wants, builds its backbone and heads, and
//! sums its losses; the shared loop (trainer.rs) does everything else. State that is not
//! trained (memory banks, queues, EMA targets, NCE's Z) lives in the method's module as
//! `RunningState`s, so checkpoints save it with the weights. What a method needs of the run
//! around it (data checks, normalisation, training set, encoder parts) are hooks of the
//! [`Method`] trait, reached by name through [`hooks`].

mod init;
mod method;
mod parts;

use std::fmt;
use std::sync::Arc;

use burn::tensor::backend::AutodiffBackend;
use selfsup_augment::Normalize;
use selfsup_backbones::ResNetConfig;
use selfsup_data::Dataset;

pub use cmc::{CmcGraph, CmcViews};
pub use exemplar::exemplar_seeds;
pub use init::{init_portable, init_portable_module};
pub use instdisc::BankLoss;
pub use method::{DataInfo, Method, MethodSettings, StepBatch, StepLoss};
pub use parts::{backbone_config, embed_by_resolution, linear_head, projection_config};
pub use simclr::head_layer_shape;

use crate::config::Config;
use crate::{HostBackend, TrainError};

/// The registry of methods: the one place a method's name becomes its type. Each line is
/// `Variant: module::{Method, Settings}, "what it is";`: the module's name is the method's name
/// in configs and on the command line, and its settings are the config's section of that name
/// (`[wcl]`). Adding a method is its file plus one line here (docs/adding-a-method.md).
/// `$then!` receives the whole list: it declares the modules and [`MethodKind`] below, and the
/// config's method sections (config/mod.rs).
macro_rules! for_each_method {
    ($then:ident) => {
        $then! {
            Simclr: simclr::{Simclr, SimclrConfig},
                "SimCLR v1/v2: NT-Xent between two views, the rest of the batch as negatives";
            Wcl: wcl::{Wcl, WclConfig},
                "WCL: SimCLR's head plus a second one trained on weak labels from the 1-NN graph";
            InstDisc: instdisc::{InstDisc, InstDiscConfig},
                "InstDisc: memory bank + NCE (Wu et al. 2018)";
            Cmc: cmc::{Cmc, CmcConfig},
                "CMC: one encoder per Lab view (L, ab), contrasted across views (RGB data only)";
            Moco: moco::{Moco, MocoConfig},
                "MoCo v1/v2: key encoder by EMA, queue of negatives";
            Byol: byol::{Byol, ByolConfig},
                "BYOL: predictor on the online network, EMA target, no negatives";
            Simsiam: simsiam::{Simsiam, SimsiamConfig},
                "SimSiam: predictor, stop-gradient, no EMA and no negatives";
            Barlow: barlow::{Barlow, BarlowConfig},
                "Barlow Twins: cross-correlation of the two views' embeddings towards the identity";
            Swav: swav::{Swav, SwavConfig},
                "SwAV: swapped prediction of Sinkhorn-Knopp codes over learned prototypes";
            Exemplar: exemplar::{Exemplar, ExemplarConfig},
                "Exemplar-CNN: each of N seed images is its own class, learned from its transformations";
        }
    };
}
pub(crate) use for_each_method;

/// Declares the registry's modules, re-exports each method and its settings, and defines
/// [`MethodKind`] and [`with_method`].
macro_rules! declare_methods {
    ($($variant:ident: $module:ident::{$method:ident, $settings:ident}, $about:literal;)*) => {
        $(
            mod $module;
            pub use $module::{$method, $settings};
        )*

        /// The method a config names (`method = "wcl"`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum MethodKind {
            $(#[doc = $about] $variant,)*
        }

        impl MethodKind {
            /// Every method, in the registry's order.
            pub const ALL: &[MethodKind] = &[$(MethodKind::$variant),*];

            /// Its names in configs and on the command line, in the registry's order.
            pub const NAMES: &[&str] = &[$(stringify!($module)),*];

            /// Its name in configs and on the command line (`instdisc`).
            pub fn name(self) -> &'static str {
                match self {
                    $(MethodKind::$variant => stringify!($module),)*
                }
            }

            /// One line on what it is (for `--help`).
            pub fn about(self) -> &'static str {
                match self {
                    $(MethodKind::$variant => $about,)*
                }
            }
        }

        /// Runs `job` with the method type `kind` names.
        pub fn with_method<B: AutodiffBackend, J: MethodJob<B>>(
            kind: MethodKind,
            job: J,
        ) -> J::Output {
            match kind {
                $(MethodKind::$variant => job.run::<$method<B>>(),)*
            }
        }
    };
}

for_each_method!(declare_methods);

impl fmt::Display for MethodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for MethodKind {
    type Err = String;

    /// A method by its name; the error lists the names there are.
    fn from_str(name: &str) -> Result<Self, String> {
        let position = MethodKind::NAMES.iter().position(|&known| known == name);
        position.map(|i| MethodKind::ALL[i]).ok_or_else(|| {
            format!(
                "unknown method `{name}`, expected one of {}",
                MethodKind::NAMES.join(", ")
            )
        })
    }
}

// By name, as a config writes it; serde's error for an unknown name lists the known ones.
impl serde::Serialize for MethodKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for MethodKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse()
            .map_err(|_| serde::de::Error::unknown_variant(&name, MethodKind::NAMES))
    }
}

/// Runs `job` with the method type a [`MethodKind`] names ([`with_method`]).
pub trait MethodJob<B: AutodiffBackend> {
    type Output;
    fn run<M: Method<B>>(self) -> Self::Output;
}

/// A method's hooks (the [`Method`] trait's associated functions), looked up by name: for code
/// that knows the method's name but not its type (loading data, evaluating a saved encoder).
#[derive(Clone, Copy)]
pub struct MethodHooks {
    pub check_data: fn(&Config, &str, &DataInfo) -> Result<(), TrainError>,
    pub fixed_normalization: fn() -> Option<Normalize>,
    pub training_set: fn(&Config, Arc<Dataset>) -> Result<Arc<Dataset>, TrainError>,
    pub encoder_parts: fn(&Config, usize) -> Vec<ResNetConfig>,
    pub takes_local_crops: bool,
    pub knn_on_bank: bool,
}

/// The hooks of the method `kind` names.
pub fn hooks(kind: MethodKind) -> MethodHooks {
    struct Hooks;
    impl MethodJob<HostBackend> for Hooks {
        type Output = MethodHooks;
        fn run<M: Method<HostBackend>>(self) -> MethodHooks {
            MethodHooks {
                check_data: M::check_data,
                fixed_normalization: M::fixed_normalization,
                training_set: M::training_set,
                encoder_parts: M::encoder_parts,
                takes_local_crops: M::TAKES_LOCAL_CROPS,
                knn_on_bank: M::KNN_ON_BANK,
            }
        }
    }
    with_method(kind, Hooks)
}

/// Refuses data the config's method cannot use, naming what it needs.
pub fn check_data(config: &Config, dataset: &str, data: &DataInfo) -> Result<(), TrainError> {
    (hooks(config.method).check_data)(config, dataset, data)
}

/// The architecture of the encoder the config's method saves (for loading it back).
pub fn encoder_parts(config: &Config, channels: usize) -> Vec<ResNetConfig> {
    (hooks(config.method).encoder_parts)(config, channels)
}

/// The images the config's method pretrains on, out of the training set.
pub fn training_set(config: &Config, images: Arc<Dataset>) -> Result<Arc<Dataset>, TrainError> {
    (hooks(config.method).training_set)(config, images)
}

/// The run's input normalisation: the method's own (CMC's Lab conversion), else `data.mean` /
/// `data.std` when the config has them (every run written since they exist), else measured on
/// `images`.
pub fn normalization(config: &Config, images: &Dataset) -> Normalize {
    if let Some(fixed) = (hooks(config.method).fixed_normalization)() {
        return fixed;
    }
    match (&config.data.mean, &config.data.std) {
        (Some(mean), Some(std)) => Normalize::new(mean.clone(), std.clone()),
        _ => {
            let (mean, std) = images.channel_stats();
            Normalize::new(mean, std)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name a checkpoint records (`Method::NAME`) is the registry's name of the method.
    #[test]
    fn every_method_type_carries_its_registry_name() {
        struct Name;
        impl MethodJob<HostBackend> for Name {
            type Output = &'static str;
            fn run<M: Method<HostBackend>>(self) -> &'static str {
                M::NAME
            }
        }
        for &kind in MethodKind::ALL {
            assert_eq!(with_method(kind, Name), kind.name());
        }
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_known_ones() {
        let error = "simclrr".parse::<MethodKind>().unwrap_err();
        assert!(
            error.contains("`simclrr`") && error.contains("wcl, instdisc"),
            "{error}"
        );
    }
}

/// What the unit tests of the methods share.
#[cfg(test)]
pub(crate) mod test_support {
    use std::cell::RefCell;

    use burn::tensor::backend::Backend;
    use burn::tensor::{Tensor, TensorData};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Test inputs uniform in [0, 1), from a seeded stream of their own: a test that drew them
    /// from the backend's generator would move another test's initialisation (issue 15).
    pub struct Draws(RefCell<ChaCha8Rng>);

    impl Draws {
        pub fn new(seed: u64) -> Self {
            Self(RefCell::new(ChaCha8Rng::seed_from_u64(seed)))
        }

        pub fn uniform<B: Backend, const D: usize>(&self, shape: [usize; D]) -> Tensor<B, D> {
            let mut rng = self.0.borrow_mut();
            let values: Vec<f32> = (0..shape.iter().product())
                .map(|_| rng.random::<f32>())
                .collect();
            Tensor::from_data(TensorData::new(values, shape), &Default::default())
        }
    }
}
