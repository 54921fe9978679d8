//! selfsup's training library: what a pretraining step needs, without the command line.
//!
//! - [`methods`]: the [`Method`](methods::Method) trait, every method in a file of its own, and
//!   the registry ([`with_method`](methods::with_method)) where a method name becomes a type;
//! - [`step`]: one optimiser step with the NaN/Inf check on the loss and the gradients;
//! - [`loader`]: augmented views of each batch, prepared on a thread of their own;
//! - [`optim`] (the `selfsup-optim` crate, which evaluation shares): PyTorch-style momentum
//!   SGD, LARS, and the warm-up + cosine / multistep learning-rate schedules;
//! - [`features`], [`health`]: encoding images for kNN, and the collapse probe.
//!
//! The `selfsup` binary adds the loop around these (checkpoints, run directories, progress,
//! signals); a Burn program of its own can take them one at a time.

pub mod error;
pub mod features;
pub mod health;
pub mod loader;
pub mod methods;
pub mod step;

pub use error::TrainError;
pub use selfsup_config as config;
pub use selfsup_optim as optim;

use burn::backend::{Autodiff, Flex};

/// The backend every model is first built on, so one seed gives the same initial weights on
/// every backend (each backend's own random generator differs).
pub type HostBackend = Autodiff<Flex>;
