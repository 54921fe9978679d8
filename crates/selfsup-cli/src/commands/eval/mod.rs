//! `selfsup eval knn|linear|finetune --checkpoint RUN_DIR`: loads a run's saved encoder,
//! measures it, and writes `RUN_DIR/eval/<kind>.json` (with per-class accuracy and the
//! confusion matrix), `<kind>_confusion.png`, for the frozen-feature kinds a t-SNE map of
//! the test features, `embedding.png`, and for fine-tuning the fine-tuned classifier,
//! `<kind>.safetensors` (a teacher for `selfsup distill`).

mod job;
mod label_split;
mod report;
mod request;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::backend::run_on;
use crate::epoch_checkpoints::Continuation;
use crate::report::plots::confusion_png;
use crate::saved::finished_run;
use clap::Args;
use selfsup_train::run_dir::HEAD_LAYER_FILE;

use crate::epoch_checkpoints::unless_stopped_as_asked;

pub use report::EvalReport;
pub(crate) use report::class_names;
pub use request::{EvalKind, EvalRequest};

use job::EvalJob;
use label_split::label_split;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// knn, linear or finetune.
    #[arg(value_enum)]
    pub kind: EvalKind,
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

/// The `selfsup eval` command line that continues an interrupted fine-tuning, before its
/// `--set` overrides.
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
    command
}

/// `selfsup eval`: evaluates a run's encoder and prints the accuracy.
pub(crate) fn eval_command(args: EvalArgs) -> Result<()> {
    let request = EvalRequest {
        kind: args.kind,
        labels: args.labels,
        from_head_layer: args.from_head_layer,
    };
    let continuation = Continuation::new(
        args.resume,
        args.stop_after_epoch,
        continue_command(&args),
        &args.overrides,
    )?;
    let outcome = evaluate(&args.checkpoint, request, &args.overrides, &continuation);
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

/// Reads the run's config (with `overrides`, e.g. `eval.linear_epochs=50`), its data and its
/// encoder, evaluates, and writes the report and its pictures. Returns it and where it was
/// written.
pub fn evaluate(
    run: &Path,
    request: EvalRequest,
    overrides: &[String],
    continuation: &Continuation,
) -> Result<(EvalReport, PathBuf)> {
    let started = Instant::now();
    match (request.kind, request.labels) {
        (EvalKind::Finetune, None) => {
            bail!("finetune needs --labels FRACTION, e.g. --labels 0.01 (1% of the labels)")
        }
        (EvalKind::Knn | EvalKind::Linear, Some(_)) => {
            bail!("--labels is for finetune only (knn and linear use every training label)")
        }
        (_, Some(fraction)) if !(fraction > 0.0 && fraction <= 1.0) => {
            bail!("--labels {fraction}: must be a fraction in (0, 1], e.g. 0.01 or 0.1")
        }
        _ => {}
    }
    if request.kind != EvalKind::Finetune
        && (continuation.resume || continuation.stop_after_epoch.is_some())
    {
        bail!("--resume and --stop-after-epoch are for finetune only (knn and linear are quick)");
    }
    if request.from_head_layer && request.kind != EvalKind::Finetune {
        bail!(
            "--from-head-layer is for finetune only (knn and linear use the backbone's features)"
        );
    }
    let (config, encoder_path) = finished_run(run, overrides)?;
    let head_layer_path = run.join(HEAD_LAYER_FILE);
    if request.from_head_layer && !head_layer_path.exists() {
        bail!(
            "{}: no head layer to fine-tune from (a SimCLR run with simclr.head_layers = 3 saves \
             its first head layer when it finishes)",
            head_layer_path.display()
        );
    }
    let (train, test) = crate::data::load_data(&config)?;
    let dir = run.join("eval");
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let subset = match request.labels {
        Some(fraction) => Some(label_split(&dir, &train, fraction, config.seed)?),
        None => None,
    };
    let name = request.name()?;
    let job = EvalJob {
        config: &config,
        request,
        encoder_path: &encoder_path,
        train: &train,
        test: &test,
        subset: subset.as_ref().map(|(indices, _)| indices.as_slice()),
        head_layer_path: request.from_head_layer.then_some(head_layer_path.as_path()),
        model_path: dir.join(format!("{name}.safetensors")),
        checkpoint_dir: dir.join(format!("{name}.checkpoint")),
        continuation,
        embedding_path: dir.join("embedding.png"),
        class_names: class_names(&config, train.num_classes.max(test.num_classes)),
    };
    let mut report = run_on(config.backend, config.device, job)?;
    if let Some((indices, path)) = subset {
        report.labelled_images = Some(indices.len());
        report.label_split = Some(path);
    }
    confusion_png(
        &dir.join(format!("{name}_confusion.png")),
        &report.confusion,
        &report.class_names,
        &format!(
            "{name} on {}: top-1 {:.2}%",
            report.dataset,
            report.top1 * 100.0
        ),
    )?;
    report.seconds = started.elapsed().as_secs_f64();
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok((report, path))
}
