//! Backbones: images in, pooled feature vectors out. Generic over any Burn backend. Also the
//! one lock under which any selfsup module draws its initial weights (`seeded`).

mod batch_norm;
mod block;
mod encoder;
mod resnet;
mod seeded;

pub use batch_norm::BatchNorm2d;
pub use block::{BasicBlock, Bottleneck};
pub use encoder::Encoder;
pub use resnet::{BlockKind, ResNet, ResNetConfig, Stem};
pub use seeded::{generator_lock, seeded_module};
