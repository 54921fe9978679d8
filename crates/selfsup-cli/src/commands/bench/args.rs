//! `selfsup bench`'s command line.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::config::{BackboneKind, BackendKind, MethodKind, StemKind};
use crate::names::{backbone_parser, backend_parser, method_parser, stem_parser};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Train-step throughput and peak memory per backend, method and width.
    Train,
    /// Augmentation views/s on one core and on all cores (28x28 grayscale, in memory).
    Augment,
    /// JPEG files to 224-pixel ImageNet views (decode + SimCLR/WCL recipe), views/s on one
    /// core and on all cores; with --compare-torchvision beside torchvision v2 + PIL.
    AugmentJpeg,
    /// Weighted kNN: queries against stored features, per backend.
    Knn,
    /// The cpu train step on one device against two peers sharing it, in threads
    /// (`--devices 0,0`) and in processes with the coordinator (`--nodes 2` on 127.0.0.1):
    /// step time and time in collective calls.
    DataParallel,
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
    /// The train section's backbone.
    #[arg(long, value_parser = backbone_parser(), default_value = "resnet18")]
    pub arch: BackboneKind,
    /// The train section's first layers.
    #[arg(long, value_parser = stem_parser(), default_value = "small")]
    pub stem: StemKind,
    /// Widths to measure: channels of the first stage (64 = the standard network).
    #[arg(long, value_delimiter = ',', default_value = "16,32,64")]
    pub widths: Vec<usize>,
    /// The train section's synthetic images: side in pixels (224 with `--stem imagenet` for
    /// ImageNet's step).
    #[arg(long, default_value_t = 28, value_parser = clap::value_parser!(u32).range(8..=1024))]
    pub image_size: u32,
    /// The train section's image channels: 1 (grayscale) or 3 (colour; CMC always takes 3).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=3))]
    pub channels: u32,
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
    /// With augment-jpeg: run bench/pytorch/augment_jpeg.py on the same files and thread
    /// counts (torchvision's GaussianBlur, then PIL's, normalised to f32; then PIL's ending at uint8,
    /// against our u8 views) and report the ratios.
    #[arg(long)]
    pub compare_torchvision: bool,
    /// Passes over the 256 generated JPEGs per augment-jpeg measurement.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub jpeg_rounds: u32,
    /// torchvision's side of the augment-jpeg comparison.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "bench/pytorch/augment_jpeg.py"
    )]
    pub torchvision_script: PathBuf,
    /// The Python with torch installed, for --compare-pytorch and --compare-torchvision.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// PyTorch's side of the comparison.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "bench/pytorch/train_step.py"
    )]
    pub pytorch_script: PathBuf,
    /// Internal to data-parallel: run as machine N of the processes row and print its timings.
    #[arg(long, hide = true)]
    pub machine: Option<usize>,
    #[arg(long, hide = true, default_value_t = 2)]
    pub machines: usize,
    #[arg(long, hide = true, default_value = "")]
    pub coordinator: String,
    #[arg(long, hide = true, default_value_t = 0)]
    pub data_port: u16,
}

/// A machine process of the data-parallel section's processes row.
#[derive(Debug, Clone)]
pub struct MachineArgs {
    pub machine: usize,
    pub machines: usize,
    pub coordinator: String,
    pub data_port: u16,
}

impl BenchArgs {
    /// Whether this invocation is a machine process of the data-parallel section.
    pub fn machine(&self) -> Option<MachineArgs> {
        self.machine.map(|machine| MachineArgs {
            machine,
            machines: self.machines,
            coordinator: self.coordinator.clone(),
            data_port: self.data_port,
        })
    }
}
