use std::ops::Range;

use burn::module::{AutodiffModule, Module};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use selfsup_augment::GLOBAL_VIEWS;
use selfsup_backbones::{Encoder, ResNet};
use selfsup_heads::ProjectionMlp;
use selfsup_losses::{crop_nce, crop_swap, l2_normalize, nt_xent_gathered, wcl_swap};
use selfsup_weaklabel::weak_label_mask;

use super::{
    MethodSettings,
    DataInfo, Method, StepBatch, StepLoss, backbone_config, embed_by_resolution, projection_config,
};
use crate::HostBackend;
use crate::config::{Config, MethodKind};
use crate::knn_crops::KnnCropPlan;
use selfsup_config::{ConfigError, invalid, non_negative, positive, positive_int};
use serde::{Deserialize, Serialize};

/// WCL (Zheng et al., ICCV 2021): head g does instance discrimination (NT-Xent), head phi is
/// trained with weak labels from the 1-NN graph of the other view:
/// `L = L_NCE + lambda * L_swap`, as the official code. With `augment.local_crops > 0` the
/// paper's multi-crop terms join: `+ beta * L_cNCE + gamma * L_cswap` (selfsup_losses::crops
/// says how the crops enter); with `wcl.knn_crops` the run cuts those crops from each image's
/// nearest neighbours (`knn_crop_plan`, knn_crops.rs).
#[derive(Module, Debug)]
pub struct Wcl<B: Backend> {
    backbone: ResNet<B>,
    instance_head: ProjectionMlp<B>,
    graph_head: ProjectionMlp<B>,
    temperature: f64,
    swap_weight: f64,
    crop_nce_weight: f64,
    crop_swap_weight: f64,
    local_crops: usize,
}

impl<B: AutodiffBackend> Method<B> for Wcl<B> {
    const NAME: &'static str = "wcl";
    const TAKES_LOCAL_CROPS: bool = true;
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
            crop_nce_weight: config.wcl.crop_nce_weight,
            crop_swap_weight: config.wcl.crop_swap_weight,
            local_crops: config.augment.local_crops,
        }
    }

    /// With `wcl.knn_crops`, the local crops come from each image's nearest neighbours after
    /// `wcl.knn_warmup_epochs` (the config's checks allow it for WCL alone).
    fn knn_crop_plan(config: &Config) -> Option<KnnCropPlan> {
        config.wcl.knn_crops.then_some(KnnCropPlan {
            k: config.wcl.knn_neighbours,
            first_epoch: config.wcl.knn_warmup_epochs,
            chunk: config.eval.knn_chunk_size,
        })
    }

    /// Two global views and `augment.local_crops` local ones.
    fn num_views(&self) -> usize {
        GLOBAL_VIEWS + self.local_crops
    }

    /// On several devices every term is this peer's anchors against the whole batch's rows,
    /// gathered from the peers, and the weak labels come from the whole batch's graph, the
    /// same on every peer.
    fn loss(&self, batch: &StepBatch<B>) -> StepLoss<B, ()> {
        let (x1, x2) = (batch.views[0].clone(), batch.views[1].clone());
        let h1 = self.backbone.forward(x1);
        let h2 = self.backbone.forward(x2);
        let (z1, own) = batch.gather(self.instance_head.forward(h1.clone()));
        let (z2, _) = batch.gather(self.instance_head.forward(h2.clone()));
        let nce = nt_xent_gathered(z1.clone(), z2.clone(), own.clone(), self.temperature);

        let (v1, _) = batch.gather(l2_normalize(self.graph_head.forward(h1)));
        let (v2, _) = batch.gather(l2_normalize(self.graph_head.forward(h2)));
        let mask1 = anchor_rows(weak_label_mask(v1.clone()), &own);
        let mask2 = anchor_rows(weak_label_mask(v2.clone()), &own);
        let swap = wcl_swap(
            v1,
            v2,
            mask1.clone(),
            mask2.clone(),
            own.clone(),
            self.temperature,
        );

        let mut total = nce.clone() + swap.clone().mul_scalar(self.swap_weight);
        let mut terms = vec![("nce", nce), ("swap", swap)];
        let crops = &batch.views[GLOBAL_VIEWS..];
        if !crops.is_empty() {
            let h_crops = embed_by_resolution(crops, |x| self.backbone.forward(x));
            let z_crops: Vec<Tensor<B, 2>> = h_crops
                .iter()
                .map(|h| batch.gather(self.instance_head.forward(h.clone())).0)
                .collect();
            let v_crops: Vec<Tensor<B, 2>> = h_crops
                .into_iter()
                .map(|h| batch.gather(l2_normalize(self.graph_head.forward(h))).0)
                .collect();
            let crop_nce = crop_nce(&z_crops, [&z1, &z2], own.clone(), self.temperature);
            let crop_swap = crop_swap(&v_crops, mask1, mask2, own, self.temperature);
            total = total
                + crop_nce.clone().mul_scalar(self.crop_nce_weight)
                + crop_swap.clone().mul_scalar(self.crop_swap_weight);
            terms.extend([("crop_nce", crop_nce), ("crop_swap", crop_swap)]);
        }
        StepLoss {
            total,
            terms,
            update: (),
        }
    }

    fn encoder(&self) -> Encoder<B::InnerBackend> {
        Encoder::single(self.backbone.valid())
    }

    fn project(&self, images: Tensor<B::InnerBackend, 4>) -> Tensor<B::InnerBackend, 2> {
        self.instance_head
            .valid()
            .forward(self.backbone.valid().forward(images))
    }
}

/// The rows `own` of the whole batch's weak-label mask: this peer's anchors' (all of them on
/// one device, where the mask is taken as it is).
fn anchor_rows<B: Backend>(mask: Tensor<B, 2>, own: &Range<usize>) -> Tensor<B, 2> {
    let [rows, columns] = mask.dims();
    if own.len() == rows {
        return mask;
    }
    mask.slice([own.clone(), 0..columns])
}

// Its settings: the `[wcl]` section of the config, with defaults and checks.

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

impl MethodSettings for WclConfig {
    fn validate(&self, config: &Config) -> Result<(), ConfigError> {
        positive("wcl.temperature", self.temperature)?;
        for (key, weight) in [
            ("wcl.swap_weight", self.swap_weight),
            ("wcl.crop_nce_weight", self.crop_nce_weight),
            ("wcl.crop_swap_weight", self.crop_swap_weight),
        ] {
            non_negative(key, weight)?;
        }
        self.validate_knn_crops(config)
    }
}

impl WclConfig {
    /// KNN multi-crop: WCL's alone, on its local crops, from a trained epoch on.
    fn validate_knn_crops(&self, config: &Config) -> Result<(), ConfigError> {
        if !self.knn_crops {
            return Ok(());
        }
        if config.method != MethodKind::Wcl {
            return Err(invalid(
                "wcl.knn_crops",
                true,
                "false unless method = \"wcl\"",
            ));
        }
        if config.augment.local_crops == 0 {
            return Err(invalid(
                "wcl.knn_crops",
                true,
                "false, or augment.local_crops > 0 (the neighbours' crops are the local crops)",
            ));
        }
        positive_int("wcl.knn_neighbours", self.knn_neighbours)?;
        if !(1..config.train.epochs).contains(&self.knn_warmup_epochs) {
            return Err(invalid(
                "wcl.knn_warmup_epochs",
                self.knn_warmup_epochs,
                &format!(
                    "between 1 (the first table needs a trained epoch) and train.epochs - 1 = {}",
                    config.train.epochs.saturating_sub(1)
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};

    use super::*;
    use crate::methods::init_portable;
    use crate::methods::test_support::Draws;

    type B = Autodiff<Flex>;

    fn wcl(local_crops: usize) -> Wcl<B> {
        let text = format!(
            "method = \"wcl\"\n[model]\nwidth = 2\nproj_output_dim = 8\n\
             [augment]\nlocal_crops = {local_crops}\nlocal_crop_size = 4\n"
        );
        let config = Config::from_toml(&text, "test", &[]).unwrap();
        let data = DataInfo {
            channels: 1,
            train_len: 16,
        };
        init_portable::<B, Wcl<B>>(&config, &data, &Default::default()).unwrap()
    }

    fn views(local_crops: usize) -> Vec<Tensor<B, 4>> {
        let draws = Draws::new(local_crops as u64);
        let view = |side| draws.uniform::<B, 4>([6, 1, side, side]);
        let mut views = vec![view(8), view(8)];
        views.extend((0..local_crops).map(|_| view(4)));
        views
    }

    #[test]
    fn local_crops_add_the_weighted_crop_terms() {
        let with_crops = wcl(2);
        assert_eq!(Method::<B>::num_views(&with_crops), 4);
        let views = views(2);
        let loss = with_crops.loss(&StepBatch::first(views.clone(), 0));
        let value = |name: &str| -> f64 {
            let term = loss.terms.iter().find(|(n, _)| *n == name).unwrap();
            term.1.clone().into_scalar() as f64
        };
        let expected =
            value("nce") + value("swap") + 0.5 * value("crop_nce") + 0.5 * value("crop_swap");
        let total = loss.total.clone().into_scalar() as f64;
        assert!((total - expected).abs() < 1e-4, "{total} vs {expected}");
        assert!(value("crop_nce").is_finite() && value("crop_swap") > 0.0);

        // The global terms do not depend on the crops: the same as without multi-crop.
        let mut same_weights = with_crops.clone();
        same_weights.local_crops = 0;
        let plain = same_weights.loss(&StepBatch::first(views[..2].to_vec(), 0));
        let plain_nce = plain.terms[0].1.clone().into_scalar() as f64;
        assert!((plain_nce - value("nce")).abs() < 1e-5);
        assert_eq!(plain.terms.len(), 2);

        // The crop terms train the backbone through the crops.
        let crop = views[2].clone().require_grad();
        let mut with_grad = views;
        with_grad[2] = crop.clone();
        let loss = with_crops.loss(&StepBatch::first(with_grad, 0));
        let crop_only = loss
            .terms
            .iter()
            .find(|(n, _)| *n == "crop_nce")
            .unwrap()
            .1
            .clone();
        let grads = crop_only.backward();
        let grad = crop.grad(&grads).expect("a gradient reaches the crop");
        assert!(grad.abs().sum().into_scalar() > 0.0);
    }
}
