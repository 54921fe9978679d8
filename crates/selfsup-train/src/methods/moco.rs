use burn::module::{AutodiffModule, Module};
use burn::nn::Linear;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use selfsup_backbones::{Encoder, ResNet};
use selfsup_distributed::{StepPeers, with_own_batch_norm};
use selfsup_heads::ProjectionMlp;
use selfsup_losses::{info_nce, l2_normalize};
use selfsup_memory::{KeyQueue, ema_update};

use super::{
    MethodSettings,
    DataInfo, Method, StepBatch, StepLoss, backbone_config, linear_head, projection_config,
};
use crate::{HostBackend, TrainError};
use crate::config::{Config, MethodKind};
use selfsup_config::{ConfigError, invalid, positive, positive_int, probability};
use serde::{Deserialize, Serialize};

const SHUFFLE_STREAM: u64 = 2;

/// MoCo v1: a linear map to the embedding; v2: an MLP without batch norm.
// Two heads exist per model; the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum MocoHead<B: Backend> {
    Linear(Linear<B>),
    Mlp(ProjectionMlp<B>),
}

impl<B: Backend> MocoHead<B> {
    fn forward(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        match self {
            Self::Linear(linear) => linear.forward(features),
            Self::Mlp(mlp) => mlp.forward(features),
        }
    }
}

/// Backbone and head: the query encoder f_q, and (same type) the key encoder f_k.
#[derive(Module, Debug)]
pub struct MocoEncoder<B: Backend> {
    backbone: ResNet<B>,
    head: MocoHead<B>,
}

impl<B: Backend> MocoEncoder<B> {
    fn new(config: &Config, channels: usize, device: &B::Device) -> Self {
        let backbone = backbone_config(config, channels);
        let head = if config.moco.version == 1 {
            MocoHead::Linear(linear_head(config, backbone.feature_dim(), device))
        } else {
            MocoHead::Mlp(
                projection_config(config, &backbone)
                    .with_batch_norm(false)
                    .init(device),
            )
        };
        Self {
            backbone: backbone.init(device),
            head,
        }
    }

    fn embed(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        l2_normalize(self.head.forward(self.backbone.forward(images)))
    }
}

/// MoCo v1/v2 (He et al.; Chen et al.): queries from f_q, keys from f_k (an EMA of f_q, no
/// gradient), InfoNCE of each query against its key and a queue of earlier keys; after the step
/// f_k moves towards f_q and this batch's keys replace the oldest in the queue.
///
/// Shuffle-BN: the keys are encoded in `bn_splits` groups of a random permutation of the
/// batch, each group with its own batch-norm statistics (on one device the SplitBatchNorm of the
/// MoCo authors' single-GPU CIFAR demo; on several, each device encodes its share of the groups
/// of the whole shuffled batch), so a query and its key never share batch statistics.
#[derive(Module, Debug)]
pub struct Moco<B: Backend> {
    query: MocoEncoder<B>,
    key: MocoEncoder<B>,
    queue: KeyQueue<B>,
    temperature: f64,
    momentum: f64,
    bn_splits: usize,
}

pub struct MocoUpdate<B: Backend> {
    keys: Tensor<B, 2>,
}

impl<B: AutodiffBackend> Moco<B> {
    /// Every peer's keys of `images` by the key encoder, in batch order, with shuffle-BN:
    /// the step's key images (every peer's, gathered, on several devices) shuffled by one
    /// permutation drawn from the step's seed, encoded in `bn_splits` groups, each with its own
    /// batch-norm statistics, and unshuffled. On several devices each peer encodes its
    /// `bn_splits / peers` of the groups (whole groups of the one-device run, so the keys are
    /// the one-device keys) and the keys are gathered back, as the MoCo authors' code on
    /// several GPUs; on one device these are the SplitBatchNorm groups of their CIFAR demo.
    fn keys(&self, images: Tensor<B, 4>, batch: &StepBatch<B>) -> Tensor<B, 2> {
        let peers = &batch.peers;
        let key = self.key.clone().no_grad();
        let images = gather_images(peers, images);
        if self.bn_splits <= 1 {
            // One group: the whole batch's statistics, which every peer computes alike.
            return with_own_batch_norm(|| key.embed(images)).detach();
        }
        let b = images.dims()[0];
        let (order, inverse) = shuffle(b, batch);
        let shuffled = images.select(0, order);
        let group = b.div_ceil(self.bn_splits);
        let starts: Vec<usize> = (0..b).step_by(group).collect();
        let per_peer = starts.len() / peers.world();
        let keys: Vec<Tensor<B, 2>> = starts[peers.rank() * per_peer..][..per_peer]
            .iter()
            .map(|&start| {
                let images = shuffled.clone().narrow(0, start, group.min(b - start));
                with_own_batch_norm(|| key.embed(images))
            })
            .collect();
        peers
            .gather_detached(Tensor::cat(keys, 0))
            .select(0, inverse)
            .detach()
    }
}

/// A permutation of `b` images drawn from the step's seed, and its inverse.
fn shuffle<B: Backend>(
    b: usize,
    batch: &StepBatch<B>,
) -> (Tensor<B, 1, Int>, Tensor<B, 1, Int>) {
    let device = batch.views[0].device();
    let mut order: Vec<usize> = (0..b).collect();
    order.shuffle(&mut batch.rng(SHUFFLE_STREAM));
    let mut inverse = vec![0i64; b];
    for (position, &image) in order.iter().enumerate() {
        inverse[image] = position as i64;
    }
    let order: Vec<i64> = order.into_iter().map(|i| i as i64).collect();
    let to_tensor = |v: Vec<i64>| Tensor::<B, 1, Int>::from_data(TensorData::new(v, [b]), &device);
    (to_tensor(order), to_tensor(inverse))
}

/// Every peer's `images` in rank order, with no gradient.
fn gather_images<B: Backend>(peers: &StepPeers<B>, images: Tensor<B, 4>) -> Tensor<B, 4> {
    if peers.world() == 1 {
        return images;
    }
    let [n, c, h, w] = images.dims();
    let rows = peers.gather_detached(images.reshape([n, c * h * w]));
    let all = rows.dims()[0];
    rows.reshape([all, c, h, w])
}

impl<B: AutodiffBackend> Method<B> for Moco<B> {
    const NAME: &'static str = "moco";
    type OnHost = Moco<HostBackend>;
    type Update = MocoUpdate<B>;

    fn new(config: &Config, data: &DataInfo, device: &B::Device) -> Self {
        let query = MocoEncoder::new(config, data.channels, device);
        // Its own parameter ids (so the optimizer never confuses the two), the query's values.
        let key = ema_update(MocoEncoder::new(config, data.channels, device), &query, 0.0);
        Self {
            query,
            key,
            queue: KeyQueue::new(config.moco.queue_size, config.model.proj_output_dim, device),
            temperature: config.moco.temperature(),
            momentum: config.moco.momentum,
            bn_splits: config.moco.bn_splits,
        }
    }

    fn loss(&self, batch: &StepBatch<B>) -> StepLoss<B, MocoUpdate<B>> {
        let [x_q, x_k] = batch.two_views("MoCo");
        let q = self.query.embed(x_q);
        // Every peer's keys go into the queue, so that it stays the one-device queue.
        let all_keys = self.keys(x_k, batch);
        let k = if batch.peers.world() == 1 {
            all_keys.clone()
        } else {
            let own = batch.peers.own_rows(q.dims()[0]);
            all_keys.clone().narrow(0, own.start, own.len())
        };
        let loss = info_nce(q, k, self.queue.keys(), self.temperature);
        StepLoss::single("info_nce", loss, MocoUpdate { keys: all_keys })
    }

    /// Shuffle-BN's groups are the one-device run's, so each device takes whole groups.
    fn check_devices(config: &Config, devices: usize) -> Result<(), TrainError> {
        let (splits, batch_size) = (config.moco.bn_splits, config.train.batch_size);
        if splits > 1 && !(splits.is_multiple_of(devices) && batch_size.is_multiple_of(splits)) {
            return Err(TrainError::NotSplittable {
                key: "moco.bn_splits",
                value: splits.to_string(),
                devices,
                needs: format!(
                    "1, or a multiple of {devices} that divides train.batch_size = {batch_size} \
                     (each device encodes whole shuffle-BN groups of equal size)"
                ),
            });
        }
        Ok(())
    }

    fn after_step(mut self, update: MocoUpdate<B>) -> Self {
        self.key = ema_update(self.key, &self.query, self.momentum);
        self.queue.enqueue(update.keys);
        self
    }

    fn encoder(&self) -> Encoder<B::InnerBackend> {
        Encoder::single(self.query.backbone.valid())
    }

    fn project(&self, images: Tensor<B::InnerBackend, 4>) -> Tensor<B::InnerBackend, 2> {
        let query = self.query.valid();
        query.head.forward(query.backbone.forward(images))
    }
}

// Its settings: the `[moco]` section of the config, with defaults and checks.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MocoConfig {
    /// 1: linear head, tau 0.07. 2: MLP head (no BN), tau 0.2.
    pub version: u8,
    /// Unset: 0.07 for version 1, 0.2 for version 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// K, keys in the queue (the batch size need not divide it).
    pub queue_size: usize,
    /// m of the key encoder's EMA (0.999 in the paper for 200 ImageNet epochs).
    pub momentum: f64,
    /// Shuffled groups the keys are encoded in, each with its own batch-norm statistics: the
    /// single-device stand-in for shuffle-BN. 1 turns it off.
    pub bn_splits: usize,
}

impl Default for MocoConfig {
    fn default() -> Self {
        Self {
            version: 2,
            temperature: None,
            queue_size: 4096,
            momentum: 0.99,
            bn_splits: 8,
        }
    }
}

impl MocoConfig {
    pub fn temperature(&self) -> f64 {
        self.temperature
            .unwrap_or(if self.version == 1 { 0.07 } else { 0.2 })
    }
}

impl MethodSettings for MocoConfig {
    fn validate(&self, config: &Config) -> Result<(), ConfigError> {
        if !(self.version == 1 || self.version == 2) {
            return Err(invalid("moco.version", self.version, "1 or 2"));
        }
        positive("moco.temperature", self.temperature())?;
        positive_int("moco.queue_size", self.queue_size)?;
        probability("moco.momentum", self.momentum)?;
        positive_int("moco.bn_splits", self.bn_splits)?;
        let batch_size = config.train.batch_size;
        if config.method == MethodKind::Moco && self.bn_splits > batch_size {
            return Err(invalid(
                "moco.bn_splits",
                self.bn_splits,
                &format!("at most train.batch_size = {batch_size}"),
            ));
        }
        Ok(())
    }
}

