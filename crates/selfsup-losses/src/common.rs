use burn::tensor::backend::Backend;
use burn::tensor::linalg::vector_normalize;
use burn::tensor::{Bool, Int, Tensor, TensorData};

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

/// `log softmax_j (a_i . k_j / tau)` over the keys `j` other than anchor i's own row,
/// `self_columns[i]`, for L2-normalised rows: `[anchors, keys]`, with a large negative value in
/// each anchor's own column.
pub(crate) fn log_prob_against<B: Backend>(
    anchors: Tensor<B, 2>,
    keys: Tensor<B, 2>,
    self_columns: &[usize],
    temperature: f64,
) -> Tensor<B, 2> {
    let [key_count, _] = keys.dims();
    let logits = anchors.matmul(keys.transpose()).div_scalar(temperature);
    let own = self_mask::<B>(self_columns, key_count, &logits.device());
    burn::tensor::activation::log_softmax(logits.mask_fill(own, EXCLUDED), 1)
}

/// `[self_columns.len(), keys]`, true where anchor i meets its own row.
pub(crate) fn self_mask<B: Backend>(
    self_columns: &[usize],
    keys: usize,
    device: &B::Device,
) -> Tensor<B, 2, Bool> {
    let mut mask = vec![false; self_columns.len() * keys];
    for (anchor, &column) in self_columns.iter().enumerate() {
        mask[anchor * keys + column] = true;
    }
    Tensor::from_data(TensorData::new(mask, [self_columns.len(), keys]), device)
}

/// The rows `rows` of `z`: `z` itself when they are all of its rows in order (one device), so
/// that a one-device loss runs the very operations it always did.
pub(crate) fn own_rows_of<B: Backend>(z: Tensor<B, 2>, rows: &[usize]) -> Tensor<B, 2> {
    let [count, _] = z.dims();
    if rows.len() == count && rows.iter().enumerate().all(|(i, &row)| i == row) {
        return z;
    }
    let device = z.device();
    let rows: Vec<i64> = rows.iter().map(|&row| row as i64).collect();
    let rows = Tensor::<B, 1, Int>::from_data(TensorData::new(rows.clone(), [rows.len()]), &device);
    z.select(0, rows)
}
