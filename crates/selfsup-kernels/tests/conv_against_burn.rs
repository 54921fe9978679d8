//! The fast convolution against Burn's own: the same forward output and the same gradients for
//! the input and the weight, on random shapes (odd sizes, batch 1, strides 1 and 2, 1x1, 3x3
//! and 7x7 kernels). The reference is Burn's generic path in float64 (flex keeps a tensor's
//! dtype, so every op of it runs in f64), which shares no code with the kernels; Burn's f32
//! result is checked too.

use burn::backend::{Autodiff, Flex};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

type A = Autodiff<Flex>;

struct Case {
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    height: usize,
    width: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
}

fn random(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// Output, input gradient and weight gradient of `sum(conv(x, w) * r)` for a fixed random `r`.
fn run(
    conv: impl Fn(Tensor<A, 4>, Tensor<A, 4>) -> Tensor<A, 4>,
    x: &[f32],
    w: &[f32],
    r: &[f32],
    shapes: [[usize; 4]; 3],
    dtype: DType,
) -> [Vec<f64>; 3] {
    let device = Default::default();
    let tensor = |values: &[f32], shape: [usize; 4]| {
        Tensor::<A, 4>::from_data(
            TensorData::new(values.to_vec(), shape).convert_dtype(dtype),
            &device,
        )
    };
    let xt = tensor(x, shapes[0]).require_grad();
    let wt = tensor(w, shapes[1]).require_grad();
    let y = conv(xt.clone(), wt.clone());
    assert_eq!(y.dims(), shapes[2]);
    let grads = (y.clone() * tensor(r, shapes[2])).sum().backward();
    let f64s = |t: Tensor<Flex, 4>| t.into_data().convert::<f64>().into_vec::<f64>().unwrap();
    [
        f64s(y.inner()),
        f64s(xt.grad(&grads).unwrap()),
        f64s(wt.grad(&grads).unwrap()),
    ]
}

fn max_relative_error(got: &[f64], want: &[f64]) -> f64 {
    let scale = want.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / scale)
        .fold(0.0, max_keeping_nan)
}

/// Shapes chosen for the paths they take, then random ones: (batch, in, out, height, width,
/// kernel, stride, padding).
fn cases(rng: &mut ChaCha8Rng) -> Vec<Case> {
    let mut shapes = vec![
        // Batch 1 on a 1x1 map, odd maps, strides 1 and 2, 1x1 kernels, a 7x7 stem, a batch
        // of 17 on 4x4 maps without padding.
        (1, 1, 1, 1, 1, 3, 1, 1),
        (1, 3, 5, 7, 9, 3, 1, 1),
        (3, 4, 6, 9, 7, 3, 2, 1),
        (2, 5, 3, 8, 8, 1, 2, 0),
        (5, 6, 4, 5, 6, 1, 1, 0),
        (2, 3, 4, 13, 11, 7, 2, 3),
        (3, 32, 6, 15, 20, 3, 1, 1),
        (17, 2, 3, 4, 4, 3, 1, 0),
    ];
    // The strided layers of the width-4 ResNet-18 the float64 model test builds, layers of the
    // width-16 one at a batch that is not a multiple of anything, and small odd maps.
    for (batch, in_channels, out_channels, side, kernel, stride, padding) in [
        (64, 8, 16, 14, 3, 2, 1),
        (64, 8, 16, 14, 1, 2, 0),
        (64, 16, 32, 7, 3, 2, 1),
        (64, 4, 8, 28, 3, 2, 1),
        (37, 16, 16, 28, 3, 1, 1),
        (37, 64, 64, 7, 3, 1, 1),
        // Layers the Winograd kernels take (32 or more input channels, maps 14 wide or
        // more): odd sides, a batch that fills no group of images evenly.
        (7, 32, 9, 15, 3, 1, 1),
        (11, 40, 32, 14, 3, 1, 1),
        (2, 33, 5, 17, 3, 1, 1),
        // Batch 1 on an odd map.
        (1, 32, 4, 9, 3, 1, 1),
        // A 4x4 map: 32 images share the GEMMs, the last group has 6.
        (70, 32, 16, 4, 3, 1, 1),
        // Layers the direct kernel takes on AVX-512 machines (3x3, stride 1, 8 to 31 input
        // channels, output channels in blocks of 8), the 16-channel one above among them: a
        // 1x1 map, odd maps, input gradients (8 -> 16, 24 -> 8) that are direct too.
        (3, 8, 16, 11, 3, 1, 1),
        (1, 16, 8, 1, 3, 1, 1),
        (5, 16, 8, 9, 3, 1, 1),
        (2, 8, 24, 5, 3, 1, 1),
        // Its stride-2 forward (outputs 7 wide or more): the width-16 network's first strided
        // layer, an odd input; the direct weight gradient takes the stride-2 layers with
        // outputs 14 wide or more: that layer again, an odd one with an odd channel count.
        (9, 16, 32, 28, 3, 2, 1),
        (3, 32, 64, 15, 3, 2, 1),
        (4, 9, 6, 29, 3, 2, 1),
        // ResNet-50's layers in small: the ImageNet stem (7x7, stride 2, 3 channels, an odd
        // side), a bottleneck's 1x1 widening and narrowing, its 1x1 stride-2 shortcut, and
        // torchvision v1.5's stride on the 3x3.
        (2, 3, 16, 37, 7, 2, 3),
        (3, 16, 64, 9, 1, 1, 0),
        (3, 64, 16, 9, 1, 1, 0),
        (2, 64, 128, 9, 1, 2, 0),
        (2, 32, 32, 15, 3, 2, 1),
        // Maps whose pixel count is not a multiple of 16, so several images share a GEMM.
        (40, 5, 7, 5, 3, 1, 1),
        (21, 6, 3, 6, 3, 2, 1),
    ] {
        shapes.push((
            batch,
            in_channels,
            out_channels,
            side,
            side,
            kernel,
            stride,
            padding,
        ));
    }
    let mut cases: Vec<Case> = shapes
        .into_iter()
        .map(
            |(batch, in_channels, out_channels, height, width, kernel, stride, padding)| Case {
                batch,
                in_channels,
                out_channels,
                height,
                width,
                kernel,
                stride,
                padding,
            },
        )
        .collect();
    for _ in 0..6 {
        let kernel = [1, 3, 3, 5][rng.random_range(0..4)];
        cases.push(Case {
            batch: rng.random_range(1..20),
            in_channels: rng.random_range(1..9),
            out_channels: rng.random_range(1..9),
            height: rng.random_range(kernel..14),
            width: rng.random_range(kernel..14),
            kernel,
            stride: rng.random_range(1..3),
            padding: rng.random_range(0..kernel / 2 + 1),
        });
    }
    cases
}

/// The fast path against Burn's float64 result on `c`, with inputs drawn from `rng`.
fn check(c: &Case, rng: &mut ChaCha8Rng) {
    let options = ConvOptions::new([c.stride; 2], [c.padding; 2], [1, 1], 1);
    let out = |size: usize| (size + 2 * c.padding - c.kernel) / c.stride + 1;
    let shapes = [
        [c.batch, c.in_channels, c.height, c.width],
        [c.out_channels, c.in_channels, c.kernel, c.kernel],
        [c.batch, c.out_channels, out(c.height), out(c.width)],
    ];
    let x = random(rng, shapes[0].iter().product());
    let w = random(rng, shapes[1].iter().product());
    let r = random(rng, shapes[2].iter().product());
    let burn = |x, w| burn::tensor::module::conv2d(x, w, None, options.clone());
    let fast = |x, w| selfsup_kernels::conv2d(x, w, options.clone());
    let device = Default::default();
    let probe = |dtype| Tensor::<A, 4>::zeros(shapes[0], (&device, dtype));
    let weight = Tensor::<A, 4>::zeros(shapes[1], &device);
    assert!(selfsup_kernels::takes_fast_path(
        &probe(DType::F32),
        &weight,
        &options
    ));
    assert!(!selfsup_kernels::takes_fast_path(
        &probe(DType::F64),
        &weight,
        &options
    ));
    let reference = run(burn, &x, &w, &r, shapes, DType::F64);
    let burn_f32 = run(burn, &x, &w, &r, shapes, DType::F32);
    let ours = run(fast, &x, &w, &r, shapes, DType::F32);
    let label = format!(
        "batch {} in {} out {} {}x{} k{} s{} p{}",
        c.batch, c.in_channels, c.out_channels, c.height, c.width, c.kernel, c.stride, c.padding
    );
    for (name, i) in [("output", 0), ("input gradient", 1), ("weight gradient", 2)] {
        let error = max_relative_error(&ours[i], &reference[i]);
        let burn_error = max_relative_error(&burn_f32[i], &reference[i]);
        // f32 sums of up to a few thousand terms: Burn's own f32 error is of this order.
        assert!(
            error < 1e-5,
            "{label}: {name} {error:e} from float64 (Burn f32: {burn_error:e})"
        );
    }
}

#[test]
fn forward_and_both_gradients_match_burn_in_float64_and_float32() {
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let cases = cases(&mut rng);
    for case in &cases {
        check(case, &mut rng);
    }
}

/// The same call twice gives the same bits, whatever the thread scheduling.
#[test]
fn repeated_runs_are_bit_identical() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let shapes = [[37, 8, 12, 12], [16, 8, 3, 3], [37, 16, 6, 6]];
    let x = random(&mut rng, shapes[0].iter().product());
    let w = random(&mut rng, shapes[1].iter().product());
    let r = random(&mut rng, shapes[2].iter().product());
    let options = ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
    let fast = |x, w| selfsup_kernels::conv2d(x, w, options.clone());
    let first = run(fast, &x, &w, &r, shapes, DType::F32);
    for _ in 0..3 {
        assert!(run(fast, &x, &w, &r, shapes, DType::F32) == first);
    }
}

/// Inference on plain flex (no autodiff) takes the fast path too.
#[test]
fn plain_flex_forward_matches_burn() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let device = Default::default();
    let x = Tensor::<Flex, 4>::from_data(
        TensorData::new(random(&mut rng, 2 * 3 * 10 * 10), [2, 3, 10, 10]),
        &device,
    );
    let w = Tensor::<Flex, 4>::from_data(
        TensorData::new(random(&mut rng, 4 * 3 * 9), [4, 3, 3, 3]),
        &device,
    );
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let want = burn::tensor::module::conv2d(x.clone(), w.clone(), None, options.clone());
    let got = selfsup_kernels::conv2d(x, w, options);
    got.into_data()
        .assert_approx_eq::<f32>(&want.into_data(), burn::tensor::Tolerance::absolute(1e-5));
}

/// `f64::max` drops a NaN; an error measure must keep it, so that a NaN output fails.
fn max_keeping_nan(largest: f64, value: f64) -> f64 {
    if value.is_nan() || value > largest {
        value
    } else {
        largest
    }
}
