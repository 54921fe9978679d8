//! Moving values between the images' layout (`[image][pixel]`, each image's channel a
//! contiguous map) and Winograd's tile layout, where the images of a group are the fastest
//! index (`[position][image]`, see `winograd::Tiling`).
//!
//! Why by hand: this is a transpose, one strided access per value. Written as plain loops
//! it ran scalar, with a bounds check per value: the scatter out of the tiles alone was 5% of
//! the WCL step at width 16 on an AMD EPYC family 26 (Zen 5), and the gathers into them 4%
//! (`perf record` of `selfsup bench --sections train --methods wcl --widths 16`). AVX-512's
//! gather loads 16 such values with one instruction. The same values land in the same places,
//! so the results keep their bits; without AVX-512 the plain loops run.

use std::mem::MaybeUninit;

use crate::direct::has_avx512;

/// `out[n] = images[n * image_len + pixel]` for every `n < out.len()`: one pixel of every
/// image of a group, side by side.
pub(crate) fn gather_pixel(images: &[f32], image_len: usize, pixel: usize, out: &mut [f32]) {
    let Some(last) = out.len().checked_sub(1) else {
        return;
    };
    assert!(
        last * image_len + pixel < images.len(),
        "pixel past the images"
    );
    assert!(
        (image_len * 16) <= i32::MAX as usize,
        "images too long for 32-bit offsets"
    );
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: AVX-512F is present, and the asserts bound every index read.
        unsafe { avx512::gather_pixel(images, image_len, pixel, out) };
        return;
    }
    for (n, value) in out.iter_mut().enumerate() {
        *value = images[n * image_len + pixel];
    }
}

/// `out[n * image_len + p] = tiles[offsets[p] + n]` for every image `n < count` and position
/// `p < offsets.len()`: the values of `count` images, side by side at each of the tiles'
/// positions, written back into each image's contiguous map.
pub(crate) fn scatter_images(
    tiles: &[f32],
    offsets: &[i32],
    count: usize,
    out: &mut [MaybeUninit<f32>],
    image_len: usize,
) {
    if count == 0 || offsets.is_empty() {
        return;
    }
    let furthest = offsets.iter().map(|&o| o as usize).max().unwrap_or(0);
    assert!(offsets.iter().all(|&o| o >= 0), "negative offset");
    assert!(furthest + count <= tiles.len(), "offset past the tiles");
    assert!(
        (count - 1) * image_len + offsets.len() <= out.len(),
        "images past the output"
    );
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: AVX-512F is present, and the asserts bound every index read and written.
        unsafe { avx512::scatter_images(tiles, offsets, count, out, image_len) };
        return;
    }
    for n in 0..count {
        let image = &mut out[n * image_len..][..offsets.len()];
        for (value, &offset) in image.iter_mut().zip(offsets) {
            value.write(tiles[offset as usize + n]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __mmask16, _mm512_add_epi32, _mm512_loadu_si512, _mm512_mask_i32gather_ps,
        _mm512_mask_storeu_ps, _mm512_mullo_epi32, _mm512_set1_epi32, _mm512_setr_epi32,
        _mm512_setzero_ps,
    };
    use std::mem::MaybeUninit;

    const LANES: usize = 16;

    /// The lanes of a run of `len` values starting at `start`: all 16, or the first few.
    fn mask(start: usize, len: usize) -> __mmask16 {
        let lanes = (len - start).min(LANES);
        if lanes == LANES {
            u16::MAX
        } else {
            (1u16 << lanes) - 1
        }
    }

    /// # Safety
    /// The CPU must have AVX-512F; `images` must hold `(out.len() - 1) * image_len + pixel`,
    /// and `16 * image_len` must fit an i32.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gather_pixel(
        images: &[f32],
        image_len: usize,
        pixel: usize,
        out: &mut [f32],
    ) {
        let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let step = _mm512_mullo_epi32(lanes, _mm512_set1_epi32(image_len as i32));
        for start in (0..out.len()).step_by(LANES) {
            let keep = mask(start, out.len());
            // SAFETY: lane l reads images[(start + l) * image_len + pixel] for the lanes
            // `keep` holds, all below images.len(); the store writes out[start..][..lanes].
            unsafe {
                let base = images.as_ptr().add(start * image_len + pixel);
                let values =
                    _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), keep, step, base.cast());
                _mm512_mask_storeu_ps(out.as_mut_ptr().add(start), keep, values);
            }
        }
    }

    /// # Safety
    /// The CPU must have AVX-512F; the offsets must be non-negative, `tiles` must hold
    /// `max(offsets) + count` values and `out` `(count - 1) * image_len + offsets.len()`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn scatter_images(
        tiles: &[f32],
        offsets: &[i32],
        count: usize,
        out: &mut [MaybeUninit<f32>],
        image_len: usize,
    ) {
        for start in (0..offsets.len()).step_by(LANES) {
            let keep = mask(start, offsets.len());
            let mut run = [0i32; LANES];
            let lanes = (offsets.len() - start).min(LANES);
            run[..lanes].copy_from_slice(&offsets[start..][..lanes]);
            // SAFETY: `run` holds 16 i32s.
            let run = unsafe { _mm512_loadu_si512(run.as_ptr().cast()) };
            for n in 0..count {
                let at = _mm512_add_epi32(run, _mm512_set1_epi32(n as i32));
                // SAFETY: the kept lanes read tiles[offset + n] < tiles.len() and write
                // out[n * image_len + start..][..lanes], inside out.
                unsafe {
                    let values = _mm512_mask_i32gather_ps::<4>(
                        _mm512_setzero_ps(),
                        keep,
                        at,
                        tiles.as_ptr().cast(),
                    );
                    let target = out.as_mut_ptr().add(n * image_len + start);
                    _mm512_mask_storeu_ps(target.cast(), keep, values);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize) -> Vec<f32> {
        (0..len).map(|i| i as f32 * 0.25 - 7.0).collect()
    }

    #[test]
    fn gathers_one_pixel_of_every_image() {
        for count in [1, 5, 8, 16, 17, 32, 33] {
            let image_len = 29;
            let images = values(count * image_len);
            for pixel in [0, 3, 28] {
                let mut out = vec![f32::NAN; count];
                gather_pixel(&images, image_len, pixel, &mut out);
                let want: Vec<f32> = (0..count).map(|n| images[n * image_len + pixel]).collect();
                assert_eq!(out, want, "count {count}, pixel {pixel}");
            }
        }
    }

    #[test]
    fn scatters_every_image_back_to_its_map() {
        for (count, positions) in [(1, 7), (5, 49), (8, 16), (17, 33), (32, 4)] {
            let image_len = positions + 3;
            // Position p's images sit at a shuffled place in the tiles.
            let offsets: Vec<i32> = (0..positions)
                .map(|p| (((p * 7) % positions) * count) as i32)
                .collect();
            let tiles = values(positions * count);
            let mut out = vec![MaybeUninit::new(f32::NAN); count * image_len];
            scatter_images(&tiles, &offsets, count, &mut out, image_len);
            for n in 0..count {
                for (p, &offset) in offsets.iter().enumerate() {
                    // SAFETY: every value of `out` is initialised.
                    let got = unsafe { out[n * image_len + p].assume_init() };
                    assert_eq!(
                        got,
                        tiles[offset as usize + n],
                        "count {count}, n {n}, p {p}"
                    );
                }
                for gap in positions..image_len {
                    // SAFETY: as above.
                    let untouched = unsafe { out[n * image_len + gap].assume_init() };
                    assert!(untouched.is_nan(), "wrote past position {positions}");
                }
            }
        }
    }
}
