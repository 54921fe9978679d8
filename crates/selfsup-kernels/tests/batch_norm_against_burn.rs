//! The fused batch norm (+ residual, + ReLU) against the same formula written with Burn's
//! tensor operations in float64 (flex keeps a tensor's dtype, so the reference runs in f64 and
//! shares no code with the kernels): the output, the batch statistics, and the gradients of the
//! input, gamma, beta and the residual, on random shapes including batch 1, 1x1 maps and a
//! mean far from zero.

use burn::backend::{Autodiff, Flex};
use burn::tensor::activation::relu;
use burn::tensor::{DType, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

type A = Autodiff<Flex>;

const EPSILON: f64 = 1e-5;

fn random(rng: &mut ChaCha8Rng, len: usize, offset: f32) -> Vec<f32> {
    (0..len)
        .map(|_| offset + rng.random_range(-1.0f32..1.0))
        .collect()
}

/// Everything a case produces: output, mean, variance, then the gradients of input, gamma,
/// beta and residual (empty without one).
type Results = [Vec<f64>; 7];

struct Inputs {
    x: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    residual: Option<Vec<f32>>,
    /// Weights of the output in the scalar that is differentiated.
    r: Vec<f32>,
    dims: [usize; 4],
    relu: bool,
}

fn f64s<const D: usize>(t: Tensor<Flex, D>) -> Vec<f64> {
    t.into_data().convert::<f64>().into_vec::<f64>().unwrap()
}

/// The reference: batch norm from its definition, in float64.
fn reference(inputs: &Inputs) -> Results {
    let device = Default::default();
    let [n, c, h, w] = inputs.dims;
    let t4 = |v: &[f32]| {
        Tensor::<A, 4>::from_data(
            TensorData::new(v.to_vec(), inputs.dims).convert_dtype(DType::F64),
            &device,
        )
    };
    let t1 = |v: &[f32]| {
        Tensor::<A, 1>::from_data(
            TensorData::new(v.to_vec(), [c]).convert_dtype(DType::F64),
            &device,
        )
    };
    let x = t4(&inputs.x).require_grad();
    let gamma = t1(&inputs.gamma).require_grad();
    let beta = t1(&inputs.beta).require_grad();
    let residual = inputs.residual.as_deref().map(|r| t4(r).require_grad());
    let count = (n * h * w) as f64;
    let channel_mean = |t: Tensor<A, 4>| t.sum_dim(0).sum_dim(2).sum_dim(3).div_scalar(count);
    let mean = channel_mean(x.clone());
    let centered = x.clone() - mean.clone();
    let variance = channel_mean(centered.clone().powi_scalar(2));
    let per_channel = |v: Tensor<A, 1>| v.reshape([1, c, 1, 1]);
    let mut y = centered / variance.clone().add_scalar(EPSILON).sqrt() * per_channel(gamma.clone())
        + per_channel(beta.clone());
    if let Some(r) = &residual {
        y = y + r.clone();
    }
    if inputs.relu {
        y = relu(y);
    }
    let grads = (y.clone() * t4(&inputs.r)).sum().backward();
    let grad4 = |t: &Tensor<A, 4>| f64s(t.grad(&grads).unwrap());
    let grad1 = |t: &Tensor<A, 1>| f64s(t.grad(&grads).unwrap());
    [
        f64s(y.inner()),
        f64s(mean.inner().reshape([c])),
        f64s(variance.inner().reshape([c])),
        grad4(&x),
        grad1(&gamma),
        grad1(&beta),
        residual.as_ref().map(grad4).unwrap_or_default(),
    ]
}

/// The kernels through `batch_norm_training`, in f32.
fn fused(inputs: &Inputs) -> Results {
    let device = Default::default();
    let c = inputs.dims[1];
    let t4 =
        |v: &[f32]| Tensor::<A, 4>::from_data(TensorData::new(v.to_vec(), inputs.dims), &device);
    let t1 = |v: &[f32]| Tensor::<A, 1>::from_data(TensorData::new(v.to_vec(), [c]), &device);
    let x = t4(&inputs.x).require_grad();
    let gamma = t1(&inputs.gamma).require_grad();
    let beta = t1(&inputs.beta).require_grad();
    let residual = inputs.residual.as_deref().map(|r| t4(r).require_grad());
    let trained = selfsup_kernels::batch_norm_training(
        &x,
        &gamma,
        &beta,
        residual.as_ref(),
        EPSILON,
        inputs.relu,
    )
    .expect("Autodiff<Flex> in f32 takes the fast path");
    let y = trained.output;
    let grads = (y.clone() * t4(&inputs.r)).sum().backward();
    let grad4 = |t: &Tensor<A, 4>| f64s(t.grad(&grads).unwrap());
    let grad1 = |t: &Tensor<A, 1>| f64s(t.grad(&grads).unwrap());
    let widen = |v: Vec<f32>| v.into_iter().map(f64::from).collect();
    [
        f64s(y.inner()),
        widen(trained.mean),
        widen(trained.variance),
        grad4(&x),
        grad1(&gamma),
        grad1(&beta),
        residual.as_ref().map(grad4).unwrap_or_default(),
    ]
}

fn max_relative_error(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / scale)
        .fold(0.0, max_keeping_nan)
}

fn max_error_on_scale(got: &[f64], want: &[f64], scale: f64) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / scale)
        .fold(0.0, max_keeping_nan)
}

/// The size of the input gradient's terms before they cancel: `gamma / σ` times the largest
/// output gradient. With two values per channel the terms cancel to almost nothing (the
/// normalised output is ±1 whatever the input), and an error relative to that remainder says
/// nothing about f32 arithmetic.
fn input_gradient_scale(inputs: &Inputs, reference: &Results) -> f64 {
    let largest_weight = inputs
        .r
        .iter()
        .fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
    let terms = inputs
        .gamma
        .iter()
        .zip(&reference[2])
        .map(|(&g, &variance)| f64::from(g).abs() / (variance + EPSILON).sqrt() * largest_weight)
        .fold(0.0f64, f64::max);
    let largest = reference[3].iter().fold(0.0f64, |m, v| m.max(v.abs()));
    largest.max(terms).max(1e-6)
}

fn case(rng: &mut ChaCha8Rng, dims: [usize; 4], residual: bool, relu: bool, offset: f32) -> Inputs {
    let len = dims.iter().product();
    Inputs {
        x: random(rng, len, offset),
        gamma: random(rng, dims[1], 1.0),
        beta: random(rng, dims[1], 0.0),
        residual: residual.then(|| random(rng, len, 0.0)),
        r: random(rng, len, 0.0),
        dims,
        relu,
    }
}

#[test]
fn output_statistics_and_every_gradient_match_float64() {
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let mut shapes = vec![
        ([1, 3, 5, 7], 0.0),
        ([2, 1, 1, 1], 0.0),
        ([37, 16, 4, 4], 0.0),
        ([64, 8, 28, 28], 0.0),
        ([5, 6, 3, 9], 100.0),
        ([512, 4, 2, 2], 0.0),
    ];
    for _ in 0..6 {
        let dims = [
            rng.random_range(1..20),
            rng.random_range(1..9),
            rng.random_range(1..12),
            rng.random_range(1..12),
        ];
        if dims[0] * dims[2] * dims[3] > 1 {
            shapes.push((dims, 0.0));
        }
    }
    let names = [
        "output",
        "mean",
        "variance",
        "input gradient",
        "gamma gradient",
        "beta gradient",
        "residual gradient",
    ];
    for (dims, offset) in shapes {
        for (residual, relu) in [(false, false), (false, true), (true, true), (true, false)] {
            let inputs = case(&mut rng, dims, residual, relu, offset);
            let (want, got) = (reference(&inputs), fused(&inputs));
            for (i, name) in names.iter().enumerate() {
                let error = if i == 3 {
                    max_error_on_scale(&got[i], &want[i], input_gradient_scale(&inputs, &want))
                } else {
                    max_relative_error(&got[i], &want[i])
                };
                assert!(
                    error < 2e-5,
                    "{dims:?} offset {offset} residual {residual} relu {relu}: {name} {error:e} from float64"
                );
            }
        }
    }
}

#[test]
fn repeated_runs_are_bit_identical() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let inputs = case(&mut rng, [37, 16, 7, 7], true, true, 0.5);
    let first = fused(&inputs);
    for _ in 0..3 {
        assert!(fused(&inputs) == first);
    }
}

/// Only `Autodiff<Flex>` in f32 trains on the kernels; plain flex infers on them.
#[test]
fn the_fast_path_is_taken_exactly_where_it_exists() {
    let device = Default::default();
    let x = Tensor::<A, 4>::zeros([2, 3, 4, 4], &device);
    let ones = Tensor::<A, 1>::ones([3], &device);
    assert!(selfsup_kernels::batch_norm_training(&x, &ones, &ones, None, EPSILON, true).is_some());
    let x64 = Tensor::<A, 4>::zeros([2, 3, 4, 4], (&device, DType::F64));
    assert!(
        selfsup_kernels::batch_norm_training(&x64, &ones, &ones, None, EPSILON, true).is_none()
    );
    let plain = Tensor::<Flex, 4>::zeros([2, 3, 4, 4], &device);
    let plain_ones = Tensor::<Flex, 1>::ones([3], &device);
    assert!(
        selfsup_kernels::batch_norm_training(&plain, &plain_ones, &plain_ones, None, EPSILON, true)
            .is_none()
    );
    assert!(selfsup_kernels::batch_norm_inference(&x, &ones, &ones, None, true).is_none());
}

/// Inference on plain flex: `relu(x * scale + shift + residual)` per channel.
#[test]
fn plain_flex_inference_matches_the_formula() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let device = Default::default();
    let dims = [3, 4, 5, 6];
    let len: usize = dims.iter().product();
    let (x, residual) = (random(&mut rng, len, 0.0), random(&mut rng, len, 0.0));
    let (scale, shift) = (random(&mut rng, 4, 1.0), random(&mut rng, 4, 0.0));
    let t4 = |v: &[f32]| Tensor::<Flex, 4>::from_data(TensorData::new(v.to_vec(), dims), &device);
    let t1 = |v: &[f32]| Tensor::<Flex, 1>::from_data(TensorData::new(v.to_vec(), [4]), &device);
    let got = selfsup_kernels::batch_norm_inference(
        &t4(&x),
        &t1(&scale),
        &t1(&shift),
        Some(&t4(&residual)),
        true,
    )
    .expect("plain flex in f32 takes the fast path");
    let got = got.into_data().into_vec::<f32>().unwrap();
    for (i, &value) in got.iter().enumerate() {
        let channel = (i / 30) % 4;
        let want = (x[i] * scale[channel] + shift[channel] + residual[i]).max(0.0);
        assert!(
            (value - want).abs() < 1e-6,
            "element {i}: {value} vs {want}"
        );
    }
}

/// `f64::max` drops a NaN; an error measure must keep it, so that a NaN output fails.
fn max_keeping_nan(largest: f64, value: f64) -> f64 {
    if value.is_nan() || value > largest {
        value
    } else {
        largest
    }
}
