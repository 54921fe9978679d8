use std::ops::Range;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::common::{l2_normalize, log_prob_against, own_rows_of};

/// NT-Xent (SimCLR) over the 2N views of N images. `z1[i]` and `z2[i]` are the positive pair;
/// every other view in the batch is a negative; self is excluded from the denominator:
/// `l(i, j) = -log exp(sim(z_i, z_j)/tau) / sum_{k != i} exp(sim(z_i, z_k)/tau)`, averaged over
/// all 2N anchors (lightly's and WCL's convention; Google's reference reports twice this).
/// Inputs need not be normalised.
///
/// Two images whose views agree and are orthogonal to the other image's: each anchor has its
/// partner at similarity 1 and two negatives at 0, so the loss is
/// `-ln(e^(1/tau) / (e^(1/tau) + 2))`.
/// ```
/// use burn::backend::Flex;
/// use burn::tensor::Tensor;
/// use selfsup_losses::nt_xent;
///
/// let device = Default::default();
/// let z = Tensor::<Flex, 2>::from_floats([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]], &device);
/// let loss = nt_xent(z.clone(), z, 0.5).into_scalar() as f64;
/// let expected = -(2f64.exp() / (2f64.exp() + 2.0)).ln();
/// assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
/// ```
pub fn nt_xent<B: Backend>(z1: Tensor<B, 2>, z2: Tensor<B, 2>, temperature: f64) -> Tensor<B, 1> {
    let [n, _] = z1.dims();
    nt_xent_gathered(z1, z2, 0..n, temperature)
}

/// NT-Xent of one peer's anchors in a data-parallel step: `z1`, `z2` are every peer's
/// embeddings (`[total, d]` each, gathered in rank order), the anchors are this peer's rows
/// `own` of both views, and their negatives are all the other rows. The mean over the peers of
/// this loss is [`nt_xent`] of the whole batch; with `own = 0..total` it is `nt_xent` itself,
/// the same operations on the same values.
pub fn nt_xent_gathered<B: Backend>(
    z1: Tensor<B, 2>,
    z2: Tensor<B, 2>,
    own: Range<usize>,
    temperature: f64,
) -> Tensor<B, 1> {
    let [total, _] = z1.dims();
    let device = z1.device();
    let z = l2_normalize(Tensor::cat(vec![z1, z2], 0));
    // Each anchor's own column among the 2 * total keys; its partner is the other view's row.
    let self_columns: Vec<usize> = own.clone().chain(own.map(|i| i + total)).collect();
    let anchors = own_rows_of(z.clone(), &self_columns);
    let log_prob = log_prob_against(anchors, z, &self_columns, temperature);
    let partner: Vec<i64> = self_columns
        .iter()
        .map(|&column| ((column + total) % (2 * total)) as i64)
        .collect();
    let partner =
        Tensor::<B, 2, Int>::from_data(TensorData::new(partner, [self_columns.len(), 1]), &device);
    log_prob.gather(1, partner).mean().neg()
}

/// Supervised contrastive loss (Khosla et al.) with an explicit positive mask, WCL's
/// `sup_contra`: for each anchor i, the mean over its positives P(i) = {p != i : mask_ip = 1} of
/// `-log exp(z_i . z_p / tau) / sum_{a != i} exp(z_i . z_a / tau)`, then the mean over anchors.
/// `positives` is `[m, m]` with ones for positive pairs; its diagonal is ignored. An anchor
/// without positives contributes 0 (WCL's 1-NN graph never produces one).
///
/// With the positives of NT-Xent (each row's partner view) it is NT-Xent:
/// ```
/// use burn::backend::Flex;
/// use burn::tensor::Tensor;
/// use selfsup_losses::{nt_xent, sup_con};
///
/// let device = Default::default();
/// let z1 = Tensor::<Flex, 2>::from_floats([[1.0, 0.2], [0.1, 1.0]], &device);
/// let z2 = Tensor::<Flex, 2>::from_floats([[0.9, 0.3], [-0.2, 1.0]], &device);
/// // Rows 0..2 are the first views, 2..4 the second; i and i + 2 are one image.
/// let partners = Tensor::<Flex, 2>::from_floats(
///     [[0., 0., 1., 0.], [0., 0., 0., 1.], [1., 0., 0., 0.], [0., 1., 0., 0.]],
///     &device,
/// );
/// let z = Tensor::cat(vec![z1.clone(), z2.clone()], 0);
/// let supervised = sup_con(z, partners, 0.1).into_scalar();
/// let instance = nt_xent(z1, z2, 0.1).into_scalar();
/// assert!((supervised - instance).abs() < 1e-5);
/// ```
pub fn sup_con<B: Backend>(
    z: Tensor<B, 2>,
    positives: Tensor<B, 2>,
    temperature: f64,
) -> Tensor<B, 1> {
    let [m, _] = z.dims();
    sup_con_gathered(z, positives, 0..m, temperature)
}

/// [`sup_con`] of one peer's anchors in a data-parallel step: `z` is every peer's rows
/// (`[total, d]`, gathered in rank order), the anchors are this peer's rows `own`, and
/// `positives` is their rows of the whole batch's mask (`[own.len(), total]`). The mean over
/// the peers is `sup_con` of the whole batch; with `own = 0..total` it is `sup_con` itself.
pub fn sup_con_gathered<B: Backend>(
    z: Tensor<B, 2>,
    positives: Tensor<B, 2>,
    own: Range<usize>,
    temperature: f64,
) -> Tensor<B, 1> {
    let self_columns: Vec<usize> = own.collect();
    let z = l2_normalize(z);
    let anchors = own_rows_of(z.clone(), &self_columns);
    let log_prob = log_prob_against(anchors, z, &self_columns, temperature);
    let [anchors, keys] = log_prob.dims();
    let positives = positives.mask_fill(
        crate::common::self_mask::<B>(&self_columns, keys, &log_prob.device()),
        0.0,
    );
    debug_assert_eq!(positives.dims(), [anchors, keys]);
    let count = positives.clone().sum_dim(1).clamp_min(1.0);
    let mean_log_prob_pos = (positives * log_prob).sum_dim(1) / count;
    mean_log_prob_pos.mean().neg()
}

/// WCL's swapped weak-label loss: the graph built on view 2 supervises view 1 and vice versa,
/// each contrasted within its own view: `1/2 [L_sup(v1, y2) + L_sup(v2, y1)]`. `v1`, `v2` are
/// every peer's rows, the anchors this peer's rows `own` (`0..n` on one device), and
/// `mask1`, `mask2` the anchors' rows of each view's weak-label mask (`[own.len(), n]`).
pub fn wcl_swap<B: Backend>(
    v1: Tensor<B, 2>,
    v2: Tensor<B, 2>,
    mask1: Tensor<B, 2>,
    mask2: Tensor<B, 2>,
    own: Range<usize>,
    temperature: f64,
) -> Tensor<B, 1> {
    (sup_con_gathered(v1, mask2, own.clone(), temperature)
        + sup_con_gathered(v2, mask1, own, temperature))
    .div_scalar(2.0)
}
