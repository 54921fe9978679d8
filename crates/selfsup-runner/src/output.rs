//! What a run leaves in its directory: config.toml, metrics.jsonl, summary.json and the encoder.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::backend::Backend;
use serde::Serialize;

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
    pub fn create(path: &Path, config: &Config) -> Result<Self> {
        if path.join(METRICS_FILE).exists() {
            bail!(
                "{} already holds a run ({} exists); choose another --out",
                path.display(),
                METRICS_FILE
            );
        }
        std::fs::create_dir_all(path)
            .with_context(|| format!("{}: cannot create the output directory", path.display()))?;
        let config_text = toml::to_string(config).context("serialising the resolved config")?;
        std::fs::write(path.join(CONFIG_FILE), config_text)
            .with_context(|| format!("{}: cannot write", path.join(CONFIG_FILE).display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            metrics: open_append(&path.join(METRICS_FILE))?,
            steps: open_append(&path.join(STEPS_FILE))?,
        })
    }

    /// Reopens an existing run to continue it from a checkpoint taken after `epoch` / `step`:
    /// lines written after that point (by the interrupted part of the run) are dropped, since
    /// the resumed run writes them again.
    pub fn resume(path: &Path, epoch: usize, step: usize) -> Result<Self> {
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

    pub fn append_metrics(&mut self, record: &EvalRecord) -> Result<()> {
        append_line(&mut self.metrics, record)
            .with_context(|| format!("{}: cannot write", self.path.join(METRICS_FILE).display()))
    }

    pub fn append_step(&mut self, record: &StepRecord) -> Result<()> {
        append_line(&mut self.steps, record)
            .with_context(|| format!("{}: cannot write", self.path.join(STEPS_FILE).display()))
    }

    /// `curves.png`: loss and learning rate per step (steps.jsonl); kNN top-1 (when there is
    /// a labelled set) and the training-health metrics per evaluation (metrics.jsonl).
    pub fn write_curves(&self) -> Result<PathBuf> {
        let steps = read_points(&self.path.join(STEPS_FILE), "step", &["loss", "lr"])?;
        let evals = read_points(
            &self.path.join(METRICS_FILE),
            "epoch",
            &[
                "knn_top1",
                "projection_std",
                "projection_std_spread",
                "effective_rank",
                "alignment",
                "uniformity",
            ],
        )?;
        let knn: Vec<(f64, f64)> = evals[0].iter().map(|&(e, a)| (e, a * 100.0)).collect();
        // The std as a share of its value for projections spread over the sphere.
        let spread: Vec<(f64, f64)> = evals[1]
            .iter()
            .zip(&evals[2])
            .map(|(&(e, std), &(_, even))| (e, std / even))
            .collect();
        let curve = |title, x_label, points| crate::plots::Curve {
            title,
            x_label,
            points,
            log_y: false,
        };
        // Curves without points (no kNN without a labelled set) are left out.
        let curves = [
            curve("training loss", "step", &steps[0]),
            curve("learning rate", "step", &steps[1]),
            curve("kNN top-1 (%)", "epoch", &knn),
            curve("projection std x sqrt(d) (0: collapsed)", "epoch", &spread),
            curve("effective rank of the features", "epoch", &evals[3]),
            curve("alignment (lower: views agree)", "epoch", &evals[4]),
            curve("uniformity (lower: spread out)", "epoch", &evals[5]),
        ];
        let path = self.path.join(CURVES_FILE);
        crate::plots::curves_png(&path, &curves)?;
        Ok(path)
    }

    pub fn write_summary(&self, summary: &Summary) -> Result<()> {
        let path = self.path.join(SUMMARY_FILE);
        std::fs::write(&path, serde_json::to_string_pretty(summary)? + "\n")
            .with_context(|| format!("{}: cannot write", path.display()))
    }

    /// The encoder's parameters and batch-norm statistics as safetensors (Burn's store).
    pub fn save_encoder<B: Backend, M: Module<B>>(&self, encoder: &M) -> Result<PathBuf> {
        save_module(&self.path.join(ENCODER_FILE), "selfsup-encoder", encoder)
    }

    /// The head layer a method keeps for fine-tuning, beside the encoder.
    pub fn save_head_layer<B: Backend, M: Module<B>>(&self, layer: &M) -> Result<PathBuf> {
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
) -> Result<PathBuf> {
    let mut store = SafetensorsStore::from_file(path)
        .overwrite(true)
        .metadata("format", format);
    module
        .save_into(&mut store)
        .map_err(|e| anyhow::anyhow!("{}: cannot save: {e}", path.display()))?;
    Ok(path.to_path_buf())
}

/// Rewrites a JSON-lines file keeping the lines `keep` accepts (a missing file stays missing).
fn keep_lines(path: &Path, keep: impl Fn(&serde_json::Value) -> bool) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|line| serde_json::from_str(line).is_ok_and(|v| keep(&v)))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(path, kept).with_context(|| format!("{}: cannot write", path.display()))
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("{}: cannot write", path.display()))
}

/// One JSON line, flushed: a killed run keeps every line written before.
/// `(x, y)` points of each of `ys` against `x` from a JSON-lines log; lines without a finite
/// value (a skipped step's null loss) are left out of that curve. A missing log has no points.
fn read_points(path: &Path, x: &str, ys: &[&str]) -> Result<Vec<Vec<(f64, f64)>>> {
    let mut curves = vec![Vec::new(); ys.len()];
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(curves),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let record: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{}: not a JSON line: {line}", path.display()))?;
        let Some(x) = record.get(x).and_then(serde_json::Value::as_f64) else {
            continue;
        };
        for (curve, key) in curves.iter_mut().zip(ys) {
            if let Some(y) = record.get(*key).and_then(serde_json::Value::as_f64) {
                curve.push((x, y));
            }
        }
    }
    Ok(curves)
}

fn append_line(file: &mut File, record: &impl Serialize) -> std::io::Result<()> {
    let line = serde_json::to_string(record).map_err(std::io::Error::other)?;
    writeln!(file, "{line}").and_then(|_| file.flush())
}
