//! Batch norm whose statistics come from every peer's batch (`model.sync_bn = true`), as
//! PyTorch's `SyncBatchNorm`.
//!
//! The peers reach the batch norm layers through a scope (scope.rs), not through every
//! `forward`: the trainer runs a step's forward pass inside `StepPeers::forward`, and each
//! batch norm layer in training mode asks [`synced_batch_norm`] whether to normalise over all
//! peers. A
//! scope keeps the backbones' and heads' `forward(x)` what it is for every other caller
//! (evaluation, export, benchmarks), and it is per thread, which is per peer.

use burn::module::{Param, RunningState};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::scope;
use crate::step_peers::StepPeers;

/// Runs `forward` with batch norm over this peer's own batch, inside a synchronised forward
/// pass: for MoCo's key encoder, whose shuffle-BN groups must keep their own statistics.
pub fn with_own_batch_norm<R>(forward: impl FnOnce() -> R) -> R {
    scope::outside(forward)
}

/// The peers a batch norm layer on backend `B` normalises over, inside
/// `StepPeers::forward` of a run of several peers that synchronise batch norm.
pub fn synced_peers<B: Backend>() -> Option<StepPeers<B>> {
    scope::current::<StepPeers<B>>().filter(|peers| peers.world() > 1)
}

/// A batch norm layer's state, borrowed for [`synced_batch_norm`].
pub struct BatchNormState<'a, B: Backend> {
    pub gamma: &'a Param<Tensor<B, 1>>,
    pub beta: &'a Param<Tensor<B, 1>>,
    pub running_mean: &'a RunningState<Tensor<B, 1>>,
    pub running_var: &'a RunningState<Tensor<B, 1>>,
    pub momentum: f64,
    pub epsilon: f64,
}

/// Batch norm in training mode of `x` (`[batch, channels, positions]`), with the mean and the
/// biased variance over every peer's batch (each peer's batch has the same size), the running
/// statistics blended with them as `burn::nn::BatchNorm` does. `None` outside a synced
/// scope: the layer then runs its own batch norm.
pub fn synced_batch_norm<B: Backend>(
    x: Tensor<B, 3>,
    state: BatchNormState<'_, B>,
) -> Option<Tensor<B, 3>> {
    let peers = synced_peers::<B>()?;
    let [batch, channels, positions] = x.dims();
    let count = (batch * positions * peers.world()) as f64;
    let per_channel_sum = |t: Tensor<B, 3>| t.sum_dim(2).sum_dim(0).reshape([channels]);
    let as_column = |v: Tensor<B, 1>| v.reshape([1, channels, 1]);
    let mean = peers.sum(per_channel_sum(x.clone())).div_scalar(count);
    let centered = x - as_column(mean.clone());
    let var = peers
        .sum(per_channel_sum(centered.clone().powi_scalar(2)))
        .div_scalar(count);
    blend(state.running_mean, mean, state.momentum);
    blend(state.running_var, var.clone(), state.momentum);
    let scale = state.gamma.val() / var.add_scalar(state.epsilon).sqrt();
    Some(centered * as_column(scale) + as_column(state.beta.val()))
}

/// `running = (1 - momentum) running + momentum batch`, outside the autodiff graph.
fn blend<B: Backend>(state: &RunningState<Tensor<B, 1>>, batch: Tensor<B, 1>, momentum: f64) {
    let old = state.value_sync().to_device(&batch.device());
    state.update(
        old.mul_scalar(1.0 - momentum)
            .add(batch.detach().mul_scalar(momentum))
            .detach(),
    );
}
