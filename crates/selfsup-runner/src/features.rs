use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use selfsup_augment::{Normalize, normalized_batch};
use selfsup_backbones::ResNet;
use selfsup_data::Dataset;
use selfsup_eval::{KnnAccuracy, KnnConfig, KnnError, KnnIndex};

const ENCODE_BATCH: usize = 512;

/// Backbone features `[n, d]` of every image (whole image, normalised, no augmentation). Pass an
/// inference-mode backbone (`.valid()`) so batch norm uses its running statistics.
pub fn encode<B: Backend>(
    backbone: &ResNet<B>,
    dataset: &Dataset,
    normalize: &Normalize,
    device: &B::Device,
) -> Tensor<B, 2> {
    let indices: Vec<usize> = (0..dataset.len()).collect();
    let chunks = indices
        .chunks(ENCODE_BATCH)
        .map(|chunk| {
            let pixels = normalized_batch(|i| dataset.image(i), chunk, normalize);
            let shape = [chunk.len(), dataset.channels, dataset.height, dataset.width];
            backbone.forward(Tensor::from_data(TensorData::new(pixels, shape), device))
        })
        .collect();
    Tensor::cat(chunks, 0)
}

pub fn labels<B: Backend>(dataset: &Dataset, device: &B::Device) -> Tensor<B, 1, Int> {
    let labels: Vec<i64> = dataset.labels.iter().map(|&l| l as i64).collect();
    Tensor::from_data(TensorData::new(labels, [dataset.len()]), device)
}

/// Weighted kNN accuracy of `backbone`'s features: train images stored, test images queried.
pub fn knn_accuracy<B: Backend>(
    backbone: &ResNet<B>,
    train: &Dataset,
    test: &Dataset,
    normalize: &Normalize,
    config: &KnnConfig,
    device: &B::Device,
) -> Result<KnnAccuracy, KnnError> {
    let classes = train.num_classes.max(test.num_classes);
    let index = KnnIndex::new(
        encode(backbone, train, normalize, device),
        labels(train, device),
        classes,
    )?;
    index.accuracy(
        encode(backbone, test, normalize, device),
        labels(test, device),
        config,
    )
}
