//! The command line: its options, its subcommands and where each goes (commands/).

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::commands::bench::{BenchArgs, bench_command};
use crate::commands::coordinator::{CoordinatorArgs, coordinator_command};
use crate::commands::distill::{DistillArgs, distill_command};
use crate::commands::embed::{EmbedArgs, embed_command};
use crate::commands::eval::{EvalArgs, eval_command};
use crate::commands::export::{ExportArgs, export_command};
use crate::commands::import::{ImportArgs, import_command};
use crate::commands::neighbours::{NeighboursArgs, folder_neighbours_command, neighbours_command};
use crate::commands::pretrain::{PretrainArgs, pretrain_command};
use crate::commands::preview::{PreviewArgs, preview_command};

#[derive(Parser, Debug)]
#[command(
    name = "selfsup",
    version,
    about = "Self-supervised visual representation learning on Burn",
    long_about = "Self-supervised visual representation learning on Burn.\n\n\
        Pretrain an encoder on unlabeled images with a self-supervised method (WCL, SimCLR, \
        MoCo, InstDisc, CMC, BYOL, SimSiam, Barlow Twins, SwAV, Exemplar-CNN) and measure \
        its features: weighted kNN, linear probe, fine-tuning on 1% / 10% of the labels, \
        distillation of the fine-tuned model into a smaller one.\n\n\
        Example:\n  selfsup pretrain --config configs/fashion_mnist/wcl.toml --set train.epochs=5"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// The cpu backend's own kernels (convolutions and batch norm, forward and backward):
    /// `on`, or `off` to run Burn's generic flex operations instead, for comparison. Results
    /// agree to f32 rounding; off is about 3x slower (WCL, width 16, 2 cores: 85 against 271
    /// images/s).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = Switch::On,
        env = "SELFSUP_CPU_KERNELS"
    )]
    pub cpu_kernels: Switch,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    On,
    Off,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Pretrain an encoder, evaluating it with weighted kNN on the test split.
    Pretrain(PretrainArgs),
    /// Evaluate a finished run's encoder: weighted kNN, a linear probe on frozen features, or
    /// fine-tuning on 1% / 10% of the labels; writes RUN_DIR/eval/<kind>.json (top-1, top-5,
    /// per-class accuracy, confusion matrix), <kind>_confusion.png and (knn, linear) a t-SNE
    /// map of the test features, embedding.png; prints one line.
    Eval(EvalArgs),
    /// SimCLR v2 distillation: train a smaller student on the unlabeled training images from a
    /// fine-tuned teacher's temperature-softened predictions (distill.* keys), then score it
    /// on the test set; writes distill.json, distill_confusion.png and student.safetensors.
    Distill(DistillArgs),
    /// Write a grid of augmented views (a row per
    /// training image: the image, then views as training draws them) to check the augmentation
    /// before a long run.
    Preview(PreviewArgs),
    /// Write RUN_DIR/eval/neighbours.png: test images, each followed by its nearest training
    /// images by the run's features (green frame: same class, red: another); with --images
    /// DIR, images of an unlabeled folder next to their nearest others of the folder.
    Neighbours(NeighboursArgs),
    /// Write the features of every image under a folder (any depth, sorted paths) by a
    /// finished run's encoder, or with --head its projection head: an [N, d] f32 tensor
    /// "embeddings" in a safetensors file, and the file list in order in a JSON file beside
    /// it (docs/custom_data.md shows how to load both in NumPy and PyTorch).
    Embed(EmbedArgs),
    /// Export a run's backbone for PyTorch: torchvision ResNet parameter names and layout in a
    /// safetensors file (see docs/export.md for the loading snippet).
    Export(ExportArgs),
    /// Import a PyTorch ResNet's weights (a torchvision state dict in safetensors) as a run
    /// directory that eval, neighbours, embed and distill accept (see docs/export.md).
    Import(ImportArgs),
    /// Measure train-step throughput and memory per backend, augmentation views/s and kNN time;
    /// prints a table and writes <out-dir>/<name>.json (see docs/benchmarks.md).
    Bench(BenchArgs),
    /// Run the coordinator the machines of a run on several register with (`selfsup pretrain
    /// --nodes N --node-rank R --coordinator HOST:PORT ...` on each); stops on Ctrl-C. See
    /// docs/distributed.md.
    Coordinator(CoordinatorArgs),
}

/// Runs the subcommand.
pub fn run(cli: Cli) -> Result<()> {
    selfsup_kernels::set_enabled(cli.cpu_kernels == Switch::On);
    match cli.command {
        Command::Pretrain(args) => pretrain_command(args),
        Command::Eval(args) => eval_command(args),
        Command::Distill(args) => distill_command(args),
        Command::Preview(args) => preview_command(args),
        Command::Neighbours(args) if args.images.is_some() => folder_neighbours_command(args),
        Command::Neighbours(args) => neighbours_command(args),
        Command::Embed(args) => embed_command(args),
        Command::Export(args) => export_command(args),
        Command::Import(args) => import_command(args),
        Command::Bench(args) => bench_command(args),
        Command::Coordinator(args) => coordinator_command(args),
    }
}
