//! One file per method. A method names the views it wants, builds its backbone and heads, and
//! sums its losses; the shared loop in `train.rs` does everything else.

mod simclr;
mod wcl;

use anyhow::{Result, bail};
use burn::module::AutodiffModule;
use burn::store::ModuleSnapshot;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use selfsup_backbones::{ResNet, ResNetConfig, Stem};

pub use simclr::Simclr;
pub use wcl::Wcl;

use crate::backend::HostBackend;
use crate::config::{BackboneKind, Config};

/// The loss of one step: the total to minimise and its named parts for the logs.
pub struct StepLoss<B: AutodiffBackend> {
    pub total: Tensor<B, 1>,
    pub terms: Vec<(&'static str, Tensor<B, 1>)>,
}

pub trait Method<B: AutodiffBackend>: AutodiffModule<B> + Sized {
    const NAME: &'static str;

    /// The same method on the host backend, where initial weights are drawn.
    type OnHost: Method<HostBackend>;

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

/// The method with weights drawn on the host backend from `config.seed` and copied to `device`:
/// the same seed starts from the same weights on cpu, wgpu and cuda, which makes their runs
/// comparable step by step.
pub fn init_portable<B: AutodiffBackend, M: Method<B>>(
    config: &Config,
    in_channels: usize,
    device: &B::Device,
) -> Result<M> {
    // The host backend's generator is global: seeding and drawing must not interleave with
    // another thread's initialisation.
    static HOST_INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let host_device = Default::default();
    let snapshots = {
        let _guard = HOST_INIT
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        HostBackend::seed(&host_device, config.seed);
        M::OnHost::new(config, in_channels, &host_device).collect(None, None, false)
    };
    let mut model = M::new(config, in_channels, device);
    let applied = model.apply(snapshots, None, None, false);
    if !applied.errors.is_empty() || !applied.missing.is_empty() || !applied.unused.is_empty() {
        bail!(
            "copying the initial {} weights to the device failed: {applied:?}",
            M::NAME
        );
    }
    B::seed(device, config.seed);
    Ok(model)
}
