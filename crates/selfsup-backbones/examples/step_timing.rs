//! Times forward and forward+backward of the ResNet-18 small stem on the CPU backend:
//! `cargo run --release -p selfsup-backbones --example step_timing -- [width] [batch]`.
use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use burn::tensor::{Distribution, Tensor};
use selfsup_backbones::ResNetConfig;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (width, batch) = (
        args.first().copied().unwrap_or(16),
        args.get(1).copied().unwrap_or(256),
    );
    let device = Default::default();
    let net = ResNetConfig::resnet18()
        .with_width(width)
        .with_in_channels(1)
        .init::<Flex>(&device);
    let x = Tensor::<Flex, 4>::random([batch, 1, 28, 28], Distribution::Default, &device);
    for _ in 0..2 {
        let t = Instant::now();
        let _ = net.forward(x.clone()).sum().into_scalar();
        println!("forward (inference) {:.3}s", t.elapsed().as_secs_f64());
    }
    let net = ResNetConfig::resnet18()
        .with_width(width)
        .with_in_channels(1)
        .init::<Autodiff<Flex>>(&device);
    let x = Tensor::<Autodiff<Flex>, 4>::random([batch, 1, 28, 28], Distribution::Default, &device);
    for _ in 0..2 {
        let t = Instant::now();
        let loss = net.forward(x.clone()).sum();
        let _ = loss.clone().into_scalar();
        let f = t.elapsed().as_secs_f64();
        let _grads = loss.backward();
        println!(
            "autodiff forward {:.3}s, backward {:.3}s",
            f,
            t.elapsed().as_secs_f64() - f
        );
    }
}
