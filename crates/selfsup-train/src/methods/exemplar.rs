use std::sync::Arc;

use burn::module::{AutodiffModule, Module};
use burn::nn::Linear;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use selfsup_backbones::{Encoder, ResNet};
use selfsup_data::Dataset;
use tracing::info;

use super::{DataInfo, Method, MethodSettings, StepBatch, StepLoss, backbone_config};
use crate::config::{Config, MethodKind};
use crate::{HostBackend, TrainError};
use selfsup_config::{ConfigError, invalid};
use serde::{Deserialize, Serialize};

/// Exemplar-CNN (Dosovitskiy et al., NIPS 2014): each of the `exemplar.classes` seed images is
/// a surrogate class of its own, and its random transformations (crop = translation and scale,
/// flip, rotation, brightness and contrast) are classified into it by a softmax over all N
/// classes. A run pretrains on the N seed images only (`training_set`, `exemplar_seeds`), so
/// an image's index in that set is its class; each step classifies two transformed copies of
/// each image, and every epoch draws new ones, so a class sees 2 x epochs copies.
#[derive(Module, Debug)]
pub struct Exemplar<B: Backend> {
    backbone: ResNet<B>,
    classifier: Linear<B>,
}

impl<B: AutodiffBackend> Method<B> for Exemplar<B> {
    const NAME: &'static str = "exemplar";
    type OnHost = Exemplar<HostBackend>;
    type Update = ();

    /// The seed images, one class each (`exemplar.classes` of them, drawn from the seed).
    fn training_set(config: &Config, images: Arc<Dataset>) -> Result<Arc<Dataset>, TrainError> {
        let classes = config.exemplar.classes;
        if classes > images.len() {
            return Err(TrainError::TooManyClasses {
                classes,
                images: images.len(),
            });
        }
        let seeds = exemplar_seeds(images.len(), classes, config.seed);
        info!(classes, "Exemplar-CNN: pretraining on the seed images");
        Ok(Arc::new(images.subset(&seeds)))
    }

    fn new(config: &Config, data: &DataInfo, device: &B::Device) -> Self {
        let backbone = backbone_config(config, data.channels);
        Self {
            classifier: burn::nn::LinearConfig::new(backbone.feature_dim(), data.train_len)
                .init(device),
            backbone: backbone.init(device),
        }
    }

    fn loss(&self, batch: &StepBatch<B>) -> StepLoss<B, ()> {
        let device = batch.views[0].device();
        let images = Tensor::cat(batch.views.clone(), 0);
        let logits = self.classifier.forward(self.backbone.forward(images));
        let class = batch.index_tensor(&device);
        let targets = Tensor::cat(vec![class; batch.views.len()], 0);
        let loss = CrossEntropyLossConfig::new()
            .init(&device)
            .forward(logits, targets);
        StepLoss::single("surrogate_classes", loss, ())
    }

    fn encoder(&self) -> Encoder<B::InnerBackend> {
        Encoder::single(self.backbone.valid())
    }

    fn project(&self, images: Tensor<B::InnerBackend, 4>) -> Tensor<B::InnerBackend, 2> {
        self.classifier
            .valid()
            .forward(self.backbone.valid().forward(images))
    }
}

/// The seed images of Exemplar-CNN: `classes` training images drawn from `seed`, in index
/// order.
pub fn exemplar_seeds(images: usize, classes: usize, seed: u64) -> Vec<usize> {
    use rand::seq::index::sample;
    // Epoch slot u64::MAX - 2 keeps this draw apart from every view's and step's stream.
    let mut rng = selfsup_augment::view_rng(seed, u64::MAX - 2, 0, 0);
    let mut picked = sample(&mut rng, images, classes).into_vec();
    picked.sort_unstable();
    picked
}

// Its settings: the `[exemplar]` section of the config, with defaults and checks.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExemplarConfig {
    /// N surrogate classes: seed images drawn (seeded) from the training set, each a class of
    /// its own (the paper: 8000 was best).
    pub classes: usize,
}

impl Default for ExemplarConfig {
    fn default() -> Self {
        Self { classes: 8000 }
    }
}

impl MethodSettings for ExemplarConfig {
    fn validate(&self, config: &Config) -> Result<(), ConfigError> {
        let batch_size = config.train.batch_size;
        if config.method == MethodKind::Exemplar && self.classes < batch_size {
            return Err(invalid(
                "exemplar.classes",
                self.classes,
                &format!(
                    "at least train.batch_size = {batch_size} (the seed images are the training set)"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};

    use super::*;
    use crate::methods::init_portable;
    use crate::methods::test_support::Draws;

    type B = Autodiff<Flex>;

    #[test]
    fn the_loss_is_the_softmax_cross_entropy_of_each_copy_against_its_seed() {
        let text = "method = \"exemplar\"\n[model]\nwidth = 2\n[train]\nbatch_size = 4\n";
        let config = Config::from_toml(text, "test", &[]).unwrap();
        let data = DataInfo {
            channels: 1,
            train_len: 6,
        };
        let device = Default::default();
        let exemplar = init_portable::<B, Exemplar<B>>(&config, &data, &device).unwrap();
        let draws = Draws::new(0);
        let view = || draws.uniform::<B, 4>([3, 1, 8, 8]);
        let mut batch = StepBatch::first(vec![view(), view()], 0);
        batch.indices = vec![5, 0, 2];
        let loss = exemplar.loss(&batch).total.into_scalar() as f64;

        // The same in float64 from the logits: -mean_i log softmax(logits_i)[class_i].
        let images = Tensor::cat(batch.views.clone(), 0);
        let logits = exemplar
            .classifier
            .forward(exemplar.backbone.forward(images))
            .into_data()
            .convert::<f64>()
            .into_vec::<f64>()
            .unwrap();
        let classes = [5, 0, 2, 5, 0, 2];
        let expected = logits
            .chunks(6)
            .zip(classes)
            .map(|(row, class)| {
                let max = row.iter().cloned().fold(f64::MIN, f64::max);
                let log_sum = row.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max;
                log_sum - row[class]
            })
            .sum::<f64>()
            / 6.0;
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
    }

    #[test]
    fn seeds_are_a_seeded_sample_without_repeats() {
        let seeds = exemplar_seeds(100, 10, 3);
        assert_eq!(seeds, exemplar_seeds(100, 10, 3));
        assert_ne!(seeds, exemplar_seeds(100, 10, 4));
        assert!(seeds.windows(2).all(|w| w[0] < w[1]) && seeds[9] < 100);
    }
}
