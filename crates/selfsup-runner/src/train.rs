//! What a pretraining run is given and how it is dispatched to a backend and a method; the loop
//! itself is in `pretrain.rs`, one step in `step.rs`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use burn::optim::SgdConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::tensor::backend::AutodiffBackend;
use selfsup_data::Dataset;
use selfsup_eval::KnnConfig;
use tracing::info;

use crate::backend::{BackendJob, kth_value_for, run_on};
use crate::config::{Config, OptimizerKind, TrainConfig};
use crate::interrupt::StopFlag;
use crate::lars::LarsConfig;
use crate::methods::{Method, MethodJob, with_method};
use crate::output::{RunDir, Summary};
pub use crate::step::{NonFinite, StepOutcome, train_step};

/// Steps excluded from the images/s figure: the first ones pay for allocation and caches.
const THROUGHPUT_WARMUP_STEPS: usize = 3;

pub struct RunInputs {
    pub config: Config,
    pub backend_name: String,
    pub dataset_name: String,
    /// The images to pretrain on: the labelled training split, or more (STL-10: the training
    /// split followed by the unlabeled one, so memory-bank row i is training image i for
    /// i < train.len()), or an unlabeled folder.
    pub pretrain_set: Arc<Dataset>,
    /// The labelled sets the kNN monitor uses; `None` for an unlabeled folder without
    /// `[eval] dataset`.
    pub eval_sets: Option<EvalSets>,
    /// Continue from this checkpoint directory instead of starting afresh.
    pub resume: Option<PathBuf>,
    /// Stop (with a checkpoint) once this many epochs of the schedule are done.
    pub stop_after_epoch: Option<usize>,
    /// Raised (by SIGINT/SIGTERM in the binary) to stop after the current step with a checkpoint.
    pub stop: StopFlag,
}

/// The kNN's stored images (with labels) and its queries.
pub struct EvalSets {
    pub train: Arc<Dataset>,
    pub test: Arc<Dataset>,
}

/// The kNN evaluation's settings; the k-th value search suits the backend.
pub fn knn_config(config: &Config) -> KnnConfig {
    KnnConfig {
        k: config.eval.knn_k,
        temperature: config.eval.knn_temperature,
        chunk_size: config.eval.knn_chunk_size,
        kth: kth_value_for(config.backend),
    }
}

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

/// LARS with the run's momentum and weight decay (see `crate::lars`).
pub fn lars(train: &TrainConfig) -> LarsConfig {
    LarsConfig {
        momentum: train.momentum,
        weight_decay: train.weight_decay,
        eta: train.lars_eta,
    }
}

/// SGD with momentum and weight decay on every parameter.
pub fn sgd(train: &TrainConfig) -> SgdConfig {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig {
            momentum: train.momentum,
            // PyTorch's SGD (which the papers use) has no dampening; Burn defaults to 0.1.
            dampening: 0.0,
            nesterov: false,
        }))
        .with_weight_decay(Some(WeightDecayConfig::new(train.weight_decay as f32)))
}

/// Source images per second over the timed steps (all but the first few).
#[derive(Default)]
pub(crate) struct Throughput {
    images: usize,
    seconds: f64,
}

impl Throughput {
    pub(crate) fn record(&mut self, step: usize, total_steps: usize, images: usize, seconds: f64) {
        if step > THROUGHPUT_WARMUP_STEPS || total_steps <= THROUGHPUT_WARMUP_STEPS {
            self.images += images;
            self.seconds += seconds;
        }
    }

    pub(crate) fn images_per_sec(&self) -> f64 {
        self.images as f64 / self.seconds.max(1e-9)
    }

    pub(crate) fn describe(&self) -> String {
        if self.images > 0 {
            format!("{:.0} img/s", self.images_per_sec())
        } else {
            "measuring img/s".to_string()
        }
    }
}
