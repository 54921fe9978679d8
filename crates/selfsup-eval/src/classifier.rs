//! A backbone with a linear head over the classes, and between them, when fine-tuning starts
//! from it, the head layer SimCLR v2 keeps: what fine-tuning trains, and what distillation
//! learns from and trains.

use std::ops::Range;

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use rand_chacha::ChaCha8Rng;
use selfsup_backbones::Encoder;
use selfsup_heads::MlpLayer;

use crate::knn::{KnnAccuracy, top_k_accuracy};
use crate::linear::{label_tensor, seeded_linear};
use crate::metrics::argmax_rows;

#[derive(Module, Debug)]
pub struct Classifier<B: Backend> {
    pub encoder: Encoder<B>,
    /// SimCLR v2's first head layer (fine-tuning "from the head's middle"), or none.
    pub tail: Option<MlpLayer<B>>,
    pub head: Linear<B>,
}

/// Logits are computed this many test images at a time.
const TEST_CHUNK: usize = 512;

impl<B: Backend> Classifier<B> {
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let features = self.encoder.forward(images);
        let features = match &self.tail {
            Some(layer) => layer.forward(features),
            None => features,
        };
        self.head.forward(features)
    }

    pub fn classes(&self) -> usize {
        self.head.weight.dims()[1]
    }

    /// The logits `[count, classes]` of `count` images that `batch(range)` serves, a chunk at
    /// a time.
    pub fn logits(
        &self,
        count: usize,
        batch: impl Fn(Range<usize>) -> Tensor<B, 4>,
    ) -> Tensor<B, 2> {
        let chunks: Vec<_> = test_chunks(count)
            .map(|range| self.forward(batch(range)))
            .collect();
        Tensor::cat(chunks, 0)
    }
}

/// The ranges of `0..count` that test images are scored in.
pub(crate) fn test_chunks(count: usize) -> impl Iterator<Item = Range<usize>> {
    (0..count)
        .step_by(TEST_CHUNK)
        .map(move |start| start..(start + TEST_CHUNK).min(count))
}

impl<B: AutodiffBackend> Classifier<B> {
    /// `encoder` (and `tail`) with a new linear head over `classes` on `device`, drawn from
    /// `rng`.
    pub(crate) fn with_new_head(
        encoder: Encoder<B>,
        tail: Option<MlpLayer<B>>,
        classes: usize,
        rng: &mut ChaCha8Rng,
        device: &B::Device,
    ) -> Self {
        let input = tail
            .as_ref()
            .map_or(encoder.feature_dim(), MlpLayer::output_dim);
        let head = seeded_linear::<B>(input, classes, rng, device);
        Self {
            encoder,
            tail,
            head,
        }
    }
}

pub(crate) fn encoder_device<B: Backend>(encoder: &Encoder<B>) -> Option<B::Device> {
    encoder
        .parts()
        .first()
        .and_then(|part| part.devices().into_iter().next())
}

/// Top-1 / top-5 of `logits` against `labels`, and the predicted class of every row.
pub(crate) fn scored<B: Backend>(logits: Tensor<B, 2>, labels: &[u32]) -> (KnnAccuracy, Vec<u32>) {
    let label_tensor = label_tensor(labels, &logits.device());
    (
        top_k_accuracy(logits.clone(), label_tensor),
        argmax_rows(logits),
    )
}
