//! Times single ops of the small-stem ResNet on flex: conv 3x3 and batch norm at stage shapes.
use std::time::Instant;

use burn::backend::Flex;
use burn::nn::BatchNormConfig;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::tensor::{Distribution, Tensor};

fn time<F: FnMut() -> f32>(name: &str, flops: f64, mut f: F) {
    f();
    let t = Instant::now();
    let n = 3;
    for _ in 0..n {
        f();
    }
    let s = t.elapsed().as_secs_f64() / n as f64;
    println!("{name:40} {:.4}s  {:.1} GFLOP/s", s, flops / s / 1e9);
}

fn main() {
    let device = Default::default();
    for (c, hw) in [(16usize, 28usize), (32, 14), (64, 7), (128, 4)] {
        let x = Tensor::<Flex, 4>::random([256, c, hw, hw], Distribution::Default, &device);
        let conv = Conv2dConfig::new([c, c], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_bias(false)
            .init::<Flex>(&device);
        let flops = 2.0 * 256.0 * (c * c * 9 * hw * hw) as f64;
        time(&format!("conv3x3 c={c} hw={hw}"), flops, || {
            conv.forward(x.clone()).sum().into_scalar()
        });
        let bn = BatchNormConfig::new(c).init::<Flex>(&device);
        time(&format!("batchnorm(inference) c={c} hw={hw}"), 0.0, || {
            bn.forward(x.clone()).sum().into_scalar()
        });
        let y = x.clone().swap_dims(0, 1).reshape([c, 256 * hw * hw]);
        time(&format!("swap+reshape+mean c={c}"), 0.0, || {
            y.clone().mean_dim(1).sum().into_scalar()
        });
        let a = Tensor::<Flex, 2>::random([256 * hw * hw, c * 9], Distribution::Default, &device);
        let b = Tensor::<Flex, 2>::random([c * 9, c], Distribution::Default, &device);
        time(&format!("matmul im2col-equivalent c={c}"), flops, || {
            a.clone().matmul(b.clone()).sum().into_scalar()
        });
    }
}
