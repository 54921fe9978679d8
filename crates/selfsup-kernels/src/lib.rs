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
//! With the convolutions fast, flex's element-wise batch norm, ReLU and add were next (13% of
//! the step, all on the main thread): [`batch_norm_training`] fuses them into two passes over
//! the activations on every core (docs/benchmarks.md has both profiles). The 3x3 stride-1
//! layers with 32 or more input channels then go through Winograd's F(2x2, 3x3), 2.25x fewer
//! multiply-adds (`winograd.rs` says where it pays and where im2col stays), and those with 8
//! to 31 (the first stage's 16) through a direct kernel that reads each tap in place instead
//! of unfolding nine copies (`direct.rs`; AVX-512 machines), which also takes the strided
//! layers' forward; their input gradient skips col2im (`strided_input_gradient.rs`), and the
//! first stage's and the first strided layer's weight gradients skip im2col
//! (`direct_weight_gradient.rs`). Winograd's tile layout
//! is filled and emptied by AVX-512 gathers (`across_images.rs`). Batch norm's passes are
//! compiled for the machine's vectors (`batch_norm.rs`).
//!
//! The model code stays generic: [`conv2d`] takes any `B: Backend`. When `B` is `Flex` or
//! `Autodiff<Flex>` and the tensors are f32, it runs the kernels (with their own backward step
//! under autodiff); on every other backend and dtype (wgpu, cuda, the float64 reference) it
//! calls Burn's `conv2d` exactly as before. The batch-norm entries return `None` there, and the
//! caller runs its own tensor code. The switch is a comparison of type ids, so no trait bound
//! spreads through the model, and checkpoints are unchanged: weights keep Burn's shapes.

mod across_images;
pub mod batch_norm;
mod conv;
mod direct;
mod direct_weight_gradient;
mod flex;
mod geometry;
mod matmul;
mod strided_input_gradient;
mod unfold;
mod winograd;
mod written;

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::Flex;
use burn::tensor::backend::Backend;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor, TensorPrimitive};

pub use conv::{backward_input, backward_weight, forward};
pub use geometry::ConvGeometry;

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the fast path on (the default) or off for the whole process. Off, flex runs Burn's
/// own operations, which is how the kernels are compared against them (`selfsup
/// --cpu-kernels off`, the equivalence tests).
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// Whether the fast path is on (see [`set_enabled`]).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether `B` is flex (`autodiff` selects `Autodiff<Flex>`, else plain `Flex`) and the fast
/// path is on.
fn on_flex<B: Backend>(autodiff: bool) -> bool {
    let is_flex = if autodiff {
        flex::is::<B, flex::Trained>()
    } else {
        flex::is::<B, Flex>()
    };
    is_flex && enabled()
}

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

/// Whether [`conv2d`] runs these tensors on the kernels: the fast path is on, `B` is `Flex` or
/// `Autodiff<Flex>`, both tensors are f32, one group, no dilation, and the kernel fits the padded input.
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
    if !(on_flex::<B>(true) || on_flex::<B>(false))
        || x.dtype() != DType::F32
        || weight.dtype() != DType::F32
    {
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
    if flex::is::<B, flex::Trained>() {
        from_flex(flex::conv::conv2d_tracked(cast(x), cast(weight), g))
    } else {
        from_flex(flex::conv::conv2d(cast(x), cast(weight), g))
    }
}

/// A training-mode batch norm's output and the batch statistics it normalised with.
pub struct BatchNormTraining<B: Backend> {
    pub output: Tensor<B, 4>,
    /// Per-channel batch mean.
    pub mean: Vec<f32>,
    /// Per-channel biased batch variance (what `burn::nn::BatchNorm` blends into its running
    /// variance).
    pub variance: Vec<f32>,
}

fn float_primitive<B: Backend, const D: usize>(t: &Tensor<B, D>) -> B::FloatTensorPrimitive {
    t.clone().into_primitive().tensor()
}

fn is_f32_and_filled<B: Backend, const D: usize>(t: &Tensor<B, D>) -> bool {
    t.dtype() == DType::F32 && t.shape().num_elements() > 0
}

/// What both batch-norm entries take: non-empty f32 tensors, a residual shaped like `x`.
fn batch_norm_operands_fit<B: Backend>(
    x: &Tensor<B, 4>,
    per_channel: [&Tensor<B, 1>; 2],
    residual: Option<&Tensor<B, 4>>,
) -> bool {
    is_f32_and_filled(x)
        && per_channel.iter().all(|t| is_f32_and_filled(*t))
        && residual.is_none_or(|r| is_f32_and_filled(r) && r.dims() == x.dims())
}

/// A flex (or `Autodiff<Flex>`) primitive as a tensor of `B`, which was checked to be that
/// backend.
fn from_flex<B: Backend, P: 'static, const D: usize>(primitive: P) -> Tensor<B, D> {
    let primitive: B::FloatTensorPrimitive = cast(primitive);
    Tensor::from_primitive(TensorPrimitive::Float(primitive))
}

/// `relu?(batch_norm(x) + residual?)` in training mode (batch statistics, gradients through
/// all of it) on the kernels, when `B` is `Autodiff<Flex>` and every tensor is f32; `None`
/// otherwise, for the caller's generic code. `gamma` and `beta` are `[channels]`.
pub fn batch_norm_training<B: Backend>(
    x: &Tensor<B, 4>,
    gamma: &Tensor<B, 1>,
    beta: &Tensor<B, 1>,
    residual: Option<&Tensor<B, 4>>,
    epsilon: f64,
    relu: bool,
) -> Option<BatchNormTraining<B>> {
    if !on_flex::<B>(true) || !batch_norm_operands_fit(x, [gamma, beta], residual) {
        return None;
    }
    let (output, stats) = flex::batch_norm::training(
        cast(float_primitive(x)),
        cast(float_primitive(gamma)),
        cast(float_primitive(beta)),
        residual.map(|r| cast(float_primitive(r))),
        epsilon,
        relu,
        x.dims(),
    );
    Some(BatchNormTraining {
        output: from_flex(output),
        mean: stats.iter().map(|s| s.mean as f32).collect(),
        variance: stats.iter().map(|s| s.variance as f32).collect(),
    })
}

/// `relu?(x * scale[c] + shift[c] + residual?)`, batch norm with its running statistics folded
/// into `scale` and `shift`, on the kernels when `B` is `Flex` and every tensor is f32; `None`
/// otherwise, for the caller's generic code.
pub fn batch_norm_inference<B: Backend>(
    x: &Tensor<B, 4>,
    scale: &Tensor<B, 1>,
    shift: &Tensor<B, 1>,
    residual: Option<&Tensor<B, 4>>,
    relu: bool,
) -> Option<Tensor<B, 4>> {
    if !on_flex::<B>(false) || !batch_norm_operands_fit(x, [scale, shift], residual) {
        return None;
    }
    let output = flex::batch_norm::affine(
        cast(float_primitive(x)),
        cast(float_primitive(scale)),
        cast(float_primitive(shift)),
        residual.map(|r| cast(float_primitive(r))),
        relu,
        x.dims(),
    );
    Some(from_flex(output))
}
