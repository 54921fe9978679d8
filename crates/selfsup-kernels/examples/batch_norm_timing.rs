//! Times the fused batch norm, forward and backward, on the activations of the small-stem
//! ResNet-18 at batch 256, 28x28 input: `cargo run --release -p selfsup-kernels --example
//! batch_norm_timing -- [width]`. Prints milliseconds and the bytes each pass moves per second,
//! and the sum over a training step (two views).

use std::mem::MaybeUninit;
use std::time::Instant;

use selfsup_kernels::batch_norm::{BatchNormShape, Epilogue, ForwardRecord, backward, forward};

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
    // (channels, side, with a residual, layers): each batch norm of the network; the second of
    // each block adds the residual before its ReLU, shortcut batch norms have no ReLU.
    let layers = [
        (width, 28, false, 3),
        (width, 28, true, 2),
        (2 * width, 14, false, 3),
        (2 * width, 14, true, 2),
        (4 * width, 7, false, 3),
        (4 * width, 7, true, 2),
        (8 * width, 4, false, 3),
        (8 * width, 4, true, 2),
    ];
    let mut total = 0.0;
    println!("channels, side, residual | forward ms GB/s | backward ms GB/s");
    for (channels, side, residual, count) in layers {
        let shape = BatchNormShape {
            batch,
            channels,
            spatial: side * side,
        };
        let input: Vec<f32> = (0..shape.len())
            .map(|i| (i % 7) as f32 * 0.1 - 0.3)
            .collect();
        let skip: Vec<f32> = (0..shape.len()).map(|i| (i % 5) as f32 * 0.1).collect();
        let output_grad: Vec<f32> = (0..shape.len()).map(|i| (i % 3) as f32 * 0.1).collect();
        let (gamma, beta) = (vec![1.0f32; channels], vec![0.0f32; channels]);
        let epilogue = Epilogue {
            residual: residual.then_some(skip.as_slice()),
            relu: true,
        };
        let mut output = vec![MaybeUninit::new(0.0f32); shape.len()];
        let mut stats = Vec::new();
        let t_f = time(5, || {
            stats = forward(&input, &gamma, &beta, 1e-5, epilogue, shape, &mut output);
        });
        let output: Vec<f32> = output.iter().map(|v| unsafe { v.assume_init() }).collect();
        let record = ForwardRecord {
            input: &input,
            output: &output,
            gamma: &gamma,
            stats: &stats,
            epsilon: 1e-5,
            relu: true,
            residual_gradient: residual,
        };
        let t_b = time(5, || {
            std::hint::black_box(backward(&output_grad, &record, shape));
        });
        total += count as f64 * 2.0 * (t_f + t_b);
        // Streams of 4-byte floats each pass reads or writes: forward reads the input twice,
        // the residual once, writes the output; backward reads gradient, input and output,
        // then gradient (or the masked one), input and output again and writes the input's
        // gradient, plus the masked gradient with a residual.
        let (forward_streams, backward_streams) = if residual { (4, 8) } else { (3, 7) };
        let rate = |streams: usize, t: f64| (streams * shape.len() * 4) as f64 / t / 1e9;
        println!(
            "{channels:>4}, {side:>2}, {residual:>5} | {:>6.2} {:>5.1} | {:>6.2} {:>5.1}",
            t_f * 1e3,
            rate(forward_streams, t_f),
            t_b * 1e3,
            rate(backward_streams, t_b),
        );
    }
    println!(
        "all batch norms of one training step (two views of 256 images): {:.1} ms",
        total * 1e3
    );
}
