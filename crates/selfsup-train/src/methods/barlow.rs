use burn::module::{AutodiffModule, Module};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use selfsup_backbones::{Encoder, ResNet};
use selfsup_heads::{Mlp, MlpConfig};
use selfsup_losses::barlow_twins;

use super::{DataInfo, Method, StepBatch, StepLoss, backbone_config};
use crate::HostBackend;
use crate::config::Config;

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
        StepLoss {
            total: loss.clone(),
            terms: vec![("barlow_twins", loss)],
            update: (),
        }
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
