//! Weighted kNN time: random unit features stored with random labels, queried in the
//! evaluation's chunks (k = 200, temperature 0.07, as in training).

use std::time::Instant;

use anyhow::{Result, anyhow};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use selfsup_eval::{KnnConfig, KnnIndex};
use serde::Serialize;

use super::args::BenchArgs;
use super::stats::median;
use crate::backend::BackendJob;
use crate::config::{BackendKind, config_name};
use selfsup_distributed::TrackedCollective;

#[derive(Debug, Clone, Serialize)]
pub struct KnnResult {
    pub backend: String,
    pub device: String,
    pub queries: usize,
    pub stored: usize,
    pub dim: usize,
    pub k: usize,
    pub chunk_size: usize,
    /// How the k-th similarity was found (topk on the CPU, bisection on GPU backends).
    pub kth: String,
    /// Median over the timed repeats of: build the index, score every query, read back.
    pub median_seconds: f64,
    pub seconds: Vec<f64>,
}

pub struct KnnBench<'a> {
    pub args: &'a BenchArgs,
    pub backend: BackendKind,
}

impl BackendJob for KnnBench<'_> {
    type Output = KnnResult;

    fn run<B: TrackedCollective>(self, device: B::Device, device_name: &str) -> Result<KnnResult> {
        let args = self.args;
        let config = KnnConfig {
            kth: selfsup_train::run_inputs::kth_value_for(self.backend),
            ..KnnConfig::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut random =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0..1.0)).collect() };
        let stored = random(args.knn_stored * args.knn_dim);
        let queries = random(args.knn_queries * args.knn_dim);
        let labels: Vec<i64> = (0..args.knn_stored).map(|i| (i % 10) as i64).collect();
        let mut seconds = Vec::new();
        for repeat in 0..=args.knn_repeats {
            let started = Instant::now();
            once::<B::InnerBackend>(&stored, &labels, &queries, args.knn_dim, &config, &device)?;
            if repeat > 0 {
                seconds.push(started.elapsed().as_secs_f64());
            }
        }
        Ok(KnnResult {
            backend: config_name(self.backend)?,
            device: device_name.to_string(),
            queries: args.knn_queries,
            stored: args.knn_stored,
            dim: args.knn_dim,
            k: config.k,
            chunk_size: config.chunk_size,
            kth: format!("{:?}", config.kth).to_lowercase(),
            median_seconds: median(&mut seconds.clone()),
            seconds,
        })
    }
}

fn once<B: Backend>(
    stored: &[f32],
    labels: &[i64],
    queries: &[f32],
    dim: usize,
    config: &KnnConfig,
    device: &B::Device,
) -> Result<()> {
    let features = Tensor::<B, 2>::from_data(
        TensorData::new(stored.to_vec(), [labels.len(), dim]),
        device,
    );
    let labels =
        Tensor::<B, 1, Int>::from_data(TensorData::new(labels.to_vec(), [labels.len()]), device);
    let index = KnnIndex::new(features, labels, 10)?;
    let count = queries.len() / dim;
    let queries =
        Tensor::<B, 2>::from_data(TensorData::new(queries.to_vec(), [count, dim]), device);
    let scores = index.class_scores(queries, config)?;
    // Reading the scores back forces the whole computation and includes the transfer.
    scores
        .into_data()
        .to_vec::<f32>()
        .map_err(|e| anyhow!("reading kNN scores: {e:?}"))?;
    Ok(())
}
