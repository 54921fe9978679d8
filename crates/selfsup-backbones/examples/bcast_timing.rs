use std::time::Instant;

use burn::backend::Flex;
use burn::tensor::{Distribution, Tensor};

fn time<F: FnMut() -> f32>(name: &str, mut f: F) {
    f();
    let t = Instant::now();
    for _ in 0..5 {
        f();
    }
    println!("{name:50} {:.5}s", t.elapsed().as_secs_f64() / 5.0);
}

fn main() {
    let d = Default::default();
    let (b, c, hw) = (256, 16, 28);
    let x = Tensor::<Flex, 4>::random([b, c, hw, hw], Distribution::Default, &d);
    let s4 = Tensor::<Flex, 4>::random([1, c, 1, 1], Distribution::Default, &d);
    time("x * s[1,C,1,1]", || {
        (x.clone() * s4.clone()).sum().into_scalar()
    });
    time("x - s[1,C,1,1]", || {
        (x.clone() - s4.clone()).sum().into_scalar()
    });
    let x3 = x.clone().reshape([b, c, hw * hw]);
    let s3 = Tensor::<Flex, 3>::random([1, c, 1], Distribution::Default, &d);
    time("x3 * s[1,C,1]", || {
        (x3.clone() * s3.clone()).sum().into_scalar()
    });
    let x2 = x.clone().reshape([b * c, hw * hw]);
    let col = Tensor::<Flex, 2>::random([b * c, 1], Distribution::Default, &d);
    time("x2[BC,HW] * col[BC,1]", || {
        (x2.clone() * col.clone()).sum().into_scalar()
    });
    let full = Tensor::<Flex, 4>::random([b, c, hw, hw], Distribution::Default, &d);
    time("x * full (same shape)", || {
        (x.clone() * full.clone()).sum().into_scalar()
    });
    time("x * scalar", || {
        x.clone().mul_scalar(1.5).sum().into_scalar()
    });
    let expanded = s4.clone().expand([b, c, hw, hw]);
    time("x * s.expand()", || {
        (x.clone() * expanded.clone()).sum().into_scalar()
    });
    let xt = x.clone().permute([0, 2, 3, 1]).reshape([b * hw * hw, c]);
    let row = Tensor::<Flex, 2>::random([1, c], Distribution::Default, &d);
    time("x_nhwc[BHW,C] * row[1,C]", || {
        (xt.clone() * row.clone()).sum().into_scalar()
    });
    time("sum only", || x.clone().sum().into_scalar());
    time("relu", || {
        burn::tensor::activation::relu(x.clone())
            .sum()
            .into_scalar()
    });
    time("mean_dim(3).mean_dim(2)", || {
        x.clone().mean_dim(3).mean_dim(2).sum().into_scalar()
    });
    time("swap_dims(0,1).reshape.mean_dim(1)", || {
        x.clone()
            .swap_dims(0, 1)
            .reshape([c, b * hw * hw])
            .mean_dim(1)
            .sum()
            .into_scalar()
    });
    time("sum_dim(3).sum_dim(2).sum_dim(0)", || {
        x.clone()
            .sum_dim(3)
            .sum_dim(2)
            .sum_dim(0)
            .sum()
            .into_scalar()
    });
}
