//! CMC's losses between views: the in-batch (patch) two-view loss and the ways to sum a two-view
//! loss over more than two views.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::common::l2_normalize;

/// Which pairs of views a multi-view loss sums over (CMC, section 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewGraph {
    /// View 0 is the core: `sum_j L(V0, Vj)`.
    Core,
    /// Every pair: `sum_{i<j} L(Vi, Vj)`.
    Full,
}

/// The view pairs `(i, j)` that `graph` sums over for `views` views, in a fixed order.
pub fn view_pairs(views: usize, graph: ViewGraph) -> Vec<(usize, usize)> {
    match graph {
        ViewGraph::Core => (1..views).map(|j| (0, j)).collect(),
        ViewGraph::Full => (0..views)
            .flat_map(|i| (i + 1..views).map(move |j| (i, j)))
            .collect(),
    }
}

/// CMC's two-view loss with the other view's batch as candidates (no bank), symmetric:
/// `L(V1, V2) + L(V2, V1)`, where `L(V1, V2) = -mean_i log softmax_j(sim(v1_i, v2_j) / tau)_i`.
pub fn cmc_in_batch<B: Backend>(
    v1: Tensor<B, 2>,
    v2: Tensor<B, 2>,
    temperature: f64,
) -> Tensor<B, 1> {
    let [n, _] = v1.dims();
    let logits = l2_normalize(v1)
        .matmul(l2_normalize(v2).transpose())
        .div_scalar(temperature);
    let targets = Tensor::<B, 2, Int>::from_data(
        TensorData::new((0..n as i64).collect::<Vec<_>>(), [n, 1]),
        &logits.device(),
    );
    let one_way = |logits: Tensor<B, 2>| {
        burn::tensor::activation::log_softmax(logits, 1)
            .gather(1, targets.clone())
            .mean()
            .neg()
    };
    one_way(logits.clone()) + one_way(logits.transpose())
}
