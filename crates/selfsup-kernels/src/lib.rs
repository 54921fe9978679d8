//! A CPU fast path for selfsup's conv backbones on Burn's flex backend.
//!
//! Why this crate exists (issue 16): a training step of selfsup on 2 CPU cores ran at 0.21-0.31
//! of PyTorch's speed on the same cores (`selfsup bench --compare-pytorch`, docs/benchmarks.md).
//! The profile (Intel dev machine) and Burn 0.21's source put the time in Burn's
//! generic convolution backward, which flex does not override:
//! the input gradient goes through `conv_transpose2d`, one image at a time, its GEMM threaded
//! only above 192^3 multiply-adds and its fold on one thread; the weight gradient is a
//! convolution over swapped axes (strided copies on one thread, a GEMM with N = 9). So most
//! of the step ran on one core. The kernels here do each image's GEMM on its own rayon task.
//!
//! The model code stays generic: [`conv2d`] takes any `B: Backend`. When `B` is `Flex` or
//! `Autodiff<Flex>` and the tensors are f32, it runs the kernels (with their own backward step
//! under autodiff); on every other backend and dtype (wgpu, cuda, the float64 reference) it
//! calls Burn's `conv2d` exactly as before. The switch is a comparison of type ids, so no trait
//! bound spreads through the model, and checkpoints are unchanged: weights keep Burn's shapes.

mod conv;
mod flex;
mod geometry;
mod matmul;
mod unfold;

use std::any::Any;

use burn::backend::Flex;
use burn::tensor::backend::Backend;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor, TensorPrimitive};

pub use conv::{backward_input, backward_weight, forward};
pub use geometry::ConvGeometry;

/// `conv2d(x, weight)` without bias, as `burn::tensor::module::conv2d`: on the fast path for
/// flex in f32 (see [`takes_fast_path`]), on Burn's own code otherwise.
pub fn conv2d<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    options: ConvOptions<2>,
) -> Tensor<B, 4> {
    match fast_path_geometry(&x, &weight, &options) {
        Some(g) => fast_conv2d(x, weight, &g),
        None => burn::tensor::module::conv2d(x, weight, None, options),
    }
}

/// Whether [`conv2d`] runs these tensors on the kernels: `B` is `Flex` or `Autodiff<Flex>`,
/// both tensors are f32, one group, no dilation, and the kernel fits the padded input.
pub fn takes_fast_path<B: Backend>(
    x: &Tensor<B, 4>,
    weight: &Tensor<B, 4>,
    options: &ConvOptions<2>,
) -> bool {
    fast_path_geometry(x, weight, options).is_some()
}

fn fast_path_geometry<B: Backend>(
    x: &Tensor<B, 4>,
    weight: &Tensor<B, 4>,
    options: &ConvOptions<2>,
) -> Option<ConvGeometry> {
    let on_flex = flex::is::<B, flex::Trained>() || flex::is::<B, Flex>();
    if !on_flex || x.dtype() != DType::F32 || weight.dtype() != DType::F32 {
        return None;
    }
    let [batch, in_channels, height, width] = x.dims();
    let [out_channels, weight_in, kh, kw] = weight.dims();
    if options.groups != 1 || options.dilation != [1, 1] || weight_in != in_channels {
        return None;
    }
    let g = ConvGeometry {
        batch,
        in_channels,
        height,
        width,
        out_channels,
        kernel: [kh, kw],
        stride: options.stride,
        padding: options.padding,
    };
    g.is_valid().then_some(g)
}

/// Moves a value between two names of one type: `B` was checked to be the backend named.
fn cast<From: 'static, To: 'static>(value: From) -> To {
    *(Box::new(value) as Box<dyn Any>)
        .downcast::<To>()
        .unwrap_or_else(|_| unreachable!("the type ids were compared"))
}

fn fast_conv2d<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    g: &ConvGeometry,
) -> Tensor<B, 4> {
    let (x, weight) = (
        x.into_primitive().tensor(),
        weight.into_primitive().tensor(),
    );
    let output: B::FloatTensorPrimitive = if flex::is::<B, flex::Trained>() {
        cast(flex::conv2d_tracked(cast(x), cast(weight), g))
    } else {
        cast(flex::conv2d(cast(x), cast(weight), g))
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}
