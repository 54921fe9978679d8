use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use selfsup_augment::{Normalize, ViewConfig, ViewPipeline, normalized_batch};
use selfsup_backbones::{Encoder, ResNet};
use selfsup_data::Dataset;
use selfsup_eval::{KnnAccuracy, KnnConfig, KnnError, KnnIndex};
use selfsup_losses::l2_normalize;

use crate::config::Config;

const ENCODE_BATCH: usize = 512;

/// `features` of every image (whole image, normalised, no augmentation) as `[n, d]`. Pass
/// inference-mode modules (`.valid()`) so batch norm uses its running statistics.
pub fn encode<B: Backend>(
    features: impl Fn(Tensor<B, 4>) -> Tensor<B, 2>,
    dataset: &Dataset,
    normalize: &Normalize,
    device: &B::Device,
) -> Tensor<B, 2> {
    let indices: Vec<usize> = (0..dataset.len()).collect();
    let chunks = indices
        .chunks(ENCODE_BATCH)
        .map(|chunk| features(image_batch(dataset, chunk, normalize, device)))
        .collect();
    Tensor::cat(chunks, 0)
}

/// The images `indices` of `dataset`, whole and normalised (the evaluation transform), as
/// `[indices.len(), C, H, W]`.
pub fn image_batch<B: Backend>(
    dataset: &Dataset,
    indices: &[usize],
    normalize: &Normalize,
    device: &B::Device,
) -> Tensor<B, 4> {
    let pixels = normalized_batch(|i| dataset.image(i), indices, normalize);
    let shape = [
        indices.len(),
        dataset.channels,
        dataset.height,
        dataset.width,
    ];
    Tensor::from_data(TensorData::new(pixels, shape), device)
}

pub fn labels<B: Backend>(dataset: &Dataset, device: &B::Device) -> Tensor<B, 1, Int> {
    selfsup_eval::label_tensor(&dataset.labels, device)
}

/// A memory bank read as the training features (lemniscate's kNN): the bank rows, and the map
/// that puts a test image into the bank's space (backbone, head, L2 normalisation).
pub struct BankView<B: Backend> {
    pub rows: Tensor<B, 2>,
    pub backbone: ResNet<B>,
    pub head: Linear<B>,
}

impl<B: Backend> BankView<B> {
    pub fn embed(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        l2_normalize(self.head.forward(self.backbone.forward(images)))
    }
}

/// Weighted kNN accuracy of `encoder`'s features: train images stored, test images queried.
pub fn knn_accuracy<B: Backend>(
    encoder: &Encoder<B>,
    train: &Dataset,
    test: &Dataset,
    normalize: &Normalize,
    config: &KnnConfig,
    device: &B::Device,
) -> Result<KnnAccuracy, KnnError> {
    let features = |x| encoder.forward(x);
    knn_between(
        encode(features, train, normalize, device),
        encode(features, test, normalize, device),
        train,
        test,
        config,
    )
}

/// Weighted kNN with the memory bank as the stored training features (row i = image i; rows
/// past the labelled images, e.g. STL-10's unlabeled split, are left out).
pub fn knn_accuracy_on_bank<B: Backend>(
    bank: &BankView<B>,
    train: &Dataset,
    test: &Dataset,
    normalize: &Normalize,
    config: &KnnConfig,
    device: &B::Device,
) -> Result<KnnAccuracy, KnnError> {
    let test_features = encode(|x| bank.embed(x), test, normalize, device);
    let labelled = bank.rows.clone().narrow(0, 0, train.len());
    knn_between(labelled, test_features, train, test, config)
}

fn knn_between<B: Backend>(
    train_features: Tensor<B, 2>,
    test_features: Tensor<B, 2>,
    train: &Dataset,
    test: &Dataset,
    config: &KnnConfig,
) -> Result<KnnAccuracy, KnnError> {
    let device = train_features.device();
    let classes = train.num_classes.max(test.num_classes);
    let index = KnnIndex::new(train_features, labels(train, &device), classes)?;
    index.accuracy(test_features, labels(test, &device), config)
}

/// SimCLR's fine-tuning views, also distillation's: the run's random crop and flip, without
/// colour jitter or blur.
pub struct CropFlipViews<'a> {
    views: ViewPipeline,
    dataset: &'a Dataset,
    seed: u64,
}

impl<'a> CropFlipViews<'a> {
    pub fn new(config: &Config, dataset: &'a Dataset, normalize: Normalize) -> Self {
        let views = ViewPipeline::new(
            ViewConfig {
                jitter_prob: 0.0,
                blur_prob: 0.0,
                ..config.augment.clone()
            },
            normalize,
        );
        Self {
            views,
            dataset,
            seed: config.seed,
        }
    }

    /// One view of each of the dataset's images `indices` in `epoch`, `[n, C, crop, crop]`.
    pub fn batch<B: Backend>(
        &self,
        indices: &[usize],
        epoch: usize,
        device: &B::Device,
    ) -> Tensor<B, 4> {
        let pixels = self
            .views
            .batch_views(
                |i| self.dataset.image(i),
                indices,
                self.seed,
                epoch as u64,
                1,
            )
            .remove(0);
        let crop = self.views.config.crop_size;
        Tensor::from_data(
            TensorData::new(pixels, [indices.len(), self.dataset.channels, crop, crop]),
            device,
        )
    }
}
