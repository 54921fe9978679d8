//! Checkpoints: the method (weights and all its state: banks, queues, EMA targets, Z), the
//! optimizer's momentum, where training stands, and WCL's neighbour table. Each is written
//! into a temporary directory, fsynced, then renamed into place, so an interrupted write never
//! damages the previous checkpoint; only the newest `checkpoint.keep` stay.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::AutodiffModule;
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use selfsup_augment::NeighbourCrops;
use serde::{Deserialize, Serialize};

pub const CHECKPOINT_DIR: &str = "checkpoints";
const MODEL_FILE: &str = "model";
const OPTIMIZER_FILE: &str = "optimizer";
const STATE_FILE: &str = "state.json";
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
) -> Result<PathBuf> {
    let target = step_dir(run, state.step);
    let partial = target.with_extension(TEMPORARY_SUFFIX.trim_start_matches('.'));
    let write = || -> Result<()> {
        if partial.exists() {
            std::fs::remove_dir_all(&partial)?;
        }
        std::fs::create_dir_all(&partial)?;
        let recorder = recorder();
        model
            .clone()
            .save_file(partial.join(MODEL_FILE), &recorder)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Recorder::<B>::record(
            &recorder,
            optimizer.to_record(),
            partial.join(OPTIMIZER_FILE),
        )
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        std::fs::write(
            partial.join(STATE_FILE),
            serde_json::to_string_pretty(state)? + "\n",
        )?;
        if let Some(table) = neighbours {
            crate::knn_crops::save(&partial, table)?;
        }
        for entry in std::fs::read_dir(&partial)? {
            File::open(entry?.path())?.sync_all()?;
        }
        File::open(&partial)?.sync_all()?;
        if target.exists() {
            std::fs::remove_dir_all(&target)?;
        }
        std::fs::rename(&partial, &target)?;
        File::open(run.join(CHECKPOINT_DIR))?.sync_all()?;
        Ok(())
    };
    write().with_context(|| format!("{}: cannot write the checkpoint", target.display()))?;
    prune(run, keep)?;
    Ok(target)
}

/// Complete checkpoints of a run (step, directory), oldest first.
pub fn list(run: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let dir = run.join(CHECKPOINT_DIR);
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("{}: cannot read", dir.display()))?
    {
        let path = entry?.path();
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

fn prune(run: &Path, keep: usize) -> Result<()> {
    let all = list(run)?;
    for (_, path) in all.iter().take(all.len().saturating_sub(keep)) {
        std::fs::remove_dir_all(path)
            .with_context(|| format!("{}: cannot remove an old checkpoint", path.display()))?;
    }
    Ok(())
}

/// The newest complete checkpoint of a run, if any.
pub fn latest(run: &Path) -> Result<Option<PathBuf>> {
    Ok(list(run)?.pop().map(|(_, path)| path))
}

pub fn read_state(checkpoint: &Path) -> Result<CheckpointState> {
    let path = checkpoint.join(STATE_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a checkpoint state", path.display()))
}

/// Loads the model saved in `checkpoint` into a fresh one (no optimizer state).
pub fn load_model<B: AutodiffBackend, M: AutodiffModule<B>>(
    checkpoint: &Path,
    method: &str,
    model: M,
    device: &B::Device,
) -> Result<M> {
    read_model(checkpoint, method, model, device).map(|(_, model)| model)
}

/// The checkpoint's state, after checking it belongs to `method`, and its model.
fn read_model<B: AutodiffBackend, M: AutodiffModule<B>>(
    checkpoint: &Path,
    method: &str,
    model: M,
    device: &B::Device,
) -> Result<(CheckpointState, M)> {
    let state = read_state(checkpoint)?;
    if state.method != method {
        bail!(
            "{}: a checkpoint of method {}, not {method}",
            checkpoint.display(),
            state.method
        );
    }
    let model = model
        .load_file(checkpoint.join(MODEL_FILE), &recorder(), device)
        .map_err(|e| anyhow::anyhow!("{}: cannot load the model: {e:?}", checkpoint.display()))?;
    Ok((state, model))
}

/// Loads the model and the optimizer state saved in `checkpoint` into fresh ones.
pub fn restore<B: AutodiffBackend, M: AutodiffModule<B>, O: Optimizer<M, B>>(
    checkpoint: &Path,
    method: &str,
    model: M,
    optimizer: O,
    device: &B::Device,
) -> Result<(CheckpointState, M, O)> {
    let (state, model) = read_model(checkpoint, method, model, device)?;
    let recorder = recorder();
    let record =
        Recorder::<B>::load(&recorder, checkpoint.join(OPTIMIZER_FILE), device).map_err(|e| {
            anyhow::anyhow!("{}: cannot load the optimizer: {e:?}", checkpoint.display())
        })?;
    Ok((state, model, optimizer.load_record(record)))
}
