//! The weight gradient of the 3x3 stride-1 layers with 8 to 31 input channels (the first
//! stage's 16-channel layers) and of the stride-2 3x3 layers on maps 14 wide or more, read in
//! place as `direct.rs` reads the forward.
//!
//! Why: through im2col, each image's gradient was a GEMM of 144 unfolded rows (16 channels x
//! 9 taps) by 784 positions by 16 output channels. im2col wrote nine copies of the input (900
//! MB per step at width 16), and gemm's tiles of 64 rows left the last 16 rows to its narrow
//! kernel (`x1x6`, a third of the wide one's rate): together about 17% of the WCL step at width
//! 16 on an EPYC family 26 (Zen 5), `perf record` of `selfsup bench --sections train`.
//!
//! Here `dW[out][in][tap] = sum over images and positions of dY[out][q] * X[in][q + tap]`: the
//! image is padded once (rows `width + 2` long, as in `direct.rs`), the output gradient is laid
//! out in the same rows (zero in the two extra columns, so they add nothing), and each tap is one
//! contiguous load; a stride-2 layer reads `direct.rs`'s four parity planes of the input, so
//! that its taps are contiguous loads too (16->32 at 28x28, batch 256: 5.0 then 2.9-3.3 ms;
//! from 32 input channels up, as at width 32, it ties im2col, 9.8-9.9 against 9.8-10.0 ms).
//! Sums are kept per vector lane across all the images of a group and added up once at the
//! end, in a fixed order: the result does not depend on the threads, but it is not
//! gemm's order, so it differs from the im2col path in the last bits (`tests/conv_against_burn.rs`
//! holds both to a float64 reference).

use std::ops::Range;

use crate::direct::{Layout, copy_row, fill_planes, has_avx512};
use crate::geometry::ConvGeometry;

/// Floats per AVX-512 vector.
const LANES: usize = 16;

/// Taps of a 3x3 kernel.
const TAPS: usize = 9;

/// Whether `g`'s weight gradient is computed here: 3x3, padding 1, at least 8 input channels
/// (the one-channel stem measured no faster than im2col, 0.5-0.9 against 0.4-0.8 ms), an even
/// number of output channels (in pairs), on a CPU with AVX-512. Stride 1 below 32 input
/// channels (from 32 up Winograd does less arithmetic); stride 2, through `direct.rs`'s parity
/// planes, on outputs 14 wide or more (on 7-wide ones, 49 of every 64 positions computed are
/// pixels: 32->64 at 14x14 took 3.3-3.5 ms against im2col's 2.6).
pub fn applies(g: &ConvGeometry) -> bool {
    let stride_fits = match g.stride {
        [1, 1] => g.in_channels < 32,
        [2, 2] => g.out_width() >= 14,
        _ => false,
    };
    g.kernel == [3, 3]
        && g.padding == [1, 1]
        && stride_fits
        && g.in_channels >= 8
        && g.out_channels.is_multiple_of(2)
        && g.height > 0
        && g.width > 0
        && has_avx512()
}

/// Bytes of padded inputs and output gradients filled at once: the images whose sums stay in
/// registers together (4 or 5 of a weight-gradient group's 16 at 28x28, width 16): the
/// sums go to memory once per filled set instead of once per image. 16->16 at 28x28, batch
/// 256: 3.5-3.7 ms with one image at a time, 3.2-3.5 at 256 KiB to 1 MiB, 3.6-3.9 at 2 MiB
/// (`examples/conv_timing.rs`, AMD EPYC family 26; L2 is 1 MiB a core there).
const FILLED_BYTES: usize = 512 * 1024;

/// The padded inputs (`direct.rs`'s layout) and output gradients (laid out in the same rows) of
/// a few images, `[image][channel][plane]`.
struct Planes {
    layout: Layout,
    /// Images the buffers hold.
    capacity: usize,
    /// Images filled by the last [`Planes::fill`].
    count: usize,
    input: Vec<f32>,
    grad: Vec<f32>,
}

impl Planes {
    fn new(g: &ConvGeometry) -> Self {
        let layout = Layout::of(g);
        let (input_len, grad_len) = Self::image_lens(g, layout);
        let capacity = (FILLED_BYTES / (4 * (input_len + grad_len))).max(1);
        Self {
            layout,
            capacity,
            count: 0,
            input: vec![0.0; capacity * input_len],
            grad: vec![0.0; capacity * grad_len],
        }
    }

    fn image_lens(g: &ConvGeometry, layout: Layout) -> (usize, usize) {
        (
            g.in_channels * layout.channel,
            g.out_channels * layout.positions,
        )
    }

    /// Copies the inputs and output gradients of `images` (at most `capacity`) into the padded
    /// rows; the padding and the extra columns are never written, so they stay zero.
    fn fill(&mut self, input: &[f32], output_grad: &[f32], g: &ConvGeometry, images: Range<usize>) {
        let (input_len, grad_len) = Self::image_lens(g, self.layout);
        let (width, row) = (g.out_width(), self.layout.row);
        self.count = images.len();
        for (i, n) in images.enumerate() {
            let image = &input[n * g.image_len()..][..g.image_len()];
            fill_planes(
                image,
                g,
                self.layout,
                &mut self.input[i * input_len..][..input_len],
            );
            let grads = &output_grad[n * g.out_image_len()..][..g.out_image_len()];
            let planes = &mut self.grad[i * grad_len..][..grad_len];
            for (channel, plane) in grads
                .chunks_exact(g.out_pixels())
                .zip(planes.chunks_exact_mut(self.layout.positions))
            {
                for (y, values) in channel.chunks_exact(width).enumerate() {
                    copy_row(values, &mut plane[y * row..][..width]);
                }
            }
        }
    }
}

/// The weight gradient summed over `images`, transposed: `[in * 9 + tap][out]`, the layout of
/// `conv::backward_weight`'s partial sums. `g` must be a geometry [`applies`] accepts.
pub fn weight_gradient_partial(
    input: &[f32],
    output_grad: &[f32],
    g: &ConvGeometry,
    images: Range<usize>,
) -> Vec<f32> {
    assert!(applies(g), "not a layer of the direct weight gradient");
    let (cin, cout) = (g.in_channels, g.out_channels);
    let mut planes = Planes::new(g);
    // lanes[((out * cin + in) * 9 + tap) * 16 + lane]
    let mut lanes = vec![0.0f32; cout * cin * TAPS * LANES];
    for first in images.clone().step_by(planes.capacity) {
        planes.fill(
            input,
            output_grad,
            g,
            first..images.end.min(first + planes.capacity),
        );
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `applies` checked AVX-512F; `Planes::new` sized every plane for the reads.
        unsafe {
            avx512::accumulate(&planes, cin, cout, &mut lanes);
        }
    }
    let mut partial = vec![0.0f32; cin * TAPS * cout];
    for (filter, sums) in lanes.chunks_exact(TAPS * LANES).enumerate() {
        let (co, ci) = (filter / cin, filter % cin);
        for (tap, lane_sums) in sums.chunks_exact(LANES).enumerate() {
            partial[(ci * TAPS + tap) * cout + co] = lane_sums.iter().sum();
        }
    }
    partial
}

/// Written with intrinsics, as `direct.rs` is: the sums of two output channels by nine taps
/// (18 vectors) stay in registers across all positions of an image.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m512, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_setzero_ps,
        _mm512_storeu_ps,
    };

    use super::{LANES, Planes, TAPS};

    /// Adds the filled images' products to `lanes`, each filter's sums kept in registers
    /// across all of them.
    ///
    /// # Safety
    /// The CPU must have AVX-512F; `planes` must come from `Planes::new` for a geometry with
    /// `cin` input and `cout` (even) output channels, and `lanes` hold `cout * cin * 9 * 16`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn accumulate(planes: &Planes, cin: usize, cout: usize, lanes: &mut [f32]) {
        assert!(lanes.len() >= cout * cin * TAPS * LANES);
        let (positions, taps) = (planes.layout.positions, &planes.layout.taps);
        let channel = planes.layout.channel;
        assert!(positions + taps[TAPS - 1] <= channel);
        let (input_len, grad_len) = (cin * channel, cout * positions);
        assert!(planes.input.len() >= planes.count * input_len);
        assert!(planes.grad.len() >= planes.count * grad_len);
        for ci in 0..cin {
            for co in (0..cout).step_by(2) {
                let mut first = [_mm512_setzero_ps(); TAPS];
                let mut second = [_mm512_setzero_ps(); TAPS];
                for image in 0..planes.count {
                    let x = &planes.input[image * input_len + ci * channel..][..channel];
                    let grad = &planes.grad[image * grad_len..][..grad_len];
                    let d0 = &grad[co * positions..][..positions];
                    let d1 = &grad[(co + 1) * positions..][..positions];
                    for q in (0..positions).step_by(LANES) {
                        // SAFETY: q + 16 <= positions, the length of d0 and d1; every tap reads
                        // x[q + tap..][..16], inside x (asserted above).
                        unsafe {
                            let (g0, g1) = (
                                _mm512_loadu_ps(d0.as_ptr().add(q)),
                                _mm512_loadu_ps(d1.as_ptr().add(q)),
                            );
                            for (tap, &offset) in taps.iter().enumerate() {
                                let values = _mm512_loadu_ps(x.as_ptr().add(q + offset));
                                first[tap] = _mm512_fmadd_ps(g0, values, first[tap]);
                                second[tap] = _mm512_fmadd_ps(g1, values, second[tap]);
                            }
                        }
                    }
                }
                for (channel, sums) in [(co, &first), (co + 1, &second)] {
                    let filter = (channel * cin + ci) * TAPS * LANES;
                    for (tap, &sum) in sums.iter().enumerate() {
                        let at = &mut lanes[filter + tap * LANES..][..LANES];
                        // SAFETY: `at` holds 16 floats.
                        unsafe { add_to(at, sum) };
                    }
                }
            }
        }
    }

    /// # Safety
    /// The CPU must have AVX-512F and `at` hold 16 floats.
    #[target_feature(enable = "avx512f")]
    unsafe fn add_to(at: &mut [f32], sum: __m512) {
        // SAFETY: `at` holds 16 floats.
        unsafe {
            let before = _mm512_loadu_ps(at.as_ptr());
            _mm512_storeu_ps(at.as_mut_ptr(), _mm512_add_ps(before, sum));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The float64 sum, for any geometry this kernel takes.
    fn reference(input: &[f32], output_grad: &[f32], g: &ConvGeometry) -> Vec<f64> {
        let (cin, cout, h, w) = (g.in_channels, g.out_channels, g.height, g.width);
        let (oh, ow, s) = (g.out_height(), g.out_width(), g.stride[0]);
        let mut out = vec![0.0f64; cin * TAPS * cout];
        for n in 0..g.batch {
            for co in 0..cout {
                for ci in 0..cin {
                    for tap in 0..TAPS {
                        let (ky, kx) = (tap / 3, tap % 3);
                        let mut sum = 0.0f64;
                        for y in 0..oh {
                            for x in 0..ow {
                                let iy = (s * y + ky).wrapping_sub(1);
                                let ix = (s * x + kx).wrapping_sub(1);
                                if iy >= h || ix >= w {
                                    continue;
                                }
                                let dy = output_grad[((n * cout + co) * oh + y) * ow + x];
                                let xv = input[((n * cin + ci) * h + iy) * w + ix];
                                sum += dy as f64 * xv as f64;
                            }
                        }
                        out[(ci * TAPS + tap) * cout + co] += sum;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn sums_every_tap_as_a_float64_reference_does() {
        if !has_avx512() {
            return;
        }
        for (batch, cin, cout, h, w, stride) in [
            (1, 8, 2, 1, 1, 1),
            (3, 16, 16, 7, 9, 1),
            (2, 9, 4, 28, 28, 1),
            (2, 16, 32, 28, 28, 2),
            (3, 40, 6, 29, 31, 2),
            (1, 8, 4, 13, 14, 2),
            (1, 8, 2, 27, 28, 2),
        ] {
            let g = ConvGeometry {
                batch,
                in_channels: cin,
                out_channels: cout,
                height: h,
                width: w,
                kernel: [3, 3],
                stride: [stride; 2],
                padding: [1, 1],
            };
            assert_eq!(applies(&g), stride == 1 || g.out_width() >= 14);
            if !applies(&g) {
                continue;
            }
            let value = |i: usize| ((i * 7919) % 201) as f32 / 100.0 - 1.0;
            let input: Vec<f32> = (0..g.batch * g.image_len()).map(value).collect();
            let grads: Vec<f32> = (0..g.batch * g.out_image_len())
                .map(|i| value(i + 13))
                .collect();
            let got = weight_gradient_partial(&input, &grads, &g, 0..batch);
            let want = reference(&input, &grads, &g);
            for (i, (&got, &want)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (got as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "{batch}x{cin}->{cout} at {h}x{w}: entry {i} is {got}, want {want}"
                );
            }
        }
    }
}
