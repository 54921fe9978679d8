//! Lab conversion against values computed in float64 with skimage's formula (sRGB gamma, its
//! XYZ matrix, D65 white), which CMC's official code calls.

use selfsup_augment::lab::{LAB_MEAN, LAB_STD, chw_rgb_to_lab, rgb_to_lab};
use selfsup_augment::{Normalize, normalized_batch};

fn assert_lab(rgb: [f32; 3], want: [f64; 3]) {
    let got = rgb_to_lab(rgb);
    for c in 0..3 {
        assert!(
            (f64::from(got[c]) - want[c]).abs() < 2e-3,
            "rgb {rgb:?}: got {got:?}, want {want:?}"
        );
    }
}

#[test]
fn reference_colours() {
    // White: L = 100, a = b = 0 (to the rounding of skimage's matrix).
    assert_lab([1.0, 1.0, 1.0], [100.0, -0.002455, 0.004653]);
    assert_lab([1.0, 0.0, 0.0], [53.240588, 80.092308, 67.202751]);
    assert_lab([0.0, 1.0, 0.0], [87.735099, -86.183030, 83.179703]);
    assert_lab([0.0, 0.0, 1.0], [32.295673, 79.185591, -107.857300]);
    assert_lab([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]);
    assert_lab([0.5, 0.25, 0.75], [41.154824, 51.408966, -56.445280]);
    // Dark enough for the linear branches of the gamma and of f.
    assert_lab([0.01, 0.002, 0.003], [0.263826, 0.568906, 0.091481]);
}

#[test]
fn planes_convert_pixel_by_pixel() {
    let mut chw = vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0];
    chw_rgb_to_lab(&mut chw);
    let red = rgb_to_lab([1.0, 0.0, 0.0]);
    let green = rgb_to_lab([0.0, 1.0, 0.0]);
    assert_eq!(
        chw,
        vec![red[0], green[0], red[1], green[1], red[2], green[2]]
    );
}

#[test]
fn lab_normalisation_converts_then_standardises() {
    // One white 1x1 RGB image.
    let pixels = [255u8, 255, 255];
    let image = |_| selfsup_data::ImageRef {
        pixels: (&pixels).into(),
        height: 1,
        width: 1,
        channels: 3,
    };
    let out = normalized_batch(image, &[0], &Normalize::lab());
    let white = rgb_to_lab([1.0, 1.0, 1.0]);
    for c in 0..3 {
        assert!((out[c] - (white[c] - LAB_MEAN[c]) / LAB_STD[c]).abs() < 1e-6);
    }
    assert!((out[0] - 1.0).abs() < 1e-5, "L = 100 normalises to 1");
}
