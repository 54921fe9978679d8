//! torchvision's `GaussianBlur` on a CHW image: separable kernel, reflect padding.

/// Kernel side for a `size`-pixel view: about 10% of the side, odd, at least 3 (MoCo v2 and
/// SimCLR use 23 for 224 px).
pub fn kernel_size(size: usize) -> usize {
    let k = (size as f32 * 0.1).round() as usize;
    (k | 1).max(3)
}

/// Normalised 1-D Gaussian weights of `size` taps, as torchvision's `_get_gaussian_kernel1d`.
pub fn gaussian_kernel(size: usize, sigma: f32) -> Vec<f32> {
    let half = (size / 2) as f32;
    let weights: Vec<f32> = (0..size)
        .map(|i| {
            let x = i as f32 - half;
            (-0.5 * (x / sigma).powi(2)).exp()
        })
        .collect();
    let total: f32 = weights.iter().sum();
    weights.into_iter().map(|w| w / total).collect()
}

/// Index `i` reflected into `[0, len)` without repeating the edge (PyTorch's "reflect").
fn reflect(i: isize, len: usize) -> usize {
    let len = len as isize;
    if len == 1 {
        return 0;
    }
    let period = 2 * (len - 1);
    let mut i = i.rem_euclid(period);
    if i >= len {
        i = period - i;
    }
    i as usize
}

/// Blurs every `side x side` plane of `chw` in place with a Gaussian of `sigma`.
pub fn gaussian_blur(chw: &mut [f32], side: usize, sigma: f32) {
    let taps = gaussian_kernel(kernel_size(side), sigma);
    let half = (taps.len() / 2) as isize;
    let mut row = vec![0f32; side * side];
    for plane in chw.chunks_mut(side * side) {
        for y in 0..side {
            for x in 0..side {
                row[y * side + x] = taps
                    .iter()
                    .enumerate()
                    .map(|(t, w)| {
                        w * plane[y * side + reflect(x as isize + t as isize - half, side)]
                    })
                    .sum();
            }
        }
        for y in 0..side {
            for x in 0..side {
                plane[y * side + x] = taps
                    .iter()
                    .enumerate()
                    .map(|(t, w)| w * row[reflect(y as isize + t as isize - half, side) * side + x])
                    .sum();
            }
        }
    }
}
