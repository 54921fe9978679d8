//! What a method is: the [`Method`] trait, what a step gives it ([`StepBatch`]) and what it
//! gives back ([`StepLoss`]), and the hooks through which it shapes the run around it (the data
//! it accepts, its normalisation, its training set, the encoder it saves).

use std::ops::Range;
use std::sync::Arc;

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use selfsup_augment::Normalize;
use selfsup_backbones::{Encoder, ResNetConfig};
use selfsup_data::Dataset;
use selfsup_distributed::StepPeers;
use selfsup_heads::MlpLayer;

use super::backbone_config;
use crate::config::{Config, ConfigError};
use crate::features::BankView;
use crate::knn_crops::KnnCropPlan;
use crate::{HostBackend, TrainError};

/// What a method needs to know about the training data when it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataInfo {
    /// Channels of the stored images (1 grayscale, 3 RGB).
    pub channels: usize,
    /// Training images: one memory-bank row each.
    pub train_len: usize,
}

impl DataInfo {
    /// Steps in an epoch of `batch_size` images (full batches only, as the loader makes them).
    pub fn steps_per_epoch(&self, batch_size: usize) -> usize {
        crate::loader::steps_per_epoch(self.train_len, batch_size)
    }
}

/// One step's input: the views of a batch and where its images sit in the training set.
pub struct StepBatch<B: Backend> {
    /// `views[v]` is `[batch, C, H, W]`: view v of every image in the batch.
    pub views: Vec<Tensor<B, 4>>,
    /// Training-set index of each image (memory-bank rows).
    pub indices: Vec<usize>,
    /// The whole step's indices on a run of several peers, every peer's in rank order (this
    /// peer's `indices` among them); `indices` on one device.
    pub all_indices: Vec<usize>,
    /// The run's seed and this step's number (0-based over the whole run): a method draws its
    /// step's randomness (noise samples, shuffles) from these alone, so a resumed run draws the
    /// same.
    pub seed: u64,
    pub step: usize,
    /// The other peers of a data-parallel run, for the loss's gathers (alone on one device).
    pub peers: StepPeers<B>,
}

impl<B: Backend> StepBatch<B> {
    /// A batch of the first `views[0].dims()[0]` training images at step 0 (tests, benchmarks).
    pub fn first(views: Vec<Tensor<B, 4>>, seed: u64) -> Self {
        let batch = views[0].dims()[0];
        Self {
            views,
            indices: (0..batch).collect(),
            all_indices: (0..batch).collect(),
            seed,
            step: 0,
            peers: StepPeers::alone(),
        }
    }

    /// Every peer's `x` (`[n, d]`, this batch's rows) in rank order, and this peer's rows in
    /// it: `(x, 0..n)` on one device.
    pub fn gather(&self, x: Tensor<B, 2>) -> (Tensor<B, 2>, Range<usize>) {
        let own = self.peers.own_rows(x.dims()[0]);
        (self.peers.gather(x), own)
    }

    pub fn index_tensor(&self, device: &B::Device) -> Tensor<B, 1, Int> {
        index_tensor(&self.indices, device)
    }

    /// [`StepBatch::index_tensor`] of the whole step's images, every peer's.
    pub fn all_index_tensor(&self, device: &B::Device) -> Tensor<B, 1, Int> {
        index_tensor(&self.all_indices, device)
    }

    /// The two views of a two-view method (`method` names it if the loader sent another count).
    pub fn two_views(&self, method: &str) -> [Tensor<B, 4>; 2] {
        self.views
            .clone()
            .try_into()
            .unwrap_or_else(|views: Vec<_>| panic!("{method} takes two views, got {}", views.len()))
    }

    /// The random stream `stream` of this step.
    pub fn rng(&self, stream: u64) -> ChaCha8Rng {
        // Epoch slot u64::MAX - 1 keeps these streams apart from every view's.
        selfsup_augment::view_rng(self.seed, u64::MAX - 1, self.step as u64, stream)
    }
}

fn index_tensor<B: Backend>(indices: &[usize], device: &B::Device) -> Tensor<B, 1, Int> {
    let values: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(values, [indices.len()]), device)
}

/// The loss of one step: the total to minimise, its named parts for the logs, and the state
/// changes the step implies (applied after the optimizer's update by `Method::after_step`).
pub struct StepLoss<B: AutodiffBackend, U> {
    pub total: Tensor<B, 1>,
    pub terms: Vec<(&'static str, Tensor<B, 1>)>,
    pub update: U,
}

impl<B: AutodiffBackend, U> StepLoss<B, U> {
    /// A loss of one term, logged as `name`.
    pub fn single(name: &'static str, loss: Tensor<B, 1>, update: U) -> Self {
        Self {
            total: loss.clone(),
            terms: vec![(name, loss)],
            update,
        }
    }
}

/// A method's section of the config (`[wcl]`, ...): its keys, their defaults (`Default`) and
/// their checks.
pub trait MethodSettings: Default {
    /// Refuses a bad key of the section, naming it (`wcl.temperature`). Every method's section
    /// is checked whichever method runs (a config is refused for a bad key it carries); `config`
    /// is the whole run's, for rules across sections.
    fn validate(&self, config: &Config) -> Result<(), ConfigError>;
}

pub trait Method<B: AutodiffBackend>: AutodiffModule<B> + Sized {
    const NAME: &'static str;

    /// Whether the method takes local crops (`augment.local_crops > 0`, multi-crop).
    const TAKES_LOCAL_CROPS: bool = false;

    /// Whether its memory bank holds one row per training image in the space the kNN monitor
    /// may search (`eval.knn_features = "memory_bank"`; `bank_view` gives it).
    const KNN_ON_BANK: bool = false;

    /// The same method on the host backend, where initial weights are drawn.
    type OnHost: Method<HostBackend>;

    /// State changes computed with the loss (features to write to a bank, keys to enqueue).
    type Update;

    fn new(config: &Config, data: &DataInfo, device: &B::Device) -> Self;

    /// Augmented views per source image per step.
    fn num_views(&self) -> usize {
        2
    }

    fn loss(&self, batch: &StepBatch<B>) -> StepLoss<B, Self::Update>;

    /// Applies a step's state changes once the optimizer has updated the weights (bank rows,
    /// queue, EMA of the key encoder).
    fn after_step(self, _update: Self::Update) -> Self {
        self
    }

    /// The encoder that is evaluated and saved, in inference mode.
    fn encoder(&self) -> Encoder<B::InnerBackend>;

    /// The projection the loss compares, before any normalisation, of `images` through the
    /// backbone and the head in inference mode: what the training-health metrics measure and
    /// `selfsup embed --head` writes. Methods with one encoder per channel group (CMC) give the
    /// groups' projections side by side; Exemplar-CNN its class scores.
    fn project(&self, images: Tensor<B::InnerBackend, 4>) -> Tensor<B::InnerBackend, 2>;

    /// The head layer fine-tuning may start from (SimCLR v2's first), in inference mode; saved
    /// beside the encoder.
    fn head_layer(&self) -> Option<MlpLayer<B::InnerBackend>> {
        None
    }

    /// The memory bank and the map of images into its space, for kNN on the bank.
    fn bank_view(&self) -> Option<BankView<B::InnerBackend>> {
        None
    }

    /// Refuses data this method cannot use, naming what it needs (CMC: RGB images; InstDisc:
    /// no more negatives than images). `dataset` names the data in the message.
    fn check_data(_config: &Config, _dataset: &str, _data: &DataInfo) -> Result<(), TrainError> {
        Ok(())
    }

    /// Refuses a data-parallel run on `devices` peers whose settings the method cannot split
    /// between them, naming the key (MoCo's `moco.bn_splits`, SwAV's `swav.queue_length`).
    fn check_devices(_config: &Config, _devices: usize) -> Result<(), TrainError> {
        Ok(())
    }

    /// A normalisation the method fixes whatever the data (CMC: the Lab constants); `None`
    /// normalises by the data's own channel statistics.
    fn fixed_normalization() -> Option<Normalize> {
        None
    }

    /// The images the method pretrains on, out of the training set (Exemplar-CNN: its seed
    /// images, one class each).
    fn training_set(_config: &Config, images: Arc<Dataset>) -> Result<Arc<Dataset>, TrainError> {
        Ok(images)
    }

    /// Whether and how the run cuts the local crops of an image from its nearest neighbours,
    /// with the table rebuilt at every epoch's end (WCL's KNN multi-crop).
    fn knn_crop_plan(_config: &Config) -> Option<KnnCropPlan> {
        None
    }

    /// The architecture of the encoder the method saves, for loading it back: one ResNet, or
    /// one per view (CMC).
    fn encoder_parts(config: &Config, channels: usize) -> Vec<ResNetConfig> {
        vec![backbone_config(config, channels)]
    }
}
