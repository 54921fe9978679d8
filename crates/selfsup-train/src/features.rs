use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use selfsup_augment::{Normalize, ViewConfig, ViewPipeline, normalized_batch};
use selfsup_backbones::{Encoder, ResNet};
use selfsup_data::Dataset;
use selfsup_eval::{KnnAccuracy, KnnConfig, KnnError, KnnIndex};
use selfsup_losses::l2_normalize;

use crate::config::Config;

/// Images per forward pass when encoding a dataset: up to 512, fewer for large images.
const ENCODE_BATCH: usize = 512;

/// Input values per encoding batch (16 MiB of f32): 512 images of up to 90x90 RGB, 27 of
/// 224x224 RGB. The activations scale with it (a width-64 ResNet-50's stem gives 3.2 MB per
/// 224-pixel image), and a wgpu device refuses buffers past its binding limit (128 MiB by
/// default): 512 ImageNet images per pass failed there and took gigabytes elsewhere.
const ENCODE_VALUES: usize = 1 << 22;

/// Images per forward pass for images of `values_per_image` values (C x H x W).
pub fn encode_batch_size(values_per_image: usize) -> usize {
    (ENCODE_VALUES / values_per_image.max(1)).clamp(1, ENCODE_BATCH)
}

/// `features` of every image (whole image, normalised, no augmentation) as `[n, d]`. Pass
/// inference-mode modules (`.valid()`) so batch norm uses its running statistics.
pub fn encode<B: Backend>(
    features: impl Fn(Tensor<B, 4>) -> Tensor<B, 2>,
    dataset: &Dataset,
    normalize: &Normalize,
    device: &B::Device,
) -> Tensor<B, 2> {
    let indices: Vec<usize> = (0..dataset.len()).collect();
    let values = dataset.channels * dataset.height * dataset.width;
    let chunks = indices
        .chunks(encode_batch_size(values))
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

#[cfg(test)]
mod tests {
    use super::encode_batch_size;

    #[test]
    fn small_images_go_512_at_a_time_imagenet_ones_27() {
        assert_eq!(encode_batch_size(28 * 28), 512);
        assert_eq!(encode_batch_size(3 * 32 * 32), 512);
        assert_eq!(encode_batch_size(3 * 96 * 96), 151);
        assert_eq!(encode_batch_size(3 * 224 * 224), 27);
        // 16 MiB of f32 input at most, one image whatever its size.
        let imagenet_bytes = encode_batch_size(3 * 224 * 224) * 3 * 224 * 224 * 4;
        assert!(imagenet_bytes <= 16 << 20, "{imagenet_bytes}");
        assert_eq!(encode_batch_size(3 * 4096 * 4096), 1);
        assert_eq!(encode_batch_size(0), 512);
    }
}
