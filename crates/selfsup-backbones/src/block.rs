use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};

use crate::batch_norm::BatchNorm2d;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::ConvOptions;

/// torchvision's ResNet init: Kaiming normal, fan-out, ReLU gain.
pub(crate) fn conv(channels: [usize; 2], kernel: usize, stride: usize) -> Conv2dConfig {
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            kernel / 2,
            kernel / 2,
            kernel / 2,
            kernel / 2,
        ))
        .with_bias(false)
        .with_initializer(Initializer::KaimingNormal {
            gain: std::f64::consts::SQRT_2,
            fan_out_only: true,
        })
}

/// `conv`'s convolution of `x` (no bias, symmetric padding, as [`conv`] builds them) through
/// selfsup-kernels: its CPU fast path on flex, Burn's own convolution on every other backend.
pub(crate) fn convolve<B: Backend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let padding = match conv.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            [top, left]
        }
        PaddingConfig2d::Valid => [0, 0],
        _ => return conv.forward(x),
    };
    if conv.bias.is_some() {
        return conv.forward(x);
    }
    let options = ConvOptions::new(conv.stride, padding, conv.dilation, conv.groups);
    selfsup_kernels::conv2d(x, conv.weight.val(), options)
}

/// 1x1 strided projection on the shortcut when the shape changes.
#[derive(Module, Debug)]
pub struct Downsample<B: Backend> {
    conv: Conv2d<B>,
    bn: BatchNorm2d<B>,
}

/// ResNet-18/34's basic block: two 3x3 convolutions with batch norm and a residual connection.
#[derive(Module, Debug)]
pub struct BasicBlock<B: Backend> {
    conv1: Conv2d<B>,
    bn1: BatchNorm2d<B>,
    conv2: Conv2d<B>,
    bn2: BatchNorm2d<B>,
    downsample: Option<Downsample<B>>,
}

impl<B: Backend> BasicBlock<B> {
    pub fn new(in_channels: usize, out_channels: usize, stride: usize, device: &B::Device) -> Self {
        let downsample = (stride != 1 || in_channels != out_channels).then(|| Downsample {
            conv: conv([in_channels, out_channels], 1, stride).init(device),
            bn: BatchNorm2d::new(out_channels, device),
        });
        Self {
            conv1: conv([in_channels, out_channels], 3, stride).init(device),
            bn1: BatchNorm2d::new(out_channels, device),
            conv2: conv([out_channels, out_channels], 3, 1).init(device),
            bn2: BatchNorm2d::new(out_channels, device),
            downsample,
        }
    }

    pub fn out_channels(&self) -> usize {
        self.conv2.weight.dims()[0]
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let identity = shortcut(self.downsample.as_ref(), x.clone());
        let out = self.bn1.forward_fused(convolve(&self.conv1, x), None, true);
        self.bn2
            .forward_fused(convolve(&self.conv2, out), Some(identity), true)
    }
}

/// The shortcut of a block: its input, or its 1x1 strided projection when the shape changes.
fn shortcut<B: Backend>(downsample: Option<&Downsample<B>>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    match downsample {
        Some(d) => d.bn.forward(convolve(&d.conv, x)),
        None => x,
    }
}

/// Output channels of a bottleneck block per channel of its inner width.
pub const BOTTLENECK_EXPANSION: usize = 4;

/// ResNet-50's bottleneck block as torchvision builds it (v1.5: the stride on the 3x3
/// convolution): 1x1 down to `width` channels, 3x3, 1x1 up to `4 * width`, batch norm after
/// each and a residual connection.
#[derive(Module, Debug)]
pub struct Bottleneck<B: Backend> {
    conv1: Conv2d<B>,
    bn1: BatchNorm2d<B>,
    conv2: Conv2d<B>,
    bn2: BatchNorm2d<B>,
    conv3: Conv2d<B>,
    bn3: BatchNorm2d<B>,
    downsample: Option<Downsample<B>>,
}

impl<B: Backend> Bottleneck<B> {
    pub fn new(in_channels: usize, width: usize, stride: usize, device: &B::Device) -> Self {
        let out_channels = width * BOTTLENECK_EXPANSION;
        let downsample = (stride != 1 || in_channels != out_channels).then(|| Downsample {
            conv: conv([in_channels, out_channels], 1, stride).init(device),
            bn: BatchNorm2d::new(out_channels, device),
        });
        Self {
            conv1: conv([in_channels, width], 1, 1).init(device),
            bn1: BatchNorm2d::new(width, device),
            conv2: conv([width, width], 3, stride).init(device),
            bn2: BatchNorm2d::new(width, device),
            conv3: conv([width, out_channels], 1, 1).init(device),
            bn3: BatchNorm2d::new(out_channels, device),
            downsample,
        }
    }

    pub fn out_channels(&self) -> usize {
        self.conv3.weight.dims()[0]
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let identity = shortcut(self.downsample.as_ref(), x.clone());
        let out = self.bn1.forward_fused(convolve(&self.conv1, x), None, true);
        let out = self
            .bn2
            .forward_fused(convolve(&self.conv2, out), None, true);
        self.bn3
            .forward_fused(convolve(&self.conv3, out), Some(identity), true)
    }
}
