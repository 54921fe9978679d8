//! Fine-tuning's label subsets, drawn once per fraction and saved beside the reports.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use selfsup_data::Dataset;
use selfsup_eval::class_balanced_subset;
use serde::{Deserialize, Serialize};
use tracing::info;

/// The indices of a fine-tuning label subset, saved so every evaluation of the run (and anyone
/// comparing with it) uses the same images.
#[derive(Debug, Serialize, Deserialize)]
struct LabelSplit {
    fraction: f64,
    seed: u64,
    train_images: usize,
    indices: Vec<usize>,
}

/// The subset for `fraction`: read from `eval/labels_<fraction>.json` when an earlier
/// evaluation saved one for the same training set, drawn (class-balanced, seeded) and saved
/// otherwise.
pub(super) fn label_split(
    dir: &Path,
    train: &Dataset,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, PathBuf)> {
    let path = dir.join(format!("labels_{fraction}.json"));
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let saved: LabelSplit = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a label split", path.display()))?;
        if saved.train_images != train.len() || saved.indices.iter().any(|&i| i >= train.len()) {
            bail!(
                "{}: drawn from {} training images, the data now has {}; delete it to draw a new split",
                path.display(),
                saved.train_images,
                train.len()
            );
        }
        info!(path = %path.display(), images = saved.indices.len(), "label split reused");
        return Ok((saved.indices, path));
    }
    let indices = class_balanced_subset(&train.labels, fraction, seed)?;
    let split = LabelSplit {
        fraction,
        seed,
        train_images: train.len(),
        indices,
    };
    std::fs::write(&path, serde_json::to_string(&split)? + "\n")
        .with_context(|| format!("{}: cannot write", path.display()))?;
    info!(path = %path.display(), images = split.indices.len(), "label split drawn and saved");
    Ok((split.indices, path))
}
