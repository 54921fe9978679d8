//! Backbones: images in, pooled feature vectors out. Generic over any Burn backend.

mod block;
mod resnet;

pub use block::BasicBlock;
pub use resnet::{ResNet, ResNetConfig, Stem};
