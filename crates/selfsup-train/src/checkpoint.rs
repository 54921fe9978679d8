//! Checkpoints: the method (weights and all its state: banks, queues, EMA targets, Z), the
//! optimizer's momentum, where training stands, and WCL's neighbour table. Each is written
//! into a temporary directory, fsynced, then renamed into place, so an interrupted write never
//! damages the previous checkpoint; only the newest `checkpoint.keep` stay.

use std::fs::File;
use std::path::{Path, PathBuf};

use burn::module::AutodiffModule;
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use selfsup_augment::NeighbourCrops;
use serde::{Deserialize, Serialize};

use crate::TrainError;

pub const CHECKPOINT_DIR: &str = "checkpoints";
const MODEL_FILE: &str = "model";
const OPTIMIZER_FILE: &str = "optimizer";
pub const STATE_FILE: &str = "state.json";
const TEMPORARY_SUFFIX: &str = ".partial";

/// Where training stands when a checkpoint is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    pub method: String,
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer steps taken (the LR schedule's position); past the last completed epoch when
    /// the checkpoint was taken mid-epoch.
    pub step: usize,
    /// Sum of the losses of the epoch in progress (for its mean in metrics.jsonl).
    #[serde(default)]
    pub epoch_loss_sum: f64,
    /// Steps skipped so far under `train.on_nan = "skip_step"`.
    #[serde(default)]
    pub skipped_steps: usize,
}

fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::new()
}

fn step_dir(run: &Path, step: usize) -> PathBuf {
    run.join(CHECKPOINT_DIR).join(format!("step-{step:08}"))
}

/// Writes the checkpoint of `state.step` (with the KNN multi-crop table the next step crops
/// from, if any) and keeps the newest `keep`. Returns its directory.
pub fn save<B: AutodiffBackend, M: AutodiffModule<B>, O: Optimizer<M, B>>(
    run: &Path,
    state: &CheckpointState,
    model: &M,
    optimizer: &O,
    neighbours: Option<&NeighbourCrops>,
    keep: usize,
) -> Result<PathBuf, TrainError> {
    let target = step_dir(run, state.step);
    write_atomically(&target, |dir| {
        save_model_and_optimizer(dir, model, optimizer)?;
        write_state_file(dir, state)?;
        if let Some(table) = neighbours {
            crate::knn_crops::save(dir, table)?;
        }
        Ok(())
    })?;
    prune(run, keep)?;
    Ok(target)
}

/// Writes the directory `target` whole or not at all: `write` fills a temporary directory beside
/// it, whose files are synced before it is renamed to `target`, so a kill at any moment leaves
/// either the previous `target` or the new one.
pub fn write_atomically(
    target: &Path,
    write: impl FnOnce(&Path) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    let partial = target.with_extension(TEMPORARY_SUFFIX.trim_start_matches('.'));
    let all = || -> Result<(), TrainError> {
        let io = |e| TrainError::io(&partial, "cannot write", e);
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(io)?;
        }
        std::fs::create_dir_all(&partial).map_err(io)?;
        write(&partial)?;
        for entry in std::fs::read_dir(&partial).map_err(io)? {
            File::open(entry.map_err(io)?.path())
                .and_then(|file| file.sync_all())
                .map_err(io)?;
        }
        File::open(&partial)
            .and_then(|dir| dir.sync_all())
            .map_err(io)?;
        if target.exists() {
            std::fs::remove_dir_all(target).map_err(io)?;
        }
        std::fs::rename(&partial, target).map_err(io)?;
        if let Some(parent) = target.parent() {
            File::open(parent)
                .and_then(|dir| dir.sync_all())
                .map_err(io)?;
        }
        Ok(())
    };
    all().map_err(|source| TrainError::Within {
        path: target.to_path_buf(),
        what: "cannot write the checkpoint",
        source: Box::new(source),
    })
}

/// `state` as `dir/state.json`, the file that marks a checkpoint complete.
pub fn write_state_file(dir: &Path, state: &impl Serialize) -> Result<(), TrainError> {
    let path = dir.join(STATE_FILE);
    let text = serde_json::to_string_pretty(state).expect("a state is plain data") + "\n";
    std::fs::write(&path, text).map_err(|e| TrainError::io(path, "cannot write", e))
}

/// The model and the optimiser's state (momentum buffers) as Burn records in `dir`.
pub fn save_model_and_optimizer<B: AutodiffBackend, M: AutodiffModule<B>, O: Optimizer<M, B>>(
    dir: &Path,
    model: &M,
    optimizer: &O,
) -> Result<(), TrainError> {
    let recorder = recorder();
    model
        .clone()
        .save_file(dir.join(MODEL_FILE), &recorder)
        .map_err(|e| TrainError::file(dir.join(MODEL_FILE), format!("{e:?}")))?;
    Recorder::<B>::record(&recorder, optimizer.to_record(), dir.join(OPTIMIZER_FILE))
        .map_err(|e| TrainError::file(dir.join(OPTIMIZER_FILE), format!("{e:?}")))
}

/// What [`save_model_and_optimizer`] wrote in `dir`, loaded into `model` and `optimizer`.
pub fn load_model_and_optimizer<B: AutodiffBackend, M: AutodiffModule<B>, O: Optimizer<M, B>>(
    dir: &Path,
    model: M,
    optimizer: O,
    device: &B::Device,
) -> Result<(M, O), TrainError> {
    let model = load_model_file(dir, model, device)?;
    let record = Recorder::<B>::load(&recorder(), dir.join(OPTIMIZER_FILE), device)
        .map_err(|e| TrainError::file(dir, format!("cannot load the optimizer: {e:?}")))?;
    Ok((model, optimizer.load_record(record)))
}

/// The model saved in `dir`, loaded into `model`.
fn load_model_file<B: AutodiffBackend, M: AutodiffModule<B>>(
    dir: &Path,
    model: M,
    device: &B::Device,
) -> Result<M, TrainError> {
    model
        .load_file(dir.join(MODEL_FILE), &recorder(), device)
        .map_err(|e| TrainError::file(dir, format!("cannot load the model: {e:?}")))
}

/// Complete checkpoints of a run (step, directory), oldest first.
pub fn list(run: &Path) -> Result<Vec<(usize, PathBuf)>, TrainError> {
    let dir = run.join(CHECKPOINT_DIR);
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    let cannot_read = |e| TrainError::io(&dir, "cannot read", e);
    for entry in std::fs::read_dir(&dir).map_err(cannot_read)? {
        let path = entry.map_err(cannot_read)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(step) = name
            .strip_prefix("step-")
            .and_then(|e| e.parse::<usize>().ok())
            && path.join(STATE_FILE).exists()
        {
            found.push((step, path));
        }
    }
    found.sort();
    Ok(found)
}

fn prune(run: &Path, keep: usize) -> Result<(), TrainError> {
    let all = list(run)?;
    for (_, path) in all.iter().take(all.len().saturating_sub(keep)) {
        std::fs::remove_dir_all(path)
            .map_err(|e| TrainError::io(path, "cannot remove an old checkpoint", e))?;
    }
    Ok(())
}

/// The newest complete checkpoint of a run, if any.
pub fn latest(run: &Path) -> Result<Option<PathBuf>, TrainError> {
    Ok(list(run)?.pop().map(|(_, path)| path))
}

pub fn read_state(checkpoint: &Path) -> Result<CheckpointState, TrainError> {
    let path = checkpoint.join(STATE_FILE);
    let text =
        std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, "cannot read", e))?;
    serde_json::from_str(&text)
        .map_err(|e| TrainError::file(&path, format!("not a checkpoint state: {e}")))
}

/// Loads the model saved in `checkpoint` into a fresh one (no optimizer state).
pub fn load_model<B: AutodiffBackend, M: AutodiffModule<B>>(
    checkpoint: &Path,
    method: &str,
    model: M,
    device: &B::Device,
) -> Result<M, TrainError> {
    read_state_of(checkpoint, method)?;
    load_model_file(checkpoint, model, device)
}

/// The checkpoint's state, after checking it belongs to `method`.
fn read_state_of(checkpoint: &Path, method: &str) -> Result<CheckpointState, TrainError> {
    let state = read_state(checkpoint)?;
    if state.method != method {
        return Err(TrainError::file(
            checkpoint,
            format!("a checkpoint of method {}, not {method}", state.method),
        ));
    }
    Ok(state)
}

/// Loads the model and the optimizer state saved in `checkpoint` into fresh ones.
pub fn restore<B: AutodiffBackend, M: AutodiffModule<B>, O: Optimizer<M, B>>(
    checkpoint: &Path,
    method: &str,
    model: M,
    optimizer: O,
    device: &B::Device,
) -> Result<(CheckpointState, M, O), TrainError> {
    let state = read_state_of(checkpoint, method)?;
    let (model, optimizer) = load_model_and_optimizer(checkpoint, model, optimizer, device)?;
    Ok((state, model, optimizer))
}
