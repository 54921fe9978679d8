//! sRGB -> CIE Lab (D65), as skimage's `rgb2lab`, which CMC's official code uses; CMC then
//! normalises with the constants below and splits L from ab.

/// sRGB (linear) -> XYZ, skimage's matrix.
const RGB_TO_XYZ: [[f64; 3]; 3] = [
    [0.412453, 0.357580, 0.180423],
    [0.212671, 0.715160, 0.072169],
    [0.019334, 0.119193, 0.950227],
];
/// The D65 white point skimage divides by.
const WHITE_D65: [f64; 3] = [0.95047, 1.0, 1.08883];

/// CMC's Lab normalisation (methods.md): `(lab - mean) / std` per channel.
pub const LAB_MEAN: [f32; 3] = [50.0, 6.025, -6.6895];
pub const LAB_STD: [f32; 3] = [50.0, 92.208, 101.1675];

/// One sRGB colour in [0, 1] as (L, a, b): L in [0, 100].
pub fn rgb_to_lab(rgb: [f32; 3]) -> [f32; 3] {
    let linear = rgb.map(|c| {
        let c = f64::from(c);
        if c > 0.04045 {
            ((c + 0.055) / 1.055).powf(2.4)
        } else {
            c / 12.92
        }
    });
    let xyz: [f64; 3] = std::array::from_fn(|row| {
        RGB_TO_XYZ[row]
            .iter()
            .zip(&linear)
            .map(|(m, c)| m * c)
            .sum::<f64>()
            / WHITE_D65[row]
    });
    let f = xyz.map(|t| {
        if t > 0.008856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    });
    let lightness = if xyz[1] > 0.008856 {
        116.0 * f[1] - 16.0
    } else {
        903.3 * xyz[1]
    };
    [
        lightness as f32,
        (500.0 * (f[0] - f[1])) as f32,
        (200.0 * (f[1] - f[2])) as f32,
    ]
}

/// Converts a CHW RGB image in [0, 1] to Lab in place.
pub fn chw_rgb_to_lab(chw: &mut [f32]) {
    let plane = chw.len() / 3;
    for i in 0..plane {
        let lab = rgb_to_lab([chw[i], chw[plane + i], chw[2 * plane + i]]);
        for (c, value) in lab.into_iter().enumerate() {
            chw[c * plane + i] = value;
        }
    }
}
