//! Losses without negatives: BYOL's and SimSiam's prediction of a stop-gradient target, and
//! Barlow Twins' cross-correlation. Callers detach the targets.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::common::l2_normalize;

/// Mean over the batch of the cosine similarity of matching rows of `p` and `z` `[n, d]`.
fn mean_cosine<B: Backend>(p: Tensor<B, 2>, z: Tensor<B, 2>) -> Tensor<B, 1> {
    (l2_normalize(p) * l2_normalize(z)).sum_dim(1).mean()
}

/// BYOL: `2 - 2 cos(p, z)`, mean over the batch (one direction; the method sums both).
///
/// ```
/// use burn::backend::Flex;
/// use burn::tensor::Tensor;
/// use selfsup_losses::byol_loss;
///
/// let p = Tensor::<Flex, 2>::from_floats([[1.0, 1.0], [0.0, 3.0]], &Default::default());
/// // Same direction: 0; opposite: 4.
/// assert!(byol_loss(p.clone(), p.clone().mul_scalar(2.0)).into_scalar().abs() < 1e-6);
/// assert!((byol_loss(p.clone(), p.neg()).into_scalar() - 4.0).abs() < 1e-6);
/// ```
pub fn byol_loss<B: Backend>(prediction: Tensor<B, 2>, target: Tensor<B, 2>) -> Tensor<B, 1> {
    mean_cosine(prediction, target)
        .mul_scalar(-2.0)
        .add_scalar(2.0)
}

/// SimSiam: `-cos(p, z)`, mean over the batch (one direction; the method halves the sum of
/// both).
pub fn negative_cosine<B: Backend>(prediction: Tensor<B, 2>, target: Tensor<B, 2>) -> Tensor<B, 1> {
    mean_cosine(prediction, target).neg()
}

/// Barlow Twins: each embedding standardised along the batch as the official code's
/// `BatchNorm1d(affine=False)` does (biased variance, eps 1e-5), `C = z1^T z2 / n`, loss
/// `sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2`.
///
/// Two identical embeddings with uncorrelated, standardised columns have `C = I`: no loss.
/// Swapping one embedding's columns makes `C` the swap matrix: `d` on the diagonal, and
/// `lambda * d` off it.
/// ```
/// use burn::backend::Flex;
/// use burn::tensor::Tensor;
/// use selfsup_losses::barlow_twins;
///
/// let device = Default::default();
/// let z = Tensor::<Flex, 2>::from_floats([[1., 1.], [1., -1.], [-1., 1.], [-1., -1.]], &device);
/// assert!(barlow_twins(z.clone(), z.clone(), 0.005).into_scalar() < 1e-6);
/// let swapped = Tensor::<Flex, 2>::from_floats([[1., 1.], [-1., 1.], [1., -1.], [-1., -1.]], &device);
/// let loss = barlow_twins(z, swapped, 0.005).into_scalar();
/// assert!((loss - (2.0 + 0.005 * 2.0)).abs() < 1e-3, "{loss}");
/// ```
pub fn barlow_twins<B: Backend>(z1: Tensor<B, 2>, z2: Tensor<B, 2>, lambda: f64) -> Tensor<B, 1> {
    let [n, d] = z1.dims();
    let standardise = |z: Tensor<B, 2>| {
        let mean = z.clone().mean_dim(0);
        let centred = z - mean;
        let var = centred.clone().powi_scalar(2).mean_dim(0);
        centred / var.add_scalar(1e-5).sqrt()
    };
    let c = standardise(z1)
        .transpose()
        .matmul(standardise(z2))
        .div_scalar(n as f64);
    let eye = Tensor::<B, 2>::eye(d, &c.device());
    let on_diagonal = (c.clone() * eye.clone()).sum_dim(1).reshape([d]);
    let on_loss = on_diagonal.neg().add_scalar(1.0).powi_scalar(2).sum();
    let off_loss = (c * (eye.neg().add_scalar(1.0))).powi_scalar(2).sum();
    on_loss + off_loss.mul_scalar(lambda)
}
