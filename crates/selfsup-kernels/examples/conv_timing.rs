//! Times the three convolution kernels on the layers of the small-stem ResNet-18 at batch 256,
//! 28x28 input: `cargo run --release -p selfsup-kernels --example conv_timing -- [width]`.
//! Prints milliseconds and GFLOP/s per kernel and layer shape, and the sum over a training step.

use std::time::Instant;

use selfsup_kernels::{ConvGeometry, backward_input, backward_weight, forward};

fn time(repeats: usize, mut run: impl FnMut()) -> f64 {
    run();
    let started = Instant::now();
    for _ in 0..repeats {
        run();
    }
    started.elapsed().as_secs_f64() / repeats as f64
}

fn main() {
    let width: usize = std::env::args()
        .nth(1)
        .map_or(16, |w| w.parse().expect("width"));
    let batch = 256;
    // (in, out, side, kernel, stride, padding, layers): each distinct layer shape and how many
    // layers of the network have it.
    let layers = [
        (1, width, 28, 3, 1, 1, 1),
        (width, width, 28, 3, 1, 1, 4),
        (width, 2 * width, 28, 3, 2, 1, 1),
        (width, 2 * width, 28, 1, 2, 0, 1),
        (2 * width, 2 * width, 14, 3, 1, 1, 3),
        (2 * width, 4 * width, 14, 3, 2, 1, 1),
        (2 * width, 4 * width, 14, 1, 2, 0, 1),
        (4 * width, 4 * width, 7, 3, 1, 1, 3),
        (4 * width, 8 * width, 7, 3, 2, 1, 1),
        (4 * width, 8 * width, 7, 1, 2, 0, 1),
        (8 * width, 8 * width, 4, 3, 1, 1, 3),
    ];
    let mut total = 0.0;
    println!("layer (in -> out, side, k, s) | forward | input grad | weight grad   (ms, GFLOP/s)");
    for (cin, cout, side, k, s, p, count) in layers {
        let g = ConvGeometry {
            batch,
            in_channels: cin,
            height: side,
            width: side,
            out_channels: cout,
            kernel: [k, k],
            stride: [s, s],
            padding: [p, p],
        };
        let x: Vec<f32> = (0..g.input_len()).map(|i| (i % 7) as f32 * 0.1).collect();
        let w: Vec<f32> = (0..g.weight_len()).map(|i| (i % 5) as f32 * 0.1).collect();
        let dy: Vec<f32> = (0..g.output_len()).map(|i| (i % 3) as f32 * 0.1).collect();
        let (mut y, mut dx, mut dw) = (
            vec![0.0; g.output_len()],
            vec![0.0; g.input_len()],
            vec![0.0; g.weight_len()],
        );
        let flop = 2.0 * (g.output_len() * g.patch_len()) as f64;
        let t_f = time(3, || forward(&x, &w, &g, &mut y));
        // The stem's input is the images, which need no gradient.
        let t_x = if cin == 1 {
            0.0
        } else {
            time(3, || backward_input(&dy, &w, &g, &mut dx))
        };
        let t_w = time(3, || backward_weight(&x, &dy, &g, &mut dw));
        total += count as f64 * (t_f + t_x + t_w);
        let rate = |t: f64| flop / t / 1e9;
        println!(
            "{cin:>3} -> {cout:>3}, {side:>2}, {k}, {s} | {:>7.1} {:>5.1} | {:>7.1} {:>5.1} | {:>7.1} {:>5.1}",
            t_f * 1e3,
            rate(t_f),
            t_x * 1e3,
            rate(t_x),
            t_w * 1e3,
            rate(t_w)
        );
    }
    println!(
        "all convolutions of one training step (two views of {batch} images): {:.1} ms",
        2.0 * total * 1e3
    );
}
