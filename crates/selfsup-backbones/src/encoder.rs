use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::ResNet;

/// The network a method hands over for evaluation and saving: one ResNet on all input channels,
/// or (CMC) one ResNet per consecutive group of input channels with their features concatenated
/// (L and ab of a Lab image: groups of 1 and 2 channels).
#[derive(Module, Debug)]
pub struct Encoder<B: Backend> {
    parts: Vec<ResNet<B>>,
}

impl<B: Backend> Encoder<B> {
    pub fn single(backbone: ResNet<B>) -> Self {
        Self {
            parts: vec![backbone],
        }
    }

    /// Part `i` reads the `parts[i].in_channels()` channels that follow part `i - 1`'s.
    pub fn channel_groups(parts: Vec<ResNet<B>>) -> Self {
        assert!(!parts.is_empty(), "an encoder needs at least one part");
        Self { parts }
    }

    pub fn parts(&self) -> &[ResNet<B>] {
        &self.parts
    }

    /// Channels of the images this encoder takes: the sum over its parts.
    pub fn in_channels(&self) -> usize {
        self.parts.iter().map(ResNet::in_channels).sum()
    }

    /// Size of the features `forward` returns: the sum over its parts.
    pub fn feature_dim(&self) -> usize {
        self.parts.iter().map(ResNet::feature_dim).sum()
    }

    /// `[batch, in_channels, h, w]` -> `[batch, sum of the parts' feature sizes]`.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        if let [only] = self.parts.as_slice() {
            return only.forward(images);
        }
        let mut first = 0;
        let features = self
            .parts
            .iter()
            .map(|part| {
                let channels = part.in_channels();
                let group = images.clone().narrow(1, first, channels);
                first += channels;
                part.forward(group)
            })
            .collect();
        Tensor::cat(features, 1)
    }
}
