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
//!
//! The passes run over blocks of rows, each block compiled for AVX-512 and AVX2 beside the
//! baseline and picked at run time (`multiversion`), as the Winograd transforms are. On the
//! baseline's 128-bit vectors, with each sum's eight lanes added one float at a time, the passes
//! moved 8-26 GB/s where a plain three-stream loop moves 54-127 GB/s on the same shapes
//! (`examples/batch_norm_timing.rs`, docs/benchmarks.md). The lanes and the order each lane
//! adds in are the same on every path, so the results are the same to the bit.

use std::mem::MaybeUninit;

use multiversion::multiversion;
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

    /// The values of one rayon task's rows.
    fn block_len(&self) -> usize {
        self.rows_per_task() * self.spatial
    }
}

/// One channel's batch statistics: the mean and the biased variance, as `burn::nn::BatchNorm`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelStatistics {
    pub mean: f64,
    pub variance: f64,
}

/// Sums kept in eight f32 lanes, value `i` of a row going to lane `i % 8` (so the compiler
/// vectorises the sums), the lanes added in f64 at the end.
const LANES: usize = 8;

/// The sums of `term` over the values of `inputs` (slices of one length), `K` sums at once:
/// `term` maps the `N` values at one index to `K` terms. Each sum keeps [`LANES`] lanes, index
/// `i` adding into lane `i % LANES`.
#[inline(always)]
fn lane_sums<const N: usize, const K: usize>(
    inputs: [&[f32]; N],
    term: impl Fn([f32; N]) -> [f32; K],
) -> [f64; K] {
    let len = inputs[0].len();
    let whole = len - len % LANES;
    let mut lanes = [[0.0f32; LANES]; K];
    for start in (0..whole).step_by(LANES) {
        // Fixed-size chunks: no bounds checks inside the lanes' loop, which then vectorises.
        let chunks: [&[f32; LANES]; N] = inputs.map(|values| {
            values[start..start + LANES]
                .try_into()
                .expect("a whole chunk")
        });
        for lane in 0..LANES {
            let terms = term(chunks.map(|chunk| chunk[lane]));
            for (sum, value) in lanes.iter_mut().zip(terms) {
                sum[lane] += value;
            }
        }
    }
    for i in whole..len {
        let terms = term(inputs.map(|values| values[i]));
        for (sum, value) in lanes.iter_mut().zip(terms) {
            sum[i - whole] += value;
        }
    }
    lanes.map(|sum| sum.iter().map(|&l| f64::from(l)).sum())
}

/// Mean and sum of squared deviations of one row, two passes over it while it is in cache.
#[inline(always)]
fn row_moments(row: &[f32]) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if has_avx() {
        // SAFETY: the CPU has AVX (just checked).
        return unsafe { avx::row_moments(row) };
    }
    portable_row_moments(row)
}

#[inline(always)]
fn portable_row_moments(row: &[f32]) -> (f64, f64) {
    let [sum] = lane_sums([row], |[v]| [v]);
    let mean = sum / row.len() as f64;
    let deviation = mean as f32;
    let [squares] = lane_sums([row], |[v]| [(v - deviation) * (v - deviation)]);
    let shift = row.len() as f64 * (mean - f64::from(deviation)).powi(2);
    (mean, (squares - shift).max(0.0))
}

/// [`row_moments`] of each row of a block.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn block_moments(block: &[f32], spatial: usize) -> Vec<(f64, f64)> {
    // A loop rather than `map(..).collect()`, whose closure would be compiled apart from this
    // function, for the baseline.
    let mut moments = Vec::with_capacity(block.len() / spatial);
    for row in block.chunks_exact(spatial) {
        moments.push(row_moments(row));
    }
    moments
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
    let blocks: Vec<Vec<(f64, f64)>> = input
        .par_chunks(shape.block_len())
        .map(|block| block_moments(block, shape.spatial))
        .collect();
    let rows = blocks.concat();
    let row_count = shape.spatial as f64;
    // Channels in parallel: at 4x4 maps the combination is 32768 serial steps on one thread.
    (0..shape.channels)
        .into_par_iter()
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
    let block_len = shape.block_len();
    output
        .par_chunks_mut(block_len)
        .zip(input.par_chunks(block_len))
        .enumerate()
        .for_each(|(block, (out, x))| {
            let residual = epilogue
                .residual
                .map(|residual| &residual[block * block_len..][..x.len()]);
            let first_row = block * shape.rows_per_task();
            let rows = AffineRows {
                scale,
                shift,
                first_channel: first_row % shape.channels,
                shape,
                relu: epilogue.relu,
            };
            affine_block(&rows, x, residual, out);
        });
}

/// What [`affine_block`] needs to know of the rows of its block.
struct AffineRows<'a> {
    scale: &'a [f32],
    shift: &'a [f32],
    first_channel: usize,
    shape: BatchNormShape,
    relu: bool,
}

#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn affine_block<'a>(
    rows: &AffineRows<'a>,
    input: &[f32],
    residual: Option<&[f32]>,
    output: &mut [MaybeUninit<f32>],
) {
    let spatial = rows.shape.spatial;
    for (row, (out, x)) in output
        .chunks_exact_mut(spatial)
        .zip(input.chunks_exact(spatial))
        .enumerate()
    {
        let channel = (rows.first_channel + row) % rows.shape.channels;
        let (a, b) = (rows.scale[channel], rows.shift[channel]);
        // `relu` is the same for every value: the compiler takes the test out of the loops.
        let clamp = |v: f32| if rows.relu { v.max(0.0) } else { v };
        match residual {
            Some(residual) => {
                let residual = &residual[row * spatial..][..spatial];
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
    }
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
#[inline(always)]
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
    let block_len = shape.block_len();
    let blocks: Vec<Vec<(f64, f64)>> = output_grad
        .par_chunks(block_len)
        .zip(record.input.par_chunks(block_len))
        .zip(record.output.par_chunks(block_len))
        .zip(optional_blocks(into, block_len, shape.len()))
        .enumerate()
        .map(|(block, (((dy, x), y), masked_out))| {
            let first_row = block * shape.rows_per_task();
            let means: Vec<f32> = (first_row..first_row + dy.len() / shape.spatial)
                .map(|row| record.stats[row % shape.channels].mean as f32)
                .collect();
            let rows = GradientRows {
                output_grad: dy,
                input: x,
                output: y,
                means: &means,
                spatial: shape.spatial,
                relu: record.relu,
            };
            masked_block_sums(&rows, masked_out)
        })
        .collect();
    blocks.concat()
}

/// One block of rows of the backward pass's operands, with each row's channel mean.
struct GradientRows<'a> {
    output_grad: &'a [f32],
    input: &'a [f32],
    output: &'a [f32],
    means: &'a [f32],
    spatial: usize,
    relu: bool,
}

/// [`masked_row_sums`] of one block of rows: both sums in one pass over each row.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn masked_block_sums<'a>(
    rows: &GradientRows<'a>,
    mut masked_out: Option<&mut [MaybeUninit<f32>]>,
) -> Vec<(f64, f64)> {
    let spatial = rows.spatial;
    // A loop rather than `map(..).collect()`, as in `block_moments`.
    let mut sums = Vec::with_capacity(rows.means.len());
    for (row, &mean) in rows.means.iter().enumerate() {
        let span = row * spatial..(row + 1) * spatial;
        let (dy, x, y) = (
            &rows.output_grad[span.clone()],
            &rows.input[span.clone()],
            &rows.output[span.clone()],
        );
        let out = masked_out.as_deref_mut().map(|out| &mut out[span]);
        sums.push(masked_sums_of_row(dy, y, x, mean, rows.relu, out));
    }
    sums
}

/// The sums of the masked gradient `g` and of `g (x - mean)` over one row, writing `g` into
/// `out` when given.
#[inline(always)]
fn masked_sums_of_row(
    dy: &[f32],
    y: &[f32],
    x: &[f32],
    mean: f32,
    relu: bool,
    out: Option<&mut [MaybeUninit<f32>]>,
) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if has_avx() {
        // SAFETY: the CPU has AVX (just checked).
        return unsafe { avx::masked_row_sums(dy, y, x, mean, relu, out) };
    }
    portable_masked_row_sums(dy, y, x, mean, relu, out)
}

#[inline(always)]
fn portable_masked_row_sums(
    dy: &[f32],
    y: &[f32],
    x: &[f32],
    mean: f32,
    relu: bool,
    out: Option<&mut [MaybeUninit<f32>]>,
) -> (f64, f64) {
    if let Some(out) = out {
        for ((out, &d), &o) in out.iter_mut().zip(dy).zip(y) {
            out.write(masked(d, o, relu));
        }
    }
    let [sum, weighted] = lane_sums([dy, y, x], |[d, o, x]| {
        let g = masked(d, o, relu);
        [g, g * (x - mean)]
    });
    (sum, weighted)
}

/// The blocks of `values` when there are any, else as many `None`s: a parallel iterator to zip
/// with the other blocks either way.
fn optional_blocks(
    values: Option<&mut [MaybeUninit<f32>]>,
    block_len: usize,
    len: usize,
) -> impl IndexedParallelIterator<Item = Option<&mut [MaybeUninit<f32>]>> {
    let blocks = len.div_ceil(block_len.max(1));
    match values {
        Some(values) => rayon::iter::Either::Left(values.par_chunks_mut(block_len).map(Some)),
        None => rayon::iter::Either::Right((0..blocks).into_par_iter().map(|_| None)),
    }
}

/// The output gradient as the input gradient's pass reads it.
enum Gradient<'a> {
    /// Already masked (written by the sums' pass).
    Masked(&'a [f32]),
    /// To be masked with the forward's output.
    Output {
        output_grad: &'a [f32],
        output: &'a [f32],
        relu: bool,
    },
}

/// One block of rows of the input gradient's pass: `dx = a g + b (x - mean) + c` per channel.
struct InputGradientRows<'a> {
    /// `[a, b, c, mean]` per channel.
    coefficients: &'a [[f32; 4]],
    first_channel: usize,
    channels: usize,
    spatial: usize,
    input: &'a [f32],
    gradient: Gradient<'a>,
}

#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn input_gradient_block<'a>(rows: &InputGradientRows<'a>, input_grad: &mut [MaybeUninit<f32>]) {
    let spatial = rows.spatial;
    for (row, dx) in input_grad.chunks_exact_mut(spatial).enumerate() {
        let [a, b, c, mean] = rows.coefficients[(rows.first_channel + row) % rows.channels];
        let span = row * spatial..(row + 1) * spatial;
        let x = &rows.input[span.clone()];
        match rows.gradient {
            Gradient::Masked(masked_grad) => {
                for ((dx, &g), &x) in dx.iter_mut().zip(&masked_grad[span]).zip(x) {
                    dx.write(a * g + b * (x - mean) + c);
                }
            }
            Gradient::Output {
                output_grad,
                output,
                relu,
            } => {
                let (dy, y) = (&output_grad[span.clone()], &output[span]);
                for (((dx, &d), &o), &x) in dx.iter_mut().zip(dy).zip(y).zip(x) {
                    dx.write(a * masked(d, o, relu) + b * (x - mean) + c);
                }
            }
        }
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
    let block_len = shape.block_len();
    let fill = |input_grad: &mut [MaybeUninit<f32>]| {
        input_grad
            .par_chunks_mut(block_len)
            .enumerate()
            .for_each(|(block, dx)| {
                let span = block * block_len..block * block_len + dx.len();
                let first_row = block * shape.rows_per_task();
                let rows = InputGradientRows {
                    coefficients: &coefficients,
                    first_channel: first_row % shape.channels,
                    channels: shape.channels,
                    spatial,
                    input: &record.input[span.clone()],
                    gradient: match &residual_grad {
                        Some(masked_grad) => Gradient::Masked(&masked_grad[span]),
                        None => Gradient::Output {
                            output_grad: &output_grad[span.clone()],
                            output: &record.output[span],
                            relu: record.relu,
                        },
                    },
                };
                input_gradient_block(&rows, dx);
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

#[cfg(target_arch = "x86_64")]
fn has_avx() -> bool {
    std::arch::is_x86_feature_detected!("avx")
}

/// The two row reductions on 256-bit vectors, one vector being the eight lanes: the compiler
/// split the portable loops into 128-bit halves and 64-bit loads (the masked sums were 3.8% of
/// the step). The same lanes add the same values in the same order, so the sums are equal to
/// the bit (the test below compares them with the portable path).
#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::{
        __m256, _CMP_LE_OQ, _mm256_add_ps, _mm256_andnot_ps, _mm256_cmp_ps, _mm256_loadu_ps,
        _mm256_mul_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps, _mm256_sub_ps,
    };
    use std::mem::MaybeUninit;

    use super::{LANES, masked};

    fn total(lanes: [f32; LANES]) -> f64 {
        lanes.iter().map(|&l| f64::from(l)).sum()
    }

    fn lanes_of(vector: __m256) -> [f32; LANES] {
        let mut lanes = [0.0f32; LANES];
        // SAFETY: `lanes` holds the vector's eight floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), vector) };
        lanes
    }

    /// # Safety
    /// The CPU must have AVX.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn row_moments(row: &[f32]) -> (f64, f64) {
        let whole = row.len() - row.len() % LANES;
        let mut sum = _mm256_setzero_ps();
        for start in (0..whole).step_by(LANES) {
            // SAFETY: `start + LANES <= row.len()`.
            sum = _mm256_add_ps(sum, unsafe { _mm256_loadu_ps(row.as_ptr().add(start)) });
        }
        let mut sums = lanes_of(sum);
        for (lane, &v) in row[whole..].iter().enumerate() {
            sums[lane] += v;
        }
        let mean = total(sums) / row.len() as f64;
        let deviation = mean as f32;
        let centre = _mm256_set1_ps(deviation);
        let mut squares = _mm256_setzero_ps();
        for start in (0..whole).step_by(LANES) {
            // SAFETY: as above.
            let d = _mm256_sub_ps(unsafe { _mm256_loadu_ps(row.as_ptr().add(start)) }, centre);
            squares = _mm256_add_ps(squares, _mm256_mul_ps(d, d));
        }
        let mut square_sums = lanes_of(squares);
        for (lane, &v) in row[whole..].iter().enumerate() {
            square_sums[lane] += (v - deviation) * (v - deviation);
        }
        let shift = row.len() as f64 * (mean - f64::from(deviation)).powi(2);
        (mean, (total(square_sums) - shift).max(0.0))
    }

    /// The sums of the masked gradient `g` and of `g (x - mean)` over one row, writing `g` into
    /// `out` when given.
    ///
    /// # Safety
    /// The CPU must have AVX.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn masked_row_sums(
        dy: &[f32],
        y: &[f32],
        x: &[f32],
        mean: f32,
        relu: bool,
        mut out: Option<&mut [MaybeUninit<f32>]>,
    ) -> (f64, f64) {
        let len = dy.len();
        assert!(y.len() == len && x.len() == len, "rows of one length");
        assert!(
            out.as_ref().is_none_or(|out| out.len() == len),
            "rows of one length"
        );
        let whole = len - len % LANES;
        let (zero, centre) = (_mm256_setzero_ps(), _mm256_set1_ps(mean));
        let (mut sum, mut weighted) = (zero, zero);
        for start in (0..whole).step_by(LANES) {
            // SAFETY: `start + LANES <= len` for every slice (asserted above).
            let (d, o, v) = unsafe {
                (
                    _mm256_loadu_ps(dy.as_ptr().add(start)),
                    _mm256_loadu_ps(y.as_ptr().add(start)),
                    _mm256_loadu_ps(x.as_ptr().add(start)),
                )
            };
            // `output <= 0.0` (false for NaN, as in `masked`) clears the gradient to +0.0.
            let g = if relu {
                _mm256_andnot_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(o, zero), d)
            } else {
                d
            };
            if let Some(out) = out.as_deref_mut() {
                // SAFETY: as above; MaybeUninit<f32> has the layout of f32.
                unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(start).cast::<f32>(), g) };
            }
            sum = _mm256_add_ps(sum, g);
            weighted = _mm256_add_ps(weighted, _mm256_mul_ps(g, _mm256_sub_ps(v, centre)));
        }
        let (mut sums, mut weighted_sums) = (lanes_of(sum), lanes_of(weighted));
        for i in whole..len {
            let g = masked(dy[i], y[i], relu);
            if let Some(out) = out.as_deref_mut() {
                out[i].write(g);
            }
            sums[i - whole] += g;
            weighted_sums[i - whole] += g * (x[i] - mean);
        }
        (total(sums), total(weighted_sums))
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// Rows of every length class (shorter than the lanes, whole vectors, a remainder), with
    /// negatives, zeros of both signs and clamped outputs.
    fn rows() -> Vec<[Vec<f32>; 3]> {
        [1, 7, 8, 16, 13, 49, 196, 784]
            .into_iter()
            .map(|len| {
                let value = |seed: usize, i: usize| {
                    let v = ((i * 7919 + seed * 104_729) % 2001) as f32 / 1000.0 - 1.0;
                    if i % 11 == 3 { -0.0 } else { v * 3.7 + 0.25 }
                };
                [0, 1, 2].map(|seed| (0..len).map(|i| value(seed, i)).collect())
            })
            .collect()
    }

    #[test]
    fn vector_row_sums_equal_the_portable_ones_to_the_bit() {
        if !has_avx() {
            return;
        }
        for [dy, y, x] in rows() {
            // SAFETY: the CPU has AVX (checked above).
            let vector = unsafe { avx::row_moments(&x) };
            let portable = portable_row_moments(&x);
            assert_eq!(
                vector.0.to_bits(),
                portable.0.to_bits(),
                "mean, {} values",
                x.len()
            );
            assert_eq!(
                vector.1.to_bits(),
                portable.1.to_bits(),
                "squares, {} values",
                x.len()
            );
            for relu in [false, true] {
                let mean = 0.125;
                let mut vector_out = vec![MaybeUninit::new(f32::NAN); dy.len()];
                let mut portable_out = vec![MaybeUninit::new(f32::NAN); dy.len()];
                // SAFETY: as above.
                let vector =
                    unsafe { avx::masked_row_sums(&dy, &y, &x, mean, relu, Some(&mut vector_out)) };
                let portable =
                    portable_masked_row_sums(&dy, &y, &x, mean, relu, Some(&mut portable_out));
                assert_eq!(vector.0.to_bits(), portable.0.to_bits(), "sum, relu {relu}");
                assert_eq!(
                    vector.1.to_bits(),
                    portable.1.to_bits(),
                    "weighted, relu {relu}"
                );
                let bits = |out: &[MaybeUninit<f32>]| -> Vec<u32> {
                    // SAFETY: both paths write every value.
                    out.iter()
                        .map(|v| unsafe { v.assume_init() }.to_bits())
                        .collect()
                };
                assert_eq!(
                    bits(&vector_out),
                    bits(&portable_out),
                    "masked, relu {relu}"
                );
            }
        }
    }
}
