//! Builds the augmented views of the next batches on a background thread (and rayon inside it)
//! while the current step runs, so the device does not wait for the CPU side.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use rand::seq::SliceRandom;
use selfsup_augment::{NeighbourCrops, ViewPipeline, view_rng};
use selfsup_data::Dataset;

/// Batches kept ready ahead of the training step.
const PREFETCH: usize = 2;

pub struct ViewBatch {
    pub epoch: usize,
    pub images: usize,
    /// Training-set index of each image, in batch order.
    pub indices: Vec<usize>,
    /// One `[images, C, S, S]` buffer per view.
    pub views: Vec<Vec<f32>>,
}

pub struct Loader {
    pub batches: Receiver<ViewBatch>,
    worker: Option<JoinHandle<()>>,
}

impl Drop for Loader {
    fn drop(&mut self) {
        // Closing the channel makes the worker's next send fail, which ends it.
        let (_, closed) = sync_channel(0);
        drop(std::mem::replace(&mut self.batches, closed));
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// The sample order of an epoch: a permutation fixed by (seed, epoch).
pub fn epoch_order(seed: u64, epoch: usize, len: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut view_rng(seed, epoch as u64, u64::MAX, u64::MAX));
    order
}

/// Full batches only (the last partial batch of an epoch is dropped, as SimCLR does, so every
/// step sees the same number of negatives).
pub fn steps_per_epoch(len: usize, batch_size: usize) -> usize {
    len / batch_size
}

/// What one epoch's views are made of: the recipe (a warm-up may use a weaker one) and, for
/// KNN multi-crop, the images each image's local crops are cut from.
pub struct EpochViews {
    pub pipeline: Arc<ViewPipeline>,
    pub neighbours: Option<Arc<NeighbourCrops>>,
}

/// The batches of `epoch`, the first `skip` left out (a run resumed from a mid-epoch
/// checkpoint). One loader per epoch: the next epoch's views may depend on this one's end
/// (the neighbour table).
pub fn spawn(
    dataset: Arc<Dataset>,
    views: EpochViews,
    seed: u64,
    epoch: usize,
    skip: usize,
    batch_size: usize,
    num_views: usize,
) -> Loader {
    let (sender, batches) = sync_channel(PREFETCH);
    let worker = std::thread::Builder::new()
        .name("selfsup-loader".into())
        .spawn(move || {
            let order = epoch_order(seed, epoch, dataset.len());
            // Views depend only on (seed, epoch, index, view): skipping batches a resumed run
            // already trained on gives the same batches as an uninterrupted run.
            for indices in order.chunks_exact(batch_size).skip(skip) {
                let batch_views = views.pipeline.batch_views_with_crops(
                    |i| dataset.image(i),
                    indices,
                    seed,
                    epoch as u64,
                    num_views,
                    views.neighbours.as_deref(),
                );
                let batch = ViewBatch {
                    epoch,
                    images: indices.len(),
                    indices: indices.to_vec(),
                    views: batch_views,
                };
                if sender.send(batch).is_err() {
                    return;
                }
            }
        })
        .expect("spawning the loader thread");
    Loader {
        batches,
        worker: Some(worker),
    }
}
