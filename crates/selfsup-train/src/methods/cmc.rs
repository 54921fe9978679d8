use burn::module::{AutodiffModule, Module, RunningState};
use burn::nn::Linear;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use selfsup_augment::Normalize;
use selfsup_backbones::{Encoder, ResNet, ResNetConfig};
use selfsup_losses::{
    ViewGraph, cmc_in_batch, l2_normalize, nce_loss, nce_normalizer, scores_against,
    softmax_with_positive_first, view_pairs,
};
use selfsup_memory::MemoryBank;

use super::BankLoss;
use super::{
    DataInfo, Method, MethodSettings, StepBatch, StepLoss, backbone_config, linear_head, noise_rows,
    normalizer_over_peers,
};
use crate::config::Config;
use crate::{HostBackend, TrainError};
use selfsup_config::{ConfigError, positive, positive_int, probability};
use serde::{Deserialize, Serialize};

const NOISE_STREAM: u64 = 1;

/// CMC (Tian et al.): the Lab image is split into views (L | ab, or L | a | b), each with its own
/// encoder of half the configured width and a linear head to the embedding; views of the same
/// image are positives across views. Losses: NCE or (m+1)-way softmax against the other view's
/// memory bank (each anchor view scored against each bank with its own Z), or the in-batch
/// variant without banks. The representation is the concatenation of the encoders' features.
#[derive(Module, Debug)]
pub struct Cmc<B: Backend> {
    encoders: Vec<ResNet<B>>,
    heads: Vec<Linear<B>>,
    /// One per view; empty for the in-batch loss.
    banks: Vec<MemoryBank<B>>,
    /// Z of anchor view a against bank view b at `a * views + b`; 0 until estimated.
    normalizers: RunningState<Tensor<B, 1>>,
    temperature: f64,
    negatives: usize,
    bank_momentum: f64,
    loss_kind: u8,
    full_graph: bool,
}

const LOSS_NCE: u8 = 0;
const LOSS_SOFTMAX: u8 = 1;
const LOSS_IN_BATCH: u8 = 2;

pub struct CmcUpdate<B: Backend> {
    indices: Tensor<B, 1, Int>,
    features: Vec<Tensor<B, 2>>,
    normalizers: Option<Vec<f32>>,
}

/// One ResNet of half the configured width per view of a 3-channel Lab image.
pub fn view_encoders(config: &Config) -> Vec<ResNetConfig> {
    let mut half = config.clone();
    half.model.width = (config.model.width / 2).max(1);
    let channels = match config.cmc.views {
        CmcViews::LAb => vec![1, 2],
        CmcViews::LAndAAndB => vec![1, 1, 1],
    };
    channels
        .into_iter()
        .map(|c| backbone_config(&half, c))
        .collect()
}

impl<B: Backend> Cmc<B> {
    fn graph(&self) -> ViewGraph {
        if self.full_graph {
            ViewGraph::Full
        } else {
            ViewGraph::Core
        }
    }

    fn views(&self) -> usize {
        self.encoders.len()
    }
}

impl<B: AutodiffBackend> Method<B> for Cmc<B> {
    const NAME: &'static str = "cmc";
    type OnHost = Cmc<HostBackend>;
    type Update = CmcUpdate<B>;

    fn new(config: &Config, data: &DataInfo, device: &B::Device) -> Self {
        let cfg = &config.cmc;
        let parts = view_encoders(config);
        let views = parts.len();
        let feature_dim = parts[0].feature_dim();
        let encoders: Vec<ResNet<B>> = parts.iter().map(|part| part.init(device)).collect();
        let heads = (0..views)
            .map(|_| linear_head(config, feature_dim, device))
            .collect();
        let loss_kind = match cfg.loss {
            BankLoss::Nce => LOSS_NCE,
            BankLoss::Softmax => LOSS_SOFTMAX,
            BankLoss::InBatch => LOSS_IN_BATCH,
        };
        let banks = if loss_kind == LOSS_IN_BATCH {
            Vec::new()
        } else {
            (0..views)
                .map(|_| MemoryBank::new(data.train_len, config.model.proj_output_dim, device))
                .collect()
        };
        Self {
            encoders,
            heads,
            banks,
            normalizers: RunningState::new(Tensor::zeros([views * views], device)),
            temperature: cfg.temperature,
            negatives: cfg.negatives,
            bank_momentum: cfg.bank_momentum,
            loss_kind,
            full_graph: cfg.graph == CmcGraph::Full,
        }
    }

    fn num_views(&self) -> usize {
        1
    }

    /// It splits Lab colour into L and ab views: RGB images only.
    /// The in-batch loss takes its candidates from the batch, which no peer holds whole.
    fn check_devices(config: &Config, devices: usize) -> Result<(), TrainError> {
        if config.cmc.loss == BankLoss::InBatch {
            return Err(TrainError::NotSplittable {
                key: "cmc.loss",
                value: "\"in_batch\"".into(),
                devices,
                needs: "\"nce\" or \"softmax\" (the memory-bank losses) on several devices".into(),
            });
        }
        Ok(())
    }

    fn check_data(_config: &Config, dataset: &str, data: &DataInfo) -> Result<(), TrainError> {
        if data.channels != 3 {
            return Err(TrainError::NeedsRgb {
                dataset: dataset.to_string(),
                channels: data.channels,
            });
        }
        Ok(())
    }

    /// Lab's fixed constants, whatever the data.
    fn fixed_normalization() -> Option<Normalize> {
        Some(Normalize::lab())
    }

    fn encoder_parts(config: &Config, _channels: usize) -> Vec<ResNetConfig> {
        view_encoders(config)
    }

    fn loss(&self, batch: &StepBatch<B>) -> StepLoss<B, CmcUpdate<B>> {
        let lab = batch.views[0].clone();
        let device = lab.device();
        let [b, _, _, _] = lab.dims();
        let embeddings = self.view_embeddings(lab);
        let pairs = view_pairs(self.views(), self.graph());
        let indices = batch.index_tensor(&device);

        if self.loss_kind == LOSS_IN_BATCH {
            return self.in_batch_loss(&embeddings, &pairs, indices);
        }

        // One draw of noise rows per step, shared by every view's bank (as CMC's code).
        let len = self.banks[0].len();
        let noise_indices = noise_rows(batch, NOISE_STREAM, len, self.negatives);
        let stored: Vec<f32> = self
            .normalizers
            .value()
            .into_data()
            .convert::<f32>()
            .into_vec()
            .expect("normalizers are floats");
        let mut normalizers = stored.clone();
        // Anchor view `a` scored against bank `bank`: positive = bank[own index].
        let mut directed = |a: usize, bank: usize| -> Tensor<B, 1> {
            let anchor = embeddings[a].clone();
            let own = self.banks[bank].get(indices.clone());
            let positive = (anchor.clone() * own).sum_dim(1).reshape([b]);
            let noise = scores_against(anchor, self.banks[bank].gather(noise_indices.clone()));
            if self.loss_kind == LOSS_SOFTMAX {
                return softmax_with_positive_first(positive, noise, self.temperature);
            }
            let slot = a * self.views() + bank;
            if normalizers[slot] <= 0.0 {
                let z = nce_normalizer(noise.clone(), self.temperature, len);
                normalizers[slot] = normalizer_over_peers(batch, z) as f32;
            }
            nce_loss(
                positive,
                noise,
                self.temperature,
                f64::from(normalizers[slot]),
                len,
            )
        };
        let total = pairs
            .iter()
            .map(|&(i, j)| directed(i, j) + directed(j, i))
            .reduce(|a, b| a + b)
            .expect("at least one pair of views");
        let changed = normalizers != stored;
        // Every peer writes every peer's rows, so the banks stay the one-device banks.
        let indices = batch.all_index_tensor(&device);
        let features = embeddings
            .into_iter()
            .map(|e| batch.peers.gather_detached(e))
            .collect();
        StepLoss {
            total: total.clone(),
            terms: vec![(
                if self.loss_kind == LOSS_SOFTMAX {
                    "softmax"
                } else {
                    "nce"
                },
                total,
            )],
            update: CmcUpdate {
                indices,
                features,
                normalizers: changed.then_some(normalizers),
            },
        }
    }

    fn after_step(mut self, update: CmcUpdate<B>) -> Self {
        for (bank, features) in self.banks.iter_mut().zip(update.features) {
            bank.update(update.indices.clone(), features, self.bank_momentum);
        }
        if let Some(z) = update.normalizers {
            let device = self.normalizers.value().device();
            let len = z.len();
            self.normalizers =
                RunningState::new(Tensor::from_data(TensorData::new(z, [len]), &device));
        }
        self
    }

    fn encoder(&self) -> Encoder<B::InnerBackend> {
        Encoder::channel_groups(self.encoders.iter().map(|e| e.valid()).collect())
    }

    fn project(&self, images: Tensor<B::InnerBackend, 4>) -> Tensor<B::InnerBackend, 2> {
        let mut first = 0;
        let groups = self
            .encoders
            .iter()
            .zip(&self.heads)
            .map(|(encoder, head)| {
                let channels = encoder.in_channels();
                let view = images.clone().narrow(1, first, channels);
                first += channels;
                head.valid().forward(encoder.valid().forward(view))
            })
            .collect();
        Tensor::cat(groups, 1)
    }
}

impl<B: AutodiffBackend> Cmc<B> {
    /// Each view's L2-normalised embedding: the Lab image's channels split in the encoders'
    /// order (L, then ab), each through its own encoder and head.
    fn view_embeddings(&self, lab: Tensor<B, 4>) -> Vec<Tensor<B, 2>> {
        let mut first = 0;
        self.encoders
            .iter()
            .zip(&self.heads)
            .map(|(encoder, head)| {
                let channels = encoder.in_channels();
                let view = lab.clone().narrow(1, first, channels);
                first += channels;
                l2_normalize(head.forward(encoder.forward(view)))
            })
            .collect()
    }

    /// `cmc.loss = "in_batch"`: the pairs' in-batch contrastive losses; no bank to update.
    fn in_batch_loss(
        &self,
        embeddings: &[Tensor<B, 2>],
        pairs: &[(usize, usize)],
        indices: Tensor<B, 1, Int>,
    ) -> StepLoss<B, CmcUpdate<B>> {
        let total = pairs
            .iter()
            .map(|&(i, j)| {
                cmc_in_batch(
                    embeddings[i].clone(),
                    embeddings[j].clone(),
                    self.temperature,
                )
            })
            .reduce(|a, b| a + b)
            .expect("at least one pair of views");
        StepLoss {
            total: total.clone(),
            terms: vec![("in_batch", total)],
            update: CmcUpdate {
                indices,
                features: Vec::new(),
                normalizers: None,
            },
        }
    }
}

// Its settings: the `[cmc]` section of the config, with defaults and checks.

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

impl MethodSettings for CmcConfig {
    fn validate(&self, _config: &Config) -> Result<(), ConfigError> {
        positive("cmc.temperature", self.temperature)?;
        positive_int("cmc.negatives", self.negatives)?;
        probability("cmc.bank_momentum", self.bank_momentum)
    }
}

