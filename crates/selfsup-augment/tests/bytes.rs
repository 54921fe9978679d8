//! Views as bytes (`data.batch_dtype = "u8"`): each byte is the unnormalised view rounded to the
//! nearest of 256 levels, so `byte * scale + shift` ([`Normalize::byte_affine`]) gives the f32
//! view within half a level, checked in float64 on the ImageNet recipe with every colour step,
//! multi-crop and KNN multi-crop.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use selfsup_augment::{NeighbourCrops, Normalize, ViewConfig, ViewPipeline};
use selfsup_data::ImageRef;

const WIDTH: usize = 61;
const HEIGHT: usize = 47;
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// RGB photos-like images: smooth gradients with grain, so every colour step has work to do.
fn images(count: usize) -> Vec<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    (0..count)
        .map(|k| {
            (0..HEIGHT * WIDTH * 3)
                .map(|i| {
                    let (pixel, c) = (i / 3, i % 3);
                    let smooth = (pixel % WIDTH) * 3 + (pixel / WIDTH) * 2 + c * 40 + k * 17;
                    ((smooth % 200) + rng.random_range(0..56)) as u8
                })
                .collect()
        })
        .collect()
}

fn lookup<'a>(images: &'a [Vec<u8>]) -> impl Fn(usize) -> ImageRef<'a> + Sync {
    move |i| ImageRef {
        pixels: (&images[i]).into(),
        height: HEIGHT,
        width: WIDTH,
        channels: 3,
    }
}

/// Every step on, often: jitter, grayscale, blur and solarize, two global views of 24 pixels
/// and two local ones of 12.
fn pipeline() -> ViewPipeline {
    let config = ViewConfig {
        crop_size: 24,
        crop_scale: [0.08, 1.0],
        brightness: 0.8,
        contrast: 0.8,
        saturation: 0.8,
        hue: 0.2,
        grayscale_prob: 0.3,
        blur_prob: 0.5,
        solarize_prob: 0.3,
        local_crops: 2,
        local_crop_size: 12,
        local_crop_scale: [0.05, 0.3],
        ..ViewConfig::default()
    };
    ViewPipeline::new(config, Normalize::new(MEAN.to_vec(), STD.to_vec()))
}

/// The largest distance, in byte levels, between each byte and the unnormalised f32 view it
/// stands for (recovered in float64 from the normalised value).
fn worst_level_error(pipeline: &ViewPipeline, floats: &[Vec<f32>], bytes: &[Vec<u8>]) -> f64 {
    let mut worst = 0f64;
    for (view, (floats, bytes)) in floats.iter().zip(bytes).enumerate() {
        assert_eq!(floats.len(), bytes.len(), "view {view}");
        let plane = pipeline.view_side(view).pow(2);
        for (i, (&v, &b)) in floats.iter().zip(bytes).enumerate() {
            let c = (i / plane) % 3;
            let unit = v as f64 * STD[c] as f64 + MEAN[c] as f64;
            worst = worst.max((b as f64 - 255.0 * unit.clamp(0.0, 1.0)).abs());
        }
    }
    worst
}

#[test]
fn bytes_are_the_float_views_rounded_to_the_nearest_level() {
    let images = images(6);
    let pipeline = pipeline();
    let indices = [4, 0, 5, 2];
    let floats = pipeline.batch_views_with_crops(lookup(&images), &indices, 3, 1, 4, None);
    let bytes = pipeline.batch_bytes_with_crops(lookup(&images), &indices, 3, 1, 4, None);
    // Half a level, plus the f32 rounding of normalising and of recovering the unit value.
    let worst = worst_level_error(&pipeline, &floats, &bytes);
    assert!(worst <= 0.5 + 1e-3, "{worst} levels off");
    // Not all on level boundaries: the views hold values between levels.
    assert!(worst > 0.1, "{worst}");

    let table = NeighbourCrops::new(2, vec![1, 2, 2, 3, 3, 4, 4, 5, 5, 0, 0, 1]).unwrap();
    let floats = pipeline.batch_views_with_crops(lookup(&images), &indices, 3, 1, 4, Some(&table));
    let bytes = pipeline.batch_bytes_with_crops(lookup(&images), &indices, 3, 1, 4, Some(&table));
    let worst = worst_level_error(&pipeline, &floats, &bytes);
    assert!(worst <= 0.5 + 1e-3, "KNN multi-crop: {worst} levels off");
}

#[test]
fn the_byte_affine_gives_the_normalised_view_within_half_a_level() {
    let images = images(3);
    let pipeline = pipeline();
    let floats = pipeline.batch_views_with_crops(lookup(&images), &[0, 1, 2], 9, 0, 2, None);
    let bytes = pipeline.batch_bytes_with_crops(lookup(&images), &[0, 1, 2], 9, 0, 2, None);
    let (scale, shift) = pipeline.normalize.byte_affine().unwrap();
    let plane = pipeline.view_side(0).pow(2);
    for (floats, bytes) in floats.iter().zip(&bytes) {
        for (i, (&v, &b)) in floats.iter().zip(bytes).enumerate() {
            let c = (i / plane) % 3;
            let from_byte = b as f64 * scale[c] as f64 + shift[c] as f64;
            let half_level = 0.5 / (255.0 * STD[c] as f64);
            assert!(
                (from_byte - v as f64).abs() <= half_level * (1.0 + 1e-3) + 1e-6,
                "value {i}: {from_byte} from byte {b}, {v} in f32"
            );
        }
    }
}

#[test]
fn lab_views_have_no_byte_affine() {
    assert!(Normalize::lab().byte_affine().is_none());
    let (scale, shift) = Normalize::new(vec![0.5], vec![0.25]).byte_affine().unwrap();
    assert_eq!((scale, shift), (vec![1.0 / 63.75], vec![-2.0]));
}
