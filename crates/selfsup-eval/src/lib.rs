//! How good are the learned features: weighted kNN, computed in chunks on the device, and a
//! linear probe on cached features.

mod knn;
mod linear;

pub use knn::{KnnAccuracy, KnnConfig, KnnError, KnnIndex, KthValue, top_k_accuracy};
pub use linear::{LinearProbeConfig, LinearProbeError, LinearProbeResult, linear_probe};
