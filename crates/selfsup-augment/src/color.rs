//! torchvision's colour transforms on CHW images in [0, 1]: `ColorJitter` (brightness,
//! contrast, saturation, hue in random order), `RandomGrayscale` and `RandomSolarize`.
//! Saturation, hue and grayscale leave single-channel images alone, as torchvision does, and
//! then draw nothing from the generator, so grayscale views do not depend on those settings.

use rand::Rng;
use rand::seq::SliceRandom;

use crate::simd::with_avx2;

/// ITU-R 601 luma weights, as torchvision's `rgb_to_grayscale`.
const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

/// ColorJitter strengths: brightness, contrast and saturation factors are drawn from
/// `[1 - s, 1 + s]`, the hue shift from `[-hue, hue]` (fraction of the colour wheel).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    pub brightness: f32,
    pub contrast: f32,
    pub saturation: f32,
    pub hue: f32,
}

#[derive(Clone, Copy)]
enum JitterOp {
    Brightness,
    Contrast,
    Saturation,
    Hue,
}

pub fn color_jitter(rng: &mut impl Rng, image: &mut [f32], channels: usize, jitter: &Jitter) {
    let mut ops = vec![JitterOp::Brightness, JitterOp::Contrast];
    if channels == 3 && (jitter.saturation > 0.0 || jitter.hue > 0.0) {
        ops.extend([JitterOp::Saturation, JitterOp::Hue]);
    }
    ops.shuffle(rng);
    for op in ops {
        match op {
            JitterOp::Brightness if jitter.brightness > 0.0 => {
                let factor = factor(rng, jitter.brightness);
                image
                    .iter_mut()
                    .for_each(|v| *v = (*v * factor).clamp(0.0, 1.0));
            }
            JitterOp::Contrast if jitter.contrast > 0.0 => {
                let factor = factor(rng, jitter.contrast);
                let mean = gray_mean(image, channels);
                image
                    .iter_mut()
                    .for_each(|v| *v = ((*v - mean) * factor + mean).clamp(0.0, 1.0));
            }
            JitterOp::Saturation if jitter.saturation > 0.0 => {
                adjust_saturation(image, factor(rng, jitter.saturation));
            }
            JitterOp::Hue if jitter.hue > 0.0 => {
                adjust_hue(image, rng.random_range(-jitter.hue..=jitter.hue));
            }
            _ => {}
        }
    }
}

fn factor(rng: &mut impl Rng, strength: f32) -> f32 {
    rng.random_range((1.0 - strength).max(0.0)..=1.0 + strength)
}

with_avx2! {
    /// torchvision's `adjust_saturation`: blend with the grayscale image, `factor` 0 gives gray.
    pub fn adjust_saturation(image: &mut [f32], factor: f32) {
        let plane = image.len() / 3;
        let (red, rest) = image.split_at_mut(plane);
        let (green, blue) = rest.split_at_mut(plane);
        for ((r, g), b) in red.iter_mut().zip(green.iter_mut()).zip(blue.iter_mut()) {
            let gray = LUMA[0] * *r + LUMA[1] * *g + LUMA[2] * *b;
            for v in [r, g, b] {
                *v = (factor * *v + (1.0 - factor) * gray).clamp(0.0, 1.0);
            }
        }
    }
}

with_avx2! {
    /// torchvision's `adjust_hue`: rotate the hue by `shift` turns (in [-0.5, 0.5]) in HSV
    /// space.
    ///
    /// Written without branches or libm calls (every candidate computed, one selected), so
    /// the compiler vectorises it: with `rem_euclid`, `floor` and a match per pixel it took a
    /// fifth of a 224-pixel ImageNet view. Each selected value is computed by the same
    /// operations as the branching version, so the floats are the same (a test compares the
    /// two bit for bit).
    pub fn adjust_hue(image: &mut [f32], shift: f32) {
        let plane = image.len() / 3;
        let (red, rest) = image.split_at_mut(plane);
        let (green, blue) = rest.split_at_mut(plane);
        for ((r, g), b) in red.iter_mut().zip(green.iter_mut()).zip(blue.iter_mut()) {
            let [h, s, v] = rgb_to_hsv([*r, *g, *b]);
            let out = hsv_to_rgb([wrap_unit(h + shift), s, v]);
            *r = out[0].clamp(0.0, 1.0);
            *g = out[1].clamp(0.0, 1.0);
            *b = out[2].clamp(0.0, 1.0);
        }
    }
}

/// Every channel replaced by the luma (an RGB image stays 3 channels, as torchvision's
/// `RandomGrayscale` keeps them).
pub fn to_grayscale(image: &mut [f32]) {
    let plane = image.len() / 3;
    for i in 0..plane {
        let gray = luma(image, plane, i);
        for c in 0..3 {
            image[c * plane + i] = gray;
        }
    }
}

/// torchvision's `solarize` for float images: values at or above `threshold` are inverted.
pub fn solarize(image: &mut [f32], threshold: f32) {
    image
        .iter_mut()
        .filter(|v| **v >= threshold)
        .for_each(|v| *v = 1.0 - *v);
}

fn luma(image: &[f32], plane: usize, i: usize) -> f32 {
    LUMA[0] * image[i] + LUMA[1] * image[plane + i] + LUMA[2] * image[2 * plane + i]
}

#[inline(always)]
fn rgb_to_hsv([r, g, b]: [f32; 3]) -> [f32; 3] {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let delta = max - min;
    // (g - b) / delta lies in [-1, 1]: rem_euclid(6.0) without its fmod call.
    let from_red = (g - b) / delta;
    let from_red = select(from_red < 0.0, from_red + 6.0, from_red) / 6.0;
    let from_green = ((b - r) / delta + 2.0) / 6.0;
    let from_blue = ((r - g) / delta + 4.0) / 6.0;
    let h = select(
        delta == 0.0,
        0.0,
        select(max == r, from_red, select(max == g, from_green, from_blue)),
    );
    let s = select(max == 0.0, 0.0, delta / max);
    [h, s, max]
}

/// `x.rem_euclid(1.0)` for x in [-1, 2), without the fmod call: the same operations on the
/// same values, so the same floats.
#[inline(always)]
fn wrap_unit(x: f32) -> f32 {
    select(x < 0.0, x + 1.0, select(x >= 1.0, x - 1.0, x))
}

#[inline(always)]
fn hsv_to_rgb([h, s, v]: [f32; 3]) -> [f32; 3] {
    // h is in [0, 1]: truncation is floor, without a libm call.
    let sector = (h * 6.0) as i32;
    let f = h * 6.0 - sector as f32;
    let p = v * (1.0 - s);
    let q = v * (1.0 - s * f);
    let t = v * (1.0 - s * (1.0 - f));
    let sector = sector % 6;
    let pick = |values: [f32; 6]| {
        let mut out = values[5];
        for (k, value) in values.into_iter().enumerate().take(5) {
            out = select(sector == k as i32, value, out);
        }
        out
    };
    [
        pick([v, q, p, p, t, v]),
        pick([t, v, v, q, p, p]),
        pick([p, p, t, v, v, q]),
    ]
}

#[inline(always)]
fn select(condition: bool, if_true: f32, if_false: f32) -> f32 {
    if condition { if_true } else { if_false }
}

/// Mean of the grayscale version of the image, the pivot torchvision's contrast uses.
fn gray_mean(image: &[f32], channels: usize) -> f32 {
    let plane = image.len() / channels;
    let total: f32 = if channels == 3 {
        (0..3)
            .map(|c| LUMA[c] * image[c * plane..(c + 1) * plane].iter().sum::<f32>())
            .sum()
    } else {
        image.iter().sum::<f32>() / channels as f32
    };
    total / plane as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixel(rgb: [f32; 3]) -> Vec<f32> {
        rgb.to_vec()
    }

    /// Float64 reference: Python's colorsys (rgb_to_hsv, hue shifted mod 1, hsv_to_rgb).
    #[test]
    fn hue_shift_matches_colorsys() {
        let cases = [
            ([0.8, 0.3, 0.1], 0.1, [0.8, 0.72, 0.1]),
            ([0.2, 0.5, 0.9], -0.25, [0.2, 0.9, 0.25]),
            ([0.6, 0.6, 0.2], 0.05, [0.48, 0.6, 0.2]),
        ];
        for (rgb, shift, expected) in cases {
            let mut image = pixel(rgb);
            adjust_hue(&mut image, shift);
            for (got, want) in image.iter().zip(expected) {
                assert!((got - want).abs() < 1e-5, "{rgb:?} + {shift}: {image:?}");
            }
        }
        // A third of a turn takes pure red to pure green; gray has no hue to turn.
        let mut red = pixel([1.0, 0.0, 0.0]);
        adjust_hue(&mut red, 1.0 / 3.0);
        assert!(
            red.iter()
                .zip([0.0, 1.0, 0.0])
                .all(|(a, b)| (a - b).abs() < 1e-5)
        );
        let mut gray = pixel([0.4, 0.4, 0.4]);
        adjust_hue(&mut gray, 0.3);
        assert_eq!(gray, pixel([0.4, 0.4, 0.4]));
    }

    /// The hue rotation as it was written with `rem_euclid` and `floor` (libm calls): the
    /// branch-only version gives the same floats, bit for bit.
    #[test]
    fn hue_without_libm_calls_gives_the_same_floats() {
        fn before([r, g, b]: [f32; 3], shift: f32) -> [f32; 3] {
            let max = r.max(g).max(b);
            let min = r.min(g).min(b);
            let delta = max - min;
            let h = if delta == 0.0 {
                0.0
            } else if max == r {
                ((g - b) / delta).rem_euclid(6.0) / 6.0
            } else if max == g {
                ((b - r) / delta + 2.0) / 6.0
            } else {
                ((r - g) / delta + 4.0) / 6.0
            };
            let s = if max == 0.0 { 0.0 } else { delta / max };
            let h = (h + shift).rem_euclid(1.0);
            let sector = (h * 6.0).floor();
            let f = h * 6.0 - sector;
            let (v, p) = (max, max * (1.0 - s));
            let (q, t) = (v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
            let out = match sector as i32 % 6 {
                0 => [v, t, p],
                1 => [q, v, p],
                2 => [p, v, t],
                3 => [p, q, v],
                4 => [t, p, v],
                _ => [v, p, q],
            };
            out.map(|value| value.clamp(0.0, 1.0))
        }
        let mut state = 7u32;
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32
        };
        for _ in 0..100_000 {
            let rgb = [next(), next(), next()];
            let shift = next() - 0.5;
            let mut image = pixel(rgb);
            adjust_hue(&mut image, shift);
            let want = before(rgb, shift);
            let same = image
                .iter()
                .zip(want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{rgb:?} + {shift}: {image:?} against {want:?}");
        }
    }

    #[test]
    fn saturation_zero_is_gray_one_is_identity() {
        let rgb = [0.8, 0.3, 0.1];
        let gray = 0.299 * 0.8 + 0.587 * 0.3 + 0.114 * 0.1;
        let mut image = pixel(rgb);
        adjust_saturation(&mut image, 0.0);
        assert!(image.iter().all(|v| (v - gray).abs() < 1e-6));
        let mut image = pixel(rgb);
        adjust_saturation(&mut image, 1.0);
        assert_eq!(image, pixel(rgb));
        // Factor 2 pushes away from gray: 2 * 0.8 - gray, clamped.
        let mut image = pixel(rgb);
        adjust_saturation(&mut image, 2.0);
        assert!((image[2] - (0.2 - gray).max(0.0)).abs() < 1e-6);
        assert_eq!(image[0], 1.0);
    }

    #[test]
    fn grayscale_and_solarize() {
        let mut image = vec![0.8, 0.2, 0.3, 0.1, 0.6, 0.9];
        to_grayscale(&mut image);
        let first = 0.299 * 0.8 + 0.587 * 0.3 + 0.114 * 0.6;
        assert!((image[0] - first).abs() < 1e-6 && image[0] == image[2] && image[2] == image[4]);
        let mut values = vec![0.2, 0.5, 0.9];
        solarize(&mut values, 0.5);
        assert_eq!(values, vec![0.2, 0.5, 0.100000024]);
    }

    /// Single-channel images draw only brightness and contrast, whatever saturation and hue
    /// say: the generator ends in the same state.
    #[test]
    fn gray_images_ignore_saturation_and_hue() {
        use rand::SeedableRng;
        let run = |saturation, hue| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
            let mut image = vec![0.3f32, 0.6, 0.9, 0.1];
            let jitter = Jitter {
                brightness: 0.4,
                contrast: 0.4,
                saturation,
                hue,
            };
            color_jitter(&mut rng, &mut image, 1, &jitter);
            (image, rng.random::<u64>())
        };
        assert_eq!(run(0.0, 0.0), run(0.4, 0.1));
    }
}
