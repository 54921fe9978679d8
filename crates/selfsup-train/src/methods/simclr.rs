use burn::module::{AutodiffModule, Module};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use selfsup_backbones::{Encoder, ResNet};
use selfsup_heads::{Mlp, MlpConfig, MlpLayer, ProjectionMlp};
use selfsup_losses::nt_xent_gathered;

use super::{DataInfo, Method, MethodSettings, StepBatch, StepLoss, backbone_config, projection_config};
use crate::HostBackend;
use crate::config::Config;
use selfsup_config::{ConfigError, invalid, positive};
use serde::{Deserialize, Serialize};

/// SimCLR: one projection head, NT-Xent between the two views of each image. v1's head has
/// two layers; `simclr.head_layers = 3` gives v2's (Linear-BN-ReLU twice, then Linear-BN).
#[derive(Module, Debug)]
pub struct Simclr<B: Backend> {
    backbone: ResNet<B>,
    head: SimclrHead<B>,
    temperature: f64,
}

#[derive(Module, Debug)]
// One head per model, so the size difference costs nothing; Burn has no Module impl for Box.
#[allow(clippy::large_enum_variant)]
pub enum SimclrHead<B: Backend> {
    V1(ProjectionMlp<B>),
    V2(Mlp<B>),
}

impl<B: Backend> SimclrHead<B> {
    fn forward(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        match self {
            SimclrHead::V1(head) => head.forward(features),
            SimclrHead::V2(head) => head.forward(features),
        }
    }
}

impl<B: AutodiffBackend> Method<B> for Simclr<B> {
    const NAME: &'static str = "simclr";
    type OnHost = Simclr<HostBackend>;
    type Update = ();

    fn new(config: &Config, data: &DataInfo, device: &B::Device) -> Self {
        let backbone = backbone_config(config, data.channels);
        Self {
            head: match config.simclr.head_layers {
                2 => SimclrHead::V1(projection_config(config, &backbone).init(device)),
                _ => {
                    let (features, hidden) = head_layer_shape(config, data.channels);
                    let dims = vec![features, hidden, hidden, config.model.proj_output_dim];
                    SimclrHead::V2(MlpConfig::new(dims).with_batch_norm_last(true).init(device))
                }
            },
            backbone: backbone.init(device),
            temperature: config.simclr.temperature,
        }
    }

    fn loss(&self, batch: &StepBatch<B>) -> StepLoss<B, ()> {
        let [x1, x2] = batch.two_views("SimCLR");
        // On several devices: this peer's anchors against every peer's views.
        let (z1, own) = batch.gather(self.head.forward(self.backbone.forward(x1)));
        let (z2, _) = batch.gather(self.head.forward(self.backbone.forward(x2)));
        let loss = nt_xent_gathered(z1, z2, own, self.temperature);
        StepLoss::single("nt_xent", loss, ())
    }

    fn encoder(&self) -> Encoder<B::InnerBackend> {
        Encoder::single(self.backbone.valid())
    }

    fn project(&self, images: Tensor<B::InnerBackend, 4>) -> Tensor<B::InnerBackend, 2> {
        self.head
            .valid()
            .forward(self.backbone.valid().forward(images))
    }

    fn head_layer(&self) -> Option<MlpLayer<B::InnerBackend>> {
        match &self.head {
            SimclrHead::V1(_) => None,
            SimclrHead::V2(head) => Some(head.first_layer().valid()),
        }
    }
}

/// Input and output size of SimCLR v2's first head layer (backbone features -> hidden), to
/// rebuild it for fine-tuning.
pub fn head_layer_shape(config: &Config, channels: usize) -> (usize, usize) {
    let features = backbone_config(config, channels).feature_dim();
    (features, config.model.proj_hidden_dim.unwrap_or(features))
}

// Its settings: the `[simclr]` section of the config, with defaults and checks.

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

impl MethodSettings for SimclrConfig {
    fn validate(&self, _config: &Config) -> Result<(), ConfigError> {
        positive("simclr.temperature", self.temperature)?;
        if !(2..=3).contains(&self.head_layers) {
            return Err(invalid(
                "simclr.head_layers",
                self.head_layers,
                "2 (SimCLR v1's head) or 3 (v2's)",
            ));
        }
        Ok(())
    }
}

