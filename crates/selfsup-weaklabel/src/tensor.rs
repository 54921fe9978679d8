use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::graph::components_from_neighbours;

/// The weak-label positive mask of a batch of embeddings `[n, d]` (L2-normalised or not; the
/// nearest neighbour is taken by dot product, i.e. cosine for normalised rows). The n x n
/// similarity and the argmax stay on the device; only n neighbour indices go to the host for
/// union-find, and n component labels come back. Returns a float `[n, n]` mask with ones where
/// two samples share a component (diagonal included). No gradient flows through it.
pub fn weak_label_mask<B: Backend>(embeddings: Tensor<B, 2>) -> Tensor<B, 2> {
    let device = embeddings.device();
    let [n, _] = embeddings.dims();
    // Constants follow the embeddings' dtype, so the mask works in a float64 graph too.
    let dtype = embeddings.dtype();
    let e = embeddings.detach();
    // Cosine similarity is at most 1, so subtracting 2 on the diagonal excludes self.
    let similarity = e.clone().matmul(e.transpose())
        - Tensor::<B, 2>::eye(n, &device).cast(dtype).mul_scalar(2.0);
    let neighbours: Vec<usize> = similarity
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .into_vec::<i64>()
        .expect("argmax returns integers")
        .into_iter()
        .map(|k| k as usize)
        .collect();
    let labels = components_from_neighbours(&neighbours);
    let labels = Tensor::<B, 1, Int>::from_data(
        TensorData::new(labels.iter().map(|&l| l as i64).collect::<Vec<_>>(), [n]),
        &device,
    );
    labels
        .clone()
        .unsqueeze_dim::<2>(1)
        .equal(labels.unsqueeze_dim::<2>(0))
        .float()
        .cast(dtype)
}
