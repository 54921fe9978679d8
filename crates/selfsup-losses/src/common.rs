use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::linalg::vector_normalize;

/// Added to self-similarities so they vanish from a softmax. Finite, unlike -inf, so that
/// `0 * log_prob` on the diagonal stays 0 instead of NaN.
const EXCLUDED: f32 = -1.0e9;

/// Rows divided by their L2 norm (PyTorch's `F.normalize`, eps 1e-12).
///
/// ```
/// use burn::backend::Flex;
/// use burn::tensor::Tensor;
/// use selfsup_losses::l2_normalize;
///
/// let x = Tensor::<Flex, 2>::from_floats([[3.0, 4.0], [0.0, -2.0]], &Default::default());
/// let unit: Vec<f32> = l2_normalize(x).into_data().to_vec().unwrap();
/// assert_eq!(unit, [0.6, 0.8, 0.0, -1.0]);
/// ```
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
