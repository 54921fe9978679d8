//! SwAV's pieces: Sinkhorn-Knopp codes (no gradient) and the swapped prediction loss.

use burn::tensor::Tensor;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;

/// Codes `q` `[b, k]` for prototype scores `[b, k]`, as the official code's
/// `distributed_sinkhorn` on one device: `Q = exp(scores / epsilon)^T` normalised to sum 1, then
/// `iterations` rounds of making every prototype's total `1 / k` and every sample's `1 / b`;
/// finally scaled so each sample's codes sum to 1 (each prototype's to `b / k`). Detached.
pub fn sinkhorn<B: Backend>(scores: Tensor<B, 2>, epsilon: f64, iterations: usize) -> Tensor<B, 2> {
    let [b, k] = scores.dims();
    // exp of (s - max) / eps: the same codes, without overflow for small epsilon.
    let scores = scores.detach();
    let max = scores.clone().max();
    let mut q = (scores - max.unsqueeze())
        .div_scalar(epsilon)
        .exp()
        .transpose();
    q = q.clone() / q.clone().sum().unsqueeze();
    for _ in 0..iterations {
        q = q.clone() / q.clone().sum_dim(1).mul_scalar(k as f64);
        q = q.clone() / q.clone().sum_dim(0).mul_scalar(b as f64);
    }
    q.mul_scalar(b as f64).transpose()
}

/// `-mean_i sum_k q_i^(k) log softmax(p_i / tau)^(k)`: how well the prototype scores `p` of one
/// crop predict the codes `q` of another.
pub fn swapped_prediction<B: Backend>(
    codes: Tensor<B, 2>,
    scores: Tensor<B, 2>,
    temperature: f64,
) -> Tensor<B, 1> {
    let log_p = log_softmax(scores.div_scalar(temperature), 1);
    (codes * log_p).sum_dim(1).mean().neg()
}

/// SwAV's loss over crops: for each of the first `assigned` crops s (the global ones), codes
/// from its scores, predicted by every other crop t; averaged over t, then over s.
pub fn swav_loss<B: Backend>(
    scores: &[Tensor<B, 2>],
    assigned: usize,
    temperature: f64,
    epsilon: f64,
    iterations: usize,
) -> Tensor<B, 1> {
    swav_loss_with_queue(scores, &[], assigned, temperature, epsilon, iterations)
}

/// `swav_loss` with SwAV's feature queue: `queued[s]` (`[q, k]`, empty slice: no queue) holds
/// the prototype scores of earlier batches' crop s, which join the batch's scores in the
/// Sinkhorn-Knopp problem, so the equipartition holds over `q + b` samples instead of a small
/// batch; only the batch's own codes are kept.
pub fn swav_loss_with_queue<B: Backend>(
    scores: &[Tensor<B, 2>],
    queued: &[Tensor<B, 2>],
    assigned: usize,
    temperature: f64,
    epsilon: f64,
    iterations: usize,
) -> Tensor<B, 1> {
    let crops = scores.len();
    let mut total: Option<Tensor<B, 1>> = None;
    for s in 0..assigned.min(crops) {
        let codes = match queued.get(s) {
            Some(queue) => {
                let [batch, _] = scores[s].dims();
                let [held, _] = queue.dims();
                let joint = Tensor::cat(vec![queue.clone(), scores[s].clone()], 0);
                sinkhorn(joint, epsilon, iterations).narrow(0, held, batch)
            }
            None => sinkhorn(scores[s].clone(), epsilon, iterations),
        };
        for (_, prediction) in scores.iter().enumerate().filter(|&(t, _)| t != s) {
            let term = swapped_prediction(codes.clone(), prediction.clone(), temperature)
                .div_scalar((crops - 1) as f64);
            total = Some(match total {
                Some(sum) => sum + term,
                None => term,
            });
        }
    }
    total
        .expect("SwAV needs at least two crops")
        .div_scalar(assigned.min(crops) as f64)
}
