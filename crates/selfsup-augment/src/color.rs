use rand::Rng;
use rand::seq::SliceRandom;

/// ITU-R 601 luma weights, as torchvision's `rgb_to_grayscale`.
const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

/// torchvision's brightness/contrast part of `ColorJitter` on a CHW image in [0, 1]: factors
/// drawn uniformly from `[1 - s, 1 + s]`, applied in random order, clamped to [0, 1].
pub fn jitter_brightness_contrast(
    rng: &mut impl Rng,
    image: &mut [f32],
    channels: usize,
    brightness: f32,
    contrast: f32,
) {
    let mut ops = [0u8, 1u8];
    ops.shuffle(rng);
    for op in ops {
        match op {
            0 if brightness > 0.0 => {
                let factor = rng.random_range(1.0 - brightness..=1.0 + brightness);
                image
                    .iter_mut()
                    .for_each(|v| *v = (*v * factor).clamp(0.0, 1.0));
            }
            1 if contrast > 0.0 => {
                let factor = rng.random_range(1.0 - contrast..=1.0 + contrast);
                let mean = gray_mean(image, channels);
                image
                    .iter_mut()
                    .for_each(|v| *v = ((*v - mean) * factor + mean).clamp(0.0, 1.0));
            }
            _ => {}
        }
    }
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
