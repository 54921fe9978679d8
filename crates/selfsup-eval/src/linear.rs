//! Linear probe: a linear classifier trained on frozen, cached features (standardised with the
//! training features' mean and deviation), SGD with momentum under a cosine schedule, evaluated
//! by top-1 / top-5 on the test features.

use burn::module::{AutodiffModule, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use selfsup_optim::{LrSchedule, momentum_sgd};

use crate::knn::{KnnAccuracy, top_k_accuracy};
use crate::metrics::argmax_rows;

#[derive(Debug, Clone, PartialEq)]
pub struct LinearProbeConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate; cosine decay to 0 over all steps.
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Fixes the initial weights and the order of every epoch.
    pub seed: u64,
}

impl Default for LinearProbeConfig {
    fn default() -> Self {
        Self {
            epochs: 100,
            batch_size: 256,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.0,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LinearProbeResult {
    pub test: KnnAccuracy,
    /// The predicted class of every test feature.
    pub test_predictions: Vec<u32>,
    pub train_top1: f64,
    /// Mean cross-entropy of the last epoch.
    pub final_loss: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LinearProbeError {
    #[error("linear probe: {0}")]
    Invalid(String),
}

/// Trains `W x + b` on `train_features` `[n, d]` with `train_labels` in `0..classes`, then
/// scores `test_features`. Features are standardised per dimension with the training mean and
/// standard deviation (the probe then needs no per-encoder learning rate).
pub fn linear_probe<B: AutodiffBackend>(
    train_features: Tensor<B::InnerBackend, 2>,
    train_labels: &[u32],
    test_features: Tensor<B::InnerBackend, 2>,
    test_labels: &[u32],
    classes: usize,
    config: &LinearProbeConfig,
) -> Result<LinearProbeResult, LinearProbeError> {
    let [n, dim] = train_features.dims();
    if n != train_labels.len() || test_features.dims()[0] != test_labels.len() {
        return Err(LinearProbeError::Invalid(
            "features and labels differ in count".into(),
        ));
    }
    if n == 0 || config.batch_size == 0 || config.epochs == 0 {
        return Err(LinearProbeError::Invalid(
            "needs training features, a batch size and epochs".into(),
        ));
    }
    if let Some(&bad) = train_labels
        .iter()
        .chain(test_labels)
        .find(|&&l| l as usize >= classes)
    {
        return Err(LinearProbeError::Invalid(format!(
            "label {bad} is not below the {classes} classes"
        )));
    }
    let device = train_features.device();
    let mean = train_features.clone().mean_dim(0);
    let std = train_features
        .clone()
        .sub(mean.clone())
        .powi_scalar(2)
        .mean_dim(0)
        .sqrt()
        .add_scalar(1e-6);
    let standardise = |x: Tensor<B::InnerBackend, 2>| (x - mean.clone()) / std.clone();
    let train_x = Tensor::<B, 2>::from_inner(standardise(train_features));
    let test_x = standardise(test_features);
    let train_y = label_tensor::<B>(train_labels, &device);

    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut classifier = seeded_linear::<B>(dim, classes, &mut rng, &device);
    let mut optimizer =
        momentum_sgd(config.momentum, false, config.weight_decay).init::<B, Linear<B>>();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let steps_per_epoch = n.div_ceil(config.batch_size);
    let mut schedule = LrSchedule::warmup_cosine(config.lr, 0, steps_per_epoch * config.epochs);
    let mut order: Vec<i64> = (0..n as i64).collect();
    let mut final_loss = 0.0;
    for _ in 0..config.epochs {
        order.shuffle(&mut rng);
        let mut epoch_loss = 0.0;
        for chunk in order.chunks(config.batch_size) {
            let index = Tensor::<B, 1, Int>::from_data(
                TensorData::new(chunk.to_vec(), [chunk.len()]),
                &device,
            );
            let x = train_x.clone().select(0, index.clone());
            let y = train_y.clone().select(0, index);
            let loss = loss_fn.forward(classifier.forward(x), y);
            epoch_loss += loss.clone().into_scalar().elem::<f64>() * chunk.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &classifier);
            classifier = optimizer.step(schedule.next_lr(), classifier, grads);
        }
        final_loss = epoch_loss / n as f64;
    }
    let classifier = classifier.valid();

    let test_scores = classifier.forward(test_x);
    let test = top_k_accuracy(
        test_scores.clone(),
        label_tensor::<B::InnerBackend>(test_labels, &device),
    );
    let train = top_k_accuracy(classifier.forward(train_x.inner()), train_y.inner());
    Ok(LinearProbeResult {
        test,
        test_predictions: argmax_rows(test_scores),
        train_top1: train.top1,
        final_loss,
    })
}

/// Labels as the `Int` tensor Burn's losses and metrics take.
pub fn label_tensor<B: Backend>(labels: &[u32], device: &B::Device) -> Tensor<B, 1, Int> {
    let values: Vec<i64> = labels.iter().map(|&l| i64::from(l)).collect();
    Tensor::from_data(TensorData::new(values, [labels.len()]), device)
}

/// `Linear(dim -> classes)` with Burn's default initialisation (uniform in +-1/sqrt(dim) for
/// weights and bias) drawn from `rng` on the host: the backend's generator is global, so
/// drawing there would depend on whatever else the process initialises at the same time.
pub(crate) fn seeded_linear<B: AutodiffBackend>(
    dim: usize,
    classes: usize,
    rng: &mut ChaCha8Rng,
    device: &B::Device,
) -> Linear<B> {
    let bound = 1.0 / (dim as f32).sqrt();
    let mut draw =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
    // Zeros: nothing is drawn from the backend's generator; both tensors are replaced below.
    let mut linear: Linear<B> = LinearConfig::new(dim, classes)
        .with_initializer(Initializer::Zeros)
        .init(device);
    linear.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(draw(dim * classes), [dim, classes]),
        device,
    ));
    linear.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(draw(classes), [classes]),
        device,
    )));
    linear
}
