//! `selfsup bench`: train-step throughput and memory per backend, augmentation throughput, and
//! weighted-kNN time, printed as a table and written as JSON for docs/benchmarks.md.

mod augment;
mod knn;
mod memory;
mod pytorch;
mod report;
mod train;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::backend::{compiled_backends, run_on};
use crate::config::{BackendKind, Config, MethodKind, config_name};
use crate::names::{backend_parser, method_parser};

pub use report::BenchReport;

/// `selfsup bench`: prints the table and says where the JSON went.
pub(crate) fn bench_command(args: crate::commands::bench::BenchArgs) -> Result<()> {
    let report = crate::commands::bench::run(args)?;
    if let Some(path) = report.path {
        println!("results written to {}", path.display());
    }
    Ok(())
}

/// The config every benchmark starts from: the default pretraining config.
/// The workload every benchmark row starts from (its method, width and batch are set per row):
/// the default WCL run's model, optimiser and views (configs/fashion_mnist/wcl.toml), written
/// here so that a change to the shipped config does not silently change what the benchmark
/// measures, and so that the crate reads nothing outside itself.
const BASE_CONFIG: &str = r#"
method = "wcl"
seed = 0
backend = "cpu"
[data]
dataset = "fashion_mnist"
[model]
backbone = "resnet18"
width = 16
proj_output_dim = 128
[train]
epochs = 6
batch_size = 256
lr = 0.2
momentum = 0.9
weight_decay = 5e-4
warmup_epochs = 0
[augment]
crop_size = 28
crop_scale = [0.5, 1.0]
flip_prob = 0.5
jitter_prob = 0.8
brightness = 0.4
contrast = 0.4
[eval]
every = 2
knn_k = 200
knn_temperature = 0.07
[wcl]
temperature = 0.1
swap_weight = 1.0
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Train-step throughput and peak memory per backend, method and width.
    Train,
    /// Augmentation views/s on one core and on all cores.
    Augment,
    /// Weighted kNN: queries against stored features, per backend.
    Knn,
}

#[derive(Args, Debug, Clone, Serialize)]
pub struct BenchArgs {
    /// Results go to <out-dir>/<name>.json.
    #[arg(long, default_value = "local")]
    pub name: String,
    #[arg(long, value_name = "DIR", default_value = "bench-results")]
    pub out_dir: PathBuf,
    /// Backends to measure [default: every backend in this build].
    #[arg(long, value_parser = backend_parser(), value_delimiter = ',')]
    pub backends: Vec<BackendKind>,
    /// GPU index for the GPU backends (as `pretrain --device`).
    #[arg(long, value_name = "N")]
    pub device: Option<usize>,
    /// Which parts to run.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "train,augment,knn"
    )]
    pub sections: Vec<Section>,
    /// Methods to measure.
    #[arg(long, value_parser = method_parser(), value_delimiter = ',', default_value = "simclr,wcl")]
    pub methods: Vec<MethodKind>,
    /// ResNet-18 (small stem) widths: channels of the first stage.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64")]
    pub widths: Vec<usize>,
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Untimed steps first (allocation, kernel compilation, autotuning).
    #[arg(long, default_value_t = 2)]
    pub warmup_steps: usize,
    /// Timed steps; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Images augmented per augmentation measurement (two views each).
    #[arg(long, default_value_t = 4096)]
    pub augment_images: usize,
    #[arg(long, default_value_t = 10_000)]
    pub knn_queries: usize,
    #[arg(long, default_value_t = 60_000)]
    pub knn_stored: usize,
    #[arg(long, default_value_t = 128)]
    pub knn_dim: usize,
    /// Timed kNN repetitions after one untimed run; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub knn_repeats: usize,
    /// After each train measurement on cpu or cuda, run bench/pytorch/train_step.py (same
    /// model, batch, losses, optimiser and threads) and report PyTorch's images/s and the ratio.
    #[arg(long)]
    pub compare_pytorch: bool,
    /// Repeat the train measurements this many times, ours and PyTorch's alternating, and
    /// report the median ratio: on a shared machine one round can land in a noisy minute.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// The Python with torch installed, for --compare-pytorch.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// PyTorch's side of the comparison.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "bench/pytorch/train_step.py"
    )]
    pub pytorch_script: PathBuf,
}

pub fn run(mut args: BenchArgs) -> Result<BenchReport> {
    if args.backends.is_empty() {
        args.backends = compiled_backends();
    }
    let base = Config::from_toml(BASE_CONFIG, "the benchmark's base config", &[])?;
    let mut report = BenchReport::new(&args);
    for &section in &args.sections {
        match section {
            Section::Train => {
                for &backend in &args.backends {
                    let mut rounds = Vec::new();
                    for _ in 0..args.rounds {
                        let job = train::TrainBench {
                            args: &args,
                            base: &base,
                            backend,
                            on_result: &mut |result| report.print_train(&result),
                        };
                        let results = run_on(backend, args.device, job)?;
                        if args.compare_pytorch
                            && let Some(run) = pytorch::run_pytorch(&args, backend)?
                        {
                            let rows = pytorch::compare(&results, &config_name(backend)?, &run);
                            report.print_comparison(&run, &rows);
                            rounds.push(rows);
                            report.pytorch.push(run);
                        }
                        report.train.extend(results);
                    }
                    let rows = pytorch::median_over_rounds(&rounds);
                    if rounds.len() > 1 {
                        report.print_median(&rows);
                    }
                    report.comparison.extend(rows);
                }
            }
            Section::Augment => {
                report.augment = augment::measure(&base, args.augment_images)?;
                report.print_augment();
            }
            Section::Knn => {
                for &backend in &args.backends {
                    let result = run_on(
                        backend,
                        args.device,
                        knn::KnnBench {
                            args: &args,
                            backend,
                        },
                    )?;
                    report.print_knn(&result);
                    report.knn.push(result);
                }
            }
        }
    }
    let path = args.out_dir.join(format!("{}.json", args.name));
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("{}: cannot create", args.out_dir.display()))?;
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("{}: cannot write", path.display()))?;
    report.path = Some(path);
    Ok(report)
}

fn unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_workload_is_the_default_wcl_run() {
        let base = Config::from_toml(BASE_CONFIG, "bench", &[]).unwrap();
        let shipped = Config::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../configs/fashion_mnist/wcl.toml"),
            &[],
        )
        .unwrap();
        // What the train step computes: method, model, batch, optimiser, loss settings.
        assert_eq!(base.method, shipped.method);
        assert_eq!(base.model, shipped.model);
        assert_eq!(base.train.batch_size, shipped.train.batch_size);
        assert_eq!(base.train.lr, shipped.train.lr);
        assert_eq!(base.train.momentum, shipped.train.momentum);
        assert_eq!(base.train.weight_decay, shipped.train.weight_decay);
        assert_eq!(base.wcl, shipped.wcl);
        assert_eq!(base.augment, shipped.augment);
    }
}
