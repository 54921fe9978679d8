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

pub use report::BenchReport;

/// The config every benchmark starts from: the default pretraining config.
const BASE_CONFIG: &str = include_str!("../../../../configs/fashion_mnist/wcl.toml");

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
    #[arg(long, value_enum, value_delimiter = ',')]
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
    #[arg(long, value_enum, value_delimiter = ',', default_value = "simclr,wcl")]
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
    let base = Config::from_toml(BASE_CONFIG, "configs/fashion_mnist/wcl.toml", &[])?;
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
