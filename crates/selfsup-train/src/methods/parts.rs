//! Building blocks the methods share: the backbone and heads a config describes, and the
//! embedding of multi-resolution views.

use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor};
use selfsup_backbones::{ResNetConfig, Stem};
use selfsup_memory::sample_uniform_indices;

use super::StepBatch;

use crate::config::{BackboneKind, Config, StemKind};

/// `embed` applied to every view, one call per run of consecutive views of the same resolution
/// (multi-crop's global views together, its local crops together, as SwAV's code batches them:
/// fewer passes, and batch norm sees each resolution's whole group).
pub fn embed_by_resolution<B: Backend>(
    views: &[Tensor<B, 4>],
    embed: impl Fn(Tensor<B, 4>) -> Tensor<B, 2>,
) -> Vec<Tensor<B, 2>> {
    let mut out = Vec::with_capacity(views.len());
    let mut start = 0;
    while start < views.len() {
        let dims = views[start].dims();
        let end = (start..views.len())
            .find(|&i| views[i].dims() != dims)
            .unwrap_or(views.len());
        let group = Tensor::cat(views[start..end].to_vec(), 0);
        let embedded = embed(group);
        out.extend(embedded.chunk(end - start, 0));
        start = end;
    }
    out
}

pub fn backbone_config(config: &Config, in_channels: usize) -> ResNetConfig {
    let base = match config.model.backbone {
        BackboneKind::Resnet18 => ResNetConfig::resnet18(),
        BackboneKind::Resnet34 => ResNetConfig::resnet34(),
        BackboneKind::Resnet50 => ResNetConfig::resnet50(),
    };
    let stem = match config.model.stem {
        StemKind::Small => Stem::Small,
        StemKind::Imagenet => Stem::ImageNet,
    };
    base.with_width(config.model.width)
        .with_in_channels(in_channels)
        .with_stem(stem)
}

/// A linear map to the method's embedding size (InstDisc, CMC, MoCo v1).
pub fn linear_head<B: Backend>(
    config: &Config,
    input_dim: usize,
    device: &B::Device,
) -> burn::nn::Linear<B> {
    burn::nn::LinearConfig::new(input_dim, config.model.proj_output_dim).init(device)
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

/// The noise rows a memory-bank method scores this peer's anchors against: the one-device
/// draw of `negatives` rows (of a bank of `bank_len`) for every image of the step, from the
/// step's stream `stream`, and this peer's rows of it. So the peers together draw what one
/// device draws.
pub fn noise_rows<B: Backend>(
    batch: &StepBatch<B>,
    stream: u64,
    bank_len: usize,
    negatives: usize,
) -> Tensor<B, 2, Int> {
    let device = batch.views[0].device();
    let (own, all) = (batch.indices.len(), batch.all_indices.len());
    let drawn = sample_uniform_indices(&mut batch.rng(stream), bank_len, all, negatives, &device);
    if own == all {
        return drawn;
    }
    drawn.narrow(0, batch.peers.rank() * own, own)
}

/// A step's memory-bank rows and the features to write into them: every peer's (gathered, in
/// rank order), so that every peer's bank stays the one-device bank.
pub fn bank_rows<B: Backend>(
    batch: &StepBatch<B>,
    features: Tensor<B, 2>,
) -> (Tensor<B, 1, Int>, Tensor<B, 2>) {
    let device = features.device();
    (
        batch.all_index_tensor(&device),
        batch.peers.gather_detached(features),
    )
}

/// An NCE normaliser `z` estimated from this peer's noise scores, averaged over the peers
/// (the one-device estimate from the whole batch's, since every peer's batch is the same size).
pub fn normalizer_over_peers<B: Backend>(batch: &StepBatch<B>, z: f64) -> f64 {
    let peers = &batch.peers;
    if peers.world() == 1 {
        return z;
    }
    let device = batch.views[0].device();
    let summed = peers.sum(Tensor::<B, 1>::from_floats([z as f32], &device).detach());
    summed.into_scalar().elem::<f64>() / peers.world() as f64
}
