//! Forward and backward time of one conv3x3 and one BatchNorm2d at the stage-1 shape.
use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::tensor::{Distribution, Tensor};
use selfsup_backbones::BatchNorm2d;

type A = Autodiff<Flex>;

fn main() {
    let d = Default::default();
    for (c, hw) in [(16usize, 28usize), (64, 7)] {
        let conv = Conv2dConfig::new([c, c], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_bias(false)
            .init::<A>(&d);
        let bn = BatchNorm2d::<A>::new(c, &d);
        for name in ["conv", "bn"] {
            let mut fwd = 0.0;
            let mut bwd = 0.0;
            for _ in 0..4 {
                let x = Tensor::<A, 4>::random([256, c, hw, hw], Distribution::Default, &d)
                    .require_grad();
                let t = Instant::now();
                let y = if name == "conv" {
                    conv.forward(x.clone())
                } else {
                    bn.forward(x.clone())
                };
                let loss = y.sum();
                let _ = loss.clone().into_scalar();
                fwd += t.elapsed().as_secs_f64();
                let t = Instant::now();
                let g = loss.backward();
                let _ = x.grad(&g).unwrap().sum().into_scalar();
                bwd += t.elapsed().as_secs_f64();
            }
            println!(
                "{name} c={c} hw={hw}: forward {:.4}s backward {:.4}s",
                fwd / 4.0,
                bwd / 4.0
            );
        }
    }
}
