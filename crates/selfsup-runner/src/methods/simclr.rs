use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::{AutodiffBackend, Backend};
use selfsup_backbones::{Encoder, ResNet};
use selfsup_heads::ProjectionMlp;
use selfsup_losses::nt_xent;

use super::{DataInfo, Method, StepBatch, StepLoss, backbone_config, projection_config};
use crate::backend::HostBackend;
use crate::config::Config;

/// SimCLR v1: one projection head, NT-Xent between the two views of each image.
#[derive(Module, Debug)]
pub struct Simclr<B: Backend> {
    backbone: ResNet<B>,
    head: ProjectionMlp<B>,
    temperature: f64,
}

impl<B: AutodiffBackend> Method<B> for Simclr<B> {
    const NAME: &'static str = "simclr";
    type OnHost = Simclr<HostBackend>;
    type Update = ();

    fn new(config: &Config, data: &DataInfo, device: &B::Device) -> Self {
        let backbone = backbone_config(config, data.channels);
        Self {
            head: projection_config(config, &backbone).init(device),
            backbone: backbone.init(device),
            temperature: config.simclr.temperature,
        }
    }

    fn loss(&self, batch: &StepBatch<B>) -> StepLoss<B, ()> {
        let [x1, x2] = batch.two_views("SimCLR");
        let z1 = self.head.forward(self.backbone.forward(x1));
        let z2 = self.head.forward(self.backbone.forward(x2));
        let loss = nt_xent(z1, z2, self.temperature);
        StepLoss {
            total: loss.clone(),
            terms: vec![("nt_xent", loss)],
            update: (),
        }
    }

    fn encoder(&self) -> Encoder<B::InnerBackend> {
        Encoder::single(self.backbone.valid())
    }
}
