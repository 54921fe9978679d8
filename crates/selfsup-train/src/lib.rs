//! selfsup's training library: what a pretraining step needs, without the command line.
//!
//! - [`methods`]: the [`Method`](methods::Method) trait, every method in a file of its own, and
//!   the registry ([`with_method`](methods::with_method)) where a method name becomes a type;
//! - [`step`]: one optimiser step with the NaN/Inf check on the loss and the gradients;
//! - [`loader`]: augmented views of each batch, prepared on a thread of their own;
//! - [`optim`] (the `selfsup-optim` crate, which evaluation shares): PyTorch-style momentum
//!   SGD, LARS, and the warm-up + cosine / multistep learning-rate schedules;
//! - [`optimizer`]: the optimiser a config names, and [`pretrain_configured`], which runs
//!   [`pretrain`] with the config's method and optimiser;
//! - [`features`], [`health`]: encoding images for kNN, and the collapse probe;
//! - [`trainer`]: the pretraining loop every method shares ([`trainer::pretrain`]): views,
//!   steps, the kNN monitor and health probe at each evaluation, checkpoints
//!   ([`checkpoint`], with WCL's neighbour table from [`knn_crops`]) and the run directory's
//!   logs ([`run_dir`]); it stops on a [`stop::StopFlag`] and reports to a
//!   [`observer::TrainObserver`].
//!
//! The `selfsup` binary adds the command line, the backend choice, signal handlers, the
//! progress bar and the plots; a Burn program of its own can take these pieces one at a time.

pub mod checkpoint;
pub mod config;
pub mod error;
pub mod features;
pub mod health;
pub mod knn_crops;
pub mod loader;
pub mod methods;
pub mod observer;
pub mod optimizer;
pub mod run_dir;
pub mod run_inputs;
mod same_start;
pub mod step;
pub mod stop;
mod throughput;
pub mod trainer;

pub use error::TrainError;
pub use observer::{Silent, TrainObserver};
pub use optimizer::pretrain_configured;
pub use run_inputs::{EvalSets, RunInputs};
pub use selfsup_optim as optim;
pub use trainer::pretrain;

use burn::backend::{Autodiff, Flex};

/// The backend every model is first built on, so one seed gives the same initial weights on
/// every backend (each backend's own random generator differs).
pub type HostBackend = Autodiff<Flex>;
