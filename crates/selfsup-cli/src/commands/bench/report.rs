//! The benchmark's JSON document and its table on stdout.

use std::path::PathBuf;

use serde::Serialize;

use super::args::BenchArgs;
use super::augment::AugmentResult;
use super::data_parallel::ParallelResult;
use super::jpeg::JpegResult;
use super::knn::KnnResult;
use super::pytorch::{Comparison, PytorchRun};
use super::stats::unix_time;
use super::train::TrainResult;

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub logical_cpus: usize,
    pub rayon_threads: usize,
    pub os: String,
    pub memory_bytes: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub name: String,
    pub unix_time: u64,
    pub selfsup_version: &'static str,
    pub burn_version: &'static str,
    /// The command line that produced this file.
    pub command: String,
    pub machine: Machine,
    pub args: BenchArgs,
    pub train: Vec<TrainResult>,
    pub augment: Vec<AugmentResult>,
    /// JPEG files to ImageNet views (and torchvision's figures with --compare-torchvision).
    pub augment_jpeg: Vec<JpegResult>,
    pub knn: Vec<KnnResult>,
    /// One device against two peers on the CPU (threads, processes): step and collective time.
    pub data_parallel: Vec<ParallelResult>,
    /// With --compare-pytorch: PyTorch's runs, and each of our train rows beside PyTorch's.
    pub pytorch: Vec<PytorchRun>,
    pub comparison: Vec<Comparison>,
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

impl BenchReport {
    pub fn new(args: &BenchArgs) -> Self {
        Self {
            name: args.name.clone(),
            unix_time: unix_time(),
            selfsup_version: env!("CARGO_PKG_VERSION"),
            burn_version: "0.21.0",
            command: std::env::args().collect::<Vec<_>>().join(" "),
            machine: machine(),
            args: args.clone(),
            train: Vec::new(),
            augment: Vec::new(),
            augment_jpeg: Vec::new(),
            knn: Vec::new(),
            data_parallel: Vec::new(),
            pytorch: Vec::new(),
            comparison: Vec::new(),
            path: None,
        }
    }

    pub fn print_jpeg(&self) {
        for r in &self.augment_jpeg {
            print!(
                "jpeg    {} thread(s) | {:>7.1} views/s at 224 ({} views of {} files; as u8 \
                 {:.1})",
                r.threads, r.views_per_sec, r.views, r.files, r.u8_views_per_sec
            );
            for (run, ratio) in r.torchvision.iter().zip(&r.ratios) {
                print!(
                    " | torchvision {} ({} blur, {}) {:>7.1} views/s, ratio {:.2}",
                    run.torchvision_version, run.blur, run.output, run.views_per_sec, ratio
                );
            }
            println!();
        }
    }

    pub fn print_train(&self, r: &TrainResult) {
        println!(
            "train   {:<5} {:<7} width {:>3} batch {:>4} | {:>8.1} img/s | step {:>8.3} s | peak RSS {:>9} | device {:>9} | {}",
            r.backend,
            r.method,
            r.width,
            r.batch_size,
            r.images_per_sec,
            r.median_step_seconds,
            bytes(r.peak_rss_bytes),
            bytes(r.device_reserved_bytes),
            r.device
        );
    }

    pub fn print_comparison(&self, run: &PytorchRun, rows: &[Comparison]) {
        for r in rows {
            println!(
                "compare {:<5} {:<7} width {:>3} batch {:>4} | selfsup {:>8.1} img/s | PyTorch {} ({} threads, {}) {:>8.1} img/s | ratio {:.2}",
                r.backend,
                r.method,
                r.width,
                r.batch_size,
                r.selfsup_images_per_sec,
                run.torch_version,
                run.threads,
                run.device,
                r.pytorch_images_per_sec,
                r.ratio
            );
        }
    }

    /// The median over `--rounds`, after every round's own lines.
    pub fn print_median(&self, rows: &[Comparison]) {
        for r in rows {
            let rounds: Vec<String> = r.round_ratios.iter().map(|x| format!("{x:.2}")).collect();
            println!(
                "median  {:<5} {:<7} width {:>3} batch {:>4} | selfsup {:>8.1} img/s | PyTorch {:>8.1} img/s | ratio {:.2} (rounds: {})",
                r.backend,
                r.method,
                r.width,
                r.batch_size,
                r.selfsup_images_per_sec,
                r.pytorch_images_per_sec,
                r.ratio,
                rounds.join(", ")
            );
        }
    }

    pub fn print_augment(&self) {
        for r in &self.augment {
            println!(
                "augment {:>2} thread(s) | {:>10.0} views/s ({} views in {:.3} s)",
                r.threads, r.views_per_sec, r.views, r.seconds
            );
        }
    }

    pub fn print_knn(&self, r: &KnnResult) {
        println!(
            "knn     {:<5} {} queries x {} stored x {}-d, k {} | {:>8.3} s | {}",
            r.backend, r.queries, r.stored, r.dim, r.k, r.median_seconds, r.device
        );
    }
}

fn bytes(value: Option<u64>) -> String {
    match value {
        Some(b) => format!("{:.0} MiB", b as f64 / (1024.0 * 1024.0)),
        None => "-".to_string(),
    }
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, name)| name.trim().to_string())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map(|kib| kib * 1024);
    Machine {
        cpu,
        logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        rayon_threads: rayon::current_num_threads(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        memory_bytes,
    }
}
