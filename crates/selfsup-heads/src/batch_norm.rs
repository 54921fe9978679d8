use burn::nn::BatchNorm;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use selfsup_distributed::{BatchNormState, synced_batch_norm};

/// `bn` over the rows of `x` (`[batch, features]`): Burn's batch norm, or, inside a
/// synchronised forward pass of a data-parallel run (`model.sync_bn`), the same over every
/// peer's rows.
pub(crate) fn batch_norm<B: Backend>(bn: &BatchNorm<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    let [batch, features] = x.dims();
    let state = BatchNormState {
        gamma: &bn.gamma,
        beta: &bn.beta,
        running_mean: &bn.running_mean,
        running_var: &bn.running_var,
        momentum: bn.momentum,
        epsilon: bn.epsilon,
    };
    match synced_batch_norm(x.clone().reshape([batch, features, 1]), state) {
        Some(synced) => synced.reshape([batch, features]),
        None => bn.forward(x),
    }
}
