use burn::module::{AutodiffModule, Module, Param};
use burn::nn::LinearConfig;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::linalg::vector_normalize;
use selfsup_augment::GLOBAL_VIEWS;
use selfsup_backbones::{Encoder, ResNet};
use selfsup_heads::ProjectionMlp;
use selfsup_losses::{l2_normalize, swav_loss};

use super::{
    DataInfo, Method, StepBatch, StepLoss, backbone_config, embed_by_resolution, projection_config,
};
use crate::backend::HostBackend;
use crate::config::Config;
use crate::loader::steps_per_epoch;

/// SwAV: multi-crop views (global views batched together, local crops together),
/// L2-normalised projections scored against K prototypes (kept unit-norm after every
/// step), Sinkhorn-Knopp codes of each global crop predicted from every other crop, prototypes
/// frozen for the first `swav.freeze_prototypes_epochs` epochs.
#[derive(Module, Debug)]
pub struct Swav<B: Backend> {
    backbone: ResNet<B>,
    projector: ProjectionMlp<B>,
    /// `[projection dim, K]`: one unit-norm prototype per column.
    prototypes: Param<Tensor<B, 2>>,
    temperature: f64,
    epsilon: f64,
    iterations: usize,
    freeze_steps: usize,
    local_crops: usize,
}

/// The prototypes with unit-norm columns, as a fresh trainable leaf (the normalisation itself is
/// not part of any gradient, as in the paper's `with torch.no_grad()`).
fn renormalised<B: AutodiffBackend>(w: Tensor<B, 2>) -> Tensor<B, 2> {
    Tensor::from_inner(vector_normalize(w.inner(), 2.0, 0, 1e-12)).require_grad()
}

impl<B: AutodiffBackend> Method<B> for Swav<B> {
    const NAME: &'static str = "swav";
    type OnHost = Swav<HostBackend>;
    type Update = ();

    fn new(config: &Config, data: &DataInfo, device: &B::Device) -> Self {
        let backbone = backbone_config(config, data.channels);
        let prototypes = LinearConfig::new(config.model.proj_output_dim, config.swav.prototypes)
            .with_bias(false)
            .init::<B>(device)
            .weight
            .map(renormalised);
        Self {
            projector: projection_config(config, &backbone).init(device),
            backbone: backbone.init(device),
            prototypes,
            temperature: config.swav.temperature,
            epsilon: config.swav.epsilon,
            iterations: config.swav.sinkhorn_iterations,
            freeze_steps: config.swav.freeze_prototypes_epochs
                * steps_per_epoch(data.train_len, config.train.batch_size),
            local_crops: config.augment.local_crops,
        }
    }

    /// Two global views and `augment.local_crops` local ones.
    fn num_views(&self) -> usize {
        GLOBAL_VIEWS + self.local_crops
    }

    fn loss(&self, batch: &StepBatch<B>) -> StepLoss<B, ()> {
        let prototypes = if batch.step < self.freeze_steps {
            self.prototypes.val().detach()
        } else {
            self.prototypes.val()
        };
        let scores: Vec<Tensor<B, 2>> = embed_by_resolution(&batch.views, |images| {
            l2_normalize(self.projector.forward(self.backbone.forward(images)))
        })
        .into_iter()
        .map(|z| z.matmul(prototypes.clone()))
        .collect();
        let loss = swav_loss(
            &scores,
            GLOBAL_VIEWS, // the crops whose codes are predicted (SwAV's crops_for_assign)
            self.temperature,
            self.epsilon,
            self.iterations,
        );
        StepLoss {
            total: loss.clone(),
            terms: vec![("swapped_prediction", loss)],
            update: (),
        }
    }

    fn after_step(mut self, _update: ()) -> Self {
        self.prototypes = self.prototypes.map(renormalised);
        self
    }

    fn encoder(&self) -> Encoder<B::InnerBackend> {
        Encoder::single(self.backbone.valid())
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::Distribution;

    use super::*;

    type B = Autodiff<Flex>;

    fn tiny() -> Swav<B> {
        let text = "method = \"swav\"\n[model]\nwidth = 2\nproj_output_dim = 8\n\
                    [train]\nepochs = 2\nbatch_size = 4\nwarmup_epochs = 0\n[swav]\nprototypes = 5\n";
        let config = Config::from_toml(text, "test", &[]).unwrap();
        let data = DataInfo {
            channels: 1,
            train_len: 8,
        };
        Swav::new(&config, &data, &Default::default())
    }

    fn column_norms(swav: &Swav<B>) -> Vec<f32> {
        swav.prototypes
            .val()
            .powi_scalar(2)
            .sum_dim(0)
            .sqrt()
            .into_data()
            .into_vec::<f32>()
            .unwrap()
    }

    fn batch(step: usize) -> StepBatch<B> {
        let view =
            || Tensor::<B, 4>::random([4, 1, 8, 8], Distribution::Default, &Default::default());
        let mut batch = StepBatch::first(vec![view(), view()], 0);
        batch.step = step;
        batch
    }

    #[test]
    fn prototypes_are_frozen_for_the_first_epoch_and_unit_norm_after_each_step() {
        let swav = tiny();
        assert_eq!(
            swav.freeze_steps, 2,
            "one epoch of 8 images in batches of 4"
        );
        assert!(column_norms(&swav).iter().all(|n| (n - 1.0).abs() < 1e-5));
        let frozen = swav.loss(&batch(1)).total.backward();
        assert!(swav.prototypes.val().grad(&frozen).is_none());
        let learning = swav.loss(&batch(2)).total.backward();
        assert!(swav.prototypes.val().grad(&learning).is_some());

        // A step that moves the prototypes off the sphere is followed by renormalisation.
        let mut moved = swav;
        moved.prototypes = moved
            .prototypes
            .map(|w| Tensor::from_inner(w.inner() * 3.0).require_grad());
        let renormalised = moved.after_step(());
        assert!(
            column_norms(&renormalised)
                .iter()
                .all(|n| (n - 1.0).abs() < 1e-5)
        );
        assert!(renormalised.prototypes.val().is_require_grad());
    }

    #[test]
    fn local_crops_go_through_the_backbone_with_their_own_resolution() {
        let mut swav = tiny();
        swav.local_crops = 2;
        assert_eq!(Method::<B>::num_views(&swav), 4);
        let device = Default::default();
        let view =
            |side| Tensor::<B, 4>::random([4, 1, side, side], Distribution::Default, &device);
        let views = vec![view(8), view(8), view(4), view(4)];
        let grouped = embed_by_resolution(&views, |x| {
            x.clone().sum_dim(3).sum_dim(2).reshape([x.dims()[0], 1])
        });
        assert_eq!(grouped.len(), 4);
        for (embedded, view) in grouped.iter().zip(&views) {
            let alone = view.clone().sum_dim(3).sum_dim(2).reshape([4, 1]);
            embedded
                .clone()
                .into_data()
                .assert_approx_eq::<f32>(&alone.into_data(), Default::default());
        }
        let loss = swav.loss(&StepBatch::first(views, 0)).total.into_scalar();
        assert!(loss.is_finite());
    }
}
