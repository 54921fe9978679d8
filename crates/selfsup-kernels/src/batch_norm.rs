//! Batch norm in training mode, fused with the residual add and the ReLU that follow it in a
//! ResNet block, forward and backward, on f32 slices in NCHW order.
//!
//! Why fused: on flex, `BatchNorm2d` then `+ identity` then `relu` is about ten element-wise
//! tensor operations forward and as many backward, each a full pass over the activations, and
//! flex runs element-wise work on one thread below 4M elements (every tensor of our step).
//! After the convolution kernels, that was the main thread's share of the step (docs/benchmarks.md:
//! 1.51 of 2 cores busy). Here the forward pass reads the input twice (statistics, then the
//! normalised output) and the backward pass reads its operands twice, each pass split over
//! rayon's threads by rows (one image's one channel).
//!
//! Determinism: every row is summed in a fixed order and the rows are combined per channel in
//! image order, so the results do not depend on the number of threads.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::written::written;

/// The extent of a batch-norm input `[batch, channels, spatial]` (`spatial` = height x width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchNormShape {
    pub batch: usize,
    pub channels: usize,
    pub spatial: usize,
}

impl BatchNormShape {
    pub fn len(&self) -> usize {
        self.batch * self.channels * self.spatial
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values each channel's statistics are taken over.
    fn count(&self) -> usize {
        self.batch * self.spatial
    }

    /// Rows per rayon task: enough that a task is worth its scheduling at 4x4 feature maps.
    fn rows_per_task(&self) -> usize {
        (4096 / self.spatial.max(1)).max(1)
    }
}

/// One channel's batch statistics: the mean and the biased variance, as `burn::nn::BatchNorm`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelStatistics {
    pub mean: f64,
    pub variance: f64,
}

/// Mean and sum of squared deviations of one row, two passes over it while it is in cache.
fn row_moments(row: &[f32]) -> (f64, f64) {
    let mean = lane_sum(row.iter().copied()) / row.len() as f64;
    let deviation = mean as f32;
    let squares = lane_sum(row.iter().map(|&v| (v - deviation) * (v - deviation)));
    let shift = row.len() as f64 * (mean - f64::from(deviation)).powi(2);
    (mean, (squares - shift).max(0.0))
}

/// Sum in eight f32 lanes (so the compiler vectorises it), the lanes added in f64.
fn lane_sum(values: impl Iterator<Item = f32>) -> f64 {
    let mut lanes = [0.0f32; 8];
    for (i, v) in values.enumerate() {
        lanes[i % 8] += v;
    }
    lanes.iter().map(|&l| f64::from(l)).sum()
}

/// Per-channel batch mean and biased variance of `input`. Rows are combined with Chan et al.'s
/// pairwise update, which stays exact when the mean is large next to the spread.
pub fn statistics(input: &[f32], shape: BatchNormShape) -> Vec<ChannelStatistics> {
    assert_eq!(
        input.len(),
        shape.len(),
        "batch-norm input length for {shape:?}"
    );
    assert!(
        !shape.is_empty(),
        "batch-norm statistics of an empty batch: {shape:?}"
    );
    let rows: Vec<(f64, f64)> = input
        .par_chunks(shape.spatial)
        .with_min_len(shape.rows_per_task())
        .map(row_moments)
        .collect();
    let row_count = shape.spatial as f64;
    (0..shape.channels)
        .map(|channel| {
            let (mut count, mut mean, mut squares) = (0.0f64, 0.0f64, 0.0f64);
            for image in 0..shape.batch {
                let (row_mean, row_squares) = rows[image * shape.channels + channel];
                let total = count + row_count;
                let delta = row_mean - mean;
                mean += delta * row_count / total;
                squares += row_squares + delta * delta * count * row_count / total;
                count = total;
            }
            ChannelStatistics {
                mean,
                variance: squares / shape.count() as f64,
            }
        })
        .collect()
}

/// `1 / sqrt(variance + epsilon)` per channel.
pub fn inverse_std(stats: &[ChannelStatistics], epsilon: f64) -> Vec<f64> {
    stats
        .iter()
        .map(|s| 1.0 / (s.variance + epsilon).sqrt())
        .collect()
}

/// What follows the normalisation: an optional residual added, then an optional ReLU.
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    pub residual: Option<&'a [f32]>,
    pub relu: bool,
}

/// `output = epilogue(input * scale[c] + shift[c])`, the affine map of a normalisation. Every
/// value of `output` is written, so it may start uninitialised.
pub fn affine(
    input: &[f32],
    scale: &[f32],
    shift: &[f32],
    epilogue: Epilogue<'_>,
    shape: BatchNormShape,
    output: &mut [MaybeUninit<f32>],
) {
    assert_eq!(
        input.len(),
        shape.len(),
        "batch-norm input length for {shape:?}"
    );
    assert_eq!(
        output.len(),
        shape.len(),
        "batch-norm output length for {shape:?}"
    );
    assert_eq!(scale.len(), shape.channels, "scale length for {shape:?}");
    assert_eq!(shift.len(), shape.channels, "shift length for {shape:?}");
    if shape.is_empty() {
        return;
    }
    let rows = output
        .par_chunks_mut(shape.spatial)
        .zip(input.par_chunks(shape.spatial))
        .enumerate()
        .with_min_len(shape.rows_per_task());
    rows.for_each(|(row, (out, x))| {
        let channel = row % shape.channels;
        let (a, b) = (scale[channel], shift[channel]);
        // `relu` is the same for every value: the compiler takes the test out of the loops.
        let clamp = |v: f32| if epilogue.relu { v.max(0.0) } else { v };
        match epilogue.residual {
            Some(residual) => {
                let residual = &residual[row * shape.spatial..(row + 1) * shape.spatial];
                for ((o, &x), &r) in out.iter_mut().zip(x).zip(residual) {
                    o.write(clamp(x * a + b + r));
                }
            }
            None => {
                for (o, &x) in out.iter_mut().zip(x) {
                    o.write(clamp(x * a + b));
                }
            }
        }
    });
}

/// Training-mode batch norm forward: the batch statistics, and `output = epilogue(gamma *
/// (input - mean) / sqrt(var + epsilon) + beta)`.
pub fn forward(
    input: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
    epilogue: Epilogue<'_>,
    shape: BatchNormShape,
    output: &mut [MaybeUninit<f32>],
) -> Vec<ChannelStatistics> {
    let stats = statistics(input, shape);
    let inv_std = inverse_std(&stats, epsilon);
    let scale: Vec<f32> = (0..shape.channels)
        .map(|c| (f64::from(gamma[c]) * inv_std[c]) as f32)
        .collect();
    let shift: Vec<f32> = (0..shape.channels)
        .map(|c| (f64::from(beta[c]) - stats[c].mean * f64::from(gamma[c]) * inv_std[c]) as f32)
        .collect();
    affine(input, &scale, &shift, epilogue, shape, output);
    stats
}

/// Gradients of [`forward`]: of its input, of gamma and beta, and of the residual (equal to the
/// gradient after the ReLU), given the output gradient and the forward's input and output.
pub struct BatchNormGradients {
    pub input: Vec<f32>,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    /// `Some` when [`ForwardRecord::residual_gradient`] asked for it.
    pub residual: Option<Vec<f32>>,
}

/// What the backward pass reads of the forward pass.
pub struct ForwardRecord<'a> {
    pub input: &'a [f32],
    /// The forward's output, read only for the ReLU's mask.
    pub output: &'a [f32],
    pub gamma: &'a [f32],
    pub stats: &'a [ChannelStatistics],
    pub epsilon: f64,
    pub relu: bool,
    /// Whether the residual's gradient is wanted (the forward added a tracked residual).
    pub residual_gradient: bool,
}

/// The output gradient with the ReLU's mask applied: zero where the output was clamped.
fn masked(grad: f32, output: f32, relu: bool) -> f32 {
    if relu && output <= 0.0 { 0.0 } else { grad }
}

/// The sums per row of the masked output gradient `g` and of `g (x - mean)`, writing `g` into
/// `into` when given.
fn masked_row_sums(
    output_grad: &[f32],
    record: &ForwardRecord<'_>,
    shape: BatchNormShape,
    into: Option<&mut [MaybeUninit<f32>]>,
) -> Vec<(f64, f64)> {
    let spatial = shape.spatial;
    output_grad
        .par_chunks(spatial)
        .zip(record.input.par_chunks(spatial))
        .zip(record.output.par_chunks(spatial))
        .zip(optional_rows(into, spatial, shape.len()))
        .enumerate()
        .with_min_len(shape.rows_per_task())
        .map(|(row, (((dy, x), y), dr))| {
            let mean = record.stats[row % shape.channels].mean as f32;
            let grads = dy.iter().zip(y).map(|(&d, &o)| masked(d, o, record.relu));
            if let Some(dr) = dr {
                for (dr, g) in dr.iter_mut().zip(grads.clone()) {
                    dr.write(g);
                }
            }
            let sum = lane_sum(grads.clone());
            let weighted = lane_sum(grads.zip(x).map(|(g, &x)| g * (x - mean)));
            (sum, weighted)
        })
        .collect()
}

/// The rows of `values` when there are any, else as many `None`s: a parallel iterator to zip
/// with the other rows either way.
fn optional_rows(
    values: Option<&mut [MaybeUninit<f32>]>,
    spatial: usize,
    len: usize,
) -> impl IndexedParallelIterator<Item = Option<&mut [MaybeUninit<f32>]>> {
    let rows = len / spatial.max(1);
    match values {
        Some(values) => rayon::iter::Either::Left(values.par_chunks_mut(spatial).map(Some)),
        None => rayon::iter::Either::Right((0..rows).into_par_iter().map(|_| None)),
    }
}

/// The backward pass of [`forward`]. With `g` the masked output gradient, `x̂` the normalised
/// input and `M` the values per channel: `dbeta = Σ g`, `dgamma = Σ g x̂`,
/// `dx = gamma / σ (g - dbeta / M - x̂ dgamma / M)`, `dresidual = g`.
pub fn backward(
    output_grad: &[f32],
    record: &ForwardRecord<'_>,
    shape: BatchNormShape,
) -> BatchNormGradients {
    let len = shape.len();
    assert_eq!(
        output_grad.len(),
        len,
        "output gradient length for {shape:?}"
    );
    assert_eq!(record.input.len(), len, "input length for {shape:?}");
    assert_eq!(record.output.len(), len, "output length for {shape:?}");
    let inv_std = inverse_std(record.stats, record.epsilon);
    let spatial = shape.spatial;
    // With a residual, its gradient is the masked output gradient: written in the same pass as
    // the sums, then read by the input gradient instead of the output gradient and the output
    // (two streams fewer).
    let (residual_grad, row_sums) = if record.residual_gradient {
        // SAFETY: `masked_row_sums` writes every row of `masked`, as long as the gradient.
        let (masked, sums) = unsafe {
            written(len, |masked| {
                masked_row_sums(output_grad, record, shape, Some(masked))
            })
        };
        (Some(masked), sums)
    } else {
        (None, masked_row_sums(output_grad, record, shape, None))
    };
    let (mut beta_grad, mut gamma_grad) =
        (vec![0.0f64; shape.channels], vec![0.0f64; shape.channels]);
    for (row, (sum, weighted)) in row_sums.iter().enumerate() {
        let channel = row % shape.channels;
        beta_grad[channel] += sum;
        gamma_grad[channel] += weighted * inv_std[channel];
    }
    // dx = a g + b (x - mean) + c per channel, from the formula above with x̂ = (x - mean) / σ.
    // The centring comes first: folding `- b mean` into `c` cancels badly when the mean is
    // large next to the spread.
    let count = shape.count() as f64;
    let coefficients: Vec<[f32; 4]> = (0..shape.channels)
        .map(|c| {
            let a = f64::from(record.gamma[c]) * inv_std[c];
            let b = -a * inv_std[c] * gamma_grad[c] / count;
            let offset = -a * beta_grad[c] / count;
            [
                a as f32,
                b as f32,
                offset as f32,
                record.stats[c].mean as f32,
            ]
        })
        .collect();
    let fill = |input_grad: &mut [MaybeUninit<f32>]| {
        let rows = input_grad
            .par_chunks_mut(spatial)
            .zip(record.input.par_chunks(spatial))
            .enumerate()
            .with_min_len(shape.rows_per_task());
        rows.for_each(|(row, (dx, x))| {
            let [a, b, c, mean] = coefficients[row % shape.channels];
            let span = row * spatial..(row + 1) * spatial;
            match &residual_grad {
                Some(masked_grad) => {
                    for ((dx, &g), &x) in dx.iter_mut().zip(&masked_grad[span]).zip(x) {
                        dx.write(a * g + b * (x - mean) + c);
                    }
                }
                None => {
                    let (dy, y) = (&output_grad[span.clone()], &record.output[span]);
                    for (((dx, &d), &o), &x) in dx.iter_mut().zip(dy).zip(y).zip(x) {
                        dx.write(a * masked(d, o, record.relu) + b * (x - mean) + c);
                    }
                }
            }
        });
    };
    // SAFETY: `fill` writes every row of the gradient.
    let (input_grad, ()) = unsafe { written(len, fill) };
    BatchNormGradients {
        input: input_grad,
        gamma: gamma_grad.iter().map(|&v| v as f32).collect(),
        beta: beta_grad.iter().map(|&v| v as f32).collect(),
        residual: residual_grad,
    }
}
