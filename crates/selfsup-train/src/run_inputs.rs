//! What a pretraining run is given: its config, its data, where it resumes from, and the
//! kNN monitor's settings.

use std::path::PathBuf;
use std::sync::Arc;

use selfsup_data::Dataset;
use selfsup_eval::{KnnConfig, KthValue};

use crate::config::{BackendKind, Config};
use crate::stop::StopFlag;

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

/// How the kNN finds each query's k-th similarity on `backend`: cubecl's `topk` (wgpu, cuda)
/// keeps k values per thread, and with k = 200 lavapipe never finished compiling it.
pub fn kth_value_for(backend: BackendKind) -> KthValue {
    match backend {
        BackendKind::Cpu => KthValue::TopK,
        BackendKind::Wgpu | BackendKind::Cuda => KthValue::Bisection,
    }
}
