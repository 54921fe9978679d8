use burn::module::{AutodiffModule, Module};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use selfsup_backbones::{Encoder, ResNet};
use selfsup_heads::{Mlp, MlpConfig};
use selfsup_losses::byol_loss;
use selfsup_memory::ema_update;

use super::{DataInfo, Method, MethodSettings, StepBatch, StepLoss, backbone_config};
use crate::HostBackend;
use crate::config::Config;
use selfsup_config::{ConfigError, positive_int, probability};
use serde::{Deserialize, Serialize};

/// Backbone + projector: BYOL's online network and, as its EMA, the target.
#[derive(Module, Debug)]
pub struct ByolNetwork<B: Backend> {
    backbone: ResNet<B>,
    projector: Mlp<B>,
}

impl<B: Backend> ByolNetwork<B> {
    fn new(config: &Config, channels: usize, device: &B::Device) -> Self {
        let backbone = backbone_config(config, channels);
        let dims = vec![
            backbone.feature_dim(),
            config.byol.hidden_dim,
            config.model.proj_output_dim,
        ];
        Self {
            projector: MlpConfig::new(dims).init(device),
            backbone: backbone.init(device),
        }
    }

    fn project(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.projector.forward(self.backbone.forward(images))
    }
}

/// BYOL: the online network's prediction of the target network's projection of the other view,
/// `2 - 2 cos`, symmetrised; the target is an EMA of the online network whose tau rises from
/// `byol.momentum_base` to 1 on a cosine over the run.
#[derive(Module, Debug)]
pub struct Byol<B: Backend> {
    online: ByolNetwork<B>,
    predictor: Mlp<B>,
    target: ByolNetwork<B>,
    momentum_base: f64,
    total_steps: usize,
}

impl<B: Backend> Byol<B> {
    /// tau_k = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2 (the paper's schedule).
    fn momentum(&self, step: usize) -> f64 {
        let progress = step as f64 / self.total_steps.max(1) as f64;
        1.0 - (1.0 - self.momentum_base) * ((std::f64::consts::PI * progress).cos() + 1.0) / 2.0
    }
}

impl<B: AutodiffBackend> Method<B> for Byol<B> {
    const NAME: &'static str = "byol";
    type OnHost = Byol<HostBackend>;
    /// The EMA momentum of this step.
    type Update = f64;

    fn new(config: &Config, data: &DataInfo, device: &B::Device) -> Self {
        let online = ByolNetwork::new(config, data.channels, device);
        let target = ema_update(
            ByolNetwork::new(config, data.channels, device),
            &online,
            0.0,
        );
        let projection = config.model.proj_output_dim;
        let predictor = MlpConfig::new(vec![projection, config.byol.hidden_dim, projection]);
        Self {
            online,
            predictor: predictor.init(device),
            target,
            momentum_base: config.byol.momentum_base,
            total_steps: config.train.epochs
                * data.steps_per_epoch(config.train.batch_size),
        }
    }

    fn loss(&self, batch: &StepBatch<B>) -> StepLoss<B, f64> {
        let [x1, x2] = batch.two_views("BYOL");
        let p1 = self.predictor.forward(self.online.project(x1.clone()));
        let p2 = self.predictor.forward(self.online.project(x2.clone()));
        let target = self.target.clone().no_grad();
        let t1 = target.project(x1).detach();
        let t2 = target.project(x2).detach();
        let loss = byol_loss(p1, t2) + byol_loss(p2, t1);
        StepLoss::single("byol", loss, self.momentum(batch.step))
    }

    fn after_step(mut self, momentum: f64) -> Self {
        self.target = ema_update(self.target, &self.online, momentum);
        self
    }

    fn encoder(&self) -> Encoder<B::InnerBackend> {
        Encoder::single(self.online.backbone.valid())
    }

    fn project(&self, images: Tensor<B::InnerBackend, 4>) -> Tensor<B::InnerBackend, 2> {
        self.online.valid().project(images)
    }
}

// Its settings: the `[byol]` section of the config, with defaults and checks.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ByolConfig {
    /// tau of the target's EMA at step 0; it rises to 1 on a cosine over the run (0.996 in the
    /// paper; 0.99 suits short runs, as solo-learn's CIFAR recipe).
    pub momentum_base: f64,
    /// Hidden size of the projector and of the predictor (4096 in the paper); the projection
    /// size is model.proj_output_dim (256 in the paper).
    pub hidden_dim: usize,
}

impl Default for ByolConfig {
    fn default() -> Self {
        Self {
            momentum_base: 0.99,
            hidden_dim: 1024,
        }
    }
}

impl MethodSettings for ByolConfig {
    fn validate(&self, _config: &Config) -> Result<(), ConfigError> {
        probability("byol.momentum_base", self.momentum_base)?;
        positive_int("byol.hidden_dim", self.hidden_dim)
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::optim::GradientsParams;

    use super::*;
    use crate::methods::init_portable;
    use crate::methods::test_support::Draws;

    type B = Autodiff<Flex>;

    fn tiny() -> Config {
        let text = "method = \"byol\"\n[model]\nwidth = 2\nproj_output_dim = 8\n\
                    [train]\nepochs = 2\nbatch_size = 4\nwarmup_epochs = 0\n[byol]\nhidden_dim = 16\n";
        Config::from_toml(text, "test", &[]).unwrap()
    }

    #[test]
    fn no_gradient_reaches_the_target_and_the_online_network_gets_one() {
        let device = Default::default();
        let data = DataInfo {
            channels: 1,
            train_len: 8,
        };
        let byol = init_portable::<B, Byol<B>>(&tiny(), &data, &device).unwrap();
        let draws = Draws::new(0);
        let view = || draws.uniform::<B, 4>([4, 1, 8, 8]);
        let loss = byol.loss(&StepBatch::first(vec![view(), view()], 0));
        let grads = loss.total.backward();
        assert!(GradientsParams::from_grads(grads, &byol.target).is_empty());
        let grads = byol
            .loss(&StepBatch::first(vec![view(), view()], 0))
            .total
            .backward();
        assert!(!GradientsParams::from_grads(grads, &byol.online).is_empty());
    }

    #[test]
    fn momentum_rises_from_the_base_to_one_on_a_cosine() {
        let byol = init_portable::<B, Byol<B>>(
            &tiny(),
            &DataInfo {
                channels: 1,
                train_len: 8,
            },
            &Default::default(),
        )
        .unwrap();
        assert_eq!(byol.total_steps, 4);
        assert!((byol.momentum(0) - 0.99).abs() < 1e-12);
        assert!((byol.momentum(2) - 0.995).abs() < 1e-12);
        assert!((byol.momentum(4) - 1.0).abs() < 1e-12);
    }
}
