//! A pretraining run dispatched to the backend its config names, with the progress bar and
//! curves listening (the loop itself is selfsup-train's).

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use selfsup_train::run_dir::{RunDir, Summary};
use selfsup_train::{RunInputs, pretrain_configured};
use tracing::info;

use crate::backend::{BackendJob, run_on};
use crate::progress::ProgressObserver;

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
        let mut observer = ProgressObserver::default();
        pretrain_configured::<B>(
            self.inputs,
            self.run_dir,
            &device,
            device_name,
            &mut observer,
        )
        .map_err(anyhow::Error::new)
    }
}
