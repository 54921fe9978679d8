//! How good are the learned features: weighted kNN, computed in chunks on the device.

mod knn;

pub use knn::{KnnAccuracy, KnnConfig, KnnError, KnnIndex, KthValue};
