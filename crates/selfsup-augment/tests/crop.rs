//! The antialiased crop-and-resize of large images against a float64 reference of PIL's
//! `Image.resize(size, BILINEAR, box)` (the triangle filter widened by the scale, as
//! `ImagingResample` computes its coefficients), which torchvision's RandomResizedCrop runs on
//! PIL images.

use selfsup_augment::crop::{CropBox, resize_crop_antialiased, resize_crop_into, shrinks};

/// PIL's coefficients for one axis: for each output position, (first source index, weights).
fn pil_coefficients(
    start: f64,
    length: f64,
    in_size: usize,
    out_size: usize,
) -> Vec<(usize, Vec<f64>)> {
    let scale = length / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale; // the bilinear filter's support is 1
    (0..out_size)
        .map(|i| {
            let center = start + (i as f64 + 0.5) * scale;
            let low = ((center - support + 0.5) as isize).max(0) as usize;
            let high = ((center + support + 0.5) as usize).min(in_size);
            let weights: Vec<f64> = (low..high)
                .map(|x| {
                    let t = ((x as f64 - center + 0.5) / filter_scale).abs();
                    if t < 1.0 { 1.0 - t } else { 0.0 }
                })
                .collect();
            let total: f64 = weights.iter().sum();
            (low, weights.into_iter().map(|w| w / total).collect())
        })
        .collect()
}

/// The float64 resample of `crop` to `out x out`, HWC in, CHW in [0, 1] out.
fn reference(
    pixels: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    crop: CropBox,
    out: usize,
) -> Vec<f64> {
    let xs = pil_coefficients(crop.left as f64, crop.width as f64, width, out);
    let ys = pil_coefficients(crop.top as f64, crop.height as f64, height, out);
    let mut result = vec![0.0; channels * out * out];
    for (oy, (y0, wy)) in ys.iter().enumerate() {
        for (ox, (x0, wx)) in xs.iter().enumerate() {
            for c in 0..channels {
                let mut value = 0.0;
                for (dy, w_y) in wy.iter().enumerate() {
                    for (dx, w_x) in wx.iter().enumerate() {
                        let source = ((y0 + dy) * width + x0 + dx) * channels + c;
                        value += w_y * w_x * f64::from(pixels[source]);
                    }
                }
                result[c * out * out + oy * out + ox] = value / 255.0;
            }
        }
    }
    result
}

fn noise_image(width: usize, height: usize, channels: usize) -> Vec<u8> {
    let mut state = 99u32;
    (0..width * height * channels)
        .map(|i| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            // Smooth structure plus noise, so both the filter's averaging and its edges matter.
            let smooth = ((i / channels) % width) as u32 * 3;
            ((smooth + (state >> 26)) % 256) as u8
        })
        .collect()
}

#[test]
fn a_shrinking_crop_matches_pil_bilinear_within_rounding() {
    for channels in [1, 3, 4] {
        let (width, height) = (90, 70);
        let pixels = noise_image(width, height, channels);
        for (crop, out) in [
            (
                CropBox {
                    top: 3,
                    left: 5,
                    height: 60,
                    width: 77,
                },
                24,
            ),
            (
                CropBox {
                    top: 0,
                    left: 0,
                    height: 70,
                    width: 90,
                },
                32,
            ),
            (
                CropBox {
                    top: 10,
                    left: 20,
                    height: 31,
                    width: 29,
                },
                16,
            ),
        ] {
            assert!(shrinks(crop, out));
            let mut got = vec![0f32; channels * out * out];
            resize_crop_antialiased(&pixels, width, height, channels, crop, out, false, &mut got);
            let want = reference(&pixels, width, height, channels, crop, out);
            let errors: Vec<f64> = got
                .iter()
                .zip(&want)
                .map(|(g, w)| (f64::from(*g) - w).abs())
                .collect();
            let worst = errors.iter().cloned().fold(0.0, f64::max);
            let mean = errors.iter().sum::<f64>() / errors.len() as f64;
            // u8 output: within one level of the exact value, half a level on average.
            assert!(
                worst <= 1.01 / 255.0,
                "{channels} channels, {crop:?}: worst {worst}"
            );
            assert!(
                mean <= 0.5 / 255.0,
                "{channels} channels, {crop:?}: mean {mean}"
            );
        }
    }
}

#[test]
fn a_flipped_crop_is_the_mirror_image() {
    let (width, height, channels, out) = (80, 60, 3, 20);
    let pixels = noise_image(width, height, channels);
    let crop = CropBox {
        top: 4,
        left: 7,
        height: 50,
        width: 66,
    };
    let mut plain = vec![0f32; channels * out * out];
    let mut flipped = plain.clone();
    resize_crop_antialiased(
        &pixels, width, height, channels, crop, out, false, &mut plain,
    );
    resize_crop_antialiased(
        &pixels,
        width,
        height,
        channels,
        crop,
        out,
        true,
        &mut flipped,
    );
    for c in 0..channels {
        for y in 0..out {
            for x in 0..out {
                let at = |x: usize| c * out * out + y * out + x;
                assert_eq!(plain[at(x)], flipped[at(out - 1 - x)]);
            }
        }
    }
}

/// Crops that keep or grow their size (every crop of a 28-96 pixel image into a view of its
/// own size) stay on the plain bilinear path, so small-image runs draw the views they always did.
#[test]
fn growing_crops_are_not_shrinks() {
    let crop = CropBox {
        top: 2,
        left: 3,
        height: 20,
        width: 28,
    };
    assert!(!shrinks(crop, 28));
    assert!(shrinks(crop, 27));
    let pixels = noise_image(32, 32, 1);
    let mut out = vec![0f32; 28 * 28];
    resize_crop_into(&pixels, 32, 1, crop, 28, false, &mut out);
    assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
}
