//! KNN multi-crop (WCL): at an epoch's end, each training image's nearest images by the
//! backbone's features; the next epoch cuts the local crops of an image from them. The table
//! is saved with every checkpoint, so a resumed run crops from the same images.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use safetensors::tensor::{Dtype, TensorView};
use selfsup_augment::{NeighbourCrops, Normalize};
use selfsup_backbones::Encoder;
use selfsup_data::Dataset;
use selfsup_distributed::{Collective, Reduce};
use selfsup_memory::nearest_neighbours;
use tracing::info;

use crate::TrainError;
use crate::features::encode;

const FILE: &str = "neighbours.safetensors";
const TENSOR: &str = "neighbours";

/// When KNN multi-crop is on: k neighbours per image, from which epoch (0-based) on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnnCropPlan {
    pub k: usize,
    pub first_epoch: usize,
    /// Queries per block of the on-device search.
    pub chunk: usize,
}

impl KnnCropPlan {
    /// Whether epoch `epoch` (0-based) cuts its local crops from neighbours.
    pub fn active(&self, epoch: usize) -> bool {
        epoch >= self.first_epoch
    }
}

/// The neighbour table of `images` under `encoder` (inference mode): whole images, normalised
/// as for evaluation, searched on `device`.
pub fn neighbour_table<B: Backend>(
    encoder: &Encoder<B>,
    images: &Dataset,
    normalize: &Normalize,
    plan: &KnnCropPlan,
    device: &B::Device,
) -> Result<NeighbourCrops, TrainError> {
    let started = Instant::now();
    let features = encode(|x| encoder.forward(x), images, normalize, device);
    let table = nearest_neighbours(features, plan.k, plan.chunk)?;
    let table: Vec<u32> = table
        .into_data()
        .convert::<i64>()
        .into_vec::<i64>()
        .expect("the search returns an integer tensor")
        .into_iter()
        .map(|i| i as u32)
        .collect();
    let crops = NeighbourCrops::new(plan.k, table)?;
    info!(
        images = crops.images(),
        k = plan.k,
        seconds = started.elapsed().as_secs_f64(),
        "neighbour table for KNN multi-crop"
    );
    Ok(crops)
}

/// The first peer's neighbour table, on every peer of a data-parallel run: `table` is
/// `Some` on the first peer (which computed it) and `None` on the others, which compute
/// nothing. Every peer then cuts its images' crops from the same table (each peer's batch norm
/// statistics are its own without `model.sync_bn`, so tables computed by each would differ).
/// One all-reduce, the others adding zeros; each index travels as two exact 16-bit halves.
pub fn from_first_peer<B: Backend>(
    table: Option<NeighbourCrops>,
    k: usize,
    images: usize,
    peers: &dyn Collective<B>,
    device: &B::Device,
) -> Result<NeighbourCrops, TrainError> {
    let len = images * k;
    let halves: Vec<f32> = match &table {
        Some(table) => table
            .table()
            .iter()
            .flat_map(|&i| [(i >> 16) as f32, (i & 0xffff) as f32])
            .collect(),
        None => vec![0.0; 2 * len],
    };
    let summed = peers.all_reduce(
        Tensor::<B, 1>::from_data(TensorData::new(halves, [2 * len]), device),
        Reduce::Sum,
    )?;
    let halves: Vec<f32> = summed
        .into_data()
        .convert::<f32>()
        .into_vec()
        .expect("an all-reduce gives floats");
    let table = halves
        .chunks_exact(2)
        .map(|pair| ((pair[0] as u32) << 16) | pair[1] as u32)
        .collect();
    Ok(NeighbourCrops::new(k, table)?)
}

/// Writes `crops` into the checkpoint directory `dir` as a `[images, k]` u32 tensor.
pub fn save(dir: &Path, crops: &NeighbourCrops) -> Result<(), TrainError> {
    let path = dir.join(FILE);
    let cannot_write = |e: safetensors::SafeTensorError| {
        TrainError::file(&path, format!("cannot write the neighbour table: {e}"))
    };
    let bytes: Vec<u8> = crops.table().iter().flat_map(|i| i.to_le_bytes()).collect();
    let view = TensorView::new(Dtype::U32, vec![crops.images(), crops.k()], &bytes)
        .map_err(cannot_write)?;
    safetensors::serialize_to_file([(TENSOR, view)], None::<HashMap<String, String>>, &path)
        .map_err(cannot_write)
}

/// The table saved in checkpoint `dir` for a training set of `images` images, if there is one.
pub fn load(dir: &Path, images: usize) -> Result<Option<NeighbourCrops>, TrainError> {
    let path = dir.join(FILE);
    if !path.exists() {
        return Ok(None);
    }
    let unusable =
        |why: String| TrainError::file(&path, format!("not a usable neighbour table: {why}"));
    let read = || -> Result<NeighbourCrops, String> {
        let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
        let tensors = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| e.to_string())?;
        let view = tensors.tensor(TENSOR).map_err(|e| e.to_string())?;
        let (&[rows, k], Dtype::U32) = (view.shape(), view.dtype()) else {
            return Err(format!(
                "expected a [images, k] u32 tensor, got {:?} {:?}",
                view.dtype(),
                view.shape()
            ));
        };
        if rows != images {
            return Err(format!(
                "{rows} rows, but the training set has {images} images"
            ));
        }
        let table = view
            .data()
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        NeighbourCrops::new(k, table).map_err(|e| e.to_string())
    };
    read().map(Some).map_err(unusable)
}
