//! Train-step throughput: synthetic views (28x28 grayscale by default, `--image-size` and
//! `--channels` for others; content does not change the work), uploaded every step as in
//! training, one full step (forward, backward, SGD update), and a
//! device sync, so asynchronous GPU work is inside the timing.

use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::args::BenchArgs;
use super::memory;
use super::stats::median;
use crate::backend::{BackendJob, device_memory_reserved};
use crate::config::{BackendKind, Config, config_name};
use selfsup_distributed::Solo;
use selfsup_distributed::TrackedCollective;
use selfsup_train::methods::{DataInfo, Method, MethodJob, StepBatch, init_portable, with_method};
use selfsup_train::optimizer::sgd;
use selfsup_train::step::{StepOutcome, train_step};

/// One train measurement; also the rows bench/pytorch/train_step.py prints (without backend,
/// device and device memory), so both sides of `--compare-pytorch` share one type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainResult {
    #[serde(default)]
    pub backend: String,
    #[serde(default)]
    pub device: String,
    pub method: String,
    pub width: usize,
    pub batch_size: usize,
    pub params: usize,
    /// Source images per second (each gives two views): batch size / median step time.
    pub images_per_sec: f64,
    pub median_step_seconds: f64,
    pub step_seconds: Vec<f64>,
    /// Peak resident memory of the process during this measurement (CPU backend and lavapipe).
    pub peak_rss_bytes: Option<u64>,
    /// Bytes the GPU allocator holds after the steps (its pools only grow while they run).
    pub device_reserved_bytes: Option<u64>,
}

pub struct TrainBench<'a> {
    pub args: &'a BenchArgs,
    pub base: &'a Config,
    pub backend: BackendKind,
    pub on_result: &'a mut dyn FnMut(TrainResult),
}

impl BackendJob for TrainBench<'_> {
    type Output = Vec<TrainResult>;

    fn run<B: TrackedCollective>(
        self,
        device: B::Device,
        device_name: &str,
    ) -> Result<Self::Output> {
        let mut results = Vec::new();
        for &method in &self.args.methods {
            for &width in &self.args.widths {
                let mut config = self.base.clone();
                config.method = method;
                config.model.backbone = self.args.arch;
                config.model.stem = self.args.stem;
                config.model.width = width;
                config.train.batch_size = self.args.batch_size;
                config.validate()?;
                let mut result = with_method(
                    method,
                    Measure::<B> {
                        config: &config,
                        args: self.args,
                        device: &device,
                    },
                )?;
                result.backend = config_name(self.backend)?;
                result.device = device_name.to_string();
                result.method = config_name(method)?;
                (self.on_result)(result.clone());
                results.push(result);
            }
        }
        Ok(results)
    }
}

struct Measure<'a, B: AutodiffBackend> {
    config: &'a Config,
    args: &'a BenchArgs,
    device: &'a B::Device,
}

impl<B: AutodiffBackend> MethodJob<B> for Measure<'_, B> {
    type Output = Result<TrainResult>;

    fn run<M: Method<B>>(self) -> Result<TrainResult> {
        measure::<B, M>(self.config, self.args, self.device)
    }
}

/// Training images the memory-bank methods size their banks for (Fashion-MNIST's).
const BANK_ROWS: usize = 60_000;

fn measure<B: AutodiffBackend, M: Method<B>>(
    config: &Config,
    args: &BenchArgs,
    device: &B::Device,
) -> Result<TrainResult> {
    B::memory_cleanup(device);
    memory::reset_peak();
    let batch = config.train.batch_size;
    // The asked channels, or colour for a method that refuses them (CMC's Lab views).
    let asked = DataInfo {
        channels: args.channels as usize,
        train_len: BANK_ROWS,
    };
    let channels = match M::check_data(config, "the benchmark's images", &asked) {
        Ok(()) => asked.channels,
        Err(_) => 3,
    };
    let side = args.image_size as usize;
    let shape = [batch, channels, side, side];
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let data = DataInfo {
        channels,
        train_len: BANK_ROWS,
    };
    let mut model = init_portable::<B, M>(config, &data, device)?;
    let params = model.num_params();
    let views: Vec<Vec<f32>> = (0..model.num_views())
        .map(|_| {
            (0..batch * channels * side * side)
                .map(|_| rng.random_range(-1.0f32..1.0))
                .collect()
        })
        .collect();
    let mut optimizer = sgd(&config.train).init::<B, M>();
    let mut step_seconds = Vec::with_capacity(args.steps);
    for step in 0..args.warmup_steps + args.steps {
        let started = Instant::now();
        let inputs = views
            .iter()
            .map(|v| Tensor::<B, 4>::from_data(TensorData::new(v.clone(), shape), device))
            .collect();
        let mut batch = StepBatch::first(inputs, config.seed);
        batch.step = step;
        let stepped = train_step(model, &mut optimizer, &batch, config.train.lr, &Solo, false)?;
        model = match stepped.outcome {
            StepOutcome::Updated { model, .. } => model,
            StepOutcome::Rejected { reason, .. } => bail!("{reason} in the benchmark"),
        };
        B::sync(device).map_err(|e| anyhow!("device sync failed: {e:?}"))?;
        if step >= args.warmup_steps {
            step_seconds.push(started.elapsed().as_secs_f64());
        }
    }
    let median_step_seconds = median(&mut step_seconds.clone());
    Ok(TrainResult {
        backend: String::new(),
        device: String::new(),
        method: String::new(),
        width: config.model.width,
        batch_size: batch,
        params,
        images_per_sec: batch as f64 / median_step_seconds,
        median_step_seconds,
        step_seconds,
        peak_rss_bytes: memory::peak_bytes(),
        device_reserved_bytes: device_memory_reserved::<B>(device),
    })
}
