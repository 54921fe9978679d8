//! SimCLR v2's distillation: a student network learns a fine-tuned teacher's
//! temperature-softened predictions on unlabeled images, then is scored on the test set.

use std::ops::Range;

use burn::module::AutodiffModule;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use selfsup_backbones::Encoder;
use selfsup_losses::distillation;

use crate::classifier::{Classifier, encoder_device, scored, test_chunks};
use crate::finetune::FinetuneConfig;
use crate::knn::KnnAccuracy;
use crate::sgd_epochs::{EpochHooks, EpochsStopped, sgd_epochs};

/// What a distillation needs, as the library takes it (no TOML): the CLI builds it from a
/// config's `[distill]` section (`selfsup_config::DistillConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct DistillSettings {
    /// Epochs, batch size, learning rate and optimizer of the student's training.
    pub schedule: FinetuneConfig,
    /// tau of P(y|x; tau) = softmax(logits / tau), for teacher and student alike.
    pub temperature: f64,
}

#[derive(Debug)]
pub struct DistillResult<B: Backend> {
    /// The student's test accuracy.
    pub test: KnnAccuracy,
    /// The student's predicted class of every test image.
    pub predictions: Vec<u32>,
    /// The teacher's test accuracy, for comparison.
    pub teacher_test: KnnAccuracy,
    /// Fraction of test images where student and teacher predict the same class.
    pub agreement: f64,
    /// Mean distillation loss of the last epoch.
    pub final_loss: f64,
    /// The trained student, in inference mode.
    pub model: Classifier<B>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DistillError {
    #[error("distillation: {0}")]
    Invalid(String),
    #[error("distillation: the loss became {loss} in epoch {epoch}; lower distill.lr")]
    NonFinite { loss: f64, epoch: usize },
    /// The hooks asked to stop after this epoch (their checkpoint continues it).
    #[error("distillation stopped after epoch {epoch}")]
    Stopped { epoch: usize },
    #[error("distillation: {0}")]
    Checkpoint(String),
}

/// What distillation reads: unlabeled training images and the labelled test set, as batches
/// the caller builds (augmented for training, plain for testing).
pub struct DistillData<'a, B: AutodiffBackend, TrainBatch, TestBatch>
where
    TrainBatch: FnMut(&[usize], usize) -> Tensor<B, 4>,
    TestBatch: Fn(Range<usize>) -> Tensor<B::InnerBackend, 4>,
{
    /// How many unlabeled training images there are.
    pub train_len: usize,
    /// Augmented training images of the given positions for the given epoch; teacher and
    /// student see the same view.
    pub train_batch: TrainBatch,
    pub test_labels: &'a [u32],
    /// Unaugmented test images `range` (inference normalisation).
    pub test_batch: TestBatch,
}

/// Trains `student` with a new linear head over the teacher's classes on the teacher's
/// softened predictions (the teacher runs in inference mode and is not changed);
/// `hooks` see every epoch's end and may continue an earlier run, as in fine-tuning.
pub fn distill<B, TrainBatch, TestBatch>(
    teacher: &Classifier<B::InnerBackend>,
    student: Encoder<B>,
    mut data: DistillData<'_, B, TrainBatch, TestBatch>,
    config: &DistillSettings,
    hooks: &mut impl EpochHooks<B, Classifier<B>>,
) -> Result<DistillResult<B::InnerBackend>, DistillError>
where
    B: AutodiffBackend,
    TrainBatch: FnMut(&[usize], usize) -> Tensor<B, 4>,
    TestBatch: Fn(Range<usize>) -> Tensor<B::InnerBackend, 4>,
{
    let schedule = &config.schedule;
    if data.train_len == 0 || schedule.batch_size == 0 || schedule.epochs == 0 {
        return Err(DistillError::Invalid(
            "needs training images, a batch size and epochs".into(),
        ));
    }
    if !(config.temperature > 0.0 && config.temperature.is_finite()) {
        return Err(DistillError::Invalid(format!(
            "temperature {}: must be > 0",
            config.temperature
        )));
    }
    let classes = teacher.classes();
    if let Some(&bad) = data.test_labels.iter().find(|&&l| l as usize >= classes) {
        return Err(DistillError::Invalid(format!(
            "test label {bad} is not below the teacher's {classes} classes"
        )));
    }
    let device = encoder_device(&student)
        .ok_or_else(|| DistillError::Invalid("the student encoder has no parts".into()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(schedule.seed);
    let student = Classifier::with_new_head(student, None, classes, &mut rng, &device);
    let batch_loss = |student: &Classifier<B>, positions: &[usize], epoch: usize| {
        let images = (data.train_batch)(positions, epoch);
        let targets = Tensor::<B, 2>::from_inner(teacher.forward(images.clone().inner()));
        distillation(student.forward(images), targets, config.temperature)
    };
    let (student, final_loss) = sgd_epochs(
        student,
        data.train_len,
        schedule,
        &mut rng,
        batch_loss,
        hooks,
    )
    .map_err(|e| match e {
        EpochsStopped::NonFinite { loss, epoch } => DistillError::NonFinite { loss, epoch },
        EpochsStopped::Asked { epoch } => DistillError::Stopped { epoch },
        EpochsStopped::Hooks(why) => DistillError::Checkpoint(why),
    })?;

    let student = student.valid();
    let count = data.test_labels.len();
    // Each test chunk is built once and scored by both.
    let (student_logits, teacher_logits): (Vec<_>, Vec<_>) = test_chunks(count)
        .map(|range| {
            let images = (data.test_batch)(range);
            (student.forward(images.clone()), teacher.forward(images))
        })
        .unzip();
    let (test, predictions) = scored(Tensor::cat(student_logits, 0), data.test_labels);
    let (teacher_test, teacher_predictions) =
        scored(Tensor::cat(teacher_logits, 0), data.test_labels);
    let same = predictions
        .iter()
        .zip(&teacher_predictions)
        .filter(|(s, t)| s == t)
        .count();
    Ok(DistillResult {
        test,
        predictions,
        teacher_test,
        agreement: same as f64 / count.max(1) as f64,
        final_loss,
        model: student,
    })
}
