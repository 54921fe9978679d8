//! Direct 3x3 convolution for the layers with few input channels: the first stage's 16-channel
//! layers, forward and input gradient (which is such a convolution too), and the forward of
//! the stride-2 layers on maps 7 wide or more.
//!
//! Why: there im2col writes nine copies of the input (144 rows per image at 16 channels) and
//! gemm packs them again: the layers ran at 140 GFLOP/s and, at 158 ms, were the largest
//! share of the step (docs/benchmarks.md). Here every tap reads the input where it
//! lies: the image is padded once, its rows one flat array (`width + 2` per row), so output
//! position `q` of tap `(ky, kx)` reads `q + ky * (width + 2) + kx` and a run of positions is
//! one contiguous load. The two columns a padded row has beyond the image are computed and
//! dropped (2 of 30 at 28x28). A stride-2 layer is first split into its input's four parity
//! planes (even or odd rows, even or odd columns), each padded the same way: tap `(ky, kx)`
//! then reads one plane at a fixed offset, again one contiguous load per run.
//!
//! Each output value is the sum over input channel, then kernel row, then column, of fused
//! multiply-adds from zero: the order and the roundings of gemm's tiled product on the
//! unfolded matrix, whose rows are in that order, so on the networks' shapes both paths give
//! the same bits (the test below) and a training run does not change.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::geometry::ConvGeometry;

/// Output channels computed together: each input load feeds this many.
pub(crate) const CHANNELS: usize = 8;

/// Flat positions computed together: two 16-float vectors. With [`CHANNELS`] that is 16
/// AVX-512 accumulators, half the register file.
const RUN: usize = 32;

/// Taps of a 3x3 kernel.
const TAPS: usize = 9;

/// Whether `g` is a layer this kernel computes: 3x3, padding 1, at least 8 input channels
/// (below, as the stem's one, copying the image into and out of the padded layout cost more
/// than im2col: 1.9 against 1.6 ms), output channels in whole blocks, on a CPU with AVX-512
/// (its 32 vector registers hold the accumulators; with AVX2's 16 they would spill). Stride 1
/// below 32 input channels (from 32 up Winograd does less arithmetic); stride 2 on outputs 7
/// wide or more (on a 4x4 output a run of 32 positions holds 16 pixels).
pub fn applies(g: &ConvGeometry) -> bool {
    let stride_fits = match g.stride {
        [1, 1] => g.in_channels < 32,
        [2, 2] => g.out_width() >= 7,
        _ => false,
    };
    g.kernel == [3, 3]
        && g.padding == [1, 1]
        && stride_fits
        && g.in_channels >= 8
        && g.out_channels.is_multiple_of(CHANNELS)
        && has_avx512()
}

pub(crate) fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The padded layout of one image: per channel one plane (stride 1) or four parity planes
/// (stride 2), each `row` floats per row with zeros around the pixels.
#[derive(Clone, Copy)]
pub(crate) struct Layout {
    /// Floats per padded row: a zero before the pixels of an output row's span, and after
    /// them at stride 1.
    pub(crate) row: usize,
    /// Output positions, `out_height` rows of `row`, rounded up to whole runs.
    pub(crate) positions: usize,
    /// Floats per plane: the positions plus what the last run's taps read beyond them.
    pub(crate) plane: usize,
    /// Floats per channel: its planes.
    pub(crate) channel: usize,
    /// Where tap `ky * 3 + kx` of output position 0 reads, from the channel's start.
    pub(crate) taps: [usize; TAPS],
}

impl Layout {
    pub(crate) fn of(g: &ConvGeometry) -> Self {
        let stride = g.stride[0];
        // Stride 1: input (y, x) at (y + 1, x + 1) of a plane `width + 2` wide. Stride 2:
        // input (2i + ry, 2j + rx) at (i + 1, j + 1) of plane (ry, rx), `out_width + 1` wide.
        let row = if stride == 1 {
            g.width + 2
        } else {
            g.out_width() + 1
        };
        let positions = (g.out_height() * row).next_multiple_of(RUN);
        let plane = positions + 2 * row + 2;
        let taps = std::array::from_fn(|tap| {
            let (ky, kx) = (tap / 3, tap % 3);
            if stride == 1 {
                return ky * row + kx;
            }
            // Offset k - 1 = 2q + r: plane r, its row (or column) q + 1 = ceil(k / 2) in the
            // stored plane, which starts with a zero row (column) for q = -1.
            let (ry, qy) = ((ky + 1) % 2, ky.div_ceil(2));
            let (rx, qx) = ((kx + 1) % 2, kx.div_ceil(2));
            (ry * 2 + rx) * plane + qy * row + qx
        });
        Self {
            row,
            positions,
            plane,
            channel: plane * stride * stride,
            taps,
        }
    }
}

/// Copies `image` into its planes; what it does not write stays as it was (zero).
pub(crate) fn fill_planes(image: &[f32], g: &ConvGeometry, layout: Layout, padded: &mut [f32]) {
    for (channel, pixels) in image.chunks_exact(g.in_pixels()).enumerate() {
        let planes = &mut padded[channel * layout.channel..][..layout.channel];
        if g.stride == [1, 1] {
            for (y, row) in pixels.chunks_exact(g.width).enumerate() {
                copy_row(row, &mut planes[(y + 1) * layout.row + 1..][..g.width]);
            }
            continue;
        }
        for (y, row) in pixels.chunks_exact(g.width).enumerate() {
            let (ry, i) = (y % 2, y / 2);
            if i >= g.out_height() {
                continue;
            }
            for rx in 0..2 {
                let plane = &mut planes[(ry * 2 + rx) * layout.plane..][..layout.plane];
                let line = &mut plane[(i + 1) * layout.row + 1..][..g.out_width()];
                for (value, &pixel) in line.iter_mut().zip(row[rx..].iter().step_by(2)) {
                    *value = pixel;
                }
            }
        }
    }
}

/// `to = from` in a plain loop, which the compiler inlines and vectorises, instead of a
/// `memmove` call per row of 4 to 28 floats (the profile put 2.8% of the WCL step at width 16
/// in `memmove` under this padding; `examples/conv_timing.rs` measured the kernels the same
/// either way, 274-278 against 274-294 ms for all convolutions, AMD EPYC family 26).
#[inline(always)]
pub(crate) fn copy_row(from: &[f32], to: &mut [f32]) {
    for (t, &f) in to.iter_mut().zip(from) {
        *t = f;
    }
}

/// The weight `[out, in, 3, 3]` regrouped as `[out / CHANNELS][in][tap][CHANNELS]`: what one
/// block of output channels needs at one step, side by side.
fn blocked_weight(weight: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let cin = g.in_channels;
    let mut blocked = vec![0.0f32; weight.len()];
    for (filter, taps) in weight.chunks_exact(TAPS).enumerate() {
        let (co, ci) = (filter / cin, filter % cin);
        let (block, lane) = (co / CHANNELS, co % CHANNELS);
        for (tap, &value) in taps.iter().enumerate() {
            blocked[((block * cin + ci) * TAPS + tap) * CHANNELS + lane] = value;
        }
    }
    blocked
}

/// `output = conv(input, weight)` for a geometry [`applies`] accepts; every value of `output`
/// is written, so it may start uninitialised.
pub fn forward(input: &[f32], weight: &[f32], g: &ConvGeometry, output: &mut [MaybeUninit<f32>]) {
    let blocked = blocked_weight(weight, g);
    let (image_len, out_image_len) = (g.image_len(), g.out_image_len());
    output
        .par_chunks_mut(out_image_len)
        .enumerate()
        .for_each_init(Vec::new, |padded, (n, out)| {
            let image = &input[n * image_len..][..image_len];
            convolve_image(image, &blocked, g, padded, out);
        });
}

/// One image: padded into `padded` (its borders stay zero from one image to the next: only
/// the interior is ever written), then convolved one run of positions at a time, each run's
/// sums going straight to the output pixels they belong to.
fn convolve_image(
    image: &[f32],
    blocked: &[f32],
    g: &ConvGeometry,
    padded: &mut Vec<f32>,
    out: &mut [MaybeUninit<f32>],
) {
    let layout = Layout::of(g);
    let cin = g.in_channels;
    if padded.len() != cin * layout.channel {
        padded.clear();
        padded.resize(cin * layout.channel, 0.0);
    }
    fill_planes(image, g, layout, padded);
    let block_len = cin * TAPS * CHANNELS;
    let mut sums = [[0.0f32; RUN]; CHANNELS];
    for (block, weights) in blocked.chunks_exact(block_len).enumerate() {
        let channels = &mut out[block * CHANNELS * g.out_pixels()..][..CHANNELS * g.out_pixels()];
        for start in (0..layout.positions).step_by(RUN) {
            run_of_block(padded, weights, cin, layout, start, &mut sums);
            scatter_run(&sums, start, layout, g, channels);
        }
    }
}

/// Writes the sums of the run at `start` to the pixels of the block's `channels` (`[CHANNELS,
/// height, width]`), one segment of a padded row at a time, dropping the positions outside the
/// image.
fn scatter_run(
    sums: &[[f32; RUN]; CHANNELS],
    start: usize,
    layout: Layout,
    g: &ConvGeometry,
    channels: &mut [MaybeUninit<f32>],
) {
    let (height, width) = (g.out_height(), g.out_width());
    let end = (start + RUN).min(height * layout.row);
    let mut position = start;
    while position < end {
        let (y, x) = (position / layout.row, position % layout.row);
        let segment_end = ((y + 1) * layout.row).min(end);
        if x < width {
            let count = width.min(x + segment_end - position) - x;
            for (lane, values) in sums.iter().enumerate() {
                let pixels = &mut channels[lane * g.out_pixels() + y * width + x..][..count];
                for (pixel, &value) in pixels.iter_mut().zip(&values[position - start..]) {
                    pixel.write(value);
                }
            }
        }
        position = segment_end;
    }
}

/// The sums of [`RUN`] flat positions from `start` for one block of [`CHANNELS`] output
/// channels, over every input channel and tap in the unfolded matrix's order, into `sums`.
fn run_of_block(
    padded: &[f32],
    weights: &[f32],
    cin: usize,
    layout: Layout,
    start: usize,
    sums: &mut [[f32; RUN]; CHANNELS],
) {
    #[cfg(target_arch = "x86_64")]
    {
        assert!(has_avx512(), "the direct kernel needs AVX-512");
        // SAFETY: the CPU has AVX-512F (just checked).
        unsafe { avx512::run_of_block(padded, weights, cin, layout, start, sums) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (padded, weights, cin, layout, start, sums);
        panic!("the direct kernel needs AVX-512 (`applies` is false here)");
    }
}

/// Written with intrinsics: the compiler did not vectorise the same loops over arrays (it kept
/// the sums on the stack, one scalar multiply-add at a time, 10x slower than im2col).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
        _mm512_storeu_ps,
    };

    use super::{CHANNELS, Layout, RUN, TAPS};

    /// Floats per AVX-512 vector; a run is two.
    const LANES: usize = 16;

    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn run_of_block(
        padded: &[f32],
        weights: &[f32],
        cin: usize,
        layout: Layout,
        start: usize,
        out: &mut [[f32; RUN]; CHANNELS],
    ) {
        let mut sums: [__m512; 2 * CHANNELS] = [_mm512_setzero_ps(); 2 * CHANNELS];
        for ci in 0..cin {
            let planes = &padded[ci * layout.channel..][..layout.channel];
            for (tap, &offset) in layout.taps.iter().enumerate() {
                let values = &planes[start + offset..][..RUN];
                // SAFETY: `values` holds RUN = 2 x LANES floats.
                let (low, high) = unsafe {
                    (
                        _mm512_loadu_ps(values.as_ptr()),
                        _mm512_loadu_ps(values.as_ptr().add(LANES)),
                    )
                };
                let block = &weights[(ci * TAPS + tap) * CHANNELS..][..CHANNELS];
                for (lane, &weight) in block.iter().enumerate() {
                    let w = _mm512_set1_ps(weight);
                    // w * x + sum in one rounding, as gemm's kernel adds its products.
                    sums[2 * lane] = _mm512_fmadd_ps(w, low, sums[2 * lane]);
                    sums[2 * lane + 1] = _mm512_fmadd_ps(w, high, sums[2 * lane + 1]);
                }
            }
        }
        for (lane, values) in out.iter_mut().enumerate() {
            // SAFETY: each row of `out` holds RUN = 2 x LANES floats.
            unsafe {
                _mm512_storeu_ps(values.as_mut_ptr(), sums[2 * lane]);
                _mm512_storeu_ps(values.as_mut_ptr().add(LANES), sums[2 * lane + 1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matmul::{MatRef, matmul};
    use crate::unfold::unfold;

    /// The im2col product, one image at a time, as the general path computes it.
    fn unfolded_product(input: &[f32], weight: &[f32], g: &ConvGeometry) -> Vec<f32> {
        let mut output = vec![0.0f32; g.output_len()];
        let mut columns = vec![0.0f32; g.patch_len() * g.out_pixels()];
        for (image, out) in input
            .chunks_exact(g.image_len())
            .zip(output.chunks_exact_mut(g.out_image_len()))
        {
            unfold(image, g, &mut columns, g.out_pixels());
            matmul(
                out,
                MatRef::new(weight, g.out_channels, g.patch_len()),
                MatRef::new(&columns, g.patch_len(), g.out_pixels()),
                false,
            );
        }
        output
    }

    /// On maps of a few pixels gemm takes another route (a 1x1 map is a matrix-vector
    /// product), so these are the shapes where it runs its tiled kernel; tests/
    /// conv_against_burn.rs checks every shape against float64.
    #[test]
    fn gives_the_bits_of_the_unfolded_product() {
        if !has_avx512() {
            return;
        }
        for (batch, cin, cout, height, width, stride) in [
            (2, 16, 32, 28, 28, 2),
            (3, 32, 64, 14, 14, 2),
            (2, 8, 16, 15, 13, 2),
            (2, 16, 16, 28, 28, 1),
            (3, 8, 16, 28, 28, 1),
            (1, 9, 8, 5, 7, 1),
            (2, 20, 24, 4, 4, 1),
            (2, 10, 16, 13, 2, 1),
        ] {
            let g = ConvGeometry {
                batch,
                in_channels: cin,
                height,
                width,
                out_channels: cout,
                kernel: [3, 3],
                stride: [stride; 2],
                padding: [1, 1],
            };
            assert!(applies(&g));
            let input: Vec<f32> = (0..g.input_len())
                .map(|i| ((i * 7919) % 1000) as f32 / 250.0 - 2.0)
                .collect();
            let weight: Vec<f32> = (0..g.weight_len())
                .map(|i| ((i * 104_729) % 997) as f32 / 500.0 - 1.0)
                .collect();
            let mut output = vec![MaybeUninit::new(f32::NAN); g.output_len()];
            forward(&input, &weight, &g, &mut output);
            let got: Vec<u32> = output
                .iter()
                .map(|v| unsafe { v.assume_init() }.to_bits())
                .collect();
            let want: Vec<u32> = unfolded_product(&input, &weight, &g)
                .iter()
                .map(|v| v.to_bits())
                .collect();
            assert!(got == want, "{g:?}");
        }
    }
}
