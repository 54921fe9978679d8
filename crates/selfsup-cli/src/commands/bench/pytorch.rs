//! `--compare-pytorch`: PyTorch's figure for the same train step, measured in the same
//! invocation right after ours, so the ratio compares like with like on a shared, noisy machine.
//! The PyTorch side is `bench/pytorch/train_step.py` (same model, batch, losses, optimiser and
//! thread count; its docstring lists them).

use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::args::BenchArgs;
use super::train::TrainResult;
use crate::config::{BackendKind, config_name};

/// One row of the comparison: our images/s, PyTorch's, and ours / theirs.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub backend: String,
    pub method: String,
    pub width: usize,
    pub batch_size: usize,
    pub selfsup_images_per_sec: f64,
    pub pytorch_images_per_sec: f64,
    /// selfsup / PyTorch: above 1 means selfsup's step is faster. Over several rounds
    /// (`--rounds`), the median of `round_ratios`, and the images/s above are medians too.
    pub ratio: f64,
    /// The ratio of each round, in the order they ran.
    pub round_ratios: Vec<f64>,
}

/// What the PyTorch script reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PytorchRun {
    pub torch_version: String,
    pub threads: usize,
    pub device: String,
    /// Its rows; `params` counts trainable parameters (Burn's count adds batch norm's running
    /// statistics).
    pub results: Vec<TrainResult>,
    /// The command that produced it.
    #[serde(default)]
    pub command: String,
}

/// PyTorch's device for one of our backends: the CPU for ours, the same GPU for CUDA; WGPU has
/// no PyTorch counterpart.
fn torch_device(backend: BackendKind, device: Option<usize>) -> Option<String> {
    match backend {
        BackendKind::Cpu => Some("cpu".to_string()),
        BackendKind::Cuda => Some(format!("cuda:{}", device.unwrap_or(0))),
        BackendKind::Wgpu => None,
    }
}

/// Runs the PyTorch script for `backend` with our benchmark's settings, or `None` when the
/// backend has no PyTorch counterpart.
pub fn run_pytorch(args: &BenchArgs, backend: BackendKind) -> Result<Option<PytorchRun>> {
    let Some(device) = torch_device(backend, args.device) else {
        return Ok(None);
    };
    let script = &args.pytorch_script;
    if !script.exists() {
        bail!(
            "{}: the PyTorch benchmark script is missing (run from the repository root, or pass \
             --pytorch-script)",
            script.display()
        );
    }
    let methods = args
        .methods
        .iter()
        .map(config_name)
        .collect::<Result<Vec<_>, _>>()?;
    let widths: Vec<String> = args.widths.iter().map(usize::to_string).collect();
    let mut command = Command::new(&args.python);
    command
        .arg(script)
        .args(["--methods", &methods.join(",")])
        .args(["--arch", &config_name(args.arch)?])
        .args(["--stem", &config_name(args.stem)?])
        .args(["--widths", &widths.join(",")])
        .args(["--image-size", &args.image_size.to_string()])
        .args(["--channels", &args.channels.to_string()])
        .args(["--batch-size", &args.batch_size.to_string()])
        .args(["--warmup-steps", &args.warmup_steps.to_string()])
        .args(["--steps", &args.steps.to_string()])
        // Our CPU backend runs on rayon's pool: the same number of threads for PyTorch.
        .args(["--threads", &rayon::current_num_threads().to_string()])
        .args(["--device", &device])
        .stderr(Stdio::inherit());
    let shown = format!("{command:?}");
    let output = command.output().with_context(|| {
        format!(
            "cannot run {} (set --python to a Python with torch installed)",
            args.python
        )
    })?;
    if !output.status.success() {
        bail!(
            "{shown} failed ({}); is torch installed for {}? (`{} -m pip install torch`)",
            output.status,
            args.python,
            args.python
        );
    }
    let mut run: PytorchRun = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("{}: unexpected output", script.display()))?;
    run.command = shown;
    Ok(Some(run))
}

/// Pairs each of our results on `backend` with PyTorch's for the same method and width.
pub fn compare(ours: &[TrainResult], backend: &str, theirs: &PytorchRun) -> Vec<Comparison> {
    ours.iter()
        .filter(|r| r.backend == backend)
        .filter_map(|r| {
            let other = theirs
                .results
                .iter()
                .find(|p| p.method == r.method && p.width == r.width)?;
            let ratio = r.images_per_sec / other.images_per_sec;
            Some(Comparison {
                backend: r.backend.clone(),
                method: r.method.clone(),
                width: r.width,
                batch_size: r.batch_size,
                selfsup_images_per_sec: r.images_per_sec,
                pytorch_images_per_sec: other.images_per_sec,
                ratio,
                round_ratios: vec![ratio],
            })
        })
        .collect()
}

/// One row per method and width from the rows of every round: the median of each figure and
/// of the per-round ratios. Ours and PyTorch's alternate round by round, so a noisy minute on
/// a shared machine moves one round, not the result.
pub fn median_over_rounds(rounds: &[Vec<Comparison>]) -> Vec<Comparison> {
    let Some(first) = rounds.first() else {
        return Vec::new();
    };
    first
        .iter()
        .map(|row| {
            let same: Vec<&Comparison> = rounds
                .iter()
                .flatten()
                .filter(|r| r.method == row.method && r.width == row.width)
                .collect();
            let figure = |f: fn(&Comparison) -> f64| {
                super::stats::median(&mut same.iter().map(|r| f(r)).collect::<Vec<_>>())
            };
            Comparison {
                selfsup_images_per_sec: figure(|r| r.selfsup_images_per_sec),
                pytorch_images_per_sec: figure(|r| r.pytorch_images_per_sec),
                ratio: figure(|r| r.ratio),
                round_ratios: same.iter().map(|r| r.ratio).collect(),
                ..row.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(method: &str, width: usize, images_per_sec: f64) -> TrainResult {
        TrainResult {
            backend: "cpu".to_string(),
            device: "Cpu".to_string(),
            method: method.to_string(),
            width,
            batch_size: 256,
            params: 0,
            images_per_sec,
            median_step_seconds: 256.0 / images_per_sec,
            step_seconds: vec![],
            peak_rss_bytes: None,
            device_reserved_bytes: None,
        }
    }

    #[test]
    fn rows_pair_by_method_and_width_and_the_ratio_is_ours_over_theirs() {
        let theirs: PytorchRun = serde_json::from_str(
            r#"{"torch_version": "2.x", "threads": 2, "device": "cpu", "results": [
                {"method": "wcl", "width": 16, "batch_size": 256, "params": 1,
                 "images_per_sec": 200.0, "median_step_seconds": 1.28, "step_seconds": [1.28],
                 "peak_rss_bytes": 1024},
                {"method": "simclr", "width": 16, "batch_size": 256, "params": 1,
                 "images_per_sec": 100.0, "median_step_seconds": 2.56, "step_seconds": [2.56],
                 "peak_rss_bytes": null}]}"#,
        )
        .unwrap();
        let rows = compare(
            &[
                ours("simclr", 16, 150.0),
                ours("wcl", 16, 100.0),
                ours("wcl", 32, 9.0),
            ],
            "cpu",
            &theirs,
        );
        assert_eq!(rows.len(), 2, "wcl at width 32 has no PyTorch row");
        assert_eq!((rows[0].method.as_str(), rows[0].ratio), ("simclr", 1.5));
        assert_eq!((rows[1].method.as_str(), rows[1].ratio), ("wcl", 0.5));
        assert!(compare(&[ours("wcl", 16, 1.0)], "cuda", &theirs).is_empty());
    }

    #[test]
    fn rounds_give_the_median_ratio_and_keep_each_round() {
        let round = |ours_ips: f64, theirs_ips: f64| Comparison {
            backend: "cpu".to_string(),
            method: "wcl".to_string(),
            width: 16,
            batch_size: 256,
            selfsup_images_per_sec: ours_ips,
            pytorch_images_per_sec: theirs_ips,
            ratio: ours_ips / theirs_ips,
            round_ratios: vec![ours_ips / theirs_ips],
        };
        // A noisy second round (PyTorch slowed down) does not move the median.
        let rows = median_over_rounds(&[
            vec![round(100.0, 100.0)],
            vec![round(100.0, 50.0)],
            vec![round(90.0, 100.0)],
        ]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].ratio, 1.0);
        assert_eq!(rows[0].round_ratios, vec![1.0, 2.0, 0.9]);
        assert_eq!(rows[0].selfsup_images_per_sec, 100.0);
        assert_eq!(rows[0].pytorch_images_per_sec, 100.0);
    }

    #[test]
    fn wgpu_has_no_pytorch_counterpart() {
        assert_eq!(torch_device(BackendKind::Wgpu, None), None);
        assert_eq!(
            torch_device(BackendKind::Cuda, Some(1)).as_deref(),
            Some("cuda:1")
        );
    }
}
