//! Instance discrimination against stored negatives: InstDisc's NCE and its (m+1)-way softmax,
//! MoCo's InfoNCE with a queue, the proximal term. Scores are dot products of L2-normalised
//! features; the caller picks where the positives and negatives come from (a memory bank, a
//! queue, the other view's bank).

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Tensor};

/// lemniscate's guard against log(0) inside NCE.
pub const NCE_EPS: f64 = 1e-7;

/// InstDisc's normalising constant, estimated once by Monte Carlo:
/// `Z = n * mean over (anchor, noise sample) of exp(s / tau)` for the noise scores `[b, m]` of
/// the first batch and a bank of `bank_len` entries.
pub fn nce_normalizer<B: Backend>(
    noise_scores: Tensor<B, 2>,
    temperature: f64,
    bank_len: usize,
) -> f64 {
    let mean: f64 = noise_scores
        .detach()
        .div_scalar(temperature)
        .exp()
        .mean()
        .into_scalar()
        .elem();
    mean * bank_len as f64
}

/// InstDisc's NCE loss with lemniscate's numerics. `positive` is `[b]` (anchor . its own entry),
/// `noise` is `[b, m]` (anchor . m uniformly drawn entries), `normalizer` is the fixed Z and
/// `bank_len` is n, so the noise density is 1/n:
/// `P(j) = exp(s_j / tau) / Z`, and the loss averaged over anchors is
/// `-[log(P_0 / (P_0 + m/n + eps)) + sum_k log((m/n) / (P_k + m/n + eps))]`.
pub fn nce_loss<B: Backend>(
    positive: Tensor<B, 1>,
    noise: Tensor<B, 2>,
    temperature: f64,
    normalizer: f64,
    bank_len: usize,
) -> Tensor<B, 1> {
    let [anchors, m] = noise.dims();
    let noise_mass = m as f64 / bank_len as f64;
    let probability = |s: Tensor<B, 2>| s.div_scalar(temperature).exp().div_scalar(normalizer);
    let p_pos = probability(positive.reshape([anchors, 1]));
    let log_pos = p_pos.clone().log() - p_pos.add_scalar(noise_mass + NCE_EPS).log();
    let log_noise = probability(noise)
        .add_scalar(noise_mass + NCE_EPS)
        .log()
        .neg()
        .add_scalar(noise_mass.ln());
    (log_pos.sum_dim(1) + log_noise.sum_dim(1)).mean().neg()
}

/// The (m+1)-way softmax over one positive and m negatives, positive at index 0:
/// `-mean log( exp(s_+ / tau) / (exp(s_+ / tau) + sum_k exp(s_k / tau)) )`. InstDisc's softmax
/// alternative, CMC's softmax variant, and MoCo's InfoNCE are all this.
pub fn softmax_with_positive_first<B: Backend>(
    positive: Tensor<B, 1>,
    negatives: Tensor<B, 2>,
    temperature: f64,
) -> Tensor<B, 1> {
    let [anchors, _] = negatives.dims();
    let logits =
        Tensor::cat(vec![positive.reshape([anchors, 1]), negatives], 1).div_scalar(temperature);
    log_softmax(logits, 1).narrow(1, 0, 1).mean().neg()
}

/// MoCo's InfoNCE: queries `q` `[b, d]` and their keys `k` `[b, d]` (both L2-normalised) against
/// a queue of negatives `[K, d]`: logits `[q . k+, q . queue] / tau`, target index 0. The keys and
/// the queue carry no gradient.
pub fn info_nce<B: Backend>(
    q: Tensor<B, 2>,
    k: Tensor<B, 2>,
    queue: Tensor<B, 2>,
    temperature: f64,
) -> Tensor<B, 1> {
    let [b, _] = q.dims();
    let positive = (q.clone() * k.detach()).sum_dim(1).reshape([b]);
    let negatives = q.matmul(queue.detach().transpose());
    softmax_with_positive_first(positive, negatives, temperature)
}

/// InstDisc's proximal regularisation: the mean over the batch of `||v_t - v_(t-1)||^2`, with
/// `previous` the bank entries before this step (no gradient).
pub fn proximal<B: Backend>(current: Tensor<B, 2>, previous: Tensor<B, 2>) -> Tensor<B, 1> {
    (current - previous.detach())
        .powi_scalar(2)
        .sum_dim(1)
        .mean()
}

/// Scores of anchors `[b, d]` against their rows `[b, count, d]`: `[b, count]`.
pub fn scores_against<B: Backend>(anchors: Tensor<B, 2>, rows: Tensor<B, 3>) -> Tensor<B, 2> {
    let [b, d] = anchors.dims();
    let count = rows.dims()[1];
    rows.matmul(anchors.reshape([b, d, 1])).reshape([b, count])
}
