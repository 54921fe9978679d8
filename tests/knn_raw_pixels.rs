//! The kNN evaluation reproduces the spec's reference figure: weighted kNN (k = 200,
//! tau = 0.07, cosine) on the normalised raw pixels of Fashion-MNIST scores 82.1% top-1.

mod common;

use burn::backend::Flex;
use burn::tensor::{Int, Tensor, TensorData};
use selfsup::augment::{Normalize, normalized_batch};
use selfsup::data::{Dataset, Split, mnist};
use selfsup::eval::{KnnConfig, KnnIndex};

fn pixels(ds: &Dataset, normalize: &Normalize) -> Tensor<Flex, 2> {
    let indices: Vec<usize> = (0..ds.len()).collect();
    let flat = normalized_batch(|i| ds.image(i), &indices, normalize);
    Tensor::from_data(
        TensorData::new(flat, [ds.len(), ds.image_len()]),
        &Default::default(),
    )
}

fn labels(ds: &Dataset) -> Tensor<Flex, 1, Int> {
    let l: Vec<i64> = ds.labels.iter().map(|&x| x as i64).collect();
    Tensor::from_data(TensorData::new(l, [ds.len()]), &Default::default())
}

#[test]
fn raw_pixel_knn_matches_the_reference_figure() {
    common::require_dataset();
    let dir = std::path::Path::new(common::FASHION_MNIST);
    let train = mnist::load_split(dir, Split::Train).unwrap();
    let test = mnist::load_split(dir, Split::Test).unwrap();
    let (mean, std) = train.channel_stats();
    let normalize = Normalize::new(mean, std);
    let index = KnnIndex::new(pixels(&train, &normalize), labels(&train), 10).unwrap();
    let accuracy = index
        .accuracy(
            pixels(&test, &normalize),
            labels(&test),
            &KnnConfig::default(),
        )
        .unwrap();
    eprintln!(
        "raw-pixel weighted kNN: top-1 {:.4}, top-5 {:.4}",
        accuracy.top1, accuracy.top5
    );
    assert!(
        (accuracy.top1 - 0.821).abs() < 0.0015,
        "raw-pixel kNN top-1 {} differs from the reference 82.1%",
        accuracy.top1
    );
}
