use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use tracing::info;

use crate::config::{BackendKind, Config, DatasetKind, config_name, material_differences};
use crate::data::load_pretraining_data;
use crate::epoch_checkpoints::{Continuation, StoppedAsAsked};
use crate::interrupt::stop_on_signals;
use crate::train::run_pretrain;
use selfsup_train::RunInputs;
use selfsup_train::checkpoint;
use selfsup_train::methods;
use selfsup_train::run_dir::{CONFIG_FILE, RunDir, Summary};

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
    /// Measure train-step throughput and memory per backend, augmentation views/s and kNN time;
    /// prints a table and writes <out-dir>/<name>.json (see docs/benchmarks.md).
    Bench(crate::bench::BenchArgs),
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// knn, linear or finetune.
    #[arg(value_enum)]
    pub kind: crate::evaluate::EvalKind,
    /// finetune: the fraction of training labels, class-balanced and seeded (saved as
    /// RUN_DIR/eval/labels_<FRACTION>.json and reused), e.g. 0.01 or 0.1.
    #[arg(long, value_name = "FRACTION")]
    pub labels: Option<f64>,
    /// finetune: start from SimCLR v2's first head layer (RUN_DIR/head_layer.safetensors,
    /// saved by runs with simclr.head_layers = 3): backbone, that layer and a new linear head
    /// are fine-tuned together. Writes finetune_<FRACTION>_head_layer.json.
    #[arg(long)]
    pub from_head_layer: bool,
    /// The run directory (its config.toml and encoder.safetensors are read).
    #[arg(long, value_name = "RUN_DIR")]
    pub checkpoint: PathBuf,
    /// Override a config key, e.g. --set eval.linear_epochs=50 --set backend=wgpu.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// finetune: continue from the checkpoint an interrupted fine-tuning left
    /// (RUN_DIR/eval/finetune_<FRACTION>[_head_layer].checkpoint, written after every epoch),
    /// with the same settings. Without it, fine-tuning starts over.
    #[arg(long)]
    pub resume: bool,
    /// finetune: stop after this many epochs, with a checkpoint that `--resume` continues.
    #[arg(long, value_name = "EPOCHS")]
    pub stop_after_epoch: Option<usize>,
}

#[derive(Args, Debug)]
pub struct DistillArgs {
    /// The fine-tuned teacher: RUN_DIR/eval/finetune_<FRACTION>[_head_layer].safetensors as
    /// `selfsup eval finetune` writes it (the report beside it and RUN_DIR/config.toml are
    /// read too).
    #[arg(long, value_name = "CKPT")]
    pub teacher: PathBuf,
    /// Output directory [default: RUN_DIR/distill/<teacher>_w<student width>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Override a config key, e.g. --set distill.student_width=8 --set distill.epochs=10.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Continue from the checkpoint an interrupted distillation left (OUT/checkpoint, written
    /// after every epoch), with the same settings. Without it, distillation starts over.
    #[arg(long)]
    pub resume: bool,
    /// Stop after this many epochs, with a checkpoint that `--resume` continues.
    #[arg(long, value_name = "EPOCHS")]
    pub stop_after_epoch: Option<usize>,
}

#[derive(Args, Debug)]
pub struct PreviewArgs {
    /// TOML config file whose data and augment sections are used.
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
    /// Override a config key, e.g. --set augment.crop_scale=[0.08,1.0].
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Dataset directory (overrides `data.dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Training images shown (one row each, evenly spaced through the set).
    #[arg(long, default_value_t = 8)]
    pub images: usize,
    /// Augmented views per image.
    #[arg(long, default_value_t = 8)]
    pub views: usize,
    /// Where the PNG goes.
    #[arg(long, value_name = "FILE", default_value = "preview.png")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct NeighboursArgs {
    /// The run directory (its config.toml and encoder.safetensors are read).
    #[arg(long, value_name = "RUN_DIR")]
    pub checkpoint: PathBuf,
    /// Test images shown (one row each, evenly spaced through the test set).
    #[arg(long, default_value_t = 10)]
    pub queries: usize,
    /// Nearest training images per test image.
    #[arg(long, default_value_t = 8)]
    pub k: usize,
    /// An unlabeled folder instead of the labelled sets: images drawn from it (with --seed),
    /// each next to its nearest other images of the folder; written to
    /// RUN_DIR/eval/neighbours_<folder>.png.
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Seed of the images drawn from --images.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Override a config key, e.g. --set backend=wgpu.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// The run directory (its config.toml and encoder.safetensors are read; --head also reads
    /// its last checkpoint).
    #[arg(long, value_name = "RUN_DIR")]
    pub checkpoint: PathBuf,
    /// The folder of images to embed, read at any depth like `data.dataset = "images"`,
    /// resized and normalised as the run's images were.
    #[arg(long, value_name = "DIR")]
    pub images: PathBuf,
    /// Output file [default: RUN_DIR/embeddings.safetensors]; the file list goes beside it
    /// with the extension .json.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The projection head's output (what the loss compared) instead of the backbone's
    /// pooled features (what kNN and linear probes use).
    #[arg(long)]
    pub head: bool,
    /// Override a config key, e.g. --set data.skip_bad=true or --set backend=wgpu.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The run directory (its config.toml and encoder.safetensors are read).
    #[arg(long, value_name = "RUN_DIR")]
    pub checkpoint: PathBuf,
    #[arg(long, value_enum, default_value = "safetensors")]
    pub format: crate::export::ExportFormat,
    /// Output file [default: RUN_DIR/export/<backbone>.safetensors].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct PretrainArgs {
    /// TOML config file (see configs/ and docs/configuration.md). Not with --resume, which
    /// uses the run's own config.toml, nor with --data, which chooses one.
    #[arg(
        long,
        short,
        value_name = "FILE",
        required_unless_present_any = ["resume", "data"]
    )]
    pub config: Option<PathBuf>,
    /// Pretrain on the images under DIR (any depth, no labels) without a config: a WCL recipe
    /// is chosen from the folder's size and image resolution (printed, and written to the
    /// run's config.toml; the rule is in docs/custom_data.md). --set changes any of it, e.g.
    /// --set train.epochs=20, or --set eval.dataset=... to measure kNN on a labelled set.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "resume", "data_dir"])]
    pub data: Option<PathBuf>,
    /// Continue the run in DIR from its newest checkpoint (DIR/checkpoints/step-N), with the
    /// config it was started with (--set may change only where it runs and how it is evaluated).
    /// Lines its logs got after that checkpoint are replaced. `--out DIR` of a run with a
    /// checkpoint resumes it too.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "out"])]
    pub resume: Option<PathBuf>,
    /// Stop after this many epochs of the schedule (a checkpoint is written), e.g. to fit a
    /// time-limited job; `--resume` continues from there with the same schedule.
    #[arg(long, value_name = "EPOCHS")]
    pub stop_after_epoch: Option<usize>,
    /// Output directory [default: runs/<method>-<dataset>-<unix time>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Override a config key, in TOML syntax; repeatable. E.g. --set train.epochs=10
    /// --set data.train_limit=10000 --set 'data.dir="/data/fmnist"'.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Compute backend (overrides the config's `backend`). wgpu and cuda need a build with
    /// `--features wgpu` / `--features cuda`.
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// GPU to use, numbered as the backend lists them (overrides the config's `device`);
    /// a wrong number prints the devices that exist.
    #[arg(long, value_name = "N")]
    pub device: Option<usize>,
    /// Dataset directory (overrides `data.dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

pub fn run(cli: Cli) -> Result<()> {
    selfsup_kernels::set_enabled(cli.cpu_kernels == Switch::On);
    match cli.command {
        Command::Pretrain(args) => pretrain(args),
        Command::Eval(args) => eval_command(args),
        Command::Distill(args) => distill_command(args),
        Command::Preview(args) => preview_command(args),
        Command::Neighbours(args) if args.images.is_some() => folder_neighbours_command(args),
        Command::Neighbours(args) => neighbours_command(args),
        Command::Embed(args) => embed_command(args),
        Command::Export(args) => export_command(args),
        Command::Bench(args) => bench_command(args),
    }
}

/// A command's result, or `None` when it stopped at `--stop-after-epoch` (logged: not a
/// failure, its checkpoint continues it).
fn unless_stopped_as_asked<T>(outcome: Result<T>) -> Result<Option<T>> {
    match outcome {
        Err(error) if error.downcast_ref::<StoppedAsAsked>().is_some() => {
            info!("{error}");
            Ok(None)
        }
        other => other.map(Some),
    }
}

/// The `selfsup eval` command line that continues an interrupted fine-tuning.
fn continue_command(args: &EvalArgs) -> String {
    let mut command = format!(
        "selfsup eval finetune --checkpoint {}",
        args.checkpoint.display()
    );
    if let Some(fraction) = args.labels {
        command += &format!(" --labels {fraction}");
    }
    if args.from_head_layer {
        command += " --from-head-layer";
    }
    for key_value in &args.overrides {
        command += &format!(" --set {key_value}");
    }
    command + " --resume"
}

/// `selfsup eval`: evaluates a run's encoder and prints the accuracy.
fn eval_command(args: EvalArgs) -> Result<()> {
    let request = crate::evaluate::EvalRequest {
        kind: args.kind,
        labels: args.labels,
        from_head_layer: args.from_head_layer,
    };
    let continuation = Continuation {
        resume: args.resume,
        stop_after_epoch: args.stop_after_epoch,
        stop: stop_on_signals()?,
        command: continue_command(&args),
    };
    let outcome =
        crate::evaluate::evaluate(&args.checkpoint, request, &args.overrides, &continuation);
    let Some((report, path)) = unless_stopped_as_asked(outcome)? else {
        return Ok(());
    };
    println!(
        "{} on {}: top-1 {:.2}% top-5 {:.2}% | {:.0} s | {}",
        request.name()?,
        report.dataset,
        report.top1 * 100.0,
        report.top5 * 100.0,
        report.seconds,
        path.display()
    );
    Ok(())
}

/// `selfsup distill`: trains a smaller student from a fine-tuned teacher.
fn distill_command(args: DistillArgs) -> Result<()> {
    let mut command = format!("selfsup distill --teacher {}", args.teacher.display());
    if let Some(out) = &args.out {
        command += &format!(" --out {}", out.display());
    }
    for key_value in &args.overrides {
        command += &format!(" --set {key_value}");
    }
    let continuation = Continuation {
        resume: args.resume,
        stop_after_epoch: args.stop_after_epoch,
        stop: stop_on_signals()?,
        command: command + " --resume",
    };
    let outcome =
        crate::distill::run_distill(&args.teacher, args.out, &args.overrides, &continuation);
    let Some((report, path)) = unless_stopped_as_asked(outcome)? else {
        return Ok(());
    };
    println!(
        "student (width {}, {} parameters) on {}: top-1 {:.2}% top-5 {:.2}% | teacher \
         (width {}, {} parameters) {:.2}% | agreement {:.2}% | {:.0} s | {}",
        report.student_width,
        report.student_params,
        report.dataset,
        report.top1 * 100.0,
        report.top5 * 100.0,
        report.teacher_width,
        report.teacher_params,
        report.teacher_top1 * 100.0,
        report.agreement * 100.0,
        report.seconds,
        path.display()
    );
    Ok(())
}

/// `selfsup preview`: writes a grid of augmented views.
fn preview_command(args: PreviewArgs) -> Result<()> {
    let mut overrides = args.overrides.clone();
    overrides.extend(args.data_dir.as_deref().map(data_dir_override));
    let path =
        crate::preview::preview(&args.config, &overrides, args.images, args.views, &args.out)?;
    println!("augmented views written to {}", path.display());
    Ok(())
}

/// `selfsup neighbours --images DIR`: nearest neighbours among a folder's images.
fn folder_neighbours_command(args: NeighboursArgs) -> Result<()> {
    let path = crate::neighbours::folder_neighbours(
        &args.checkpoint,
        args.images.as_deref().expect("matched"),
        args.queries,
        args.k,
        args.seed,
        &args.overrides,
    )?;
    println!("{}", path.display());
    Ok(())
}

/// `selfsup neighbours`: nearest training images of test queries, and how often they share the class.
fn neighbours_command(args: NeighboursArgs) -> Result<()> {
    let (path, same) =
        crate::neighbours::neighbours(&args.checkpoint, args.queries, args.k, &args.overrides)?;
    println!(
        "{:.1}% of the neighbours shown share the query's class | {}",
        same * 100.0,
        path.display()
    );
    Ok(())
}

/// `selfsup embed`: writes the features of every image under a folder.
fn embed_command(args: EmbedArgs) -> Result<()> {
    let report = crate::embed::embed(&crate::embed::EmbedRequest {
        run: &args.checkpoint,
        images: &args.images,
        out: args.out,
        head: args.head,
        overrides: &args.overrides,
    })?;
    println!(
        "{} images -> [{}, {}] {} features ({:.0} images/s) | {} | file list {}",
        report.index.images,
        report.index.images,
        report.index.dim,
        report.index.features,
        report.index.images_per_sec,
        report.tensor_path.display(),
        report.index_path.display()
    );
    Ok(())
}

/// `selfsup export`: the encoder under torchvision's names.
fn export_command(args: ExportArgs) -> Result<()> {
    let (path, tensors) = crate::export::export(&args.checkpoint, args.format, args.out)?;
    println!(
        "{tensors} tensors with torchvision ResNet names written to {}",
        path.display()
    );
    Ok(())
}

/// `selfsup bench`: prints the table and says where the JSON went.
fn bench_command(args: crate::bench::BenchArgs) -> Result<()> {
    let report = crate::bench::run(args)?;
    if let Some(path) = report.path {
        println!("results written to {}", path.display());
    }
    Ok(())
}

fn pretrain(args: PretrainArgs) -> Result<()> {
    let overrides = pretrain_overrides(&args)?;
    let resume = run_to_resume(&args)?;
    let mut config = pretrain_config(&args, resume.as_ref(), &overrides)?;
    // The saved config.toml then says where the data came from, default or not.
    config.data.dir = Some(config.data_dir()?);
    if args.stop_after_epoch == Some(0) {
        bail!("--stop-after-epoch 0: expected at least 1 epoch");
    }
    let (pretrain_set, eval_sets) = load_pretraining_data(&config)?;
    // The run's normalisation is measured once and kept in its config.toml, so evaluation,
    // `selfsup embed` and resuming read the same values.
    let fixed = (methods::hooks(config.method).fixed_normalization)();
    if config.data.mean.is_none() && fixed.is_none() {
        let (mean, std) = pretrain_set.channel_stats();
        config.data.mean = Some(mean);
        config.data.std = Some(std);
    }
    if let Some((run, _)) = &resume {
        check_resumable(run, &config)?;
    }
    let dataset_name = config_name(config.data.dataset)?;
    let backend_name = config_name(config.backend)?;
    let method_name = config_name(config.method)?;
    let (out, mut run_dir) =
        open_run_dir(&args, resume.as_ref(), &config, &method_name, &dataset_name)?;
    info!(out = %out.display(), method = %method_name, backend = %backend_name, "run directory");

    let inputs = RunInputs {
        config,
        backend_name,
        dataset_name,
        pretrain_set,
        eval_sets,
        resume: resume.map(|(_, checkpoint)| checkpoint),
        stop_after_epoch: args.stop_after_epoch,
        stop: stop_on_signals()?,
    };
    let summary = run_pretrain(&inputs, &mut run_dir)?;
    report_pretrain(&summary, &inputs.config, &out)
}

/// The `--set` overrides, with `--backend`, `--device` and `--data-dir` as the ones they stand
/// for.
fn pretrain_overrides(args: &PretrainArgs) -> Result<Vec<String>> {
    let mut overrides = args.overrides.clone();
    if let Some(backend) = args.backend {
        overrides.push(format!("backend=\"{}\"", config_name(backend)?));
    }
    if let Some(device) = args.device {
        overrides.push(format!("device={device}"));
    }
    overrides.extend(args.data_dir.as_deref().map(data_dir_override));
    Ok(overrides)
}

/// The run directory and checkpoint to continue: `--resume`'s, or an `--out` that holds a
/// checkpoint (resumed as if `--resume` had been given).
fn run_to_resume(args: &PretrainArgs) -> Result<Option<(PathBuf, PathBuf)>> {
    Ok(match (&args.resume, &args.out) {
        (Some(run), _) => {
            let checkpoint = checkpoint::latest(run)?.with_context(|| {
                format!(
                    "{}: no checkpoint to resume from (expected {}/step-N/)",
                    run.display(),
                    checkpoint::CHECKPOINT_DIR
                )
            })?;
            Some((run.clone(), checkpoint))
        }
        (None, Some(out)) => checkpoint::latest(out)?.map(|checkpoint| {
            println!("{} holds a checkpoint: resuming it", out.display());
            (out.clone(), checkpoint)
        }),
        (None, None) => None,
    })
}

/// The config of the run: `--config`'s file, the resumed run's own, or the recipe `--data`
/// chooses, with the overrides applied.
fn pretrain_config(
    args: &PretrainArgs,
    resume: Option<&(PathBuf, PathBuf)>,
    overrides: &[String],
) -> Result<Config> {
    Ok(match (&args.config, resume, &args.data) {
        (Some(path), _, _) => Config::load(path, overrides)?,
        (None, Some((run, _)), _) => Config::load(&run.join(CONFIG_FILE), overrides)?,
        (None, None, Some(dir)) => {
            let recipe =
                crate::recipe::automatic_recipe(dir, args.backend.unwrap_or(BackendKind::Cpu))?;
            println!("recipe chosen for {}:", dir.display());
            for line in &recipe.summary {
                println!("  {line}");
            }
            Config::from_toml(&recipe.toml, "the automatic recipe", overrides)?
        }
        (None, None, None) => {
            bail!("--config FILE is required (or --resume RUN_DIR, or --data DIR)")
        }
    })
}

/// Refuses to resume `run` with a config that changes the training its checkpoint belongs to.
fn check_resumable(run: &Path, config: &Config) -> Result<()> {
    let saved = Config::load(&run.join(CONFIG_FILE), &[])?;
    let differences = material_differences(&saved, config);
    if !differences.is_empty() {
        bail!(
            "{}: its checkpoint belongs to a run with another config ({}); resume without \
                 these changes, or start a new run with another --out",
            run.display(),
            differences.join("; ")
        );
    }
    Ok(())
}

/// The run directory: the resumed one, or a new one at `--out` (default
/// `runs/<method>-<dataset>-<unix seconds>`).
fn open_run_dir(
    args: &PretrainArgs,
    resume: Option<&(PathBuf, PathBuf)>,
    config: &Config,
    method_name: &str,
    dataset_name: &str,
) -> Result<(PathBuf, RunDir)> {
    Ok(match resume {
        Some((run, checkpoint)) => {
            let state = checkpoint::read_state(checkpoint)?;
            println!(
                "resuming {} from {} (epoch {} of {}, step {})",
                run.display(),
                checkpoint.display(),
                state.epoch,
                config.train.epochs,
                state.step
            );
            (run.clone(), RunDir::resume(run, state.epoch, state.step)?)
        }
        None => {
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| default_out(method_name, dataset_name));
            let run_dir = RunDir::create(&out, config)?;
            (out, run_dir)
        }
    })
}

/// Prints how the run ended, and for a folder of one's own images writes their embeddings.
fn report_pretrain(summary: &Summary, config: &Config, out: &Path) -> Result<()> {
    if summary.completed_epochs < summary.epochs {
        let knn = match summary.knn_top1 {
            Some(top1) => format!("kNN top-1 {:.2}%", top1 * 100.0),
            None => "no kNN (no labelled evaluation set)".to_string(),
        };
        println!(
            "stopped after epoch {} of {}: {knn} | continue with: selfsup pretrain --resume {}",
            summary.completed_epochs,
            summary.epochs,
            out.display()
        );
        return Ok(());
    }
    let knn = match (summary.knn_top1, summary.knn_top5) {
        (Some(top1), Some(top5)) => {
            format!("kNN top-1 {:.2}% top-5 {:.2}%", top1 * 100.0, top5 * 100.0)
        }
        _ => "no kNN (no labelled evaluation set)".to_string(),
    };
    println!(
        "{} on {}: {knn} | {:.0} images/s | {:.0} s | {}",
        summary.method,
        summary.dataset,
        summary.images_per_sec,
        summary.wall_seconds,
        out.display()
    );
    if config.data.dataset == DatasetKind::Images {
        // A folder of one's own images: the embeddings of those images come with the encoder.
        let dir = config.data_dir()?;
        let report = crate::embed::embed(&crate::embed::EmbedRequest {
            run: out,
            images: &dir,
            out: None,
            head: false,
            overrides: &[],
        })
        .context("embedding the pretraining images")?;
        println!(
            "embeddings of the {} images: {} (file list {})",
            report.index.images,
            report.tensor_path.display(),
            report.index_path.display()
        );
    }
    Ok(())
}

/// `--data-dir DIR` as the `--set` it stands for (quoted as a TOML string).
fn data_dir_override(dir: &Path) -> String {
    format!(
        "data.dir={}",
        toml::Value::String(dir.display().to_string())
    )
}

fn default_out(method: &str, dataset: &str) -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Path::new("runs").join(format!("{method}-{dataset}-{stamp}"))
}
