use selfsup_augment::blur::{gaussian_blur, gaussian_kernel, kernel_size};

#[test]
fn kernel_is_ten_percent_of_the_side_and_odd() {
    assert_eq!(kernel_size(224), 23);
    assert_eq!(kernel_size(28), 3);
    assert_eq!(kernel_size(8), 3);
    assert_eq!(kernel_size(96), 11);
}

#[test]
fn impulse_spreads_as_the_outer_product_of_the_float64_kernel() {
    let (side, sigma) = (31, 1.5f64);
    let taps = kernel_size(side);
    let half = (taps / 2) as f64;
    let weights: Vec<f64> = (0..taps)
        .map(|i| (-0.5 * ((i as f64 - half) / sigma).powi(2)).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let reference: Vec<f64> = weights.iter().map(|w| w / total).collect();
    for (got, want) in gaussian_kernel(taps, sigma as f32).iter().zip(&reference) {
        assert!((f64::from(*got) - want).abs() < 1e-7);
    }

    let mut image = vec![0f32; side * side];
    let centre = side / 2;
    image[centre * side + centre] = 1.0;
    gaussian_blur(&mut image, side, sigma as f32);
    for dy in 0..taps {
        for dx in 0..taps {
            let (y, x) = (centre + dy - taps / 2, centre + dx - taps / 2);
            let want = reference[dy] * reference[dx];
            assert!((f64::from(image[y * side + x]) - want).abs() < 1e-6);
        }
    }
    let sum: f32 = image.iter().sum();
    assert!(
        (sum - 1.0).abs() < 1e-5,
        "an interior impulse keeps its mass: {sum}"
    );
}

#[test]
fn constant_planes_stay_constant_up_to_the_edges() {
    let side = 9;
    let mut image: Vec<f32> = [0.25f32, 0.75]
        .iter()
        .flat_map(|&v| vec![v; side * side])
        .collect();
    gaussian_blur(&mut image, side, 2.0);
    for (i, v) in image.iter().enumerate() {
        let want = if i < side * side { 0.25 } else { 0.75 };
        assert!((v - want).abs() < 1e-6, "pixel {i}: {v}");
    }
}

/// The blur as a per-pixel loop (the taps in kernel order, each source index reflected): the
/// fast version must give the same floats, bit for bit, edges included.
fn per_pixel_blur(chw: &mut [f32], side: usize, sigma: f32) {
    let reflect = |i: isize| -> usize {
        let len = side as isize;
        let period = 2 * (len - 1);
        let mut i = i.rem_euclid(period);
        if i >= len {
            i = period - i;
        }
        i as usize
    };
    let taps = gaussian_kernel(kernel_size(side), sigma);
    let half = (taps.len() / 2) as isize;
    let mut row = vec![0f32; side * side];
    for plane in chw.chunks_mut(side * side) {
        for y in 0..side {
            for x in 0..side {
                row[y * side + x] = taps
                    .iter()
                    .enumerate()
                    .map(|(t, w)| w * plane[y * side + reflect(x as isize + t as isize - half)])
                    .sum();
            }
        }
        for y in 0..side {
            for x in 0..side {
                plane[y * side + x] = taps
                    .iter()
                    .enumerate()
                    .map(|(t, w)| w * row[reflect(y as isize + t as isize - half) * side + x])
                    .sum();
            }
        }
    }
}

#[test]
fn the_row_at_a_time_blur_equals_the_per_pixel_loop_bit_for_bit() {
    for (side, sigma) in [(224, 1.7f32), (96, 0.3), (28, 2.0), (5, 1.0)] {
        let mut state = 12345u32;
        let image: Vec<f32> = (0..3 * side * side)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32
            })
            .collect();
        let (mut fast, mut reference) = (image.clone(), image);
        gaussian_blur(&mut fast, side, sigma);
        per_pixel_blur(&mut reference, side, sigma);
        let same = fast
            .iter()
            .zip(&reference)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "side {side}, sigma {sigma}");
    }
}
