//! One pretraining run on one device, as a backend job: alone, or as one peer of a
//! data-parallel run (commands/data_parallel.rs starts those).

use std::sync::Arc;

use anyhow::{Context, Result};
use selfsup_distributed::{BurnPeer, PeerSetup, Peers, Shared, Solo, TrackedCollective};
use selfsup_train::config::BatchDtype;
use selfsup_train::loader::device_takes_bytes;
use selfsup_train::run_dir::{RunDir, Summary};
use selfsup_train::{RunInputs, TrainObserver, pretrain_configured};
use tracing::info;

use crate::backend::{BackendJob, run_on};
use crate::report::progress::ProgressObserver;

/// Pretrains on the backend and device the config names.
pub fn run_pretrain(inputs: &RunInputs, run_dir: &mut RunDir) -> Result<Summary> {
    let config = &inputs.config;
    let mut observer = ProgressObserver::default();
    run_on(
        config.backend,
        config.device,
        PretrainJob {
            inputs,
            run_dir,
            peer: None,
            observer: &mut observer,
        },
    )
}

/// One pretraining run on one device: alone, or as the peer `peer` of a data-parallel run.
pub(crate) struct PretrainJob<'a> {
    pub inputs: &'a RunInputs,
    pub run_dir: &'a mut RunDir,
    pub peer: Option<PeerSetup>,
    pub observer: &'a mut dyn TrainObserver,
}

impl BackendJob for PretrainJob<'_> {
    type Output = Summary;

    fn run<B: TrackedCollective>(self, device: B::Device, device_name: &str) -> Result<Summary> {
        let collective: Shared<B::InnerBackend> = match self.peer {
            None => {
                info!(device = device_name, "backend");
                Arc::new(Solo)
            }
            Some(setup) => {
                let (rank, world) = (setup.global_rank(), setup.world());
                let peer = BurnPeer::<B::InnerBackend>::register(setup, device.clone())
                    .with_context(|| format!("registering peer {rank} of {world}"))?;
                info!(rank, world, device = device_name, "peer ready");
                Arc::new(peer)
            }
        };
        if self.inputs.config.data.batch_dtype == BatchDtype::U8 {
            if device_takes_bytes::<B>(&device) {
                info!("views travel as u8 and are normalised on the device");
            } else {
                info!(
                    "data.batch_dtype = \"u8\": this device has no 8-bit integers, so the views \
                     are normalised from their bytes on the CPU and travel as f32"
                );
            }
        }
        pretrain_configured::<B>(
            self.inputs,
            self.run_dir,
            &device,
            device_name,
            self.observer,
            Peers::<B>::new(collective),
        )
        .map_err(anyhow::Error::new)
    }
}
