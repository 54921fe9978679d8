//! Semi-supervised evaluation: the pretrained backbone (and, for SimCLR v2, its kept head layer)
//! and a new linear head trained together on a labelled subset (SimCLR's recipe: Nesterov
//! momentum, cosine learning rate, no weight decay, random crop and flip only), then scored on
//! the full test set.

use std::ops::Range;

use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use selfsup_backbones::Encoder;
use selfsup_heads::MlpLayer;

use crate::classifier::{Classifier, encoder_device, scored};
use crate::knn::KnnAccuracy;
use crate::linear::label_tensor;
pub use crate::sgd_epochs::FinetuneConfig;
use crate::sgd_epochs::{EpochHooks, EpochsStopped, sgd_epochs};

#[derive(Debug)]
pub struct FinetuneResult<B: Backend> {
    pub test: KnnAccuracy,
    /// The predicted class of every test image.
    pub predictions: Vec<u32>,
    /// Mean cross-entropy of the last epoch.
    pub final_loss: f64,
    /// The fine-tuned classifier, in inference mode (a distillation teacher).
    pub model: Classifier<B>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FinetuneError {
    #[error("fine-tuning: {0}")]
    Invalid(String),
    #[error("fine-tuning: the loss became {loss} in epoch {epoch}; lower eval.finetune_lr")]
    NonFinite { loss: f64, epoch: usize },
    /// The hooks asked to stop after this epoch (their checkpoint continues it).
    #[error("fine-tuning stopped after epoch {epoch}")]
    Stopped { epoch: usize },
    #[error("fine-tuning: {0}")]
    Checkpoint(String),
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

/// Fine-tunes `encoder`, followed by `tail` when given (SimCLR v2's first head layer), with a
/// new linear head; `hooks` see every epoch's end (progress, checkpoints, an early stop) and
/// may continue an earlier run (`Progress(|epoch, loss| ..)` for progress alone).
pub fn finetune<B, TrainBatch, TestBatch>(
    encoder: Encoder<B>,
    tail: Option<MlpLayer<B>>,
    mut data: FinetuneData<'_, B, TrainBatch, TestBatch>,
    config: &FinetuneConfig,
    hooks: &mut impl EpochHooks<B, Classifier<B>>,
) -> Result<FinetuneResult<B::InnerBackend>, FinetuneError>
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
    let device = encoder_device(&encoder)
        .ok_or_else(|| FinetuneError::Invalid("the encoder has no parts".into()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let model = Classifier::with_new_head(encoder, tail, data.classes, &mut rng, &device);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let train_labels = data.train_labels;
    let batch_loss = |model: &Classifier<B>, positions: &[usize], epoch: usize| {
        let images = (data.train_batch)(positions, epoch);
        let labels: Vec<u32> = positions.iter().map(|&i| train_labels[i]).collect();
        loss_fn.forward(model.forward(images), label_tensor::<B>(&labels, &device))
    };
    let (model, final_loss) =
        sgd_epochs(model, n, config, &mut rng, batch_loss, hooks).map_err(|e| match e {
            EpochsStopped::NonFinite { loss, epoch } => FinetuneError::NonFinite { loss, epoch },
            EpochsStopped::Asked { epoch } => FinetuneError::Stopped { epoch },
            EpochsStopped::Hooks(why) => FinetuneError::Checkpoint(why),
        })?;

    let model = model.valid();
    let logits = model.logits(data.test_labels.len(), &data.test_batch);
    let (test, predictions) = scored(logits, data.test_labels);
    Ok(FinetuneResult {
        test,
        predictions,
        final_loss,
        model,
    })
}
