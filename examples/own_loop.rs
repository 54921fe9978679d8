//! SimCLR in a plain Burn loop of your own, from selfsup's building blocks taken one at a time:
//! views from `selfsup::augment`, a ResNet-18 from `selfsup::backbones`, the projection head
//! from `selfsup::heads`, NT-Xent from `selfsup::losses`, PyTorch-style SGD and the warm-up +
//! cosine schedule from `selfsup::optim`. No config file, no runner.
//!
//! `cargo run --release --example own_loop -- [STEPS]` trains on Fashion-MNIST when
//! `apt-get install dataset-fashion-mnist` has put it in /usr/share/datasets, else on generated
//! images; tests/own_loop_example.rs runs `train` on generated images.

use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorData};
use selfsup::augment::{Normalize, ViewConfig, ViewPipeline};
use selfsup::backbones::{ResNet, ResNetConfig, Stem, seeded_module};
use selfsup::data::Dataset;
use selfsup::heads::{ProjectionMlp, ProjectionMlpConfig};
use selfsup::losses::nt_xent;
use selfsup::optim::{LrSchedule, momentum_sgd};

#[derive(Module, Debug)]
pub struct SimclrNet<B: Backend> {
    backbone: ResNet<B>,
    head: ProjectionMlp<B>,
}

impl<B: Backend> SimclrNet<B> {
    fn embed(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.head.forward(self.backbone.forward(images))
    }
}

/// `steps` SimCLR steps of `batch` images at ResNet-18 width `width`; returns each step's loss.
pub fn train<B: AutodiffBackend>(
    images: &Dataset,
    steps: usize,
    batch: usize,
    width: usize,
    seed: u64,
) -> Vec<f64> {
    let device = B::Device::default();
    let resnet = ResNetConfig::resnet18()
        .with_width(width)
        .with_in_channels(images.channels)
        .with_stem(Stem::Small);
    let features = resnet.feature_dim();
    let mut model = seeded_module::<B, _>(&device, seed, |device| SimclrNet {
        backbone: resnet.init(device),
        head: ProjectionMlpConfig::new(features, features, 64).init(device),
    });
    let (mean, std) = images.channel_stats();
    let views = ViewPipeline::new(ViewConfig::default(), Normalize::new(mean, std));
    let mut optimizer = momentum_sgd(0.9, false, 1e-4).init();
    let mut schedule = LrSchedule::warmup_cosine(0.3 * batch as f64 / 256.0, steps / 10, steps);
    let side = views.view_side(0);
    let mut losses = Vec::with_capacity(steps);
    for step in 0..steps {
        let indices: Vec<usize> = (0..batch)
            .map(|i| (step * batch + i) % images.len())
            .collect();
        // Two views of every image, drawn from (seed, step, image, view) alone.
        let pair = views.batch_views(|i| images.image(i), &indices, seed, step as u64, 2);
        let [x1, x2] = <[Vec<f32>; 2]>::try_from(pair)
            .expect("two views")
            .map(|values| {
                let shape = [batch, images.channels, side, side];
                Tensor::<B, 4>::from_data(TensorData::new(values, shape), &device)
            });
        let loss = nt_xent(model.embed(x1), model.embed(x2), 0.5);
        losses.push(loss.clone().into_scalar().elem::<f64>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(schedule.next_lr(), model, grads);
    }
    losses
}

/// 28x28 grayscale images of `classes` kinds of stripes with noise: enough structure for a
/// few steps to learn from.
pub fn generated_images(count: usize, classes: usize) -> Dataset {
    let side = 28;
    let mut pixels = Vec::with_capacity(count * side * side);
    for i in 0..count {
        let period = 3 + i % classes;
        for y in 0..side {
            for x in 0..side {
                let stripe = if ((x + y * (i % 2)) / period).is_multiple_of(2) {
                    200
                } else {
                    40
                };
                pixels.push((stripe + (x * 7 + y * 13 + i * 31) % 23) as u8);
            }
        }
    }
    Dataset {
        images: pixels,
        labels: (0..count).map(|i| (i % classes) as u32).collect(),
        height: side,
        width: side,
        channels: 1,
        num_classes: classes,
        ..Dataset::default()
    }
}

#[allow(dead_code)] // tests/own_loop_example.rs includes this file for `train` alone.
fn main() {
    let steps = std::env::args()
        .nth(1)
        .map_or(50, |s| s.parse().expect("STEPS"));
    let dir = std::path::Path::new(selfsup::data::DEFAULT_FASHION_MNIST_DIR);
    let images = selfsup::data::mnist::load_split(dir, selfsup::data::Split::Train)
        .unwrap_or_else(|_| generated_images(2048, 8));
    for (step, loss) in train::<Autodiff<Flex>>(&images, steps, 256, 8, 0)
        .iter()
        .enumerate()
    {
        println!("step {step:>4}  NT-Xent {loss:.4}");
    }
}
