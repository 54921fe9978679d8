//! `selfsup bench`: train-step throughput and memory per backend, augmentation throughput, and
//! weighted-kNN time, printed as a table and written as JSON for docs/benchmarks.md.

mod args;
mod augment;
mod data_parallel;
mod jpeg;
mod knn;
mod memory;
mod pytorch;
mod report;
mod stats;
mod train;

use anyhow::{Context, Result};

use crate::backend::{compiled_backends, run_on};
use crate::config::{Config, config_name};

pub use args::{BenchArgs, Section};
pub use report::BenchReport;

/// `selfsup bench`: prints the table and says where the JSON went.
pub(crate) fn bench_command(args: BenchArgs) -> Result<()> {
    if let Some(machine) = args.machine() {
        let base = Config::from_toml(BASE_CONFIG, "the benchmark's base config", &[])?;
        return data_parallel::run_machine(&args, &base, &machine);
    }
    let report = run(args)?;
    if let Some(path) = report.path {
        println!("results written to {}", path.display());
    }
    Ok(())
}

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
epochs = 8
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
            Section::AugmentJpeg => {
                report.augment_jpeg = jpeg::measure(&args)?;
                report.print_jpeg();
            }
            Section::DataParallel => {
                report.data_parallel = data_parallel::measure(&args, &base)?;
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
