//! The optimiser a config names, and the dispatch from its method and optimiser names to
//! [`pretrain`]'s types.

use burn::optim::{Optimizer, SgdConfig};
use burn::tensor::backend::AutodiffBackend;
use selfsup_optim::{LarsConfig, momentum_sgd};

use crate::TrainError;
use crate::config::{OptimizerKind, TrainConfig};
use crate::methods::{Method, MethodJob, with_method};
use crate::observer::TrainObserver;
use crate::run_dir::{RunDir, Summary};
use crate::run_inputs::RunInputs;
use crate::trainer::pretrain;
use selfsup_distributed::Peers;

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

/// [`pretrain`] with the method and the optimiser `inputs.config` names, on `device`, as one
/// of `peers` (`Peers::alone()` on one device).
pub fn pretrain_configured<B: AutodiffBackend>(
    inputs: &RunInputs,
    run_dir: &mut RunDir,
    device: &B::Device,
    device_name: &str,
    observer: &mut dyn TrainObserver,
    peers: Peers<B>,
) -> Result<Summary, TrainError> {
    with_method(
        inputs.config.method,
        Configured::<B> {
            inputs,
            run_dir,
            device,
            device_name,
            observer,
            peers,
        },
    )
}

struct Configured<'a, B: AutodiffBackend> {
    inputs: &'a RunInputs,
    run_dir: &'a mut RunDir,
    device: &'a B::Device,
    device_name: &'a str,
    observer: &'a mut dyn TrainObserver,
    peers: Peers<B>,
}

impl<B: AutodiffBackend> MethodJob<B> for Configured<'_, B> {
    type Output = Result<Summary, TrainError>;

    fn run<M: Method<B>>(self) -> Self::Output {
        let train = &self.inputs.config.train;
        match train.optimizer {
            OptimizerKind::Sgd => self.pretrain_with::<M, _>(sgd(train).init::<B, M>()),
            OptimizerKind::Lars => self.pretrain_with::<M, _>(lars(train).init::<B, M>()),
        }
    }
}

impl<B: AutodiffBackend> Configured<'_, B> {
    fn pretrain_with<M: Method<B>, O: Optimizer<M, B>>(
        self,
        optimizer: O,
    ) -> Result<Summary, TrainError> {
        pretrain::<B, M, O>(
            self.inputs,
            self.run_dir,
            self.device,
            self.device_name,
            optimizer,
            self.observer,
            self.peers,
        )
    }
}
