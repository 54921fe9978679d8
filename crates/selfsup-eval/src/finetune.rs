//! Semi-supervised evaluation: the pretrained backbone and a new linear head trained together on
//! a labelled subset (SimCLR's recipe: Nesterov momentum, cosine learning rate, no weight decay,
//! random crop and flip only), then scored on the full test set.

use std::ops::Range;

use burn::module::{AutodiffModule, Module};
use burn::nn::Linear;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use selfsup_backbones::Encoder;

use crate::knn::{KnnAccuracy, top_k_accuracy};
use crate::linear::{cosine_lr, label_tensor, momentum_sgd, seeded_linear};
use crate::metrics::argmax_rows;

#[derive(Debug, Clone, PartialEq)]
pub struct FinetuneConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate (cosine decay to 0 over all steps, no warm-up).
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    /// Fixes the head's initial weights and the order of every epoch.
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FinetuneResult {
    pub test: KnnAccuracy,
    /// The predicted class of every test image.
    pub predictions: Vec<u32>,
    /// Mean cross-entropy of the last epoch.
    pub final_loss: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FinetuneError {
    #[error("fine-tuning: {0}")]
    Invalid(String),
    #[error("fine-tuning: the loss became {loss} in epoch {epoch}; lower eval.finetune_lr")]
    NonFinite { loss: f64, epoch: usize },
}

#[derive(Module, Debug)]
struct Classifier<B: Backend> {
    encoder: Encoder<B>,
    head: Linear<B>,
}

impl<B: Backend> Classifier<B> {
    fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.head.forward(self.encoder.forward(images))
    }
}

/// What fine-tuning reads: the labelled subset and the test set, both as batches the caller
/// builds (augmented for training, plain for testing).
pub struct FinetuneData<'a, B: AutodiffBackend, TrainBatch, TestBatch>
where
    TrainBatch: FnMut(&[usize], usize) -> Tensor<B, 4>,
    TestBatch: Fn(Range<usize>) -> Tensor<B::InnerBackend, 4>,
{
    /// Labels of the labelled subset; position i is the subset's i-th image.
    pub train_labels: &'a [u32],
    /// Augmented images of the given subset positions for the given epoch.
    pub train_batch: TrainBatch,
    pub test_labels: &'a [u32],
    /// Unaugmented test images `range` (inference normalisation).
    pub test_batch: TestBatch,
    pub classes: usize,
}

const TEST_CHUNK: usize = 512;

/// Fine-tunes `encoder` with a new linear head; `on_epoch(epoch, mean loss)` after each epoch.
pub fn finetune<B, TrainBatch, TestBatch>(
    encoder: Encoder<B>,
    mut data: FinetuneData<'_, B, TrainBatch, TestBatch>,
    config: &FinetuneConfig,
    mut on_epoch: impl FnMut(usize, f64),
) -> Result<FinetuneResult, FinetuneError>
where
    B: AutodiffBackend,
    TrainBatch: FnMut(&[usize], usize) -> Tensor<B, 4>,
    TestBatch: Fn(Range<usize>) -> Tensor<B::InnerBackend, 4>,
{
    let n = data.train_labels.len();
    if n == 0 || config.batch_size == 0 || config.epochs == 0 {
        return Err(FinetuneError::Invalid(
            "needs labelled images, a batch size and epochs".into(),
        ));
    }
    if let Some(&bad) = data
        .train_labels
        .iter()
        .chain(data.test_labels)
        .find(|&&l| l as usize >= data.classes)
    {
        return Err(FinetuneError::Invalid(format!(
            "label {bad} is not below the {} classes",
            data.classes
        )));
    }
    let device = encoder
        .parts()
        .first()
        .map(|part| part.devices()[0].clone())
        .ok_or_else(|| FinetuneError::Invalid("the encoder has no parts".into()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let head = seeded_linear::<B>(encoder.feature_dim(), data.classes, &mut rng, &device);
    let mut model = Classifier { encoder, head };
    let mut optimizer = momentum_sgd(config.momentum, config.nesterov, config.weight_decay)
        .init::<B, Classifier<B>>();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let total = (n.div_ceil(config.batch_size) * config.epochs) as f64;
    let mut order: Vec<usize> = (0..n).collect();
    let mut step = 0usize;
    let mut final_loss = 0.0;
    for epoch in 0..config.epochs {
        order.shuffle(&mut rng);
        let mut epoch_loss = 0.0;
        for chunk in order.chunks(config.batch_size) {
            let images = (data.train_batch)(chunk, epoch);
            let labels: Vec<u32> = chunk.iter().map(|&i| data.train_labels[i]).collect();
            let labels = label_tensor::<B>(&labels, &device);
            let loss = loss_fn.forward(model.forward(images), labels);
            epoch_loss += loss.clone().into_scalar().elem::<f64>() * chunk.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let lr = cosine_lr(config.lr, step, total);
            model = optimizer.step(lr, model, grads);
            step += 1;
        }
        final_loss = epoch_loss / n as f64;
        if !final_loss.is_finite() {
            return Err(FinetuneError::NonFinite {
                loss: final_loss,
                epoch: epoch + 1,
            });
        }
        on_epoch(epoch + 1, final_loss);
    }

    let model = model.valid();
    let count = data.test_labels.len();
    let logits: Vec<_> = (0..count)
        .step_by(TEST_CHUNK)
        .map(|start| model.forward((data.test_batch)(start..(start + TEST_CHUNK).min(count))))
        .collect();
    let logits = Tensor::cat(logits, 0);
    let labels = label_tensor(data.test_labels, &logits.device());
    Ok(FinetuneResult {
        test: top_k_accuracy(logits.clone(), labels),
        predictions: argmax_rows(logits),
        final_loss,
    })
}
