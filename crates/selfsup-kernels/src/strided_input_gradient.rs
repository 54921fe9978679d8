//! The input gradient of the 3x3 stride-2 pad-1 layers without col2im: each parity plane of
//! the input gradient (even or odd rows, even or odd columns) is a small stride-1 correlation
//! of the output gradient with the one, two or four taps that reach it.
//!
//! Why: the general path multiplies the weight by each image's output gradient (a GEMM whose
//! inner dimension is only the output channels) and then adds the nine taps back one strided
//! value at a time (`fold_add`): 80-100 GFLOP/s on the first two strided layers
//! (`examples/conv_timing.rs`). Here each tap's sum over output channels is a run of fused
//! multiply-adds in registers, and the taps are added in the order `fold_add` adds them, so
//! the bits are the same (the test below).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::direct::{CHANNELS, copy_row, has_avx512};
use crate::geometry::ConvGeometry;

/// Plane positions computed together: one 16-float vector per input channel of a block.
const RUN: usize = 16;

/// Whether `g` is a layer this kernel computes: 3x3, stride 2, padding 1, outputs 7 wide or
/// more (below, most of a run is padding), input channels in whole blocks, on a CPU with
/// AVX-512.
pub fn applies(g: &ConvGeometry) -> bool {
    g.kernel == [3, 3]
        && g.stride == [2, 2]
        && g.padding == [1, 1]
        && g.out_width() >= 7
        && g.in_channels.is_multiple_of(CHANNELS)
        && has_avx512()
}

/// The output gradient's padded layout, and which taps reach each parity plane.
#[derive(Clone, Copy)]
struct Layout {
    /// Floats per padded row: the output's width and one zero column.
    row: usize,
    /// Floats per output channel: its rows, one zero row, and what the last run reads beyond.
    channel: usize,
}

impl Layout {
    fn of(g: &ConvGeometry) -> Self {
        let row = g.out_width() + 1;
        Self {
            row,
            channel: (g.out_height() + 1) * row + RUN + row + 1,
        }
    }

    /// The taps that reach plane `(ry, rx)`, in the order `fold_add` adds them, each with the
    /// offset it reads at in the padded output gradient: input row `2i + ry` is read by tap
    /// `ky` of output row `(2i + ry + 1 - ky) / 2`, which is `i` or `i + 1`.
    fn taps(&self, [ry, rx]: [usize; 2]) -> Vec<(usize, usize)> {
        let along = |parity: usize| -> Vec<(usize, usize)> {
            (0..3)
                .filter(|k| (k + parity + 1).is_multiple_of(2))
                .map(|k| (k, (parity + 1 - k) / 2))
                .collect()
        };
        let mut taps = Vec::new();
        for &(ky, dy) in &along(ry) {
            for &(kx, dx) in &along(rx) {
                taps.push((ky * 3 + kx, dy * self.row + dx));
            }
        }
        taps
    }
}

/// The weight `[out, in, 3, 3]` as `[in / CHANNELS][tap][out][CHANNELS]`.
fn blocked_weight(weight: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (cin, cout) = (g.in_channels, g.out_channels);
    let mut blocked = vec![0.0f32; weight.len()];
    for (filter, taps) in weight.chunks_exact(9).enumerate() {
        let (co, ci) = (filter / cin, filter % cin);
        let (block, lane) = (ci / CHANNELS, ci % CHANNELS);
        for (tap, &value) in taps.iter().enumerate() {
            blocked[((block * 9 + tap) * cout + co) * CHANNELS + lane] = value;
        }
    }
    blocked
}

/// The gradient with respect to the input of a layer [`applies`] accepts, from the output
/// gradient; every value of `input_grad` is written.
pub fn backward_input(
    output_grad: &[f32],
    weight: &[f32],
    g: &ConvGeometry,
    input_grad: &mut [MaybeUninit<f32>],
) {
    let blocked = blocked_weight(weight, g);
    let (image_len, out_image_len) = (g.image_len(), g.out_image_len());
    input_grad
        .par_chunks_mut(image_len)
        .enumerate()
        .for_each_init(Vec::new, |padded, (n, image_grad)| {
            let grads = &output_grad[n * out_image_len..][..out_image_len];
            image_gradient(grads, &blocked, g, padded, image_grad);
        });
}

fn image_gradient(
    output_grad: &[f32],
    blocked: &[f32],
    g: &ConvGeometry,
    padded: &mut Vec<f32>,
    image_grad: &mut [MaybeUninit<f32>],
) {
    let layout = Layout::of(g);
    let cout = g.out_channels;
    if padded.len() != cout * layout.channel {
        padded.clear();
        padded.resize(cout * layout.channel, 0.0);
    }
    for (channel, values) in output_grad.chunks_exact(g.out_pixels()).enumerate() {
        let rows = &mut padded[channel * layout.channel..];
        for (y, row) in values.chunks_exact(g.out_width()).enumerate() {
            copy_row(row, &mut rows[y * layout.row..][..g.out_width()]);
        }
    }
    let block_len = 9 * cout * CHANNELS;
    let mut sums = [[0.0f32; RUN]; CHANNELS];
    for parity in [[0, 0], [0, 1], [1, 0], [1, 1]] {
        let taps = layout.taps(parity);
        let plane = Plane::of(g, parity);
        for (block, weights) in blocked.chunks_exact(block_len).enumerate() {
            let channels =
                &mut image_grad[block * CHANNELS * g.in_pixels()..][..CHANNELS * g.in_pixels()];
            for start in (0..plane.rows * layout.row).step_by(RUN) {
                run_of_block(padded, weights, cout, layout, &taps, start, &mut sums);
                plane.scatter_run(&sums, start, layout, g, channels);
            }
        }
    }
}

/// The input pixels `(2i + ry, 2j + rx)` of one parity `[ry, rx]`: `rows x columns` of them.
struct Plane {
    parity: [usize; 2],
    rows: usize,
    columns: usize,
}

impl Plane {
    fn of(g: &ConvGeometry, parity: [usize; 2]) -> Self {
        Self {
            parity,
            rows: (g.height - parity[0]).div_ceil(2),
            columns: (g.width - parity[1]).div_ceil(2),
        }
    }

    /// Writes a run of plane positions (`layout.row` per plane row) to the pixels they stand
    /// for in a block's `channels`, dropping the positions outside the plane.
    fn scatter_run(
        &self,
        sums: &[[f32; RUN]; CHANNELS],
        start: usize,
        layout: Layout,
        g: &ConvGeometry,
        channels: &mut [MaybeUninit<f32>],
    ) {
        let [ry, rx] = self.parity;
        for (offset, position) in (start..start + RUN).enumerate() {
            let (i, j) = (position / layout.row, position % layout.row);
            if i >= self.rows || j >= self.columns {
                continue;
            }
            let pixel = (2 * i + ry) * g.width + 2 * j + rx;
            for (lane, values) in sums.iter().enumerate() {
                channels[lane * g.in_pixels() + pixel].write(values[offset]);
            }
        }
    }
}

fn run_of_block(
    padded: &[f32],
    weights: &[f32],
    cout: usize,
    layout: Layout,
    taps: &[(usize, usize)],
    start: usize,
    sums: &mut [[f32; RUN]; CHANNELS],
) {
    #[cfg(target_arch = "x86_64")]
    {
        assert!(
            has_avx512(),
            "the strided input gradient kernel needs AVX-512"
        );
        // SAFETY: the CPU has AVX-512F (just checked).
        unsafe { avx512::run_of_block(padded, weights, cout, layout, taps, start, sums) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (padded, weights, cout, layout, taps, start, sums);
        panic!("the strided input gradient kernel needs AVX-512 (`applies` is false here)");
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m512, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
        _mm512_storeu_ps,
    };

    use super::{CHANNELS, Layout, RUN};

    /// For each tap: its sum over output channels of weight x output gradient, fused
    /// multiply-adds from zero as gemm's kernel makes them; then the taps added in order.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn run_of_block(
        padded: &[f32],
        weights: &[f32],
        cout: usize,
        layout: Layout,
        taps: &[(usize, usize)],
        start: usize,
        out: &mut [[f32; RUN]; CHANNELS],
    ) {
        let mut totals: [__m512; CHANNELS] = [_mm512_setzero_ps(); CHANNELS];
        for &(tap, offset) in taps {
            let mut sums: [__m512; CHANNELS] = [_mm512_setzero_ps(); CHANNELS];
            let tap_weights = &weights[tap * cout * CHANNELS..][..cout * CHANNELS];
            for (co, block) in tap_weights.chunks_exact(CHANNELS).enumerate() {
                let values = &padded[co * layout.channel + start + offset..][..RUN];
                // SAFETY: `values` holds RUN = 16 floats.
                let x = unsafe { _mm512_loadu_ps(values.as_ptr()) };
                for (sum, &weight) in sums.iter_mut().zip(block) {
                    *sum = _mm512_fmadd_ps(_mm512_set1_ps(weight), x, *sum);
                }
            }
            for (total, &sum) in totals.iter_mut().zip(&sums) {
                *total = _mm512_add_ps(*total, sum);
            }
        }
        for (values, &total) in out.iter_mut().zip(&totals) {
            // SAFETY: each row of `out` holds RUN = 16 floats.
            unsafe { _mm512_storeu_ps(values.as_mut_ptr(), total) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matmul::{MatRef, matmul};
    use crate::unfold::fold_add;

    /// The general path's input gradient: GEMM, then the taps folded back.
    fn folded(output_grad: &[f32], weight: &[f32], g: &ConvGeometry) -> Vec<f32> {
        let mut input_grad = vec![0.0f32; g.input_len()];
        let mut columns = vec![0.0f32; g.patch_len() * g.out_pixels()];
        for (grads, image) in output_grad
            .chunks_exact(g.out_image_len())
            .zip(input_grad.chunks_exact_mut(g.image_len()))
        {
            matmul(
                &mut columns,
                MatRef::transposed(weight, g.patch_len(), g.out_channels),
                MatRef::new(grads, g.out_channels, g.out_pixels()),
                false,
            );
            fold_add(&columns, g, image);
        }
        input_grad
    }

    #[test]
    fn gives_the_bits_of_gemm_and_fold() {
        if !has_avx512() {
            return;
        }
        for (batch, cin, cout, height, width) in [
            (2, 16, 32, 28, 28),
            (3, 32, 64, 14, 14),
            (2, 8, 16, 15, 13),
            (1, 16, 8, 14, 17),
        ] {
            let g = ConvGeometry {
                batch,
                in_channels: cin,
                height,
                width,
                out_channels: cout,
                kernel: [3, 3],
                stride: [2, 2],
                padding: [1, 1],
            };
            assert!(applies(&g), "{g:?}");
            let output_grad: Vec<f32> = (0..g.output_len())
                .map(|i| ((i * 7919) % 1000) as f32 / 250.0 - 2.0)
                .collect();
            let weight: Vec<f32> = (0..g.weight_len())
                .map(|i| ((i * 104_729) % 997) as f32 / 500.0 - 1.0)
                .collect();
            let mut input_grad = vec![MaybeUninit::new(f32::NAN); g.input_len()];
            backward_input(&output_grad, &weight, &g, &mut input_grad);
            let got: Vec<u32> = input_grad
                .iter()
                .map(|v| unsafe { v.assume_init() }.to_bits())
                .collect();
            let want: Vec<u32> = folded(&output_grad, &weight, &g)
                .iter()
                .map(|v| v.to_bits())
                .collect();
            assert!(got == want, "{g:?}");
        }
    }
}
