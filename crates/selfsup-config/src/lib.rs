//! The run configuration: TOML, every key documented in docs/configuration.md, unknown keys
//! rejected, every bad value reported with its key and what is allowed.

use std::path::{Path, PathBuf};

use selfsup_augment::ViewConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    Simclr,
    Wcl,
    /// InstDisc: memory bank + NCE (Wu et al. 2018).
    #[value(name = "instdisc")]
    #[serde(rename = "instdisc")]
    InstDisc,
    /// CMC: one encoder per Lab view (L, ab), contrasted across views (RGB data only).
    Cmc,
    /// MoCo v1/v2: key encoder by EMA, queue of negatives.
    Moco,
    /// BYOL: predictor on the online network, EMA target, no negatives.
    Byol,
    /// SimSiam: predictor, stop-gradient, no EMA and no negatives.
    Simsiam,
    /// Barlow Twins: cross-correlation of the two views' embeddings towards the identity.
    Barlow,
    /// SwAV: swapped prediction of Sinkhorn-Knopp codes over learned prototypes.
    Swav,
    /// Exemplar-CNN: each of N seed images is its own class, learned from its transformations.
    Exemplar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// Burn's flex CPU backend, multithreaded (always built).
    Cpu,
    /// WGPU: Vulkan, Metal or DX12 (build with `--features wgpu`).
    Wgpu,
    /// NVIDIA CUDA (build with `--features cuda`).
    Cuda,
}

/// Floating-point format of the training arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    F32,
    Bf16,
    F16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    FashionMnist,
    Mnist,
    Cifar10,
    Cifar100,
    /// `data.dir/train/<class>/<image>` and `data.dir/test/<class>/<image>`.
    Imagefolder,
    /// STL-10 binary version: 96x96 RGB, 5000 labelled training, 8000 test, 100000 unlabeled.
    Stl10,
    /// Every image file under `data.dir`, at any depth, unlabeled and unsplit; the kNN monitor
    /// and `selfsup eval` use the labelled set `[eval] dataset` names, if any.
    Images,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cifar100LabelKind {
    Fine,
    Coarse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackboneKind {
    Resnet18,
    Resnet34,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub method: MethodKind,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "default_backend")]
    pub backend: BackendKind,
    /// Which GPU of the backend (`--device N`); unset: the backend's default device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<usize>,
    #[serde(default)]
    pub data: DataConfig,
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub train: TrainConfig,
    #[serde(default)]
    pub augment: ViewConfig,
    /// The views of the first `train.augment_warmup_epochs` epochs (WCL: MoCo v2's weaker
    /// views before SimCLR's); keys it leaves out are `augment`'s. Unset: `augment` throughout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment_warmup: Option<ViewConfig>,
    #[serde(default)]
    pub eval: EvalConfig,
    #[serde(default)]
    pub simclr: SimclrConfig,
    #[serde(default)]
    pub wcl: WclConfig,
    #[serde(default)]
    pub instdisc: InstDiscConfig,
    #[serde(default)]
    pub cmc: CmcConfig,
    #[serde(default)]
    pub moco: MocoConfig,
    #[serde(default)]
    pub byol: ByolConfig,
    #[serde(default)]
    pub simsiam: SimsiamConfig,
    #[serde(default)]
    pub barlow: BarlowConfig,
    #[serde(default)]
    pub swav: SwavConfig,
    #[serde(default)]
    pub exemplar: ExemplarConfig,
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    #[serde(default)]
    pub distill: DistillConfig,
}

fn default_backend() -> BackendKind {
    BackendKind::Cpu
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    pub dataset: DatasetKind,
    /// Directory of the dataset files; Fashion-MNIST defaults to Debian's package location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Use only the first N training images (unset: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// Evaluate on only the first N test images (unset: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_limit: Option<usize>,
    /// CIFAR-100's labels for evaluation: the 100 "fine" classes or the 20 "coarse" ones.
    pub cifar100_labels: Cifar100LabelKind,
    /// ImageFolder: side every image is resized to.
    pub image_size: usize,
    /// Image folders: 1 (grayscale), 2 (grayscale + alpha), 3 (RGB) or 4 (RGBA).
    pub channels: usize,
    /// ImageFolder: skip files that cannot be decoded (counted) instead of stopping.
    pub skip_bad: bool,
    /// STL-10: pretrain on the 100000 unlabeled images as well as the 5000 labelled ones (the
    /// kNN always stores the labelled ones).
    pub stl10_unlabeled: bool,
    /// ImageFolder: keep decoded images in memory ("memory": image_size^2 x channels bytes per
    /// image), decode each file whenever it is read ("disk": only the file list in memory), or
    /// "auto": memory when the decoded split fits in half of the memory available.
    pub storage: StorageKind,
    /// Per-channel mean and standard deviation of the pixels in [0, 1] that inputs are
    /// normalised with. Unset: measured on the pretraining images when a run starts and written
    /// to its config.toml, so evaluation, `selfsup embed` and resuming use the run's values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<f32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std: Option<Vec<f32>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageKind {
    Auto,
    Memory,
    Disk,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetKind::FashionMnist,
            dir: None,
            train_limit: None,
            test_limit: None,
            cifar100_labels: Cifar100LabelKind::Fine,
            image_size: 32,
            channels: 3,
            skip_bad: false,
            stl10_unlabeled: true,
            storage: StorageKind::Auto,
            mean: None,
            std: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub backbone: BackboneKind,
    /// Channels of the first ResNet stage (64 = the standard network).
    pub width: usize,
    /// Hidden width of the projection heads (unset: the backbone's feature size, 8 x width).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proj_hidden_dim: Option<usize>,
    pub proj_output_dim: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            backbone: BackboneKind::Resnet18,
            width: 64,
            proj_hidden_dim: None,
            proj_output_dim: 128,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate, reached at the end of the warm-up.
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub warmup_epochs: usize,
    /// Only "f32" is offered; see docs/benchmarks.md ("Half precision") for why.
    pub precision: Precision,
    /// After the warm-up: "cosine" decay to 0, or "step": x0.1 at each of `step_milestones`.
    pub schedule: LrScheduleKind,
    /// Fractions of training after which a "step" schedule divides the rate by 10.
    pub step_milestones: Vec<f64>,
    /// On a NaN/infinite loss or gradient: "stop" (with the last good checkpoint named) or
    /// "skip_step" (leave the model as it was and go on, at most `max_skipped_steps` times).
    pub on_nan: OnNan,
    pub max_skipped_steps: usize,
    /// When the training-health metrics say the run collapsed (at an evaluation): "warn" and
    /// go on, or "stop" (after that epoch's checkpoint).
    pub on_collapse: OnCollapse,
    /// "sgd" (momentum, weight decay on every parameter) or "lars" (SimCLR's, BYOL's and
    /// WCL's: trust ratio and weight decay on weights only, none on batch norm and biases).
    pub optimizer: OptimizerKind,
    /// LARS trust coefficient eta.
    pub lars_eta: f64,
    /// Epochs that use the `[augment_warmup]` views before `[augment]` takes over.
    pub augment_warmup_epochs: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Sgd,
    Lars,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnCollapse {
    Warn,
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnNan {
    Stop,
    SkipStep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrScheduleKind {
    Cosine,
    Step,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 100,
            batch_size: 256,
            lr: 0.3,
            momentum: 0.9,
            weight_decay: 1e-4,
            warmup_epochs: 10,
            precision: Precision::F32,
            schedule: LrScheduleKind::Cosine,
            step_milestones: vec![0.6, 0.8],
            on_nan: OnNan::Stop,
            max_skipped_steps: 10,
            on_collapse: OnCollapse::Warn,
            optimizer: OptimizerKind::Sgd,
            lars_eta: 0.001,
            augment_warmup_epochs: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Run the kNN evaluation every N epochs (0: only at the end); it always runs at the end.
    pub every: usize,
    pub knn_k: usize,
    pub knn_temperature: f64,
    /// Test queries per chunk of the similarity matrix.
    pub knn_chunk_size: usize,
    /// Training features for kNN: recomputed by the backbone (default), or, for instdisc, read
    /// from the memory bank as lemniscate does (test images then go through the head too).
    pub knn_features: KnnFeatures,
    /// `selfsup eval linear`: epochs, batch size, peak learning rate (cosine to 0) and weight
    /// decay of the linear classifier on the cached, standardised features.
    pub linear_epochs: usize,
    pub linear_batch_size: usize,
    pub linear_lr: f64,
    pub linear_weight_decay: f64,
    /// `selfsup eval finetune`: epochs over the labelled subset (0: SimCLR's 60 for 1% of the
    /// labels or fewer, 30 above), batch size, learning rate per 256 images (scaled by
    /// batch / 256; Nesterov momentum 0.9, cosine to 0, no weight decay, crop and flip only).
    pub finetune_epochs: usize,
    pub finetune_batch_size: usize,
    pub finetune_lr: f64,
    /// Test images drawn in the 2-D t-SNE map `eval/embedding.png` (0: no map).
    pub embedding_points: usize,
    /// A labelled set to evaluate on, apart from the images pretrained on: its training split
    /// is what the kNN stores (and the linear probe and fine-tuning learn from), its test split
    /// the queries. Any labelled kind; unset: the training dataset's own splits (with
    /// `data.dataset = "images"`: no kNN, only the health metrics).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetKind>,
    /// Where the evaluation set is (as `data.dir`; Fashion-MNIST has a default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// ImageFolder evaluation sets: side and channels to decode to (unset: `data`'s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KnnFeatures {
    Backbone,
    MemoryBank,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            every: 5,
            knn_k: 200,
            knn_temperature: 0.07,
            knn_chunk_size: 256,
            knn_features: KnnFeatures::Backbone,
            linear_epochs: 100,
            linear_batch_size: 256,
            linear_lr: 0.1,
            linear_weight_decay: 0.0,
            finetune_epochs: 0,
            finetune_batch_size: 256,
            finetune_lr: 0.05,
            embedding_points: 2000,
            dataset: None,
            dir: None,
            image_size: None,
            channels: None,
        }
    }
}

/// `selfsup distill` (SimCLR v2): a smaller student trained on the unlabeled training images
/// from a fine-tuned teacher's softened predictions. Nesterov momentum 0.9, cosine learning rate
/// to 0, crop and flip views (as fine-tuning).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistillConfig {
    /// Channels of the student ResNet's first stage (same depth as the teacher's); 0: half the
    /// teacher's `model.width`.
    pub student_width: usize,
    pub epochs: usize,
    pub batch_size: usize,
    /// Learning rate per 256 images (scaled by batch / 256).
    pub lr: f64,
    pub weight_decay: f64,
    /// tau of the teacher's and the student's softmax.
    pub temperature: f64,
}

impl Default for DistillConfig {
    fn default() -> Self {
        Self {
            student_width: 0,
            epochs: 5,
            batch_size: 256,
            lr: 0.1,
            weight_decay: 5e-4,
            temperature: 1.0,
        }
    }
}

impl DistillConfig {
    /// The student's width for a teacher of `teacher_width`.
    pub fn student_width(&self, teacher_width: usize) -> usize {
        match self.student_width {
            0 => (teacher_width / 2).max(1),
            width => width,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimclrConfig {
    pub temperature: f64,
    /// Projection head depth: 2 (v1: Linear-BN-ReLU-Linear) or 3 (v2: Linear-BN-ReLU twice,
    /// then Linear-BN).
    pub head_layers: usize,
}

impl Default for SimclrConfig {
    fn default() -> Self {
        Self {
            temperature: 0.2,
            head_layers: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WclConfig {
    /// Temperature of both heads' losses.
    pub temperature: f64,
    /// lambda: weight of the swapped weak-label loss.
    pub swap_weight: f64,
    /// beta: weight of the multi-crop instance term L_cNCE (with `augment.local_crops > 0`).
    pub crop_nce_weight: f64,
    /// gamma: weight of the multi-crop weak-label term L_cswap.
    pub crop_swap_weight: f64,
    /// KNN multi-crop: after `knn_warmup_epochs` epochs of ordinary multi-crop, cut each
    /// image's local crops from its `knn_neighbours` nearest training images (backbone
    /// features, cosine, recomputed at every epoch's end).
    pub knn_crops: bool,
    pub knn_neighbours: usize,
    pub knn_warmup_epochs: usize,
}

impl Default for WclConfig {
    fn default() -> Self {
        Self {
            temperature: 0.1,
            swap_weight: 1.0,
            crop_nce_weight: 0.5,
            crop_swap_weight: 0.5,
            knn_crops: false,
            knn_neighbours: 4,
            knn_warmup_epochs: 1,
        }
    }
}

/// How a memory-bank method turns scores into a loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BankLoss {
    /// NCE with noise density 1/n and a fixed Z (InstDisc, CMC).
    Nce,
    /// (m+1)-way softmax, positive first.
    Softmax,
    /// CMC only: the other view's batch as candidates, no bank.
    InBatch,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstDiscConfig {
    pub temperature: f64,
    /// m: noise samples per anchor, drawn uniformly from the bank.
    pub negatives: usize,
    /// Weight of the old entry in the bank update (0.5 in the paper).
    pub bank_momentum: f64,
    /// "nce" or "softmax".
    pub loss: BankLoss,
    /// lambda of the proximal term ||v_t - v_(t-1)||^2; 0 turns it off.
    pub proximal: f64,
}

impl Default for InstDiscConfig {
    fn default() -> Self {
        Self {
            temperature: 0.07,
            negatives: 4096,
            bank_momentum: 0.5,
            loss: BankLoss::Nce,
            proximal: 0.0,
        }
    }
}

/// How CMC splits a Lab image into views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmcViews {
    /// L and ab (the paper's two views).
    #[serde(rename = "l_ab")]
    LAb,
    /// L, a and b as three views.
    #[serde(rename = "l_a_b")]
    LAndAAndB,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmcGraph {
    /// The first view (L) against each other view.
    Core,
    /// Every pair of views.
    Full,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CmcConfig {
    pub temperature: f64,
    /// Noise samples per anchor from the other view's bank (nce / softmax).
    pub negatives: usize,
    pub bank_momentum: f64,
    /// "nce", "softmax" or "in_batch".
    pub loss: BankLoss,
    /// "l_ab" (two views) or "l_a_b" (three views).
    pub views: CmcViews,
    /// With more than two views: "core" (L against each) or "full" (every pair).
    pub graph: CmcGraph,
}

impl Default for CmcConfig {
    fn default() -> Self {
        Self {
            temperature: 0.07,
            negatives: 4096,
            bank_momentum: 0.5,
            loss: BankLoss::Nce,
            views: CmcViews::LAb,
            graph: CmcGraph::Core,
        }
    }
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ByolConfig {
    /// tau of the target's EMA at step 0; it rises to 1 on a cosine over the run (0.996 in the
    /// paper; 0.99 suits short runs, as solo-learn's CIFAR recipe).
    pub momentum_base: f64,
    /// Hidden size of the projector and of the predictor (4096 in the paper); the projection
    /// size is model.proj_output_dim (256 in the paper).
    pub hidden_dim: usize,
}

impl Default for ByolConfig {
    fn default() -> Self {
        Self {
            momentum_base: 0.99,
            hidden_dim: 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimsiamConfig {
    /// Width of the 3-layer projector's layers and its output (2048 in the paper).
    pub proj_dim: usize,
    /// The predictor's bottleneck (512 in the paper: a quarter of proj_dim).
    pub pred_hidden_dim: usize,
    /// `false` removes the stop-gradient: the paper's ablation, which collapses (its
    /// Figure 2); the training-health metrics should then warn.
    pub stop_gradient: bool,
}

impl Default for SimsiamConfig {
    fn default() -> Self {
        Self {
            proj_dim: 512,
            pred_hidden_dim: 128,
            stop_gradient: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BarlowConfig {
    /// Width of the 3-layer projector's layers and its output (8192 in the paper, 2048 in
    /// solo-learn's CIFAR recipe).
    pub proj_dim: usize,
    /// lambda: weight of the off-diagonal (redundancy) term (5e-3 in the paper).
    pub lambda: f64,
}

impl Default for BarlowConfig {
    fn default() -> Self {
        Self {
            proj_dim: 1024,
            lambda: 5e-3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwavConfig {
    /// K prototypes (3000 in the paper; solo-learn's CIFAR recipe too).
    pub prototypes: usize,
    /// tau of the softmax over prototype scores.
    pub temperature: f64,
    /// epsilon of the Sinkhorn-Knopp codes.
    pub epsilon: f64,
    pub sinkhorn_iterations: usize,
    /// Epochs during which the prototypes get no update (the paper: the first).
    pub freeze_prototypes_epochs: usize,
    /// Feature queue: projections of this many earlier global crops (per global crop) join
    /// each batch's Sinkhorn-Knopp problem once full; 0 = off (the paper's small-batch option).
    pub queue_length: usize,
    /// Epoch (0-based) from which the queue is filled (official code: 15).
    pub queue_start_epoch: usize,
}

impl Default for SwavConfig {
    fn default() -> Self {
        Self {
            prototypes: 3000,
            temperature: 0.1,
            epsilon: 0.05,
            sinkhorn_iterations: 3,
            freeze_prototypes_epochs: 1,
            queue_length: 0,
            queue_start_epoch: 15,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExemplarConfig {
    /// N surrogate classes: seed images drawn (seeded) from the training set, each a class of
    /// its own (the paper: 8000 was best).
    pub classes: usize,
}

impl Default for ExemplarConfig {
    fn default() -> Self {
        Self { classes: 8000 }
    }
}

impl MocoConfig {
    pub fn temperature(&self) -> f64 {
        self.temperature
            .unwrap_or(if self.version == 1 { 0.07 } else { 0.2 })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Save a checkpoint every N epochs (and always after the last); 0: only after the last.
    pub every: usize,
    /// Also save every N optimizer steps (0: only at epoch ends).
    pub every_steps: usize,
    /// Checkpoints kept on disk (the newest ones).
    pub keep: usize,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            every: 1,
            every_steps: 0,
            keep: 2,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("--set {0}: expected key=value, e.g. --set train.epochs=10")]
    BadOverride(String),
    #[error("{key} = {value}: expected {expected}")]
    Invalid {
        key: String,
        value: String,
        expected: String,
    },
}

impl Config {
    /// Reads `path`, applies `key=value` overrides (values in TOML syntax; bare words are
    /// strings), then deserialises and validates.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string(), overrides)
    }

    pub fn from_toml(text: &str, origin: &str, overrides: &[String]) -> Result<Self, ConfigError> {
        let parse_error = |message: String| ConfigError::Parse {
            origin: origin.to_string(),
            message,
        };
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| parse_error(e.to_string()))?;
        for assignment in overrides {
            apply_override(&mut table, assignment)?;
        }
        inherit_augment(&mut table);
        let merged = toml::to_string(&table).map_err(|e| parse_error(e.to_string()))?;
        let deserializer =
            toml::Deserializer::parse(&merged).map_err(|e| parse_error(e.to_string()))?;
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.message().trim().to_string();
            parse_error(if key == "." {
                message
            } else {
                format!("{key}: {message}")
            })
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Channels of the images the dataset gives: fixed by the format, the config's
    /// `data.channels` for ImageFolder.
    pub fn image_channels(&self) -> usize {
        channels_of(&self.data)
    }

    /// The labelled data the kNN monitor and `selfsup eval` use: `[eval] dataset` when it is
    /// set (its dir, image size and channels from `[eval]`), else the training data's own
    /// splits; `None` for an unlabeled folder without an evaluation set.
    pub fn labelled_data(&self) -> Option<DataConfig> {
        match self.eval.dataset {
            Some(dataset) => Some(DataConfig {
                dataset,
                dir: self.eval.dir.clone(),
                train_limit: None,
                image_size: self.eval.image_size.unwrap_or(self.data.image_size),
                channels: self.eval.channels.unwrap_or(self.data.channels),
                ..self.data.clone()
            }),
            None if self.data.dataset == DatasetKind::Images => None,
            None => Some(self.data.clone()),
        }
    }

    pub fn data_dir(&self) -> Result<PathBuf, ConfigError> {
        data_dir_of(&self.data, "data.dir")
    }
}

/// What `data.channels` and `eval.channels` accept: the channel counts image files hold.
const CHANNELS_EXPECTED: &str = "1 (grayscale), 2 (grayscale + alpha), 3 (RGB) or 4 (RGBA): the channel counts image files hold";

/// Channels of the images `data` gives: fixed by the format, `channels` for image folders.
pub fn channels_of(data: &DataConfig) -> usize {
    match data.dataset {
        DatasetKind::FashionMnist | DatasetKind::Mnist => 1,
        DatasetKind::Cifar10 | DatasetKind::Cifar100 | DatasetKind::Stl10 => 3,
        DatasetKind::Imagefolder | DatasetKind::Images => data.channels,
    }
}

/// Where `data`'s files are; `key` names the setting in errors (`data.dir`, `eval.dir`).
pub fn data_dir_of(data: &DataConfig, key: &str) -> Result<PathBuf, ConfigError> {
    {
        if let Some(dir) = &data.dir {
            return Ok(dir.clone());
        }
        let expected = match data.dataset {
            DatasetKind::FashionMnist => return Ok(selfsup_data::DEFAULT_FASHION_MNIST_DIR.into()),
            DatasetKind::Mnist => {
                "a directory holding the four MNIST IDX files (there is no default location)"
            }
            DatasetKind::Cifar10 => {
                "the extracted cifar-10-batches-bin directory (CIFAR-10's binary version)"
            }
            DatasetKind::Cifar100 => {
                "the extracted cifar-100-binary directory (CIFAR-100's binary version)"
            }
            DatasetKind::Stl10 => "the extracted stl10_binary directory (STL-10's binary version)",
            DatasetKind::Imagefolder => {
                "the root of an ImageFolder tree (data.dir/train/<class>/<image>, data.dir/test/...)"
            }
            DatasetKind::Images => "a directory of image files (at any depth)",
        };
        Err(invalid(key, "(unset)", expected))
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.train;
        positive_int("train.epochs", t.epochs)?;
        if t.batch_size < 2 {
            return Err(invalid(
                "train.batch_size",
                t.batch_size,
                "at least 2 (a contrastive loss needs negatives in the batch)",
            ));
        }
        positive("train.lr", t.lr)?;
        if !(0.0..1.0).contains(&t.momentum) {
            return Err(invalid("train.momentum", t.momentum, "a value in [0, 1)"));
        }
        non_negative("train.weight_decay", t.weight_decay)?;
        if t.warmup_epochs >= t.epochs && t.warmup_epochs > 0 {
            return Err(invalid(
                "train.warmup_epochs",
                t.warmup_epochs,
                &format!("fewer than train.epochs = {}", t.epochs),
            ));
        }
        if t.precision != Precision::F32 {
            return Err(invalid(
                "train.precision",
                format!("{:?}", t.precision).to_lowercase(),
                "\"f32\" (half precision is not offered: Burn 0.21 has no mixed precision and no \
                 half-precision run has been shown to reach f32's kNN accuracy; see docs/benchmarks.md)",
            ));
        }
        let mut previous = 0.0;
        for &milestone in &t.step_milestones {
            if !(milestone > previous && milestone < 1.0) {
                return Err(invalid(
                    "train.step_milestones",
                    format!("{:?}", t.step_milestones),
                    "increasing fractions of training in (0, 1), e.g. [0.6, 0.8]",
                ));
            }
            previous = milestone;
        }
        if self.backend == BackendKind::Cpu
            && let Some(device) = self.device
            && device != 0
        {
            return Err(invalid(
                "device",
                device,
                "0 or unset with backend = \"cpu\" (the CPU backend has one device)",
            ));
        }
        positive_int("model.width", self.model.width)?;
        positive_int("model.proj_output_dim", self.model.proj_output_dim)?;
        if let Some(hidden) = self.model.proj_hidden_dim {
            positive_int("model.proj_hidden_dim", hidden)?;
        }
        if let Some(limit) = self.data.train_limit
            && limit < t.batch_size
        {
            return Err(invalid(
                "data.train_limit",
                limit,
                &format!("at least train.batch_size = {} images", t.batch_size),
            ));
        }
        if let Some(limit) = self.data.test_limit {
            positive_int("data.test_limit", limit)?;
        }
        positive_int("data.image_size", self.data.image_size)?;
        if !(1..=4).contains(&self.data.channels) {
            return Err(invalid(
                "data.channels",
                self.data.channels,
                CHANNELS_EXPECTED,
            ));
        }
        self.validate_eval_set()?;
        self.validate_normalisation()?;
        positive_int("eval.knn_k", self.eval.knn_k)?;
        positive("eval.knn_temperature", self.eval.knn_temperature)?;
        positive_int("eval.knn_chunk_size", self.eval.knn_chunk_size)?;
        positive_int("eval.linear_epochs", self.eval.linear_epochs)?;
        positive_int("eval.linear_batch_size", self.eval.linear_batch_size)?;
        positive("eval.linear_lr", self.eval.linear_lr)?;
        positive_int("eval.finetune_batch_size", self.eval.finetune_batch_size)?;
        positive("eval.finetune_lr", self.eval.finetune_lr)?;
        non_negative("eval.linear_weight_decay", self.eval.linear_weight_decay)?;
        positive_int("distill.epochs", self.distill.epochs)?;
        positive_int("distill.batch_size", self.distill.batch_size)?;
        positive("distill.lr", self.distill.lr)?;
        positive("distill.temperature", self.distill.temperature)?;
        non_negative("distill.weight_decay", self.distill.weight_decay)?;
        positive("simclr.temperature", self.simclr.temperature)?;
        if !(2..=3).contains(&self.simclr.head_layers) {
            return Err(invalid(
                "simclr.head_layers",
                self.simclr.head_layers,
                "2 (SimCLR v1's head) or 3 (v2's)",
            ));
        }
        positive("wcl.temperature", self.wcl.temperature)?;
        for (key, weight) in [
            ("wcl.swap_weight", self.wcl.swap_weight),
            ("wcl.crop_nce_weight", self.wcl.crop_nce_weight),
            ("wcl.crop_swap_weight", self.wcl.crop_swap_weight),
        ] {
            non_negative(key, weight)?;
        }
        self.validate_knn_crops()?;
        self.validate_augment_warmup()?;
        self.validate_methods()?;
        positive_int("checkpoint.keep", self.checkpoint.keep)?;
        self.augment.validate().map_err(|e| ConfigError::Invalid {
            key: format!("augment.{}", e.field),
            value: e.value,
            expected: e.expected.trim_start_matches("expected ").to_string(),
        })?;
        Ok(())
    }
}

impl Config {
    fn validate_normalisation(&self) -> Result<(), ConfigError> {
        let channels = self.image_channels();
        for (key, values) in [("data.mean", &self.data.mean), ("data.std", &self.data.std)] {
            let Some(values) = values else { continue };
            let positive = key == "data.std";
            let fits = values.len() == channels
                && values
                    .iter()
                    .all(|v| v.is_finite() && (!positive || *v > 0.0));
            if !fits {
                let what = if positive { "positive" } else { "finite" };
                return Err(invalid(
                    key,
                    format!("{values:?}"),
                    &format!("{channels} {what} value(s), one per image channel"),
                ));
            }
        }
        if self.data.mean.is_some() != self.data.std.is_some() {
            return Err(invalid(
                "data.std",
                format!("{:?}", self.data.std),
                "set together with data.mean (or neither)",
            ));
        }
        Ok(())
    }

    fn validate_eval_set(&self) -> Result<(), ConfigError> {
        let eval = &self.eval;
        if let Some(size) = eval.image_size {
            positive_int("eval.image_size", size)?;
        }
        if let Some(channels) = eval.channels
            && !(1..=4).contains(&channels)
        {
            return Err(invalid("eval.channels", channels, CHANNELS_EXPECTED));
        }
        let Some(kind) = eval.dataset else {
            if let Some(dir) = &eval.dir {
                return Err(invalid(
                    "eval.dir",
                    dir.display(),
                    "set together with eval.dataset (the kind of labelled set it holds)",
                ));
            }
            return Ok(());
        };
        if kind == DatasetKind::Images {
            return Err(invalid(
                "eval.dataset",
                "images",
                "a labelled kind: fashion_mnist, mnist, cifar10, cifar100, stl10 or imagefolder",
            ));
        }
        let labelled = self.labelled_data().expect("eval.dataset is set");
        let (trained, evaluated) = (self.image_channels(), channels_of(&labelled));
        if trained != evaluated {
            return Err(invalid(
                "eval.dataset",
                format!("{kind:?} ({evaluated} channels)").to_lowercase(),
                &format!(
                    "images with the {trained} channel(s) the encoder is trained on (set \
                     eval.channels for an image folder, or data.channels)"
                ),
            ));
        }
        if eval.knn_features == KnnFeatures::MemoryBank {
            return Err(invalid(
                "eval.knn_features",
                "memory_bank",
                "\"backbone\" with a separate evaluation set (the memory bank holds the \
                 pretraining images, not the evaluation set's)",
            ));
        }
        Ok(())
    }

    fn validate_methods(&self) -> Result<(), ConfigError> {
        let probability = |key: &str, value: f64| {
            if (0.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(invalid(key, value, "a value in [0, 1]"))
            }
        };
        let i = &self.instdisc;
        positive("instdisc.temperature", i.temperature)?;
        positive_int("instdisc.negatives", i.negatives)?;
        probability("instdisc.bank_momentum", i.bank_momentum)?;
        if i.loss == BankLoss::InBatch {
            return Err(invalid(
                "instdisc.loss",
                "\"in_batch\"",
                "\"nce\" or \"softmax\" (in_batch is CMC's)",
            ));
        }
        non_negative("instdisc.proximal", i.proximal)?;
        let c = &self.cmc;
        positive("cmc.temperature", c.temperature)?;
        positive_int("cmc.negatives", c.negatives)?;
        probability("cmc.bank_momentum", c.bank_momentum)?;
        let m = &self.moco;
        if !(m.version == 1 || m.version == 2) {
            return Err(invalid("moco.version", m.version, "1 or 2"));
        }
        positive("moco.temperature", m.temperature())?;
        positive_int("moco.queue_size", m.queue_size)?;
        probability("moco.momentum", m.momentum)?;
        positive_int("moco.bn_splits", m.bn_splits)?;
        if self.method == MethodKind::Moco && m.bn_splits > self.train.batch_size {
            return Err(invalid(
                "moco.bn_splits",
                m.bn_splits,
                &format!("at most train.batch_size = {}", self.train.batch_size),
            ));
        }
        positive("train.lars_eta", self.train.lars_eta)?;
        if self.augment.local_crops > 0
            && !matches!(self.method, MethodKind::Swav | MethodKind::Wcl)
        {
            return Err(invalid(
                "augment.local_crops",
                self.augment.local_crops,
                "0 for this method (multi-crop is used by swav and wcl)",
            ));
        }
        positive_int("swav.prototypes", self.swav.prototypes)?;
        positive("swav.temperature", self.swav.temperature)?;
        positive("swav.epsilon", self.swav.epsilon)?;
        positive_int("swav.sinkhorn_iterations", self.swav.sinkhorn_iterations)?;
        if self.method == MethodKind::Exemplar && self.exemplar.classes < self.train.batch_size {
            return Err(invalid(
                "exemplar.classes",
                self.exemplar.classes,
                &format!(
                    "at least train.batch_size = {} (the seed images are the training set)",
                    self.train.batch_size
                ),
            ));
        }
        if self.swav.queue_length > 0 && self.swav.queue_start_epoch >= self.train.epochs {
            return Err(invalid(
                "swav.queue_start_epoch",
                self.swav.queue_start_epoch,
                &format!(
                    "below train.epochs = {} (or swav.queue_length = 0): the queue would never be used",
                    self.train.epochs
                ),
            ));
        }
        probability("byol.momentum_base", self.byol.momentum_base)?;
        positive_int("byol.hidden_dim", self.byol.hidden_dim)?;
        positive_int("simsiam.proj_dim", self.simsiam.proj_dim)?;
        positive_int("simsiam.pred_hidden_dim", self.simsiam.pred_hidden_dim)?;
        positive_int("barlow.proj_dim", self.barlow.proj_dim)?;
        non_negative("barlow.lambda", self.barlow.lambda)?;
        if self.eval.knn_features == KnnFeatures::MemoryBank && self.method != MethodKind::InstDisc
        {
            return Err(invalid(
                "eval.knn_features",
                "\"memory_bank\"",
                "\"backbone\" (only instdisc keeps one bank entry per training image in the backbone's head space)",
            ));
        }
        Ok(())
    }
}

impl Config {
    fn validate_knn_crops(&self) -> Result<(), ConfigError> {
        let w = &self.wcl;
        if !w.knn_crops {
            return Ok(());
        }
        if self.method != MethodKind::Wcl {
            return Err(invalid(
                "wcl.knn_crops",
                true,
                "false unless method = \"wcl\"",
            ));
        }
        if self.augment.local_crops == 0 {
            return Err(invalid(
                "wcl.knn_crops",
                true,
                "false, or augment.local_crops > 0 (the neighbours' crops are the local crops)",
            ));
        }
        positive_int("wcl.knn_neighbours", w.knn_neighbours)?;
        if !(1..self.train.epochs).contains(&w.knn_warmup_epochs) {
            return Err(invalid(
                "wcl.knn_warmup_epochs",
                w.knn_warmup_epochs,
                &format!(
                    "between 1 (the first table needs a trained epoch) and train.epochs - 1 = {}",
                    self.train.epochs.saturating_sub(1)
                ),
            ));
        }
        Ok(())
    }

    fn validate_augment_warmup(&self) -> Result<(), ConfigError> {
        let epochs = self.train.augment_warmup_epochs;
        let Some(warmup) = &self.augment_warmup else {
            if epochs > 0 {
                return Err(invalid(
                    "train.augment_warmup_epochs",
                    epochs,
                    "0, or an [augment_warmup] table with the warm-up views",
                ));
            }
            return Ok(());
        };
        if epochs == 0 || epochs >= self.train.epochs {
            return Err(invalid(
                "train.augment_warmup_epochs",
                epochs,
                &format!(
                    "between 1 and train.epochs - 1 = {} when [augment_warmup] is given",
                    self.train.epochs.saturating_sub(1)
                ),
            ));
        }
        warmup.validate().map_err(|e| ConfigError::Invalid {
            key: format!("augment_warmup.{}", e.field),
            value: e.value,
            expected: e.expected.trim_start_matches("expected ").to_string(),
        })?;
        // The views change strength, not shape: every step's tensors keep their sizes.
        for (key, warm, main) in [
            ("crop_size", warmup.crop_size, self.augment.crop_size),
            ("local_crops", warmup.local_crops, self.augment.local_crops),
            (
                "local_crop_size",
                warmup.local_crop_size,
                self.augment.local_crop_size,
            ),
        ] {
            if warm != main {
                return Err(invalid(
                    &format!("augment_warmup.{key}"),
                    warm,
                    &format!("the same as augment.{key} = {main}"),
                ));
            }
        }
        Ok(())
    }
}

/// Keys (or key prefixes, ending in '.') a resumed run may change: where it runs, where the data
/// lies, how it is evaluated and checkpointed. Anything else changes the training a checkpoint
/// belongs to.
const FREE_ON_RESUME: &[&str] = &[
    "backend",
    "device",
    "data.dir",
    "data.test_limit",
    "data.storage",
    "eval.",
    "checkpoint.",
    "distill.",
];

/// `key: saved -> requested` for every key whose change would make a resumed run a different
/// run (method, model shape, dataset, schedule, ...); empty when resuming is sound.
pub fn material_differences(saved: &Config, requested: &Config) -> Vec<String> {
    let flat = |config: &Config| {
        let mut out = std::collections::BTreeMap::new();
        if let Ok(toml::Value::Table(table)) = toml::Value::try_from(config) {
            flatten("", &table, &mut out);
        }
        out
    };
    let (saved, requested) = (flat(saved), flat(requested));
    let keys: std::collections::BTreeSet<&String> = saved.keys().chain(requested.keys()).collect();
    keys.into_iter()
        .filter(|key| {
            !FREE_ON_RESUME
                .iter()
                .any(|free| key.as_str() == *free || (free.ends_with('.') && key.starts_with(free)))
        })
        .filter_map(|key| {
            let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(unset)".to_string());
            let (a, b) = (saved.get(key), requested.get(key));
            (a != b).then(|| format!("{key}: {} -> {}", show(a), show(b)))
        })
        .collect()
}

fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut std::collections::BTreeMap<String, String>,
) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&path, inner, out),
            other => {
                out.insert(path, other.to_string());
            }
        }
    }
}

/// The name a config enum has in TOML (`DatasetKind::FashionMnist` -> `fashion_mnist`).
pub fn config_name(value: impl Serialize) -> Result<String, ConfigError> {
    match toml::Value::try_from(value) {
        Ok(toml::Value::String(name)) => Ok(name),
        other => Err(ConfigError::Parse {
            origin: "config".to_string(),
            message: format!("expected a name, got {other:?}"),
        }),
    }
}

/// `[augment_warmup]` names only what differs from `[augment]`: the keys it leaves out are
/// taken from `[augment]` (then from the defaults), so the warm-up views differ in strength
/// only where the table says.
fn inherit_augment(table: &mut toml::Table) {
    let Some(toml::Value::Table(warmup)) = table.get("augment_warmup") else {
        return;
    };
    let mut merged = match table.get("augment") {
        Some(toml::Value::Table(augment)) => augment.clone(),
        _ => toml::Table::new(),
    };
    merged.extend(warmup.clone());
    table.insert("augment_warmup".to_string(), toml::Value::Table(merged));
}

fn invalid(key: &str, value: impl std::fmt::Display, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

fn positive(key: &str, value: f64) -> Result<(), ConfigError> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(invalid(key, value, "a positive number"))
    }
}

fn non_negative(key: &str, value: f64) -> Result<(), ConfigError> {
    if value >= 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(invalid(key, value, "a non-negative number"))
    }
}

fn positive_int(key: &str, value: usize) -> Result<(), ConfigError> {
    if value > 0 {
        Ok(())
    } else {
        Err(invalid(key, value, "a positive integer"))
    }
}

fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), ConfigError> {
    let (key, raw) = assignment
        .split_once('=')
        .filter(|(k, _)| !k.trim().is_empty())
        .ok_or_else(|| ConfigError::BadOverride(assignment.to_string()))?;
    let value = format!("v = {}", raw.trim())
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let parts: Vec<&str> = key.trim().split('.').collect();
    let (last, parents) = parts.split_last().expect("split yields at least one part");
    let mut current = table;
    for (depth, part) in parents.iter().enumerate() {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            return Err(ConfigError::Invalid {
                key: parts[..=depth].join("."),
                value: entry.to_string(),
                expected: format!("a table, to set {}", key.trim()),
            });
        }
        current = entry.as_table_mut().expect("checked above");
    }
    current.insert(last.to_string(), value);
    Ok(())
}
