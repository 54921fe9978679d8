use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::{AutodiffBackend, Backend};
use selfsup_backbones::{Encoder, ResNet};
use selfsup_heads::ProjectionMlp;
use selfsup_losses::{l2_normalize, nt_xent, wcl_swap};
use selfsup_weaklabel::weak_label_mask;

use super::{DataInfo, Method, StepBatch, StepLoss, backbone_config, projection_config};
use crate::backend::HostBackend;
use crate::config::Config;

/// WCL (Zheng et al., ICCV 2021) as its official code: head g does instance discrimination
/// (NT-Xent), head phi is trained with weak labels from the 1-NN graph of the other view:
/// `L = L_NCE + lambda * L_swap`.
#[derive(Module, Debug)]
pub struct Wcl<B: Backend> {
    backbone: ResNet<B>,
    instance_head: ProjectionMlp<B>,
    graph_head: ProjectionMlp<B>,
    temperature: f64,
    swap_weight: f64,
}

impl<B: AutodiffBackend> Method<B> for Wcl<B> {
    const NAME: &'static str = "wcl";
    type OnHost = Wcl<HostBackend>;
    type Update = ();

    fn new(config: &Config, data: &DataInfo, device: &B::Device) -> Self {
        let backbone = backbone_config(config, data.channels);
        let head = projection_config(config, &backbone);
        Self {
            instance_head: head.init(device),
            graph_head: head.init(device),
            backbone: backbone.init(device),
            temperature: config.wcl.temperature,
            swap_weight: config.wcl.swap_weight,
        }
    }

    fn loss(&self, batch: &StepBatch<B>) -> StepLoss<B, ()> {
        let [x1, x2] = batch.two_views("WCL");
        let h1 = self.backbone.forward(x1);
        let h2 = self.backbone.forward(x2);
        let z1 = self.instance_head.forward(h1.clone());
        let z2 = self.instance_head.forward(h2.clone());
        let nce = nt_xent(z1, z2, self.temperature);

        let v1 = l2_normalize(self.graph_head.forward(h1));
        let v2 = l2_normalize(self.graph_head.forward(h2));
        let mask1 = weak_label_mask(v1.clone());
        let mask2 = weak_label_mask(v2.clone());
        let swap = wcl_swap(v1, v2, mask1, mask2, self.temperature);

        StepLoss {
            total: nce.clone() + swap.clone().mul_scalar(self.swap_weight),
            terms: vec![("nce", nce), ("swap", swap)],
            update: (),
        }
    }

    fn encoder(&self) -> Encoder<B::InnerBackend> {
        Encoder::single(self.backbone.valid())
    }
}
