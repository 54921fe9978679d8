//! One file per method. A method names the views it wants, builds its backbone and heads, and
//! sums its losses; the shared loop (the `selfsup` binary's Trainer) does everything else. State that is not
//! trained (memory banks, queues, EMA targets, NCE's Z) lives in the method's module as
//! `RunningState`s, so checkpoints save it with the weights.

mod barlow;
mod byol;
mod cmc;
mod exemplar;
mod instdisc;
mod moco;
mod simclr;
mod simsiam;
mod swav;
mod wcl;

use burn::module::{AutodiffModule, Module};
use burn::store::ModuleSnapshot;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use selfsup_augment::Normalize;
use selfsup_backbones::{Encoder, ResNetConfig, Stem, generator_lock};
use selfsup_data::Dataset;
use selfsup_heads::MlpLayer;

pub use barlow::Barlow;
pub use byol::Byol;
pub use cmc::Cmc;
pub use exemplar::{Exemplar, exemplar_seeds};
pub use instdisc::InstDisc;
pub use moco::Moco;
pub use simclr::{Simclr, head_layer_shape};
pub use simsiam::Simsiam;
pub use swav::Swav;
pub use wcl::Wcl;

use crate::config::{BackboneKind, Config, MethodKind};
use crate::features::BankView;
use crate::{HostBackend, TrainError};

/// What a method needs to know about the training data when it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataInfo {
    /// Channels of the stored images (1 grayscale, 3 RGB).
    pub channels: usize,
    /// Training images: one memory-bank row each.
    pub train_len: usize,
}

/// One step's input: the views of a batch and where its images sit in the training set.
pub struct StepBatch<B: Backend> {
    /// `views[v]` is `[batch, C, H, W]`: view v of every image in the batch.
    pub views: Vec<Tensor<B, 4>>,
    /// Training-set index of each image (memory-bank rows).
    pub indices: Vec<usize>,
    /// The run's seed and this step's number (0-based over the whole run): a method draws its
    /// step's randomness (noise samples, shuffles) from these alone, so a resumed run draws the
    /// same.
    pub seed: u64,
    pub step: usize,
}

impl<B: Backend> StepBatch<B> {
    /// A batch of the first `views[0].dims()[0]` training images at step 0 (tests, benchmarks).
    pub fn first(views: Vec<Tensor<B, 4>>, seed: u64) -> Self {
        let batch = views[0].dims()[0];
        Self {
            views,
            indices: (0..batch).collect(),
            seed,
            step: 0,
        }
    }

    pub fn index_tensor(&self, device: &B::Device) -> Tensor<B, 1, Int> {
        let indices: Vec<i64> = self.indices.iter().map(|&i| i as i64).collect();
        Tensor::from_data(TensorData::new(indices, [self.indices.len()]), device)
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

/// The loss of one step: the total to minimise, its named parts for the logs, and the state
/// changes the step implies (applied after the optimizer's update by `Method::after_step`).
pub struct StepLoss<B: AutodiffBackend, U> {
    pub total: Tensor<B, 1>,
    pub terms: Vec<(&'static str, Tensor<B, 1>)>,
    pub update: U,
}

pub trait Method<B: AutodiffBackend>: AutodiffModule<B> + Sized {
    const NAME: &'static str;

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
}

/// Runs `job` with the method type `kind` names: the one place a method name becomes a type.
pub trait MethodJob<B: AutodiffBackend> {
    type Output;
    fn run<M: Method<B>>(self) -> Self::Output;
}

pub fn with_method<B: AutodiffBackend, J: MethodJob<B>>(kind: MethodKind, job: J) -> J::Output {
    match kind {
        MethodKind::Simclr => job.run::<Simclr<B>>(),
        MethodKind::Wcl => job.run::<Wcl<B>>(),
        MethodKind::InstDisc => job.run::<InstDisc<B>>(),
        MethodKind::Cmc => job.run::<Cmc<B>>(),
        MethodKind::Moco => job.run::<Moco<B>>(),
        MethodKind::Byol => job.run::<Byol<B>>(),
        MethodKind::Simsiam => job.run::<Simsiam<B>>(),
        MethodKind::Barlow => job.run::<Barlow<B>>(),
        MethodKind::Swav => job.run::<Swav<B>>(),
        MethodKind::Exemplar => job.run::<Exemplar<B>>(),
    }
}

/// `embed` applied to every view, one call per run of consecutive views of the same resolution
/// (multi-crop's global views together, its local crops together, as SwAV's code batches them:
/// fewer passes, and batch norm sees each resolution's whole group).
pub fn embed_by_resolution<B: Backend>(
    views: &[Tensor<B, 4>],
    embed: impl Fn(Tensor<B, 4>) -> Tensor<B, 2>,
) -> Vec<Tensor<B, 2>> {
    let mut out = Vec::with_capacity(views.len());
    let mut start = 0;
    while start < views.len() {
        let dims = views[start].dims();
        let end = (start..views.len())
            .find(|&i| views[i].dims() != dims)
            .unwrap_or(views.len());
        let group = Tensor::cat(views[start..end].to_vec(), 0);
        let embedded = embed(group);
        out.extend(embedded.chunk(end - start, 0));
        start = end;
    }
    out
}

/// Refuses data a method cannot use, naming what it needs.
pub fn check_data(config: &Config, dataset: &str, data: &DataInfo) -> Result<(), TrainError> {
    if config.method == MethodKind::Cmc && data.channels != 3 {
        return Err(TrainError::NeedsRgb {
            dataset: dataset.to_string(),
            channels: data.channels,
        });
    }
    if config.method == MethodKind::InstDisc && config.instdisc.negatives > data.train_len {
        return Err(TrainError::TooManyNegatives {
            negatives: config.instdisc.negatives,
            images: data.train_len,
        });
    }
    Ok(())
}

/// The architecture of the encoder a method of `config` saves (for loading it back): one ResNet,
/// or CMC's one per view.
pub fn encoder_parts(config: &Config, channels: usize) -> Vec<ResNetConfig> {
    match config.method {
        MethodKind::Cmc => cmc::view_encoders(config),
        _ => vec![backbone_config(config, channels)],
    }
}

/// The last step of every view and evaluation image for `method`: CMC's Lab constants, or the
/// mean and deviation of `images`' own channels.
/// The run's input normalisation: CMC's Lab conversion, else `data.mean` / `data.std` when
/// the config has them (every run written since they exist), else measured on `images`.
pub fn normalization(config: &Config, images: &Dataset) -> Normalize {
    match (config.method, &config.data.mean, &config.data.std) {
        (MethodKind::Cmc, _, _) => Normalize::lab(),
        (_, Some(mean), Some(std)) => Normalize::new(mean.clone(), std.clone()),
        _ => {
            let (mean, std) = images.channel_stats();
            Normalize::new(mean, std)
        }
    }
}

pub fn backbone_config(config: &Config, in_channels: usize) -> ResNetConfig {
    let base = match config.model.backbone {
        BackboneKind::Resnet18 => ResNetConfig::resnet18(),
        BackboneKind::Resnet34 => ResNetConfig::resnet34(),
    };
    base.with_width(config.model.width)
        .with_in_channels(in_channels)
        .with_stem(Stem::Small)
}

/// A linear map to the method's embedding size (InstDisc, CMC, MoCo v1).
pub fn linear_head<B: Backend>(
    config: &Config,
    input_dim: usize,
    device: &B::Device,
) -> burn::nn::Linear<B> {
    burn::nn::LinearConfig::new(input_dim, config.model.proj_output_dim).init(device)
}

pub fn projection_config(
    config: &Config,
    backbone: &ResNetConfig,
) -> selfsup_heads::ProjectionMlpConfig {
    let features = backbone.feature_dim();
    selfsup_heads::ProjectionMlpConfig::new(
        features,
        config.model.proj_hidden_dim.unwrap_or(features),
        config.model.proj_output_dim,
    )
}

/// The method with weights drawn on the host backend from `config.seed` and copied to `device`:
/// the same seed starts from the same weights on cpu, wgpu and cuda, which makes their runs
/// comparable step by step, and in every thread of the process at once.
pub fn init_portable<B: AutodiffBackend, M: Method<B>>(
    config: &Config,
    data: &DataInfo,
    device: &B::Device,
) -> Result<M, TrainError> {
    init_portable_module(
        config.seed,
        |host| M::OnHost::new(config, data, host),
        || M::new(config, data, device),
    )
    .map_err(|source| TrainError::Initialising {
        method: M::NAME,
        source: Box::new(source),
    })
}

/// `on_host(host device)` drawn from `seed` on the host backend, its values applied to
/// `on_device()`, the same module built for the target device.
///
/// Everything runs under [`generator_lock`]: the host draw (Flex's generator is one static
/// for the process), and the device build too, because a module may draw eagerly there
/// (memory banks, queues) and on the CPU backend that advances the same static. Parameters
/// the device build leaves lazy are replaced without ever being drawn. The device's own
/// generator is not seeded: nothing drawn from it after this point reaches the weights.
pub fn init_portable_module<B: Backend, H: Module<HostBackend>, M: Module<B>>(
    seed: u64,
    on_host: impl FnOnce(&burn::tensor::Device<HostBackend>) -> H,
    on_device: impl FnOnce() -> M,
) -> Result<M, TrainError> {
    let _guard = generator_lock();
    let host_device = Default::default();
    HostBackend::seed(&host_device, seed);
    let snapshots = on_host(&host_device).collect(None, None, false);
    let mut model = on_device();
    let applied = model.apply(snapshots, None, None, false);
    if !applied.errors.is_empty() || !applied.missing.is_empty() || !applied.unused.is_empty() {
        return Err(TrainError::WeightCopy(format!("{applied:?}")));
    }
    Ok(model)
}

/// What the unit tests of the methods share.
#[cfg(test)]
pub(crate) mod test_support {
    use std::cell::RefCell;

    use burn::tensor::backend::Backend;
    use burn::tensor::{Tensor, TensorData};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Test inputs uniform in [0, 1), from a seeded stream of their own: a test that drew them
    /// from the backend's generator would move another test's initialisation (issue 15).
    pub struct Draws(RefCell<ChaCha8Rng>);

    impl Draws {
        pub fn new(seed: u64) -> Self {
            Self(RefCell::new(ChaCha8Rng::seed_from_u64(seed)))
        }

        pub fn uniform<B: Backend, const D: usize>(&self, shape: [usize; D]) -> Tensor<B, D> {
            let mut rng = self.0.borrow_mut();
            let values: Vec<f32> = (0..shape.iter().product())
                .map(|_| rng.random::<f32>())
                .collect();
            Tensor::from_data(TensorData::new(values, shape), &Default::default())
        }
    }
}
