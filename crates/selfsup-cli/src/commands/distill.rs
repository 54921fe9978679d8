//! `selfsup distill --teacher RUN_DIR/eval/finetune_<F>.safetensors`: SimCLR v2's last stage.
//! A smaller ResNet (the teacher's depth, `distill.student_width`) learns the fine-tuned
//! teacher's temperature-softened predictions on the unlabeled training images, then is scored
//! on the test set. Writes `distill.json` (student and teacher top-1, agreement, per-class
//! accuracy, confusion), `distill_confusion.png` and the student, `student.safetensors`.

use crate::epoch_checkpoints::unless_stopped_as_asked;
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::nn::LinearConfig;
use burn::tensor::backend::AutodiffBackend;
use selfsup_backbones::Encoder;
use selfsup_data::Dataset;
use selfsup_eval::{
    Classifier, DistillData, DistillError, DistillSettings, FinetuneConfig, class_report, distill,
};
use selfsup_heads::MlpLayer;
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::backend::{BackendJob, run_on};
use crate::commands::eval::class_names;
use crate::config::{Config, config_name};
use crate::epoch_checkpoints::{Continuation, EpochCheckpoints, remove_old};
use crate::report::plots::confusion_png;
use crate::report::progress::EpochBar;
use crate::saved::{CLASSIFIER_FORMAT, init_encoder, load_into};
use selfsup_distributed::TrackedCollective;
use selfsup_train::features::CropFlipViews;
use selfsup_train::features::image_batch;
use selfsup_train::methods::{
    backbone_config, head_layer_shape, init_portable_module, normalization,
};
use selfsup_train::run_dir::{CONFIG_FILE, save_module};

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

/// `selfsup distill`: trains a smaller student from a fine-tuned teacher.
pub(crate) fn distill_command(args: DistillArgs) -> Result<()> {
    let mut command = format!("selfsup distill --teacher {}", args.teacher.display());
    if let Some(out) = &args.out {
        command += &format!(" --out {}", out.display());
    }
    let continuation =
        Continuation::new(args.resume, args.stop_after_epoch, command, &args.overrides)?;
    let outcome = run_distill(&args.teacher, args.out, &args.overrides, &continuation);
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

pub const REPORT_FILE: &str = "distill.json";
pub const STUDENT_FILE: &str = "student.safetensors";
/// The checkpoint after each epoch, in the output directory.
pub const CHECKPOINT_DIR: &str = "checkpoint";

/// What `distill.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct DistillReport {
    pub teacher: PathBuf,
    pub dataset: String,
    /// Student test accuracy.
    pub top1: f64,
    pub top5: f64,
    /// The teacher's test accuracy, measured again here.
    pub teacher_top1: f64,
    /// Fraction of test images where student and teacher predict the same class.
    pub agreement: f64,
    pub teacher_width: usize,
    pub student_width: usize,
    pub teacher_params: usize,
    pub student_params: usize,
    /// Training images the student learned from (their labels unused).
    pub train_images: usize,
    pub test_images: usize,
    pub epochs: usize,
    pub temperature: f64,
    /// Mean distillation loss of the last epoch.
    pub final_loss: f64,
    pub class_names: Vec<String>,
    pub per_class_top1: Vec<f64>,
    /// `confusion[true][predicted]`, image counts (the student's).
    pub confusion: Vec<Vec<u64>>,
    /// Training images per second (teacher forward, student forward and backward).
    pub images_per_sec: f64,
    pub seconds: f64,
}

/// The parts of a fine-tuning report the teacher's file is rebuilt from.
#[derive(Deserialize)]
struct TeacherReport {
    kind: String,
    #[serde(default)]
    from_head_layer: Option<bool>,
    class_names: Vec<String>,
}

/// Distils the fine-tuned classifier `teacher` into a smaller student and writes the report,
/// its confusion plot and the student into `out` (default: `RUN_DIR/distill/<teacher
/// stem>_w<student width>`). Returns the report and its path.
pub fn run_distill(
    teacher: &Path,
    out: Option<PathBuf>,
    overrides: &[String],
    continuation: &Continuation,
) -> Result<(DistillReport, PathBuf)> {
    let started = Instant::now();
    if !teacher.is_file() {
        bail!(
            "{}: no fine-tuned model (run `selfsup eval finetune --labels F --checkpoint RUN_DIR`; \
             it writes RUN_DIR/eval/finetune_F.safetensors)",
            teacher.display()
        );
    }
    let report_path = teacher.with_extension("json");
    let text = std::fs::read_to_string(&report_path).with_context(|| {
        format!(
            "{}: cannot read the fine-tuning report written beside the teacher",
            report_path.display()
        )
    })?;
    let teacher_report: TeacherReport = serde_json::from_str(&text)
        .with_context(|| format!("{}: not an evaluation report", report_path.display()))?;
    if teacher_report.kind != "finetune" {
        bail!(
            "{}: a {} report; the teacher must be a fine-tuned model (finetune_F.safetensors)",
            report_path.display(),
            teacher_report.kind
        );
    }
    let run = teacher
        .parent()
        .and_then(Path::parent)
        .context("the teacher must sit in RUN_DIR/eval/")?;
    let config_path = run.join(CONFIG_FILE);
    if !config_path.exists() {
        bail!(
            "{}: missing; the teacher must sit in RUN_DIR/eval/ of the run it was fine-tuned from",
            config_path.display()
        );
    }
    let config = Config::load(&config_path, overrides)?;
    let (train, test) = crate::data::load_data(&config)?;
    let classes = teacher_report.class_names.len();
    if train.num_classes.max(test.num_classes) > classes {
        bail!(
            "{}: the teacher knows {classes} classes, the data has {}",
            teacher.display(),
            train.num_classes.max(test.num_classes)
        );
    }
    let student_width = config.distill.student_width(config.model.width);
    let stem = teacher
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let out = out.unwrap_or_else(|| run.join("distill").join(format!("{stem}_w{student_width}")));
    std::fs::create_dir_all(&out).with_context(|| format!("{}: cannot create", out.display()))?;
    let names = class_names(&config, classes);
    let job = DistillJob {
        config: &config,
        teacher,
        from_head_layer: teacher_report.from_head_layer.unwrap_or(false),
        classes,
        student_width,
        train: &train,
        test: &test,
        student_path: out.join(STUDENT_FILE),
        checkpoint_dir: out.join(CHECKPOINT_DIR),
        continuation,
    };
    let mut report = run_on(config.backend, config.device, job)?;
    report.class_names = names;
    confusion_png(
        &out.join("distill_confusion.png"),
        &report.confusion,
        &report.class_names,
        &format!(
            "student (width {}) of {stem}: top-1 {:.2}%",
            report.student_width,
            report.top1 * 100.0
        ),
    )?;
    report.seconds = started.elapsed().as_secs_f64();
    let path = out.join(REPORT_FILE);
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok((report, path))
}

struct DistillJob<'a> {
    config: &'a Config,
    teacher: &'a Path,
    from_head_layer: bool,
    classes: usize,
    student_width: usize,
    train: &'a Dataset,
    test: &'a Dataset,
    student_path: PathBuf,
    /// The checkpoint after each epoch (removed once the student is saved).
    checkpoint_dir: PathBuf,
    continuation: &'a Continuation,
}

impl BackendJob for DistillJob<'_> {
    type Output = DistillReport;

    fn run<B: TrackedCollective>(
        self,
        device: B::Device,
        _device_name: &str,
    ) -> Result<DistillReport> {
        let config = self.config;
        let teacher = self.load_teacher::<B>(&device)?;
        let student = self.student::<B>(&device)?;
        let distill_cfg = &config.distill;
        let settings = distill_settings(config);
        let teacher_params = teacher.num_params();
        info!(
            teacher = %self.teacher.display(),
            teacher_params,
            student_width = self.student_width,
            student_params = student.num_params(),
            images = self.train.len(),
            epochs = distill_cfg.epochs,
            temperature = distill_cfg.temperature,
            "distilling"
        );
        let normalize = normalization(config, self.train);
        let views = CropFlipViews::new(config, self.train, normalize.clone());
        let epochs = distill_cfg.epochs;
        let bar = EpochBar::new(
            "distillation",
            epochs,
            self.train.len().div_ceil(distill_cfg.batch_size),
        );
        let train_batch = |indices: &[usize], epoch: usize| {
            bar.batch(indices.len());
            views.batch::<B>(indices, epoch, &device)
        };
        let test = self.test;
        let test_batch = |range: std::ops::Range<usize>| {
            let indices: Vec<usize> = range.collect();
            image_batch::<B::InnerBackend>(test, &indices, &normalize, &device)
        };
        let data = DistillData {
            train_len: self.train.len(),
            train_batch,
            test_labels: &test.labels,
            test_batch,
        };
        let mut hooks = self.checkpoints::<B>(&bar, &settings, &device);
        let result = match distill(&teacher, student, data, &settings, &mut hooks) {
            Ok(result) => result,
            Err(DistillError::Stopped { epoch }) => {
                bar.finish();
                return Err(hooks.stopped(epoch));
            }
            Err(other) => return Err(other.into()),
        };
        bar.finish();
        let images_per_sec = bar.images_per_sec();
        save_module(&self.student_path, CLASSIFIER_FORMAT, &result.model)?;
        remove_old(&self.checkpoint_dir).map_err(anyhow::Error::msg)?;
        info!(path = %self.student_path.display(), "student saved");
        let classes_report = class_report(&result.predictions, &test.labels, self.classes);
        Ok(DistillReport {
            teacher: self.teacher.to_path_buf(),
            dataset: config_name(config.data.dataset)?,
            top1: result.test.top1,
            top5: result.test.top5,
            teacher_top1: result.teacher_test.top1,
            agreement: result.agreement,
            teacher_width: config.model.width,
            student_width: self.student_width,
            teacher_params,
            student_params: result.model.num_params(),
            train_images: self.train.len(),
            test_images: test.len(),
            epochs,
            temperature: distill_cfg.temperature,
            final_loss: result.final_loss,
            class_names: Vec::new(),
            per_class_top1: classes_report.per_class_top1,
            confusion: classes_report.confusion,
            images_per_sec,
            seconds: 0.0,
        })
    }
}

/// SimCLR v2's distillation recipe from the config's `[distill]` section.
fn distill_settings(config: &Config) -> DistillSettings {
    let distill = &config.distill;
    DistillSettings {
        schedule: FinetuneConfig {
            epochs: distill.epochs,
            batch_size: distill.batch_size,
            lr: distill.lr * distill.batch_size as f64 / 256.0,
            momentum: 0.9,
            nesterov: true,
            weight_decay: distill.weight_decay,
            seed: config.seed,
        },
        temperature: distill.temperature,
    }
}

impl<'a> DistillJob<'a> {
    /// The student encoder, drawn on the host from the run's seed: the same student on every
    /// backend and in every thread.
    fn student<B: AutodiffBackend>(&self, device: &B::Device) -> Result<Encoder<B>> {
        let student_config =
            backbone_config(self.config, self.train.channels).with_width(self.student_width);
        init_portable_module(
            self.config.seed,
            |host| Encoder::single(student_config.init(host)),
            || Encoder::single(student_config.init::<B>(device)),
        )
        .context("initialising the student")
    }

    /// The epochs' progress bar and checkpoints, with what a resume must match.
    fn checkpoints<B: AutodiffBackend>(
        &self,
        bar: &'a EpochBar,
        settings: &DistillSettings,
        device: &B::Device,
    ) -> EpochCheckpoints<'a, B> {
        let schedule = &settings.schedule;
        EpochCheckpoints {
            bar,
            dir: self.checkpoint_dir.clone(),
            epochs: schedule.epochs,
            settings: serde_json::json!({
                "teacher": self.teacher,
                "student_width": self.student_width,
                "epochs": schedule.epochs,
                "batch_size": schedule.batch_size,
                "lr": schedule.lr,
                "weight_decay": schedule.weight_decay,
                "seed": schedule.seed,
                "temperature": settings.temperature,
            }),
            continuation: self.continuation,
            device: device.clone(),
        }
    }

    /// The fine-tuned classifier: the run's encoder, SimCLR v2's head layer when it was
    /// fine-tuned from there, and the linear head over the classes.
    fn load_teacher<B: AutodiffBackend>(
        &self,
        device: &B::Device,
    ) -> Result<Classifier<B::InnerBackend>> {
        let channels = self.train.channels;
        let encoder = init_encoder::<B::InnerBackend>(self.config, channels, device);
        let tail = self.from_head_layer.then(|| {
            let (input, output) = head_layer_shape(self.config, channels);
            MlpLayer::hidden(input, output, device)
        });
        let head_input = tail
            .as_ref()
            .map_or(encoder.feature_dim(), MlpLayer::output_dim);
        let head = LinearConfig::new(head_input, self.classes).init(device);
        load_into(
            Classifier {
                encoder,
                tail,
                head,
            },
            self.teacher,
            "the fine-tuned classifier",
        )
    }
}
