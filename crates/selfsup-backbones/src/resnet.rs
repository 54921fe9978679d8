use burn::config::Config;
use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::batch_norm::BatchNorm2d;
use crate::block::{BOTTLENECK_EXPANSION, BasicBlock, Bottleneck, conv, convolve};

/// The first layers: a 3x3 stride-1 conv without max-pool for 28-32 px images, or ImageNet's
/// 7x7 stride-2 conv followed by a 3x3 stride-2 max-pool.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Stem {
    Small,
    ImageNet,
}

/// The residual block of every stage: ResNet-18/34's two 3x3 convolutions, or ResNet-50's
/// 1x1-3x3-1x1 bottleneck with 4x as many output channels as inner ones.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Basic,
    Bottleneck,
}

#[derive(Config, Debug)]
pub struct ResNetConfig {
    /// Blocks per stage: `[2, 2, 2, 2]` is ResNet-18, `[3, 4, 6, 3]` ResNet-34 (and, with
    /// bottleneck blocks, ResNet-50).
    pub blocks: [usize; 4],
    /// Channels of the first stage (inner channels for bottleneck blocks); the stages use
    /// width x 1, 2, 4, 8. 64 is the standard net.
    #[config(default = 64)]
    pub width: usize,
    #[config(default = 3)]
    pub in_channels: usize,
    #[config(default = "Stem::Small")]
    pub stem: Stem,
    #[config(default = "BlockKind::Basic")]
    pub block: BlockKind,
}

impl ResNetConfig {
    pub fn resnet18() -> Self {
        Self::new([2, 2, 2, 2])
    }

    pub fn resnet34() -> Self {
        Self::new([3, 4, 6, 3])
    }

    pub fn resnet50() -> Self {
        Self::new([3, 4, 6, 3]).with_block(BlockKind::Bottleneck)
    }

    /// Length of the pooled feature vector.
    pub fn feature_dim(&self) -> usize {
        self.width * 8 * self.expansion()
    }

    /// Output channels of a block per inner channel.
    fn expansion(&self) -> usize {
        match self.block {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => BOTTLENECK_EXPANSION,
        }
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> ResNet<B> {
        let (kernel, stride) = match self.stem {
            Stem::Small => (3, 1),
            Stem::ImageNet => (7, 2),
        };
        let stem_pool = (self.stem == Stem::ImageNet).then(|| {
            MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init()
        });
        let mut in_channels = self.width;
        let mut blocks = Vec::new();
        let mut bottlenecks = Vec::new();
        for (stage, &count) in self.blocks.iter().enumerate() {
            let width = self.width << stage;
            for i in 0..count {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                match self.block {
                    BlockKind::Basic => {
                        blocks.push(BasicBlock::new(in_channels, width, stride, device))
                    }
                    BlockKind::Bottleneck => {
                        bottlenecks.push(Bottleneck::new(in_channels, width, stride, device))
                    }
                }
                in_channels = width * self.expansion();
            }
        }
        ResNet {
            stem_conv: conv([self.in_channels, self.width], kernel, stride).init(device),
            stem_bn: BatchNorm2d::new(self.width, device),
            stem_pool,
            blocks,
            bottlenecks,
        }
    }
}

/// A ResNet without its classifier: images `[batch, in_channels, h, w]` to globally
/// average-pooled features `[batch, 8 * width]` (`[batch, 32 * width]` with bottlenecks).
/// Basic and bottleneck blocks are two fields, one of them empty, so that a ResNet-18's
/// parameter names (`blocks.N...`) stay those of every checkpoint written before ResNet-50.
#[derive(Module, Debug)]
pub struct ResNet<B: Backend> {
    stem_conv: Conv2d<B>,
    stem_bn: BatchNorm2d<B>,
    stem_pool: Option<MaxPool2d>,
    blocks: Vec<BasicBlock<B>>,
    bottlenecks: Vec<Bottleneck<B>>,
}

impl<B: Backend> ResNet<B> {
    /// Channels of the images this network takes.
    pub fn in_channels(&self) -> usize {
        self.stem_conv.weight.dims()[1]
    }

    /// Size of the pooled features: the channels of the last block (of the stem without blocks).
    pub fn feature_dim(&self) -> usize {
        let last_block = self.blocks.last().map(BasicBlock::out_channels);
        let last_bottleneck = self.bottlenecks.last().map(Bottleneck::out_channels);
        last_bottleneck
            .or(last_block)
            .unwrap_or(self.stem_conv.weight.dims()[0])
    }

    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let mut x = self
            .stem_bn
            .forward_fused(convolve(&self.stem_conv, images), None, true);
        if let Some(pool) = &self.stem_pool {
            x = pool.forward(x);
        }
        for block in &self.blocks {
            x = block.forward(x);
        }
        for block in &self.bottlenecks {
            x = block.forward(x);
        }
        let [batch, channels, _, _] = x.dims();
        x.mean_dim(3).mean_dim(2).reshape([batch, channels])
    }
}
