//! Convolution forward, input gradient and weight gradient on f32 slices in NCHW order, each
//! one GEMM per image on its unfolded matrix, images spread over rayon's threads.
//!
//! Why per image: Burn's generic backward (what flex runs) computes the input gradient with
//! `conv_transpose2d`, which walks the batch one image at a time on one thread and threads its
//! GEMM only above 192^3 multiply-adds, then folds on one thread; and the weight gradient as a
//! convolution over swapped axes (strided copies on one thread, a GEMM with N = 9). Here every
//! image is an independent task, so both cores stay busy at any width.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::direct;
use crate::direct_weight_gradient;
use crate::geometry::ConvGeometry;
use crate::matmul::{MatRef, as_uninit, matmul, matmul_into};
use crate::strided_input_gradient;
use crate::unfold::{fold_add, unfold};
use crate::winograd;

/// Weight-gradient partial sums: a fixed number of groups of consecutive images, summed in
/// group order, so the result does not depend on how many threads ran them.
const WEIGHT_GRADIENT_GROUPS: usize = 16;

/// gemm computes the product in tiles of 16-float vectors along the pixels. When one image's
/// pixel count is not a multiple of 16 (7x7 = 49), the last vector is partly empty: several
/// images then share one GEMM, their unfolded matrices side by side, at least this many pixels
/// wide. Measured on the 7x7 layer at width 16 (`examples/conv_timing.rs`): forward 6.8 ms per
/// image, 6.0 ms with 3 images per GEMM. Multiples of 16 stay one image per GEMM: wider
/// matrices only leave the cache sooner (the 4x4 layer: 7.1 ms alone, 8.0 ms with 24).
const MIN_PIXELS_WHEN_UNALIGNED: usize = 128;

/// How many images share one GEMM (see [`MIN_PIXELS_WHEN_UNALIGNED`]).
fn images_per_gemm(g: &ConvGeometry) -> usize {
    let pixels = g.out_pixels().max(1);
    if pixels.is_multiple_of(16) {
        return 1;
    }
    MIN_PIXELS_WHEN_UNALIGNED
        .div_ceil(pixels)
        .clamp(1, g.batch.max(1))
}

/// The unfolded matrix `[patch_len, images * out_pixels]` of `images` consecutive images
/// starting at `first`, image `i` in columns `i * out_pixels..`. A single pointwise image is
/// its own unfolded matrix; everything else is written into `buffer`.
fn unfolded_images<'a>(
    input: &'a [f32],
    g: &ConvGeometry,
    first: usize,
    images: usize,
    buffer: &'a mut Vec<f32>,
) -> MatRef<'a> {
    let (image_len, pixels) = (g.image_len(), g.out_pixels());
    let width = images * pixels;
    if images == 1 && g.is_pointwise() {
        return MatRef::new(
            &input[first * image_len..][..image_len],
            g.patch_len(),
            width,
        );
    }
    buffer.resize(g.patch_len() * width, 0.0);
    for i in 0..images {
        let image = &input[(first + i) * image_len..][..image_len];
        unfold(image, g, &mut buffer[i * pixels..], width);
    }
    MatRef::new(buffer, g.patch_len(), width)
}

fn check_lengths(g: &ConvGeometry, input: usize, weight: usize, output: usize) {
    assert!(
        g.is_valid(),
        "{g:?}: the kernel does not fit the padded input"
    );
    assert_eq!(input, g.input_len(), "input length for {g:?}");
    assert_eq!(weight, g.weight_len(), "weight length for {g:?}");
    assert_eq!(output, g.output_len(), "output length for {g:?}");
}

/// Per-thread scratch space of the forward pass.
#[derive(Default)]
struct ForwardBuffers {
    columns: Vec<f32>,
    product: Vec<f32>,
}

/// `output = conv(input, weight)`: input `[batch, in, h, w]`, weight `[out, in, kh, kw]`,
/// output `[batch, out, oh, ow]`.
pub fn forward(input: &[f32], weight: &[f32], g: &ConvGeometry, output: &mut [f32]) {
    forward_into(input, weight, g, as_uninit(output));
}

/// [`forward`] into a buffer that may start uninitialised: every value is written.
pub fn forward_into(
    input: &[f32],
    weight: &[f32],
    g: &ConvGeometry,
    output: &mut [MaybeUninit<f32>],
) {
    check_lengths(g, input.len(), weight.len(), output.len());
    let (pixels, out_image_len) = (g.out_pixels(), g.out_image_len());
    if out_image_len == 0 {
        return;
    }
    if winograd::applies(g) {
        winograd::forward(input, weight, g, output);
        return;
    }
    if direct::applies(g) {
        direct::forward(input, weight, g, output);
        return;
    }
    let weight = MatRef::new(weight, g.out_channels, g.patch_len());
    let group = images_per_gemm(g);
    output
        .par_chunks_mut(group * out_image_len)
        .enumerate()
        .for_each_init(ForwardBuffers::default, |buffers, (chunk, out_images)| {
            let images = out_images.len() / out_image_len;
            let columns = unfolded_images(input, g, chunk * group, images, &mut buffers.columns);
            if images == 1 {
                matmul_into(out_images, weight, columns);
                return;
            }
            // The product is [out, images * pixels]; each image's block goes to its place.
            let width = images * pixels;
            buffers.product.resize(g.out_channels * width, 0.0);
            matmul(&mut buffers.product, weight, columns, false);
            for (channel, row) in buffers.product.chunks_exact(width).enumerate() {
                for (i, block) in row.chunks_exact(pixels).enumerate() {
                    let out = &mut out_images[(i * g.out_channels + channel) * pixels..][..pixels];
                    for (o, &value) in out.iter_mut().zip(block) {
                        o.write(value);
                    }
                }
            }
        });
}

/// The gradient of the loss with respect to the input, from its gradient `output_grad` with
/// respect to the output.
pub fn backward_input(
    output_grad: &[f32],
    weight: &[f32],
    g: &ConvGeometry,
    input_grad: &mut [f32],
) {
    backward_input_into(output_grad, weight, g, as_uninit(input_grad));
}

/// [`backward_input`] into a buffer that may start uninitialised: every value is written.
pub fn backward_input_into(
    output_grad: &[f32],
    weight: &[f32],
    g: &ConvGeometry,
    input_grad: &mut [MaybeUninit<f32>],
) {
    check_lengths(g, input_grad.len(), weight.len(), output_grad.len());
    let (image_len, out_image_len) = (g.image_len(), g.out_image_len());
    if image_len == 0 {
        return;
    }
    if let Some(adjoint) = stride_one_adjoint(g) {
        let flipped = flipped_transposed(weight, g);
        forward_into(output_grad, &flipped, &adjoint, input_grad);
        return;
    }
    if strided_input_gradient::applies(g) {
        strided_input_gradient::backward_input(output_grad, weight, g, input_grad);
        return;
    }
    // W^T: [patch_len, out_channels].
    let weight_t = MatRef::transposed(weight, g.patch_len(), g.out_channels);
    input_grad
        .par_chunks_mut(image_len)
        .enumerate()
        .for_each_init(
            || {
                vec![
                    0.0f32;
                    if g.is_pointwise() {
                        0
                    } else {
                        g.patch_len() * g.out_pixels()
                    }
                ]
            },
            |buffer, (n, image_grad)| {
                let out_grad = MatRef::new(
                    &output_grad[n * out_image_len..][..out_image_len],
                    g.out_channels,
                    g.out_pixels(),
                );
                if g.is_pointwise() {
                    matmul_into(image_grad, weight_t, out_grad);
                } else {
                    matmul(buffer, weight_t, out_grad, false);
                    image_grad.fill(MaybeUninit::new(0.0));
                    // SAFETY: every value was just initialised to zero.
                    let image_grad =
                        unsafe { &mut *(image_grad as *mut [MaybeUninit<f32>] as *mut [f32]) };
                    fold_add(buffer, g, image_grad);
                }
            },
        );
}

/// For a stride-1 convolution, the input gradient is itself a convolution: of the output
/// gradient with the weight flipped in space and with in/out channels swapped, padded by
/// `kernel - 1 - padding`. Computed that way it is im2col + GEMM like the forward pass,
/// instead of GEMM + col2im, whose scattered adds cost 8% of the step (docs/benchmarks.md).
fn stride_one_adjoint(g: &ConvGeometry) -> Option<ConvGeometry> {
    let [kh, kw] = g.kernel;
    let stride_one = g.stride == [1, 1] && !g.is_pointwise();
    let fits = g.padding[0] < kh && g.padding[1] < kw;
    (stride_one && fits).then(|| ConvGeometry {
        batch: g.batch,
        in_channels: g.out_channels,
        height: g.out_height(),
        width: g.out_width(),
        out_channels: g.in_channels,
        kernel: g.kernel,
        stride: [1, 1],
        padding: [kh - 1 - g.padding[0], kw - 1 - g.padding[1]],
    })
}

/// `flipped[ci][co][ky][kx] = weight[co][ci][kh - 1 - ky][kw - 1 - kx]`.
fn flipped_transposed(weight: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let [kh, kw] = g.kernel;
    let (cin, cout) = (g.in_channels, g.out_channels);
    let mut flipped = vec![0.0f32; weight.len()];
    for co in 0..cout {
        for ci in 0..cin {
            for ky in 0..kh {
                for kx in 0..kw {
                    let from = ((co * cin + ci) * kh + (kh - 1 - ky)) * kw + (kw - 1 - kx);
                    flipped[((ci * cout + co) * kh + ky) * kw + kx] = weight[from];
                }
            }
        }
    }
    flipped
}

/// The gradient of the loss with respect to the weight: the sum over images of
/// `output_grad[n] x unfold(input[n])^T`.
///
/// Computed transposed, `unfold(input[n]) x output_grad[n]^T` into `[patch_len, out]`: gemm
/// reads the unfolded matrix row by row that way, at 202 GFLOP/s on the first stage's shape
/// against 113 for the product in weight order (`examples/conv_timing.rs`).
pub fn backward_weight(
    input: &[f32],
    output_grad: &[f32],
    g: &ConvGeometry,
    weight_grad: &mut [f32],
) {
    check_lengths(g, input.len(), weight_grad.len(), output_grad.len());
    let (pixels, out_image_len) = (g.out_pixels(), g.out_image_len());
    let groups = g.batch.min(WEIGHT_GRADIENT_GROUPS);
    if groups == 0 || out_image_len == 0 {
        weight_grad.fill(0.0);
        return;
    }
    let per_gemm = images_per_gemm(g);
    let winograd = winograd::applies_to_weight_gradient(g);
    let direct = direct_weight_gradient::applies(g);
    let partials: Vec<Vec<f32>> = (0..groups)
        .into_par_iter()
        .map(|group| {
            let images = group * g.batch / groups..(group + 1) * g.batch / groups;
            if winograd {
                return winograd::weight_gradient_components(input, output_grad, g, images);
            }
            if direct {
                return direct_weight_gradient::weight_gradient_partial(
                    input,
                    output_grad,
                    g,
                    images,
                );
            }
            let mut partial = vec![0.0f32; g.weight_len()];
            let (mut columns, mut gathered) = (Vec::new(), Vec::new());
            for (step, first) in images.clone().step_by(per_gemm).enumerate() {
                let count = per_gemm.min(images.end - first);
                let unfolded = unfolded_images(input, g, first, count, &mut columns);
                let gradients = &output_grad[first * out_image_len..][..count * out_image_len];
                let gradients = if count == 1 {
                    gradients
                } else {
                    gather_channel_rows(gradients, g.out_channels, pixels, &mut gathered);
                    &gathered
                };
                matmul(
                    &mut partial,
                    unfolded,
                    MatRef::transposed(gradients, count * pixels, g.out_channels),
                    step > 0,
                );
            }
            partial
        })
        .collect();
    // The sum over groups in group order, in the partials' [patch_len, out] order (contiguous
    // reads), then turned over into the weight's [out, patch_len].
    let mut sum = vec![0.0f32; partials[0].len()];
    sum.par_chunks_mut(4096)
        .enumerate()
        .for_each(|(chunk, out)| {
            let start = chunk * 4096;
            out.copy_from_slice(&partials[0][start..start + out.len()]);
            for partial in &partials[1..] {
                for (o, p) in out.iter_mut().zip(&partial[start..]) {
                    *o += p;
                }
            }
        });
    if winograd {
        winograd::weight_from_components(&sum, g, weight_grad);
        return;
    }
    let patch_len = g.patch_len();
    weight_grad
        .par_chunks_mut(patch_len)
        .enumerate()
        .for_each(|(channel, row)| {
            for (p, out) in row.iter_mut().enumerate() {
                *out = sum[p * g.out_channels + channel];
            }
        });
}

/// `[images, channels, pixels]` -> `[channels, images * pixels]`: the output gradients of
/// several images as one matrix, matching their unfolded matrices side by side.
fn gather_channel_rows(gradients: &[f32], channels: usize, pixels: usize, out: &mut Vec<f32>) {
    let images = gradients.len() / (channels * pixels);
    out.resize(gradients.len(), 0.0);
    for (i, image) in gradients.chunks_exact(channels * pixels).enumerate() {
        for (channel, values) in image.chunks_exact(pixels).enumerate() {
            out[(channel * images + i) * pixels..][..pixels].copy_from_slice(values);
        }
    }
}
