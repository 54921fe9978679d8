use burn::module::{AutodiffModule, Module, RunningState};
use burn::nn::Linear;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor};
use selfsup_backbones::{Encoder, ResNet};
use selfsup_losses::{
    l2_normalize, nce_loss, nce_normalizer, proximal, scores_against, softmax_with_positive_first,
};
use selfsup_memory::MemoryBank;

use super::{
    DataInfo, Method, MethodSettings, StepBatch, StepLoss, backbone_config, bank_rows, linear_head,
    noise_rows, normalizer_over_peers,
};
use crate::config::Config;
use crate::features::BankView;
use crate::{HostBackend, TrainError};
use selfsup_config::{ConfigError, invalid, non_negative, positive, positive_int, probability};
use serde::{Deserialize, Serialize};

/// Noise samples' random stream within a step.
const NOISE_STREAM: u64 = 1;

/// InstDisc (Wu et al., CVPR 2018) as lemniscate: one view per image, `v = norm(W F(x))`,
/// scored against its own memory-bank entry and m uniformly drawn entries, NCE with a fixed Z
/// (or the (m+1)-way softmax); after the step the bank entries of the batch move halfway to v.
#[derive(Module, Debug)]
pub struct InstDisc<B: Backend> {
    backbone: ResNet<B>,
    head: Linear<B>,
    bank: MemoryBank<B>,
    /// NCE's Z, estimated on the first batch and then fixed; 0 until then.
    normalizer: RunningState<Tensor<B, 1>>,
    temperature: f64,
    negatives: usize,
    bank_momentum: f64,
    softmax: bool,
    proximal_weight: f64,
}

pub struct BankUpdate<B: Backend> {
    indices: Tensor<B, 1, Int>,
    features: Tensor<B, 2>,
    normalizer: Option<f64>,
}

impl<B: Backend> InstDisc<B> {
    fn stored_normalizer(&self) -> Option<f64> {
        let z: f64 = self.normalizer.value().into_scalar().elem();
        (z > 0.0).then_some(z)
    }
}

impl<B: AutodiffBackend> Method<B> for InstDisc<B> {
    const NAME: &'static str = "instdisc";
    const KNN_ON_BANK: bool = true;
    type OnHost = InstDisc<HostBackend>;
    type Update = BankUpdate<B>;

    fn new(config: &Config, data: &DataInfo, device: &B::Device) -> Self {
        let backbone = backbone_config(config, data.channels);
        let cfg = &config.instdisc;
        Self {
            head: linear_head(config, backbone.feature_dim(), device),
            backbone: backbone.init(device),
            bank: MemoryBank::new(data.train_len, config.model.proj_output_dim, device),
            normalizer: RunningState::new(Tensor::zeros([1], device)),
            temperature: cfg.temperature,
            negatives: cfg.negatives,
            bank_momentum: cfg.bank_momentum,
            softmax: cfg.loss == BankLoss::Softmax,
            proximal_weight: cfg.proximal,
        }
    }

    /// No more negatives than there are images to draw them from.
    fn check_data(config: &Config, _dataset: &str, data: &DataInfo) -> Result<(), TrainError> {
        if config.instdisc.negatives > data.train_len {
            return Err(TrainError::TooManyNegatives {
                negatives: config.instdisc.negatives,
                images: data.train_len,
            });
        }
        Ok(())
    }

    fn num_views(&self) -> usize {
        1
    }

    fn loss(&self, batch: &StepBatch<B>) -> StepLoss<B, BankUpdate<B>> {
        let x = batch.views[0].clone();
        let device = x.device();
        let [b, _, _, _] = x.dims();
        let v = l2_normalize(self.head.forward(self.backbone.forward(x)));
        let own = self.bank.get(batch.index_tensor(&device));
        let noise_indices = noise_rows(batch, NOISE_STREAM, self.bank.len(), self.negatives);
        let positive = (v.clone() * own.clone()).sum_dim(1).reshape([b]);
        let noise = scores_against(v.clone(), self.bank.gather(noise_indices));

        let mut estimated = None;
        let instance = if self.softmax {
            softmax_with_positive_first(positive, noise, self.temperature)
        } else {
            let z = self.stored_normalizer().unwrap_or_else(|| {
                let z = nce_normalizer(noise.clone(), self.temperature, self.bank.len());
                let z = normalizer_over_peers(batch, z);
                estimated = Some(z);
                z
            });
            nce_loss(positive, noise, self.temperature, z, self.bank.len())
        };
        let mut terms = vec![(
            if self.softmax { "softmax" } else { "nce" },
            instance.clone(),
        )];
        let mut total = instance;
        if self.proximal_weight > 0.0 {
            let prox = proximal(v.clone(), own);
            total = total + prox.clone().mul_scalar(self.proximal_weight);
            terms.push(("proximal", prox));
        }
        // Every peer writes every peer's rows, so the banks stay the one-device bank.
        let (indices, features) = bank_rows(batch, v.detach());
        StepLoss {
            total,
            terms,
            update: BankUpdate {
                indices,
                features,
                normalizer: estimated,
            },
        }
    }

    fn after_step(mut self, update: BankUpdate<B>) -> Self {
        self.bank
            .update(update.indices, update.features, self.bank_momentum);
        if let Some(z) = update.normalizer {
            let device = self.normalizer.value().device();
            self.normalizer = RunningState::new(Tensor::from_floats([z as f32], &device));
        }
        self
    }

    fn encoder(&self) -> Encoder<B::InnerBackend> {
        Encoder::single(self.backbone.valid())
    }

    fn project(&self, images: Tensor<B::InnerBackend, 4>) -> Tensor<B::InnerBackend, 2> {
        self.head
            .valid()
            .forward(self.backbone.valid().forward(images))
    }

    fn bank_view(&self) -> Option<BankView<B::InnerBackend>> {
        Some(BankView {
            rows: self.bank.rows().inner(),
            backbone: self.backbone.valid(),
            head: self.head.valid(),
        })
    }
}

// Its settings: the `[instdisc]` section of the config, with defaults and checks.

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

impl MethodSettings for InstDiscConfig {
    fn validate(&self, _config: &Config) -> Result<(), ConfigError> {
        positive("instdisc.temperature", self.temperature)?;
        positive_int("instdisc.negatives", self.negatives)?;
        probability("instdisc.bank_momentum", self.bank_momentum)?;
        if self.loss == BankLoss::InBatch {
            return Err(invalid(
                "instdisc.loss",
                "\"in_batch\"",
                "\"nce\" or \"softmax\" (in_batch is CMC's)",
            ));
        }
        non_negative("instdisc.proximal", self.proximal)
    }
}

