//! `selfsup eval knn|linear --checkpoint RUN_DIR`: loads a run's saved encoder, computes the
//! features of the training and test images once, and measures them; writes
//! `RUN_DIR/eval/<kind>.json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::backend::{AutodiffBackend, Backend};
use selfsup_backbones::Encoder;
use selfsup_data::Dataset;
use selfsup_eval::{LinearProbeConfig, linear_probe};
use serde::Serialize;
use tracing::info;

use crate::backend::{BackendJob, run_on};
use crate::config::{Config, config_name};
use crate::features::{encode, knn_accuracy};
use crate::methods::{encoder_parts, normalization};
use crate::output::{CONFIG_FILE, ENCODER_FILE};
use crate::train::knn_config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalKind {
    /// Weighted kNN (the same as during pretraining).
    Knn,
    /// A linear classifier on the frozen, cached features (eval.linear_* keys).
    Linear,
}

/// What `RUN_DIR/eval/<kind>.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub kind: EvalKind,
    pub dataset: String,
    pub top1: f64,
    pub top5: f64,
    pub train_images: usize,
    pub test_images: usize,
    /// Linear probe only: accuracy on the training features and the last epoch's loss.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_top1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    pub seconds: f64,
}

/// Reads the run's config (with `overrides`, e.g. `eval.linear_epochs=50`), its data and its
/// encoder, evaluates, and writes the report. Returns it and where it was written.
pub fn evaluate(run: &Path, kind: EvalKind, overrides: &[String]) -> Result<(EvalReport, PathBuf)> {
    let started = Instant::now();
    let config = Config::load(&run.join(CONFIG_FILE), overrides)?;
    let encoder_path = run.join(ENCODER_FILE);
    if !encoder_path.exists() {
        bail!(
            "{}: no encoder (a run writes it when it finishes; resume an unfinished run first)",
            encoder_path.display()
        );
    }
    let (train, test) = crate::cli::load_data(&config)?;
    let job = EvalJob {
        config: &config,
        kind,
        encoder_path: &encoder_path,
        train: &train,
        test: &test,
    };
    let mut report = run_on(config.backend, config.device, job)?;
    report.seconds = started.elapsed().as_secs_f64();
    let dir = run.join("eval");
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let path = dir.join(format!("{}.json", config_name(kind)?));
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok((report, path))
}

struct EvalJob<'a> {
    config: &'a Config,
    kind: EvalKind,
    encoder_path: &'a Path,
    train: &'a Dataset,
    test: &'a Dataset,
}

impl BackendJob for EvalJob<'_> {
    type Output = EvalReport;

    fn run<B: AutodiffBackend>(self, device: B::Device, _device_name: &str) -> Result<EvalReport> {
        let config = self.config;
        let encoder = load_encoder::<B::InnerBackend>(
            config,
            self.train.channels,
            self.encoder_path,
            &device,
        )?;
        let normalize = normalization(config.method, self.train);
        let mut report = EvalReport {
            kind: self.kind,
            dataset: config_name(config.data.dataset)?,
            top1: 0.0,
            top5: 0.0,
            train_images: self.train.len(),
            test_images: self.test.len(),
            train_top1: None,
            final_loss: None,
            epochs: None,
            seconds: 0.0,
        };
        match self.kind {
            EvalKind::Knn => {
                let accuracy = knn_accuracy(
                    &encoder,
                    self.train,
                    self.test,
                    &normalize,
                    &knn_config(config),
                    &device,
                )?;
                report.top1 = accuracy.top1;
                report.top5 = accuracy.top5;
            }
            EvalKind::Linear => {
                let features =
                    |data: &Dataset| encode(|x| encoder.forward(x), data, &normalize, &device);
                info!("features computed once; training the linear classifier");
                let probe = LinearProbeConfig {
                    epochs: config.eval.linear_epochs,
                    batch_size: config.eval.linear_batch_size,
                    lr: config.eval.linear_lr,
                    momentum: 0.9,
                    weight_decay: config.eval.linear_weight_decay,
                    seed: config.seed,
                };
                let classes = self.train.num_classes.max(self.test.num_classes);
                let result = linear_probe::<B>(
                    features(self.train),
                    &self.train.labels,
                    features(self.test),
                    &self.test.labels,
                    classes,
                    &probe,
                )?;
                report.top1 = result.test.top1;
                report.top5 = result.test.top5;
                report.train_top1 = Some(result.train_top1);
                report.final_loss = Some(result.final_loss);
                report.epochs = Some(probe.epochs);
            }
        }
        Ok(report)
    }
}

/// The run's encoder, in inference mode, with every tensor of the saved file applied.
fn load_encoder<B: Backend>(
    config: &Config,
    channels: usize,
    path: &Path,
    device: &B::Device,
) -> Result<Encoder<B>> {
    let parts = encoder_parts(config, channels)
        .iter()
        .map(|part| part.init(device))
        .collect();
    let mut encoder = Encoder::channel_groups(parts);
    let mut result = encoder.load_from(&mut SafetensorsStore::from_file(path));
    if result.is_err() && encoder.parts().len() == 1 {
        // Runs from before CMC saved their single ResNet without the `parts.0.` prefix.
        let mut store = SafetensorsStore::from_file(path).with_key_remapping("^", "parts.0.");
        if let Ok(applied) = encoder.load_from(&mut store) {
            result = Ok(applied);
        }
    }
    let applied = result.map_err(|e| {
        let summary = e.to_string();
        anyhow::anyhow!(
            "{}: does not hold the encoder of this run's config (method, model.width, channels): {}",
            path.display(),
            summary.lines().next().unwrap_or_default().trim()
        )
    })?;
    if !applied.errors.is_empty() {
        bail!(
            "{}: cannot load the encoder: {:?}",
            path.display(),
            applied.errors
        );
    }
    Ok(encoder)
}
