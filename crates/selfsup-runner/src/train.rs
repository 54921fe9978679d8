//! What a pretraining run is given and how it is dispatched to a backend and a method; the loop
//! itself is in `pretrain.rs`, one step in `step.rs`.

use anyhow::Result;
use burn::optim::SgdConfig;
use burn::tensor::backend::AutodiffBackend;
use tracing::info;

use crate::backend::{BackendJob, run_on};
use crate::config::{OptimizerKind, TrainConfig};
use crate::output::{RunDir, Summary};
pub use crate::run_inputs::{EvalSets, RunInputs, knn_config};
use selfsup_optim::{LarsConfig, momentum_sgd};
use selfsup_train::methods::{Method, MethodJob, with_method};
pub use selfsup_train::step::{NonFinite, StepOutcome, train_step};

/// Pretrains on the backend and device the config names.
pub fn run_pretrain(inputs: &RunInputs, run_dir: &mut RunDir) -> Result<Summary> {
    let config = &inputs.config;
    run_on(
        config.backend,
        config.device,
        PretrainJob { inputs, run_dir },
    )
}

struct PretrainJob<'a> {
    inputs: &'a RunInputs,
    run_dir: &'a mut RunDir,
}

impl BackendJob for PretrainJob<'_> {
    type Output = Summary;

    fn run<B: AutodiffBackend>(self, device: B::Device, device_name: &str) -> Result<Summary> {
        info!(device = device_name, "backend");
        let Self { inputs, run_dir } = self;
        with_method(
            inputs.config.method,
            MethodPretrain::<B> {
                inputs,
                run_dir,
                device: &device,
                device_name,
            },
        )
    }
}

struct MethodPretrain<'a, B: AutodiffBackend> {
    inputs: &'a RunInputs,
    run_dir: &'a mut RunDir,
    device: &'a B::Device,
    device_name: &'a str,
}

impl<B: AutodiffBackend> MethodJob<B> for MethodPretrain<'_, B> {
    type Output = Result<Summary>;

    fn run<M: Method<B>>(self) -> Result<Summary> {
        let train = &self.inputs.config.train;
        match train.optimizer {
            OptimizerKind::Sgd => crate::pretrain::pretrain::<B, M, _>(
                self.inputs,
                self.run_dir,
                self.device,
                self.device_name,
                sgd(train).init::<B, M>(),
            ),
            OptimizerKind::Lars => crate::pretrain::pretrain::<B, M, _>(
                self.inputs,
                self.run_dir,
                self.device,
                self.device_name,
                lars(train).init::<B, M>(),
            ),
        }
    }
}

/// LARS with the run's momentum and weight decay (see `selfsup_optim::lars`).
pub fn lars(train: &TrainConfig) -> LarsConfig {
    LarsConfig {
        momentum: train.momentum,
        weight_decay: train.weight_decay,
        eta: train.lars_eta,
    }
}

/// SGD with momentum (PyTorch's, no dampening) and the run's weight decay.
pub fn sgd(train: &TrainConfig) -> SgdConfig {
    momentum_sgd(train.momentum, false, train.weight_decay)
}
