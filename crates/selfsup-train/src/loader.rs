//! Builds the augmented views of the next batches on a background thread (and rayon inside it)
//! and puts them on the device while the current step runs, so the device does not wait for
//! the CPU side.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use selfsup_augment::{NeighbourCrops, ViewPipeline, view_rng};
use selfsup_data::Dataset;

use selfsup_distributed::StepPeers;

use crate::config::BatchDtype;
use crate::methods::StepBatch;

/// Batches kept ready ahead of the training step.
const PREFETCH: usize = 2;

/// The batches of one epoch, in step order, as the steps take them.
pub struct Loader<B: Backend> {
    pub batches: Receiver<StepBatch<B>>,
    worker: Option<JoinHandle<()>>,
}

impl<B: Backend> Drop for Loader<B> {
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

/// Which batches of which epoch: the run's seed, the epoch (0-based), how many of its batches
/// to leave out at the start (a run resumed from a mid-epoch checkpoint), the batch size (of
/// the whole step, over all peers), the views per image, and this peer's share of each batch.
#[derive(Debug, Clone, Copy)]
pub struct EpochBatches {
    pub seed: u64,
    pub epoch: usize,
    pub skip: usize,
    pub batch_size: usize,
    pub num_views: usize,
    pub shard: Shard,
    /// Cut the views from each image as its file holds it (`data.crop_from = "original"`).
    pub from_original: bool,
    /// How the views travel to the device (`data.batch_dtype`).
    pub batch_dtype: BatchDtype,
}

/// This peer's part of every batch in a data-parallel run: the `rank`-th of `world` equal
/// slices (the batch size is a multiple of `world`). Since every view depends only on (seed,
/// epoch, index, view), the peers' slices put together are the one-device batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub rank: usize,
    pub world: usize,
}

impl Shard {
    fn of<'a>(&self, batch: &'a [usize]) -> &'a [usize] {
        let share = batch.len() / self.world;
        &batch[self.rank * share..][..share]
    }
}

/// The batches `plan` names, on `device`. One loader per epoch: the next epoch's views may
/// depend on this one's end (the neighbour table).
pub fn spawn<B: Backend>(
    dataset: Arc<Dataset>,
    views: EpochViews,
    plan: EpochBatches,
    device: B::Device,
) -> Loader<B> {
    let (sender, batches) = sync_channel(PREFETCH);
    let worker = std::thread::Builder::new()
        .name("selfsup-loader".into())
        .spawn(move || {
            let order = epoch_order(plan.seed, plan.epoch, dataset.len());
            let steps_before = plan.epoch * steps_per_epoch(dataset.len(), plan.batch_size);
            // Views depend only on (seed, epoch, index, view): skipping batches a resumed run
            // already trained on gives the same batches as an uninterrupted run.
            let batches = order.chunks_exact(plan.batch_size).enumerate();
            // The config refuses u8 where there is no affine (CMC's Lab views).
            let bytes = match (plan.batch_dtype, views.pipeline.normalize.byte_affine()) {
                (BatchDtype::U8, Some(affine)) => Some(ByteViews::new(affine, &device)),
                _ => None,
            };
            for (position, batch) in batches.skip(plan.skip) {
                let indices = plan.shard.of(batch);
                let tensors =
                    views_on_device(&dataset, &views, &plan, bytes.as_ref(), indices, &device);
                let batch = StepBatch {
                    views: tensors,
                    indices: indices.to_vec(),
                    all_indices: batch.to_vec(),
                    seed: plan.seed,
                    step: steps_before + position,
                    // The trainer puts its peers in.
                    peers: StepPeers::alone(),
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

/// The views of the images `indices` as `plan` asks for them, one tensor per view on
/// `device`: normalised on the CPU, or as bytes that `bytes` normalises.
fn views_on_device<B: Backend>(
    dataset: &Dataset,
    views: &EpochViews,
    plan: &EpochBatches,
    bytes: Option<&ByteViews<B>>,
    indices: &[usize],
    device: &B::Device,
) -> Vec<Tensor<B, 4>> {
    let image = |i| {
        if plan.from_original {
            dataset.original(i)
        } else {
            dataset.image(i)
        }
    };
    let pipeline = &views.pipeline;
    let neighbours = views.neighbours.as_deref();
    let (seed, epoch, count) = (plan.seed, plan.epoch as u64, plan.num_views);
    let shape = |view| {
        let side = pipeline.view_side(view);
        [indices.len(), dataset.channels, side, side]
    };
    match bytes {
        Some(bytes) => pipeline
            .batch_bytes_with_crops(image, indices, seed, epoch, count, neighbours)
            .into_iter()
            .enumerate()
            .map(|(view, values)| bytes.normalized(values, shape(view), device))
            .collect(),
        None => pipeline
            .batch_views_with_crops(image, indices, seed, epoch, count, neighbours)
            .into_iter()
            .enumerate()
            .map(|(view, values)| Tensor::from_data(TensorData::new(values, shape(view)), device))
            .collect(),
    }
}

/// Whether `device` takes views as 8-bit integers and normalises them itself (flex, CUDA,
/// Vulkan-compiled wgpu); otherwise the loader normalises byte views on the CPU.
pub fn device_takes_bytes<B: Backend>(device: &B::Device) -> bool {
    B::supports_dtype(device, DType::U8)
}

/// Byte views to normalised tensors, `byte * scale[c] + shift[c]`
/// ([`selfsup_augment::Normalize::byte_affine`]), set up once per loader: on a device that
/// takes bytes the affine's `[1, C, 1, 1]` tensors live there; on another the CPU computes the
/// same values.
pub struct ByteViews<B: Backend> {
    scale: Vec<f32>,
    shift: Vec<f32>,
    on_device: Option<(Tensor<B, 4>, Tensor<B, 4>)>,
}

impl<B: Backend> ByteViews<B> {
    pub fn new((scale, shift): (Vec<f32>, Vec<f32>), device: &B::Device) -> Self {
        let per_channel = |values: &[f32]| {
            let channels = values.len();
            Tensor::<B, 1>::from_data(TensorData::new(values.to_vec(), [channels]), device)
                .reshape([1, channels, 1, 1])
        };
        let on_device =
            device_takes_bytes::<B>(device).then(|| (per_channel(&scale), per_channel(&shift)));
        Self {
            scale,
            shift,
            on_device,
        }
    }

    /// One view's bytes (`shape` = `[images, C, side, side]`) as its normalised tensor.
    pub fn normalized(
        &self,
        bytes: Vec<u8>,
        shape: [usize; 4],
        device: &B::Device,
    ) -> Tensor<B, 4> {
        match &self.on_device {
            Some((scale, shift)) => {
                let data = TensorData::new(bytes, shape);
                let bytes = Tensor::<B, 4, Int>::from_data(data, (device, DType::U8));
                bytes.float() * scale.clone() + shift.clone()
            }
            None => {
                let values =
                    normalized_on_host(&bytes, shape[2] * shape[3], &self.scale, &self.shift);
                Tensor::from_data(TensorData::new(values, shape), device)
            }
        }
    }
}

/// `byte * scale[c] + shift[c]` for CHW images whose planes hold `plane` values, as the device
/// computes it.
fn normalized_on_host(bytes: &[u8], plane: usize, scale: &[f32], shift: &[f32]) -> Vec<f32> {
    bytes
        .chunks(plane)
        .enumerate()
        .flat_map(|(n, values)| {
            let c = n % scale.len();
            values.iter().map(move |&b| b as f32 * scale[c] + shift[c])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};

    use super::*;

    #[test]
    fn bytes_normalised_on_the_device_equal_the_host_route_bit_for_bit() {
        type B = Autodiff<Flex>;
        let device = Default::default();
        assert!(device_takes_bytes::<B>(&device), "flex takes bytes");
        let affine = (vec![0.017, 0.0175, 0.0174], vec![-2.1, -2.03, -1.8]);
        let shape = [2, 3, 4, 5];
        let bytes: Vec<u8> = (0..120).map(|i| (i * 37 % 256) as u8).collect();
        let views = ByteViews::<B>::new(affine.clone(), &device);
        let on_device = views.normalized(bytes.clone(), shape, &device);
        let on_device = on_device.to_data().to_vec::<f32>().unwrap();
        let on_host = normalized_on_host(&bytes, 20, &affine.0, &affine.1);
        assert_eq!(on_device, on_host);
        // Channel of value 45: image 0, plane 2 (45 / 20).
        assert_eq!(on_host[45], bytes[45] as f32 * 0.0174 + -1.8);
        assert_eq!(on_host[65], bytes[65] as f32 * 0.017 + -2.1);
    }
}
