use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::linalg::vector_normalize;

/// Added to self-similarities so they vanish from a softmax. Finite, unlike -inf, so that
/// `0 * log_prob` on the diagonal stays 0 instead of NaN.
const EXCLUDED: f32 = -1.0e9;

/// Rows divided by their L2 norm (PyTorch's `F.normalize`, eps 1e-12).
pub fn l2_normalize<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    vector_normalize(x, 2.0, 1, 1e-12)
}

/// `log softmax_j (z_i . z_j / tau)` over `j != i` for L2-normalised rows `z`: `[m, m]`, with
/// a large negative value on the diagonal.
pub(crate) fn log_prob_excluding_self<B: Backend>(
    z: Tensor<B, 2>,
    temperature: f64,
) -> Tensor<B, 2> {
    let [m, _] = z.dims();
    let logits = z.clone().matmul(z.transpose()).div_scalar(temperature);
    let eye = Tensor::<B, 2>::eye(m, &logits.device()).bool();
    burn::tensor::activation::log_softmax(logits.mask_fill(eye, EXCLUDED), 1)
}
