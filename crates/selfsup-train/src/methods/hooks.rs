//! What a method needs of the run around it, reached by its name: for code that knows the
//! method's name but not its type (loading data, checking a config, evaluating a saved
//! encoder).

use std::sync::Arc;

use selfsup_augment::Normalize;
use selfsup_backbones::ResNetConfig;
use selfsup_data::Dataset;

use super::dispatch::{MethodJob, with_method};
use super::method::DataInfo;
use super::method::Method;
use super::registry::MethodKind;
use crate::config::Config;
use crate::{HostBackend, TrainError};

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
