//! One file per method. A method names the views it wants, builds its backbone and heads, and
//! sums its losses; the shared loop in `train.rs` does everything else.

mod simclr;
mod wcl;

use burn::module::AutodiffModule;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use selfsup_backbones::{ResNet, ResNetConfig, Stem};

pub use simclr::Simclr;
pub use wcl::Wcl;

use crate::config::{BackboneKind, Config};

/// The loss of one step: the total to minimise and its named parts for the logs.
pub struct StepLoss<B: AutodiffBackend> {
    pub total: Tensor<B, 1>,
    pub terms: Vec<(&'static str, Tensor<B, 1>)>,
}

pub trait Method<B: AutodiffBackend>: AutodiffModule<B> + Sized {
    const NAME: &'static str;

    fn new(config: &Config, in_channels: usize, device: &B::Device) -> Self;

    /// Augmented views per source image per step.
    fn num_views(&self) -> usize {
        2
    }

    /// `views[v]` is `[batch, C, H, W]`: view v of every image in the batch.
    fn loss(&self, views: Vec<Tensor<B, 4>>) -> StepLoss<B>;

    /// The encoder that is evaluated and saved.
    fn backbone(&self) -> &ResNet<B>;
}

pub fn backbone_config(config: &Config, in_channels: usize) -> ResNetConfig {
    let base = match config.model.backbone {
        BackboneKind::Resnet18 => ResNetConfig::resnet18(),
        BackboneKind::Resnet34 => ResNetConfig::resnet34(),
    };
    base.with_width(config.model.width)
        .with_in_channels(in_channels)
        .with_stem(Stem::Small)
}

pub fn projection_config(
    config: &Config,
    backbone: &ResNetConfig,
) -> selfsup_heads::ProjectionMlpConfig {
    let features = backbone.feature_dim();
    selfsup_heads::ProjectionMlpConfig::new(
        features,
        config.model.proj_hidden_dim.unwrap_or(features),
        config.model.proj_output_dim,
    )
}
