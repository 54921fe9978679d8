//! What a run leaves in its directory: config.toml, steps.jsonl, metrics.jsonl, summary.json
//! and the encoder (the CLI adds curves.png, drawn from the two logs).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::backend::Backend;
use serde::Serialize;

use crate::TrainError;
use crate::config::Config;

pub const CONFIG_FILE: &str = "config.toml";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const STEPS_FILE: &str = "steps.jsonl";
pub const SUMMARY_FILE: &str = "summary.json";
pub const ENCODER_FILE: &str = "encoder.safetensors";
/// SimCLR v2's first head layer, which fine-tuning can start from (`--from-head-layer`).
pub const HEAD_LAYER_FILE: &str = "head_layer.safetensors";
pub const CURVES_FILE: &str = "curves.png";

/// One line of metrics.jsonl, written at every evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EvalRecord {
    pub epoch: usize,
    pub step: usize,
    /// Mean training loss over the epoch just finished.
    pub loss: f64,
    pub lr: f64,
    /// Null when the run has no labelled set to evaluate on.
    pub knn_top1: Option<f64>,
    pub knn_top5: Option<f64>,
    pub images_per_sec: f64,
    /// Wall-clock seconds since the run started.
    pub seconds: f64,
    /// Training health on the fixed probe batch (see `selfsup_eval::health`): the std of the
    /// L2-normalised projections and 1/sqrt(d), what it is when they spread over the sphere.
    pub projection_std: f64,
    pub projection_std_spread: f64,
    /// RankMe of the backbone features, out of `rank_limit`.
    pub effective_rank: f64,
    pub rank_limit: usize,
    pub alignment: f64,
    pub uniformity: f64,
    /// Why the run looks collapsed, or null.
    pub collapse: Option<String>,
    /// Seconds the health metrics took.
    pub health_seconds: f64,
}

/// One line of steps.jsonl, written after every optimizer step.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub epoch: usize,
    /// Steps done so far, this one included (1-based).
    pub step: usize,
    /// The loss this step minimised (before its update); null when it was not finite.
    pub loss: f64,
    pub lr: f64,
    /// The step left the model unchanged (non-finite loss or gradient, `train.on_nan =
    /// "skip_step"`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub method: String,
    pub backend: String,
    /// What ran it, e.g. `cpu (flex, 2 threads)` or `wgpu (llvmpipe ..., Cpu, Vulkan)`.
    pub device: String,
    pub dataset: String,
    pub epochs: usize,
    /// Epochs trained so far: less than `epochs` when the run was stopped to be resumed.
    pub completed_epochs: usize,
    pub steps: usize,
    pub batch_size: usize,
    pub train_images: usize,
    pub test_images: usize,
    pub width: usize,
    pub seed: u64,
    /// Source images per second of training (each gives the method's views), after warm-up.
    pub images_per_sec: f64,
    pub final_loss: f64,
    /// Null when the run has no labelled set to evaluate on.
    pub knn_top1: Option<f64>,
    pub knn_top5: Option<f64>,
    pub wall_seconds: f64,
}

pub struct RunDir {
    pub path: PathBuf,
    metrics: File,
    steps: File,
}

impl RunDir {
    /// Creates the directory and writes the resolved config. Refuses a directory that already
    /// holds a run, so results are never overwritten by accident.
    pub fn create(path: &Path, config: &Config) -> Result<Self, TrainError> {
        if path.join(METRICS_FILE).exists() {
            return Err(TrainError::RunExists {
                path: path.to_path_buf(),
                file: METRICS_FILE,
            });
        }
        std::fs::create_dir_all(path)
            .map_err(|e| TrainError::io(path, "cannot create the output directory", e))?;
        let config_text = toml::to_string(config).map_err(TrainError::ConfigText)?;
        std::fs::write(path.join(CONFIG_FILE), config_text)
            .map_err(|e| TrainError::io(path.join(CONFIG_FILE), "cannot write", e))?;
        Ok(Self {
            path: path.to_path_buf(),
            metrics: open_append(&path.join(METRICS_FILE))?,
            steps: open_append(&path.join(STEPS_FILE))?,
        })
    }

    /// Reopens an existing run to continue it from a checkpoint taken after `epoch` / `step`:
    /// lines written after that point (by the interrupted part of the run) are dropped, since
    /// the resumed run writes them again.
    pub fn resume(path: &Path, epoch: usize, step: usize) -> Result<Self, TrainError> {
        keep_lines(&path.join(METRICS_FILE), |v| {
            v["epoch"].as_u64().is_some_and(|e| e as usize <= epoch)
        })?;
        keep_lines(&path.join(STEPS_FILE), |v| {
            v["step"].as_u64().is_some_and(|s| s as usize <= step)
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            metrics: open_append(&path.join(METRICS_FILE))?,
            steps: open_append(&path.join(STEPS_FILE))?,
        })
    }

    pub fn append_metrics(&mut self, record: &EvalRecord) -> Result<(), TrainError> {
        append_line(&mut self.metrics, record)
            .map_err(|e| TrainError::io(self.path.join(METRICS_FILE), "cannot write", e))
    }

    pub fn append_step(&mut self, record: &StepRecord) -> Result<(), TrainError> {
        append_line(&mut self.steps, record)
            .map_err(|e| TrainError::io(self.path.join(STEPS_FILE), "cannot write", e))
    }

    pub fn write_summary(&self, summary: &Summary) -> Result<(), TrainError> {
        let path = self.path.join(SUMMARY_FILE);
        let text = serde_json::to_string_pretty(summary).expect("a summary is plain data");
        std::fs::write(&path, text + "\n").map_err(|e| TrainError::io(path, "cannot write", e))
    }

    /// The encoder's parameters and batch-norm statistics as safetensors (Burn's store).
    pub fn save_encoder<B: Backend, M: Module<B>>(
        &self,
        encoder: &M,
    ) -> Result<PathBuf, TrainError> {
        save_module(&self.path.join(ENCODER_FILE), "selfsup-encoder", encoder)
    }

    /// The head layer a method keeps for fine-tuning, beside the encoder.
    pub fn save_head_layer<B: Backend, M: Module<B>>(
        &self,
        layer: &M,
    ) -> Result<PathBuf, TrainError> {
        save_module(
            &self.path.join(HEAD_LAYER_FILE),
            "selfsup-head-layer",
            layer,
        )
    }
}

/// `module`'s parameters and batch-norm statistics as safetensors (Burn's store), with
/// `format` in the file's metadata.
pub fn save_module<B: Backend, M: Module<B>>(
    path: &Path,
    format: &str,
    module: &M,
) -> Result<PathBuf, TrainError> {
    let mut store = SafetensorsStore::from_file(path)
        .overwrite(true)
        .metadata("format", format);
    module
        .save_into(&mut store)
        .map_err(|e| TrainError::file(path, format!("cannot save: {e}")))?;
    Ok(path.to_path_buf())
}

/// Rewrites a JSON-lines file keeping the lines `keep` accepts (a missing file stays missing).
fn keep_lines(path: &Path, keep: impl Fn(&serde_json::Value) -> bool) -> Result<(), TrainError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|line| serde_json::from_str(line).is_ok_and(|v| keep(&v)))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(path, kept).map_err(|e| TrainError::io(path, "cannot write", e))
}

fn open_append(path: &Path) -> Result<File, TrainError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| TrainError::io(path, "cannot write", e))
}

/// One JSON line, flushed: a killed run keeps every line written before.
fn append_line(file: &mut File, record: &impl Serialize) -> std::io::Result<()> {
    let line = serde_json::to_string(record).map_err(std::io::Error::other)?;
    writeln!(file, "{line}").and_then(|_| file.flush())
}
