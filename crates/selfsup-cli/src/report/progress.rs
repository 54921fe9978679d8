use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use selfsup_train::TrainObserver;
use selfsup_train::run_dir::{EvalRecord, StepRecord};
use tracing::{info, warn};

use crate::report::curves::write_curves;

/// The training progress bar on stderr: epoch, step, loss, lr, images/s and ETA. Hidden when
/// stderr is not a terminal (logs then carry one line per epoch instead).
pub fn training_bar(total_steps: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total_steps as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] step {pos}/{len} {msg} | {elapsed_precise} ETA {eta_precise}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// What the CLI shows of a pretraining run: the training bar, and curves.png redrawn after
/// every evaluation and at the end.
#[derive(Default)]
pub struct ProgressObserver {
    bar: Option<ProgressBar>,
}

impl ProgressObserver {
    fn bar(&self) -> Option<&ProgressBar> {
        self.bar.as_ref()
    }
}

impl TrainObserver for ProgressObserver {
    fn run_started(&mut self, steps: usize) {
        self.bar = Some(training_bar(steps));
    }

    fn epoch_started(&mut self, epoch: usize, epochs: usize) {
        if let Some(bar) = self.bar() {
            bar.set_prefix(format!("epoch {epoch}/{epochs}"));
        }
    }

    fn step_done(&mut self, record: &StepRecord, throughput: &str) {
        if let Some(bar) = self.bar() {
            bar.set_message(format!(
                "loss {:.4} lr {:.4} {throughput}",
                record.loss, record.lr
            ));
            bar.inc(1);
        }
    }

    fn evaluated(&mut self, run: &Path, _record: &EvalRecord) {
        draw_curves(run);
    }

    fn aside(&mut self, work: &mut dyn FnMut()) {
        match self.bar() {
            Some(bar) => bar.suspend(work),
            None => work(),
        }
    }

    fn stopped(&mut self) {
        if let Some(bar) = self.bar() {
            bar.abandon();
        }
    }

    fn finished(&mut self, run: &Path) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        draw_curves(run);
    }
}

/// A picture is not worth stopping a run for: a failure to draw is logged.
fn draw_curves(run: &Path) {
    if let Err(error) = write_curves(run) {
        warn!("{error:#}");
    }
}

/// The bar of fine-tuning and distillation: a step per batch drawn, each epoch's mean loss and
/// the images/s so far (a log line per epoch when the bar is hidden).
pub struct EpochBar {
    bar: ProgressBar,
    stage: &'static str,
    epochs: usize,
    started: Instant,
    images: Cell<usize>,
}

impl EpochBar {
    pub fn new(stage: &'static str, epochs: usize, steps_per_epoch: usize) -> Self {
        let bar = training_bar(epochs * steps_per_epoch);
        bar.set_prefix(stage);
        Self {
            bar,
            stage,
            epochs,
            started: Instant::now(),
            images: Cell::new(0),
        }
    }

    /// A batch of `images` was drawn.
    pub fn batch(&self, images: usize) {
        self.bar.inc(1);
        self.images.set(self.images.get() + images);
    }

    pub fn images_per_sec(&self) -> f64 {
        self.images.get() as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    pub fn epoch_done(&self, epoch: usize, loss: f64) {
        let images_per_sec = self.images_per_sec();
        self.bar.set_message(format!(
            "epoch {epoch}/{} loss {loss:.4} | {images_per_sec:.0} img/s",
            self.epochs
        ));
        if self.bar.is_hidden() {
            info!(epoch, loss, images_per_sec, "{} epoch done", self.stage);
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
