use burn::module::{AutodiffModule, Module};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use selfsup_backbones::{Encoder, ResNet};
use selfsup_heads::{Mlp, MlpConfig};
use selfsup_losses::barlow_twins;

use super::{DataInfo, Method, MethodSettings, StepBatch, StepLoss, backbone_config};
use crate::HostBackend;
use crate::config::Config;
use selfsup_config::{ConfigError, non_negative, positive_int};
use serde::{Deserialize, Serialize};

/// Barlow Twins: a 3-layer projector (Linear-BN-ReLU twice, then Linear), and the two views'
/// cross-correlation pushed towards the identity.
#[derive(Module, Debug)]
pub struct Barlow<B: Backend> {
    backbone: ResNet<B>,
    projector: Mlp<B>,
    lambda: f64,
}

impl<B: AutodiffBackend> Method<B> for Barlow<B> {
    const NAME: &'static str = "barlow";
    type OnHost = Barlow<HostBackend>;
    type Update = ();

    fn new(config: &Config, data: &DataInfo, device: &B::Device) -> Self {
        let backbone = backbone_config(config, data.channels);
        let dim = config.barlow.proj_dim;
        Self {
            projector: MlpConfig::new(vec![backbone.feature_dim(), dim, dim, dim]).init(device),
            backbone: backbone.init(device),
            lambda: config.barlow.lambda,
        }
    }

    fn loss(&self, batch: &StepBatch<B>) -> StepLoss<B, ()> {
        let [x1, x2] = batch.two_views("Barlow Twins");
        let z1 = self.projector.forward(self.backbone.forward(x1));
        let z2 = self.projector.forward(self.backbone.forward(x2));
        let loss = barlow_twins(z1, z2, self.lambda);
        StepLoss::single("barlow_twins", loss, ())
    }

    fn encoder(&self) -> Encoder<B::InnerBackend> {
        Encoder::single(self.backbone.valid())
    }

    fn project(&self, images: Tensor<B::InnerBackend, 4>) -> Tensor<B::InnerBackend, 2> {
        self.projector
            .valid()
            .forward(self.backbone.valid().forward(images))
    }
}

// Its settings: the `[barlow]` section of the config, with defaults and checks.

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

impl MethodSettings for BarlowConfig {
    fn validate(&self, _config: &Config) -> Result<(), ConfigError> {
        positive_int("barlow.proj_dim", self.proj_dim)?;
        non_negative("barlow.lambda", self.lambda)
    }
}

