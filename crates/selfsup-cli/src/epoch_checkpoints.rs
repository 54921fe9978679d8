//! Fine-tuning's and distillation's epochs as the CLI runs them: the progress bar, a checkpoint
//! after every epoch but the last (model, optimiser, and what the run was asked to do),
//! `--resume` continuing from it, and a stop after the epoch in which SIGINT / SIGTERM arrived
//! or at `--stop-after-epoch`.

use std::path::{Path, PathBuf};

use burn::module::AutodiffModule;
use burn::optim::Optimizer;
use burn::tensor::backend::AutodiffBackend;
use selfsup_eval::{AfterEpoch, EpochHooks};
use selfsup_train::TrainError;
use selfsup_train::checkpoint::{
    STATE_FILE, load_model_and_optimizer, save_model_and_optimizer, write_atomically,
    write_state_file,
};
use selfsup_train::stop::{Interrupted, StopFlag};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::info;

use crate::interrupt::stop_on_signals;
use crate::report::progress::EpochBar;

/// A command's result, or `None` when it stopped at `--stop-after-epoch` (logged: not a
/// failure, its checkpoint continues it).
pub(crate) fn unless_stopped_as_asked<T>(outcome: anyhow::Result<T>) -> anyhow::Result<Option<T>> {
    match outcome {
        Err(error) if error.downcast_ref::<StoppedAsAsked>().is_some() => {
            info!("{error}");
            Ok(None)
        }
        other => other.map(Some),
    }
}

/// How a fine-tuning or distillation command continues or stops, from its command line.
#[derive(Debug, Clone, Default)]
pub struct Continuation {
    /// `--resume`: continue from the checkpoint an interrupted run left.
    pub resume: bool,
    /// `--stop-after-epoch N`: stop after epoch N with a checkpoint.
    pub stop_after_epoch: Option<usize>,
    /// Set by the SIGINT / SIGTERM handlers.
    pub stop: StopFlag,
    /// The command that continues the run (shown when it stops).
    pub command: String,
}

impl Continuation {
    /// `--resume` and `--stop-after-epoch` as given, the stop flag the signal handlers set, and
    /// the command line that continues: `command`, its `--set` overrides, then `--resume`.
    pub fn new(
        resume: bool,
        stop_after_epoch: Option<usize>,
        command: String,
        overrides: &[String],
    ) -> anyhow::Result<Self> {
        let sets: String = overrides.iter().map(|kv| format!(" --set {kv}")).collect();
        Ok(Self {
            resume,
            stop_after_epoch,
            stop: stop_on_signals()?,
            command: format!("{command}{sets} --resume"),
        })
    }
}

/// The command asked to stop at `--stop-after-epoch`: not a failure, the checkpoint continues it.
#[derive(Debug, thiserror::Error)]
#[error(
    "stopped after epoch {epoch} of {epochs} (--stop-after-epoch); checkpoint written to {}; \
     continue with: {command}",
    checkpoint.display()
)]
pub struct StoppedAsAsked {
    pub epoch: usize,
    pub epochs: usize,
    pub checkpoint: PathBuf,
    pub command: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct State {
    epochs_done: usize,
    /// What the run was asked to do: a resumed run must be asked the same.
    settings: Value,
}

/// [`EpochHooks`] with a checkpoint directory.
pub struct EpochCheckpoints<'a, B: AutodiffBackend> {
    pub bar: &'a EpochBar,
    /// The checkpoint's directory (replaced after every epoch, removed by the caller once the
    /// result is written).
    pub dir: PathBuf,
    pub epochs: usize,
    /// What the run is asked to do (its schedule, its inputs), as JSON.
    pub settings: Value,
    pub continuation: &'a Continuation,
    pub device: B::Device,
}

impl<B: AutodiffBackend> EpochCheckpoints<'_, B> {
    /// The error the command returns when these hooks stopped it after `epoch`.
    pub fn stopped(&self, epoch: usize) -> anyhow::Error {
        let continuation = self.continuation;
        match continuation.stop.requested() {
            Some(signal) => anyhow::Error::new(Interrupted {
                signal,
                progress: format!("epoch {epoch} of {}", self.epochs),
                checkpoint: self.dir.clone(),
                resume: continuation.command.clone(),
            }),
            None => anyhow::Error::new(StoppedAsAsked {
                epoch,
                epochs: self.epochs,
                checkpoint: self.dir.clone(),
                command: continuation.command.clone(),
            }),
        }
    }

    /// The saved state, checked against this run's epochs and settings.
    fn saved_state(&self) -> Result<State, String> {
        let path = self.dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "--resume: {}: {e}; there is no checkpoint to continue (run without --resume)",
                path.display()
            )
        })?;
        let state: State = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a checkpoint state: {e}", path.display()))?;
        if let Some(key) = first_difference(&state.settings, &self.settings) {
            return Err(format!(
                "--resume: {} was written with another {key} ({} there, {} now); resume with \
                 the same settings, or run without --resume to start again",
                self.dir.display(),
                state.settings[&key],
                self.settings[&key]
            ));
        }
        if state.epochs_done >= self.epochs {
            return Err(format!(
                "--resume: {}: all {} epochs are done",
                self.dir.display(),
                self.epochs
            ));
        }
        Ok(state)
    }
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> EpochHooks<B, M> for EpochCheckpoints<'_, B> {
    fn restore<O: Optimizer<M, B> + 'static>(
        &mut self,
        model: M,
        optimizer: O,
    ) -> Result<(usize, M, O), String> {
        if !self.continuation.resume {
            remove_old(&self.dir)?;
            return Ok((0, model, optimizer));
        }
        let state = self.saved_state()?;
        let (model, optimizer) =
            load_model_and_optimizer(&self.dir, model, optimizer, &self.device)
                .map_err(with_causes)?;
        info!(checkpoint = %self.dir.display(), epochs_done = state.epochs_done, "resumed");
        Ok((state.epochs_done, model, optimizer))
    }

    fn epoch_done<O: Optimizer<M, B> + 'static>(
        &mut self,
        epoch: usize,
        loss: f64,
        model: &M,
        optimizer: &O,
    ) -> Result<AfterEpoch, String> {
        self.bar.epoch_done(epoch, loss);
        if epoch >= self.epochs {
            return Ok(AfterEpoch::Continue);
        }
        let state = State {
            epochs_done: epoch,
            settings: self.settings.clone(),
        };
        write_atomically(&self.dir, |dir| {
            save_model_and_optimizer(dir, model, optimizer)?;
            write_state_file(dir, &state)
        })
        .map_err(with_causes)?;
        let asked = self.continuation.stop_after_epoch == Some(epoch);
        Ok(if asked || self.continuation.stop.requested().is_some() {
            AfterEpoch::Stop
        } else {
            AfterEpoch::Continue
        })
    }
}

/// `error` with its causes, as one line.
fn with_causes(error: TrainError) -> String {
    format!("{:#}", anyhow::Error::new(error))
}

/// Removes the checkpoint of an earlier run that is not continued.
pub fn remove_old(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| format!("{}: cannot remove the old checkpoint: {e}", dir.display()))?;
    }
    Ok(())
}

/// The first top-level key whose value differs between two JSON objects.
fn first_difference(saved: &Value, now: &Value) -> Option<String> {
    let (Value::Object(saved), Value::Object(now)) = (saved, now) else {
        return (saved != now).then(|| "settings".to_string());
    };
    now.keys()
        .chain(saved.keys())
        .find(|key| saved.get(*key) != now.get(*key))
        .cloned()
}
