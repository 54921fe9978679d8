//! Backbones: images in, pooled feature vectors out. Generic over any Burn backend.

mod batch_norm;
mod block;
mod encoder;
mod resnet;

pub use batch_norm::BatchNorm2d;
pub use block::BasicBlock;
pub use encoder::Encoder;
pub use resnet::{ResNet, ResNetConfig, Stem};
