//! SwAV's pieces: Sinkhorn-Knopp codes (no gradient) and the swapped prediction loss.

use burn::tensor::Tensor;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;

/// How the samples of one Sinkhorn-Knopp problem are spread over the peers of a data-parallel
/// step: each peer holds an equal share, and the problem's sums and maximum run over all of
/// them (the official code's `distributed_sinkhorn`).
pub trait SampleSpread<B: Backend> {
    /// Peers holding a share of the samples.
    fn peers(&self) -> usize;
    /// The element-wise sum over the peers of `x`.
    fn sum(&self, x: Tensor<B, 1>) -> Tensor<B, 1>;
    /// The largest over the peers of `x` (`[1]`).
    fn max(&self, x: Tensor<B, 1>) -> Tensor<B, 1>;
}

/// All samples on one device.
pub struct OneDevice;

impl<B: Backend> SampleSpread<B> for OneDevice {
    fn peers(&self) -> usize {
        1
    }

    fn sum(&self, x: Tensor<B, 1>) -> Tensor<B, 1> {
        x
    }

    fn max(&self, x: Tensor<B, 1>) -> Tensor<B, 1> {
        x
    }
}

/// Codes `q` `[b, k]` for prototype scores `[b, k]`, as the official code's
/// `distributed_sinkhorn` on one device: `Q = exp(scores / epsilon)^T` normalised to sum 1, then
/// `iterations` rounds of making every prototype's total `1 / k` and every sample's `1 / b`;
/// finally scaled so each sample's codes sum to 1 (each prototype's to `b / k`). Detached.
pub fn sinkhorn<B: Backend>(scores: Tensor<B, 2>, epsilon: f64, iterations: usize) -> Tensor<B, 2> {
    sinkhorn_spread(scores, epsilon, iterations, &OneDevice)
}

/// [`sinkhorn`] of the samples of every peer, `scores` being this peer's share: the codes of
/// this peer's samples, those the one-device problem over all samples gives them.
pub fn sinkhorn_spread<B: Backend>(
    scores: Tensor<B, 2>,
    epsilon: f64,
    iterations: usize,
    spread: &dyn SampleSpread<B>,
) -> Tensor<B, 2> {
    let [b, k] = scores.dims();
    let samples = (b * spread.peers()) as f64;
    // exp of (s - max) / eps: the same codes, without overflow for small epsilon.
    let scores = scores.detach();
    let max = spread.max(scores.clone().max());
    let mut q = (scores - max.unsqueeze())
        .div_scalar(epsilon)
        .exp()
        .transpose();
    q = q.clone() / spread.sum(q.clone().sum()).unsqueeze();
    for _ in 0..iterations {
        let prototype_totals = spread.sum(q.clone().sum_dim(1).reshape([k]));
        q = q.clone() / prototype_totals.reshape([k, 1]).mul_scalar(k as f64);
        q = q.clone() / q.clone().sum_dim(0).mul_scalar(samples);
    }
    q.mul_scalar(samples).transpose()
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
    let sinkhorn = Sinkhorn {
        epsilon,
        iterations,
        spread: &OneDevice,
    };
    swav_loss_with_queue(scores, &[], assigned, temperature, &sinkhorn)
}

/// The Sinkhorn-Knopp problem's settings, and how its samples are spread over peers.
pub struct Sinkhorn<'a, B: Backend> {
    pub epsilon: f64,
    pub iterations: usize,
    pub spread: &'a dyn SampleSpread<B>,
}

/// `swav_loss` with SwAV's feature queue: `queued[s]` (`[q, k]`, empty slice: no queue) holds
/// the prototype scores of earlier batches' crop s, which join the batch's scores in the
/// Sinkhorn-Knopp problem, so the equipartition holds over `q + b` samples instead of a small
/// batch; only the batch's own codes are kept. On several peers each holds its share of the
/// batch and of the queue, and the codes come from the problem over all of them.
pub fn swav_loss_with_queue<B: Backend>(
    scores: &[Tensor<B, 2>],
    queued: &[Tensor<B, 2>],
    assigned: usize,
    temperature: f64,
    sinkhorn: &Sinkhorn<'_, B>,
) -> Tensor<B, 1> {
    let codes_of = |scores: Tensor<B, 2>| {
        sinkhorn_spread(
            scores,
            sinkhorn.epsilon,
            sinkhorn.iterations,
            sinkhorn.spread,
        )
    };
    let crops = scores.len();
    let mut total: Option<Tensor<B, 1>> = None;
    for s in 0..assigned.min(crops) {
        let codes = match queued.get(s) {
            Some(queue) => {
                let [batch, _] = scores[s].dims();
                let [held, _] = queue.dims();
                let joint = Tensor::cat(vec![queue.clone(), scores[s].clone()], 0);
                codes_of(joint).narrow(0, held, batch)
            }
            None => codes_of(scores[s].clone()),
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
