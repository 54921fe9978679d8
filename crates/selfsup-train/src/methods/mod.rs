//! One file per method. A method names the views it wants, builds its backbone and heads, and
//! sums its losses; the shared loop (trainer.rs) does everything else. State that is not
//! trained (memory banks, queues, EMA targets, NCE's Z) lives in the method's module as
//! `RunningState`s, so checkpoints save it with the weights. What a method needs of the run
//! around it (data checks, normalisation, training set, encoder parts) are hooks of the
//! [`Method`] trait, reached by name through [`hooks`].

mod barlow;
mod byol;
mod cmc;
mod exemplar;
mod init;
mod instdisc;
mod method;
mod moco;
mod parts;
mod simclr;
mod simsiam;
mod swav;
mod wcl;

use std::sync::Arc;

use burn::tensor::backend::AutodiffBackend;
use selfsup_augment::Normalize;
use selfsup_backbones::ResNetConfig;
use selfsup_data::Dataset;

pub use barlow::{Barlow, BarlowConfig};
pub use byol::{Byol, ByolConfig};
pub use cmc::{Cmc, CmcConfig, CmcGraph, CmcViews};
pub use exemplar::{Exemplar, ExemplarConfig, exemplar_seeds};
pub use init::{init_portable, init_portable_module};
pub use instdisc::{BankLoss, InstDisc, InstDiscConfig};
pub use method::{DataInfo, Method, StepBatch, StepLoss};
pub use moco::{Moco, MocoConfig};
pub use parts::{backbone_config, embed_by_resolution, linear_head, projection_config};
pub use simclr::{Simclr, SimclrConfig, head_layer_shape};
pub use simsiam::{Simsiam, SimsiamConfig};
pub use swav::{Swav, SwavConfig};
pub use wcl::{Wcl, WclConfig};

use crate::config::{Config, MethodKind};
use crate::{HostBackend, TrainError};

/// Runs `job` with the method type `kind` names: the one place a method name becomes a type.
pub trait MethodJob<B: AutodiffBackend> {
    type Output;
    fn run<M: Method<B>>(self) -> Self::Output;
}

pub fn with_method<B: AutodiffBackend, J: MethodJob<B>>(kind: MethodKind, job: J) -> J::Output {
    match kind {
        MethodKind::Simclr => job.run::<Simclr<B>>(),
        MethodKind::Wcl => job.run::<Wcl<B>>(),
        MethodKind::InstDisc => job.run::<InstDisc<B>>(),
        MethodKind::Cmc => job.run::<Cmc<B>>(),
        MethodKind::Moco => job.run::<Moco<B>>(),
        MethodKind::Byol => job.run::<Byol<B>>(),
        MethodKind::Simsiam => job.run::<Simsiam<B>>(),
        MethodKind::Barlow => job.run::<Barlow<B>>(),
        MethodKind::Swav => job.run::<Swav<B>>(),
        MethodKind::Exemplar => job.run::<Exemplar<B>>(),
    }
}

/// A method's hooks (the [`Method`] trait's associated functions), looked up by name: for code
/// that knows the method's name but not its type (loading data, evaluating a saved encoder).
#[derive(Clone, Copy)]
pub struct MethodHooks {
    pub check_data: fn(&Config, &str, &DataInfo) -> Result<(), TrainError>,
    pub fixed_normalization: fn() -> Option<Normalize>,
    pub training_set: fn(&Config, Arc<Dataset>) -> Result<Arc<Dataset>, TrainError>,
    pub encoder_parts: fn(&Config, usize) -> Vec<ResNetConfig>,
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
