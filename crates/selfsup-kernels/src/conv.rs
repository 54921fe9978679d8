//! Convolution forward, input gradient and weight gradient on f32 slices in NCHW order, each
//! one GEMM per image on its unfolded matrix, images spread over rayon's threads.
//!
//! Why per image: Burn's generic backward (what flex runs) computes the input gradient with
//! `conv_transpose2d`, which walks the batch one image at a time on one thread and threads its
//! GEMM only above 192^3 multiply-adds, then folds on one thread; and the weight gradient as a
//! convolution over swapped axes (strided copies on one thread, a GEMM with N = 9). Here every
//! image is an independent task, so both cores stay busy at any width.

use rayon::prelude::*;

use crate::geometry::ConvGeometry;
use crate::matmul::{MatRef, matmul};
use crate::unfold::{fold_add, unfold};

/// Weight-gradient partial sums: a fixed number of groups of consecutive images, summed in
/// group order, so the result does not depend on how many threads ran them.
const WEIGHT_GRADIENT_GROUPS: usize = 16;

fn unfolded_len(g: &ConvGeometry) -> usize {
    if g.is_pointwise() {
        0
    } else {
        g.patch_len() * g.out_pixels()
    }
}

/// The unfolded matrix of `image`: the image itself for a pointwise convolution, otherwise
/// written into `buffer`.
fn unfolded<'a>(image: &'a [f32], g: &ConvGeometry, buffer: &'a mut [f32]) -> &'a [f32] {
    if g.is_pointwise() {
        image
    } else {
        unfold(image, g, buffer);
        buffer
    }
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

/// `output = conv(input, weight)`: input `[batch, in, h, w]`, weight `[out, in, kh, kw]`,
/// output `[batch, out, oh, ow]`.
pub fn forward(input: &[f32], weight: &[f32], g: &ConvGeometry, output: &mut [f32]) {
    check_lengths(g, input.len(), weight.len(), output.len());
    let (image_len, out_image_len) = (g.image_len(), g.out_image_len());
    if out_image_len == 0 {
        return;
    }
    let weight = MatRef::new(weight, g.out_channels, g.patch_len());
    output
        .par_chunks_mut(out_image_len)
        .enumerate()
        .for_each_init(
            || vec![0.0f32; unfolded_len(g)],
            |buffer, (n, out_image)| {
                let columns = unfolded(&input[n * image_len..][..image_len], g, buffer);
                let columns = MatRef::new(columns, g.patch_len(), g.out_pixels());
                matmul(out_image, weight, columns, false);
            },
        );
}

/// The gradient of the loss with respect to the input, from its gradient `output_grad` with
/// respect to the output.
pub fn backward_input(
    output_grad: &[f32],
    weight: &[f32],
    g: &ConvGeometry,
    input_grad: &mut [f32],
) {
    check_lengths(g, input_grad.len(), weight.len(), output_grad.len());
    let (image_len, out_image_len) = (g.image_len(), g.out_image_len());
    if image_len == 0 {
        return;
    }
    if let Some(adjoint) = stride_one_adjoint(g) {
        let flipped = flipped_transposed(weight, g);
        forward(output_grad, &flipped, &adjoint, input_grad);
        return;
    }
    // W^T: [patch_len, out_channels].
    let weight_t = MatRef::transposed(weight, g.patch_len(), g.out_channels);
    input_grad
        .par_chunks_mut(image_len)
        .enumerate()
        .for_each_init(
            || vec![0.0f32; unfolded_len(g)],
            |buffer, (n, image_grad)| {
                let out_grad = MatRef::new(
                    &output_grad[n * out_image_len..][..out_image_len],
                    g.out_channels,
                    g.out_pixels(),
                );
                if g.is_pointwise() {
                    matmul(image_grad, weight_t, out_grad, false);
                } else {
                    matmul(buffer, weight_t, out_grad, false);
                    image_grad.fill(0.0);
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
pub fn backward_weight(
    input: &[f32],
    output_grad: &[f32],
    g: &ConvGeometry,
    weight_grad: &mut [f32],
) {
    check_lengths(g, input.len(), weight_grad.len(), output_grad.len());
    let (image_len, out_image_len) = (g.image_len(), g.out_image_len());
    let groups = g.batch.min(WEIGHT_GRADIENT_GROUPS);
    if groups == 0 || out_image_len == 0 {
        weight_grad.fill(0.0);
        return;
    }
    let partials: Vec<Vec<f32>> = (0..groups)
        .into_par_iter()
        .map(|group| {
            let images = group * g.batch / groups..(group + 1) * g.batch / groups;
            let mut partial = vec![0.0f32; g.weight_len()];
            let mut buffer = vec![0.0f32; unfolded_len(g)];
            for (i, n) in images.enumerate() {
                let columns = unfolded(&input[n * image_len..][..image_len], g, &mut buffer);
                matmul(
                    &mut partial,
                    MatRef::new(
                        &output_grad[n * out_image_len..][..out_image_len],
                        g.out_channels,
                        g.out_pixels(),
                    ),
                    MatRef::transposed(columns, g.out_pixels(), g.patch_len()),
                    i > 0,
                );
            }
            partial
        })
        .collect();
    weight_grad
        .par_chunks_mut(4096)
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
}
