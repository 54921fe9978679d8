use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use selfsup_augment::crop::{CropBox, resize_crop_into, sample_crop_box};
use selfsup_augment::{NeighbourCrops, Normalize, ViewConfig, ViewPipeline, normalized_batch};
use selfsup_data::ImageRef;

const SIDE: usize = 28;

fn images(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|k| {
            (0..SIDE * SIDE)
                .map(|i| ((i * 7 + k * 31) % 256) as u8)
                .collect()
        })
        .collect()
}

fn pipeline() -> ViewPipeline {
    ViewPipeline::new(ViewConfig::default(), Normalize::new(vec![0.5], vec![0.25]))
}

fn lookup<'a>(images: &'a [Vec<u8>]) -> impl Fn(usize) -> ImageRef<'a> + Sync {
    move |i| ImageRef {
        pixels: (&images[i]).into(),
        height: SIDE,
        width: SIDE,
        channels: 1,
    }
}

#[test]
fn same_seed_epoch_index_gives_same_views_regardless_of_batch() {
    let imgs = images(8);
    let p = pipeline();
    let a = p.batch_views(lookup(&imgs), &[0, 1, 2, 3, 4, 5, 6, 7], 7, 3, 2);
    let b = p.batch_views(lookup(&imgs), &[5, 3], 7, 3, 2);
    let len = p.view_len(1, 0);
    assert_eq!(a[0][5 * len..6 * len], b[0][..len]);
    assert_eq!(a[1][3 * len..4 * len], b[1][len..]);
}

#[test]
fn different_index_epoch_seed_or_view_give_different_views() {
    let imgs = vec![images(1)[0].clone(); 2];
    let p = pipeline();
    let len = p.view_len(1, 0);
    let base = p.batch_views(lookup(&imgs), &[0, 1], 1, 0, 2);
    // Same pixels at two indices still get different random views.
    assert_ne!(base[0][..len], base[0][len..]);
    assert_ne!(base[0][..len], base[1][..len]);
    let other_epoch = p.batch_views(lookup(&imgs), &[0], 1, 1, 1);
    assert_ne!(base[0][..len], other_epoch[0][..]);
    let other_seed = p.batch_views(lookup(&imgs), &[0], 2, 0, 1);
    assert_ne!(base[0][..len], other_seed[0][..]);
}

#[test]
fn views_have_the_right_shape_and_range() {
    let imgs = images(16);
    let p = pipeline();
    let indices: Vec<usize> = (0..16).collect();
    let views = p.batch_views(lookup(&imgs), &indices, 0, 0, 3);
    assert_eq!(views.len(), 3);
    // Normalised [0, 1] with mean 0.5, std 0.25 lies in [-2, 2].
    for view in &views {
        assert_eq!(view.len(), 16 * SIDE * SIDE);
        assert!(
            view.iter()
                .all(|v| v.is_finite() && (-2.0..=2.0).contains(v))
        );
        assert!(view.iter().any(|&v| v != view[0]));
    }
}

#[test]
fn crop_boxes_respect_scale_and_bounds() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..2000 {
        let b = sample_crop_box(&mut rng, SIDE, SIDE, [0.2, 1.0], [0.75, 4.0 / 3.0]);
        assert!(b.top + b.height <= SIDE && b.left + b.width <= SIDE);
        let frac = (b.height * b.width) as f32 / (SIDE * SIDE) as f32;
        // Rounding the sides to whole pixels moves the area a little past the range.
        assert!((0.15..=1.0).contains(&frac), "{b:?}");
    }
}

#[test]
fn full_crop_without_flip_is_the_identity_and_flip_mirrors() {
    let img = images(1).remove(0);
    let full = CropBox {
        top: 0,
        left: 0,
        height: SIDE,
        width: SIDE,
    };
    let mut out = vec![0f32; SIDE * SIDE];
    resize_crop_into(&img, SIDE, 1, full, SIDE, false, &mut out);
    for (o, &p) in out.iter().zip(&img) {
        assert!((o - p as f32 / 255.0).abs() < 1e-6);
    }
    resize_crop_into(&img, SIDE, 1, full, SIDE, true, &mut out);
    assert!((out[SIDE - 1] - img[0] as f32 / 255.0).abs() < 1e-6);
}

#[test]
fn upsampling_a_two_pixel_crop_interpolates_between_them() {
    // Pixels 0 and 255 side by side, crop resized to 4 wide: half-pixel centres give
    // source x = -0.25, 0.25, 0.75, 1.25 -> 0, 0.25, 0.75, 1 of the way.
    let img = [0u8, 255];
    let crop = CropBox {
        top: 0,
        left: 0,
        height: 1,
        width: 2,
    };
    let mut out = vec![0f32; 16];
    resize_crop_into(&img, 2, 1, crop, 4, false, &mut out);
    let expected = [0.0, 0.25, 0.75, 1.0];
    for (o, e) in out[..4].iter().zip(expected) {
        assert!((o - e).abs() < 1e-6, "{:?}", &out[..4]);
    }
}

#[test]
fn eval_batch_is_normalised_pixels() {
    let imgs = images(2);
    let norm = Normalize::new(vec![0.5], vec![0.25]);
    let batch = normalized_batch(lookup(&imgs), &[1], &norm);
    let expected = (imgs[1][10] as f32 / 255.0 - 0.5) / 0.25;
    assert!((batch[10] - expected).abs() < 1e-6);
}

#[test]
fn invalid_config_names_the_field() {
    let cfg = ViewConfig {
        crop_scale: [0.5, 0.2],
        ..ViewConfig::default()
    };
    let err = cfg.validate().unwrap_err();
    assert_eq!(err.field, "crop_scale");
    assert!(err.to_string().starts_with("augment.crop_scale"));
    assert!(ViewConfig::default().validate().is_ok());
}

#[test]
fn blur_smooths_the_view_and_is_off_by_default() {
    let imgs = images(1);
    let roughness = |blur_prob: f32| {
        let config = ViewConfig {
            blur_prob,
            blur_sigma: [1.0, 1.0],
            ..ViewConfig::default()
        };
        let pipeline = ViewPipeline::new(config, Normalize::new(vec![0.5], vec![0.25]));
        let view = pipeline.batch_views(lookup(&imgs), &[0], 3, 0, 1).remove(0);
        let side = 28;
        let mut total = 0f32;
        for y in 0..side {
            for x in 1..side {
                total += (view[y * side + x] - view[y * side + x - 1]).powi(2);
            }
        }
        total
    };
    assert_eq!(ViewConfig::default().blur_prob, 0.0);
    assert!(roughness(1.0) < 0.5 * roughness(0.0));
}

/// An RGB image whose three channels differ everywhere.
fn rgb_image() -> Vec<u8> {
    (0..SIDE * SIDE)
        .flat_map(|i| {
            [
                (i % 256) as u8,
                ((i * 3 + 50) % 256) as u8,
                ((i * 5 + 90) % 256) as u8,
            ]
        })
        .collect()
}

fn rgb_view(config: ViewConfig, image: &[u8]) -> Vec<f32> {
    let pipeline = ViewPipeline::new(config, Normalize::new(vec![0.0; 3], vec![1.0; 3]));
    let lookup = |_| ImageRef {
        pixels: image.into(),
        height: SIDE,
        width: SIDE,
        channels: 3,
    };
    pipeline.batch_views(lookup, &[0], 1, 0, 1).remove(0)
}

/// Whole-image crop, no flip and no jitter: only the transform under test acts.
fn plain() -> ViewConfig {
    ViewConfig {
        crop_scale: [1.0, 1.0],
        crop_ratio: [1.0, 1.0],
        flip_prob: 0.0,
        jitter_prob: 0.0,
        grayscale_prob: 0.0,
        ..ViewConfig::default()
    }
}

#[test]
fn random_grayscale_makes_rgb_views_gray() {
    let image = rgb_image();
    let plane = SIDE * SIDE;
    let gray = rgb_view(
        ViewConfig {
            grayscale_prob: 1.0,
            ..plain()
        },
        &image,
    );
    for i in 0..plane {
        let expected = 0.299 * image[3 * i] as f32 / 255.0
            + 0.587 * image[3 * i + 1] as f32 / 255.0
            + 0.114 * image[3 * i + 2] as f32 / 255.0;
        for c in 0..3 {
            assert!((gray[c * plane + i] - expected).abs() < 1e-5);
        }
    }
    let colour = rgb_view(plain(), &image);
    assert!((0..plane).any(|i| colour[i] != colour[plane + i]));
}

#[test]
fn solarize_inverts_the_bright_half() {
    let image = rgb_image();
    let plain_view = rgb_view(plain(), &image);
    let solarized = rgb_view(
        ViewConfig {
            solarize_prob: 1.0,
            ..plain()
        },
        &image,
    );
    for (&before, &after) in plain_view.iter().zip(&solarized) {
        let expected = if before >= 0.5 { 1.0 - before } else { before };
        assert_eq!(after, expected);
    }
}

#[test]
fn full_colour_jitter_changes_hue_of_rgb_views_only_when_asked() {
    let image = rgb_image();
    let jitter = |saturation, hue| {
        rgb_view(
            ViewConfig {
                jitter_prob: 1.0,
                brightness: 0.0,
                contrast: 0.0,
                saturation,
                hue,
                ..plain()
            },
            &image,
        )
    };
    assert_eq!(jitter(0.0, 0.0), rgb_view(plain(), &image));
    assert_ne!(jitter(0.0, 0.3), rgb_view(plain(), &image));
    assert_ne!(jitter(0.8, 0.0), rgb_view(plain(), &image));
}

#[test]
fn bad_colour_settings_name_the_field() {
    let hue = ViewConfig {
        hue: 0.7,
        ..ViewConfig::default()
    };
    assert_eq!(hue.validate().unwrap_err().field, "hue");
    let gray = ViewConfig {
        grayscale_prob: 1.5,
        ..ViewConfig::default()
    };
    assert_eq!(gray.validate().unwrap_err().field, "grayscale_prob");
}

#[test]
fn multi_crop_adds_low_resolution_local_crops_after_two_global_views() {
    let imgs = images(3);
    let config = ViewConfig {
        local_crops: 4,
        local_crop_size: 12,
        local_crop_scale: [0.05, 0.14],
        ..ViewConfig::default()
    };
    let pipeline = ViewPipeline::new(config, Normalize::new(vec![0.5], vec![0.25]));
    let views = pipeline.batch_views(lookup(&imgs), &[0, 1, 2], 5, 0, 6);
    let sizes: Vec<usize> = views.iter().map(Vec::len).collect();
    assert_eq!(
        sizes,
        vec![3 * 784, 3 * 784, 3 * 144, 3 * 144, 3 * 144, 3 * 144]
    );
    assert_eq!((pipeline.view_side(1), pipeline.view_side(2)), (28, 12));
    // The global views are the ones a pipeline without multi-crop draws.
    let plain = ViewPipeline::new(ViewConfig::default(), Normalize::new(vec![0.5], vec![0.25]));
    let two = plain.batch_views(lookup(&imgs), &[0, 1, 2], 5, 0, 2);
    assert_eq!(views[..2], two[..]);
    // Without multi-crop a third view is another global one.
    assert_eq!(plain.view_side(2), 28);
    let bad = ViewConfig {
        local_crops: 2,
        local_crop_scale: [0.3, 0.1],
        ..ViewConfig::default()
    };
    assert_eq!(bad.validate().unwrap_err().field, "local_crop_scale");
}

#[test]
fn knn_multi_crop_cuts_local_crops_from_the_neighbours_only() {
    // Constant images: a view of image k is the constant k / 255 before normalisation (no jitter),
    // so each crop shows which image it was cut from.
    let imgs: Vec<Vec<u8>> = (0..4).map(|k| vec![k as u8 * 60; SIDE * SIDE]).collect();
    let config = ViewConfig {
        local_crops: 3,
        jitter_prob: 0.0,
        ..ViewConfig::default()
    };
    let pipeline = ViewPipeline::new(config, Normalize::new(vec![0.0], vec![1.0]));
    // Image 0's neighbours are 2 then 3; image 1's are 3 then 0.
    let table = NeighbourCrops::new(2, vec![2, 3, 3, 0, 0, 1, 1, 2]).unwrap();
    let with = pipeline.batch_views_with_crops(lookup(&imgs), &[0, 1], 9, 0, 5, Some(&table));
    let without = pipeline.batch_views(lookup(&imgs), &[0, 1], 9, 0, 5);
    let source = |views: &[Vec<f32>], view: usize, item: usize| {
        let len = views[view].len() / 2;
        let value = views[view][item * len];
        assert!(
            views[view][item * len..(item + 1) * len]
                .iter()
                .all(|&v| v == value)
        );
        (value * 255.0 / 60.0).round() as usize
    };
    // Global views stay the image's own; local crop j comes from neighbour j mod 2.
    let got: Vec<Vec<usize>> = (0..2)
        .map(|item| (0..5).map(|view| source(&with, view, item)).collect())
        .collect();
    assert_eq!(got, vec![vec![0, 0, 2, 3, 2], vec![1, 1, 3, 0, 3]]);
    assert_eq!(with[..2], without[..2]);
    let own: Vec<usize> = (2..5).map(|view| source(&without, view, 1)).collect();
    assert_eq!(own, vec![1, 1, 1]);
}

#[test]
fn a_neighbour_table_must_name_other_images_of_the_set() {
    use selfsup_augment::NeighbourCropsError as E;
    assert_eq!(NeighbourCrops::new(0, vec![]).unwrap_err(), E::ZeroK);
    assert_eq!(
        NeighbourCrops::new(2, vec![1, 2, 0]).unwrap_err(),
        E::Ragged { len: 3, k: 2 }
    );
    assert_eq!(
        NeighbourCrops::new(1, vec![1, 2]).unwrap_err(),
        E::OutOfRange {
            image: 1,
            neighbour: 2,
            images: 2
        }
    );
    assert_eq!(
        NeighbourCrops::new(1, vec![1, 1]).unwrap_err(),
        E::SelfNeighbour { image: 1 }
    );
    let table = NeighbourCrops::new(2, vec![1, 2, 0, 2, 1, 0]).unwrap();
    assert_eq!((table.images(), table.k(), table.source(2, 3)), (3, 2, 0));
}
