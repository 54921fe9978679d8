use burn::module::{AutodiffModule, Module};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use selfsup_backbones::{Encoder, ResNet};
use selfsup_heads::{Mlp, MlpConfig};
use selfsup_losses::negative_cosine;

use super::{DataInfo, Method, MethodSettings, StepBatch, StepLoss, backbone_config};
use crate::HostBackend;
use crate::config::Config;
use selfsup_config::{ConfigError, positive_int};
use serde::{Deserialize, Serialize};

/// SimSiam: a 3-layer projector (BN on every layer), a bottleneck predictor, and
/// `-1/2 cos(p1, sg(z2)) - 1/2 cos(p2, sg(z1))`; no EMA, no negatives.
#[derive(Module, Debug)]
pub struct Simsiam<B: Backend> {
    backbone: ResNet<B>,
    projector: Mlp<B>,
    predictor: Mlp<B>,
    stop_gradient: bool,
}

/// The symmetric loss, with the stop-gradient on the projections when `stop_gradient` (without
/// it: the ablation of the SimSiam paper's Figure 2, gradients through both branches).
fn symmetric_loss<B: Backend>(
    p1: Tensor<B, 2>,
    z1: Tensor<B, 2>,
    p2: Tensor<B, 2>,
    z2: Tensor<B, 2>,
    stop_gradient: bool,
) -> Tensor<B, 1> {
    let target = |z: Tensor<B, 2>| if stop_gradient { z.detach() } else { z };
    (negative_cosine(p1, target(z2)) + negative_cosine(p2, target(z1))).div_scalar(2.0)
}

impl<B: AutodiffBackend> Method<B> for Simsiam<B> {
    const NAME: &'static str = "simsiam";
    type OnHost = Simsiam<HostBackend>;
    type Update = ();

    fn new(config: &Config, data: &DataInfo, device: &B::Device) -> Self {
        let backbone = backbone_config(config, data.channels);
        let dim = config.simsiam.proj_dim;
        Self {
            projector: MlpConfig::new(vec![backbone.feature_dim(), dim, dim, dim])
                .with_batch_norm_last(true)
                .init(device),
            predictor: MlpConfig::new(vec![dim, config.simsiam.pred_hidden_dim, dim]).init(device),
            backbone: backbone.init(device),
            stop_gradient: config.simsiam.stop_gradient,
        }
    }

    fn loss(&self, batch: &StepBatch<B>) -> StepLoss<B, ()> {
        let [x1, x2] = batch.two_views("SimSiam");
        let z1 = self.projector.forward(self.backbone.forward(x1));
        let z2 = self.projector.forward(self.backbone.forward(x2));
        let p1 = self.predictor.forward(z1.clone());
        let p2 = self.predictor.forward(z2.clone());
        let loss = symmetric_loss(p1, z1, p2, z2, self.stop_gradient);
        StepLoss::single("negative_cosine", loss, ())
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

// Its settings: the `[simsiam]` section of the config, with defaults and checks.

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

impl MethodSettings for SimsiamConfig {
    fn validate(&self, _config: &Config) -> Result<(), ConfigError> {
        positive_int("simsiam.proj_dim", self.proj_dim)?;
        positive_int("simsiam.pred_hidden_dim", self.pred_hidden_dim)
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::TensorData;

    use super::*;
    use crate::methods::test_support::Draws;

    type B = Autodiff<Flex>;

    /// p depends on z only through the predictor; the z in the target position must get no
    /// gradient from it: with p and z as separate leaves, z's gradient is absent.
    #[test]
    fn the_stop_gradient_branch_gets_no_gradient() {
        let draws = Draws::new(0);
        let leaf = || draws.uniform::<B, 2>([5, 4]).require_grad();
        let (p1, z1, p2, z2) = (leaf(), leaf(), leaf(), leaf());
        let loss = symmetric_loss(p1.clone(), z1.clone(), p2.clone(), z2.clone(), true);
        let grads = loss.backward();
        assert!(z1.grad(&grads).is_none() && z2.grad(&grads).is_none());
        let grad = p1.grad(&grads).unwrap();
        let zero = TensorData::new(vec![0f32; 20], [5, 4]);
        assert_ne!(grad.into_data(), zero);
    }

    #[test]
    fn identical_predictions_and_targets_give_minus_one() {
        let x = Draws::new(1).uniform::<B, 2>([5, 4]);
        let loss = symmetric_loss(x.clone(), x.clone(), x.clone(), x, true).into_scalar();
        assert!((loss + 1.0).abs() < 1e-5, "{loss}");
    }
}
