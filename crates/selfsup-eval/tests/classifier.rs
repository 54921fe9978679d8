//! Fine-tuning (with and without SimCLR v2's kept head layer) and distillation on tiny images
//! whose class is visible: the dark half of the images is class 0, the bright half class 1.

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use selfsup_backbones::{Encoder, ResNetConfig};
use selfsup_eval::{
    AfterEpoch, Classifier, DistillData, DistillError, DistillSettings, EpochHooks, FinetuneConfig,
    FinetuneData, FinetuneError, Progress, distill, finetune,
};
use selfsup_heads::MlpLayer;

type B = Autodiff<Flex>;
type Inner = Flex;

const SIDE: usize = 8;

/// `count` one-channel images: even positions dark (class 0), odd bright (class 1), plus noise
/// that depends on `seed`, the position and the epoch (an "augmentation").
fn pixels(positions: &[usize], seed: u64, epoch: usize) -> Vec<f32> {
    positions
        .iter()
        .flat_map(|&p| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((p as u64) << 16) ^ epoch as u64);
            let level = if p % 2 == 0 { -1.0 } else { 1.0 };
            (0..SIDE * SIDE)
                .map(move |_| level + rng.random_range(-0.8..0.8f32))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn batch<Bk: Backend>(positions: &[usize], seed: u64, epoch: usize) -> Tensor<Bk, 4> {
    Tensor::from_data(
        TensorData::new(
            pixels(positions, seed, epoch),
            [positions.len(), 1, SIDE, SIDE],
        ),
        &Default::default(),
    )
}

fn labels(count: usize) -> Vec<u32> {
    (0..count).map(|p| (p % 2) as u32).collect()
}

/// `init` drawn from `seed` under the process's one generator lock, every parameter drawn
/// before the lock is released (Burn's parameters are lazy): the tests run in parallel threads.
fn seeded<M: burn::module::Module<B>>(
    seed: u64,
    init: impl FnOnce(&burn::tensor::Device<B>) -> M,
) -> M {
    selfsup_backbones::seeded_module(&Default::default(), seed, init)
}

fn encoder(width: usize, seed: u64) -> Encoder<B> {
    seeded(seed, |device| {
        Encoder::single(
            ResNetConfig::resnet18()
                .with_width(width)
                .with_in_channels(1)
                .init(device),
        )
    })
}

/// Weights are drawn from this seed (and the next two), so a run repeats the last one: with
/// teacher width 4 and student width 2, seeds 0 to 23 all passed every threshold below.
fn seed() -> u64 {
    0
}

const EPOCHS: usize = 12;

fn schedule(epochs: usize) -> FinetuneConfig {
    FinetuneConfig {
        epochs,
        batch_size: 16,
        lr: 0.05,
        momentum: 0.9,
        nesterov: true,
        weight_decay: 0.0,
        seed: 3,
    }
}

const TEST: usize = 64;

fn finetuned(tail: Option<MlpLayer<B>>) -> (f64, Vec<f64>, Classifier<Inner>) {
    let mut losses = Vec::new();
    let result = finetuned_with(tail, &mut Progress(|_, loss| losses.push(loss))).unwrap();
    (result.test.top1, losses, result.model)
}

fn finetuned_with(
    tail: Option<MlpLayer<B>>,
    hooks: &mut impl EpochHooks<B, Classifier<B>>,
) -> Result<selfsup_eval::FinetuneResult<Inner>, FinetuneError> {
    let train_labels = labels(48);
    let test_labels = labels(TEST);
    let data = FinetuneData {
        train_labels: &train_labels,
        train_batch: |positions: &[usize], epoch| batch::<B>(positions, 1, epoch),
        test_labels: &test_labels,
        test_batch: |range: std::ops::Range<usize>| {
            batch::<Inner>(&range.collect::<Vec<_>>(), 2, 0)
        },
        classes: 2,
    };
    finetune(encoder(4, seed()), tail, data, &schedule(EPOCHS), hooks)
}

/// Keeps the model and optimiser after epoch `stop_after` in memory and stops there; the next
/// run it is given to continues from them.
struct StopAndKeep {
    stop_after: usize,
    kept: Option<(usize, Box<dyn std::any::Any>)>,
    losses: Vec<f64>,
}

impl EpochHooks<B, Classifier<B>> for StopAndKeep {
    fn restore<O: burn::optim::Optimizer<Classifier<B>, B> + 'static>(
        &mut self,
        model: Classifier<B>,
        optimizer: O,
    ) -> Result<(usize, Classifier<B>, O), String> {
        let Some((done, state)) = self.kept.take() else {
            return Ok((0, model, optimizer));
        };
        let (model, optimizer) = *state
            .downcast::<(Classifier<B>, O)>()
            .map_err(|_| "another optimiser".to_string())?;
        Ok((done, model, optimizer))
    }

    fn epoch_done<O: burn::optim::Optimizer<Classifier<B>, B> + 'static>(
        &mut self,
        epoch: usize,
        loss: f64,
        model: &Classifier<B>,
        optimizer: &O,
    ) -> Result<AfterEpoch, String> {
        self.losses.push(loss);
        if epoch != self.stop_after {
            return Ok(AfterEpoch::Continue);
        }
        self.kept = Some((epoch, Box::new((model.clone(), optimizer.clone()))));
        Ok(AfterEpoch::Stop)
    }
}

#[test]
fn finetuning_stopped_and_continued_ends_where_the_whole_run_ends() {
    let (top1, losses, model) = finetuned(None);
    let mut hooks = StopAndKeep {
        stop_after: 5,
        kept: None,
        losses: Vec::new(),
    };
    let stopped = finetuned_with(None, &mut hooks).map(|_| ()).unwrap_err();
    assert_eq!(stopped, FinetuneError::Stopped { epoch: 5 });
    assert_eq!(hooks.losses, losses[..5]);
    hooks.stop_after = 0;
    let continued = finetuned_with(None, &mut hooks).unwrap();
    assert_eq!(hooks.losses, losses, "the same epochs, bit for bit");
    assert_eq!(continued.test.top1, top1);
    let weights = |m: &Classifier<Inner>| m.head.weight.val().into_data().to_vec::<f32>().unwrap();
    assert_eq!(weights(&continued.model), weights(&model));
}

#[test]
fn finetuning_learns_visible_classes_with_and_without_the_head_layer() {
    let (top1, losses, model) = finetuned(None);
    assert!(top1 > 0.9, "top-1 {top1}");
    assert!(losses.last() < losses.first(), "{losses:?}");
    assert!(model.tail.is_none());
    assert_eq!(model.head.weight.dims(), [32, 2]);

    // The head's input is the kept layer's output, and the layer is trained with the rest.
    let layer = seeded(seed() + 2, |device| MlpLayer::<B>::hidden(32, 12, device));
    let probe = || {
        batch::<Inner>(&[0, 1, 2, 3], 9, 0)
            .reshape([4, 64])
            .narrow(1, 0, 32)
    };
    let before = layer.valid().forward(probe()).into_data();
    let (top1, losses, model) = finetuned(Some(layer));
    assert!(top1 > 0.9, "top-1 {top1}");
    assert!(losses.last() < losses.first(), "{losses:?}");
    let tail = model
        .tail
        .as_ref()
        .expect("the head layer is part of the classifier");
    assert_eq!(tail.output_dim(), 12);
    assert_eq!(model.head.weight.dims(), [12, 2]);
    let after = tail.forward(probe()).into_data();
    assert_ne!(before, after, "the head layer is fine-tuned");
}

#[test]
fn a_student_learns_the_teachers_predictions_without_labels() {
    let (teacher_top1, _, teacher) = finetuned(None);
    let test_labels = labels(TEST);
    let mut losses = Vec::new();
    let data = DistillData {
        train_len: 96,
        train_batch: |positions: &[usize], epoch| batch::<B>(positions, 5, epoch),
        test_labels: &test_labels,
        test_batch: |range: std::ops::Range<usize>| {
            batch::<Inner>(&range.collect::<Vec<_>>(), 2, 0)
        },
    };
    let config = DistillSettings {
        schedule: schedule(EPOCHS),
        temperature: 1.0,
    };
    let result = distill(
        &teacher,
        encoder(2, seed() + 1),
        data,
        &config,
        &mut Progress(|_, loss| losses.push(loss)),
    )
    .unwrap();
    assert!(losses.last() < losses.first(), "{losses:?}");
    assert_eq!(result.teacher_test.top1, teacher_top1);
    assert!(result.agreement > 0.9, "agreement {}", result.agreement);
    assert!(result.test.top1 > 0.9, "student top-1 {}", result.test.top1);
    assert_eq!(
        result.model.encoder.feature_dim(),
        16,
        "the student is the smaller net"
    );
    assert_eq!(result.model.classes(), 2);
}

#[test]
fn distillation_refuses_a_bad_temperature_and_labels_outside_the_teachers_classes() {
    let (_, _, teacher) = finetuned(None);
    let run = |temperature: f64, test_labels: &[u32]| {
        let data = DistillData {
            train_len: 8,
            train_batch: |positions: &[usize], epoch| batch::<B>(positions, 5, epoch),
            test_labels,
            test_batch: |range: std::ops::Range<usize>| {
                batch::<Inner>(&range.collect::<Vec<_>>(), 2, 0)
            },
        };
        let config = DistillSettings {
            schedule: schedule(1),
            temperature,
        };
        distill(
            &teacher,
            encoder(1, seed() + 1),
            data,
            &config,
            &mut Progress(|_, _| {}),
        )
        .map(|_| ())
    };
    assert!(
        matches!(run(0.0, &[0, 1]), Err(DistillError::Invalid(m)) if m.contains("temperature 0"))
    );
    assert!(matches!(run(1.0, &[0, 2]), Err(DistillError::Invalid(m)) if m.contains("label 2")));
}
