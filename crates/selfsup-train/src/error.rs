use std::path::PathBuf;

use crate::stop::Interrupted;

/// Why a run cannot start, cannot go on, or stopped before its last epoch. Each names the file,
/// key or value involved; the messages are the ones the `selfsup` binary shows.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(
        "method = \"cmc\" needs RGB images (it splits Lab colour into L and ab views), but \
         {dataset} has {channels} channel(s); use an RGB dataset"
    )]
    NeedsRgb { dataset: String, channels: usize },
    #[error("instdisc.negatives = {negatives}: at most the number of training images ({images})")]
    TooManyNegatives { negatives: usize, images: usize },
    #[error("exemplar.classes = {classes}: at most the number of training images ({images})")]
    TooManyClasses { classes: usize, images: usize },
    #[error("copying the initial weights to the device failed: {0}")]
    WeightCopy(String),
    #[error("initialising {method}")]
    Initialising {
        method: &'static str,
        #[source]
        source: Box<TrainError>,
    },
    /// A file of the run (its directory, logs, checkpoints) could not be read or written.
    #[error("{}: {what}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A file of the run holds something else than expected, or a store could not encode or
    /// decode it; `what` says which and why.
    #[error("{}: {what}", path.display())]
    File { path: PathBuf, what: String },
    /// Several steps of one operation on `path` (a checkpoint, a neighbour table), the first
    /// that failed as the source.
    #[error("{}: {what}", path.display())]
    Within {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: Box<TrainError>,
    },
    #[error("{} already holds a run ({file} exists); choose another --out", path.display())]
    RunExists { path: PathBuf, file: &'static str },
    #[error("serialising the resolved config")]
    ConfigText(#[source] toml::ser::Error),
    #[error("{}: nothing to train, {done} of {epochs} epochs are done", run.display())]
    NothingToTrain {
        run: PathBuf,
        done: usize,
        epochs: usize,
    },
    #[error(
        "epoch {epoch} cuts its local crops from each image's neighbours (wcl.knn_crops), but \
         the checkpoint it resumes from has no neighbour table"
    )]
    NoNeighbourTable { epoch: usize },
    #[error("the view loader stopped")]
    LoaderStopped,
    #[error("method {method} keeps no memory bank")]
    NoMemoryBank { method: &'static str },
    #[error("kNN evaluation")]
    Knn(#[source] selfsup_eval::KnnError),
    #[error(transparent)]
    NeighbourSearch(#[from] selfsup_memory::NeighbourError),
    #[error(transparent)]
    NeighbourTable(#[from] selfsup_augment::NeighbourCropsError),
    /// A step's loss or gradient was not finite and the run may not skip it.
    #[error(
        "{reason} at epoch {epoch} step {step}{skipping}; {resume}; lower train.lr or check the data"
    )]
    NonFinite {
        reason: crate::step::NonFinite,
        epoch: usize,
        step: usize,
        /// Empty, or how many steps were skipped before.
        skipping: String,
        /// The checkpoint to resume from, or that none was written.
        resume: String,
    },
    #[error(
        "stopped at epoch {epoch} (train.on_collapse = \"stop\"): the run collapsed: {why}; \
         the checkpoint of that epoch is {checkpoint}"
    )]
    Collapsed {
        epoch: usize,
        why: String,
        checkpoint: String,
    },
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error("data-parallel run")]
    Peers(#[from] selfsup_distributed::CollectiveError),
    #[error("{key} = {value} cannot be split between {devices} devices: {needs}")]
    NotSplittable {
        key: &'static str,
        value: String,
        devices: usize,
        needs: String,
    },
}

impl TrainError {
    /// The signal stop this error is, if it is one (the binary exits 128 + the signal).
    pub fn interrupted(&self) -> Option<&Interrupted> {
        match self {
            Self::Interrupted(interrupted) => Some(interrupted),
            _ => None,
        }
    }

    /// `source` met while doing `what` to `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, what: &'static str, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            what,
            source,
        }
    }

    pub(crate) fn file(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Self::File {
            path: path.into(),
            what: what.into(),
        }
    }
}
