//! Every peer's rows in one tensor: with the gradient sent back to the peer each row came from
//! ([`TrackedCollective::gather_rows`]), or without a gradient ([`gather_rows_detached`]).
//!
//! There is no all-gather in Burn 0.21, so a gather is an all-reduce: each peer writes its rows
//! into its own block of a zero `[world * n, d]` tensor and the blocks are summed. Adding zeros
//! keeps every value exact, so the result is the same bits on every peer.
//!
//! The gradient: peer `r`'s loss `L_r` reads every peer's rows, so the gradient of the total loss
//! with respect to peer `s`'s rows is the sum over `r` of `dL_r / d rows_s`, and only the sum
//! over all peers of the gathered tensor's gradients holds it. The tracked all-reduce's
//! backward therefore all-reduces the incoming gradient (sum), and the slice back to this
//! peer's block keeps its rows. (lightly's gather gave each peer only its own loss's gradient
//! until its PR #1531.)

use std::sync::Arc;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorPrimitive};

use crate::collective::{Collective, CollectiveError, Reduce};

/// The peers shared by the tensors of one run.
pub type Shared<B> = Arc<dyn Collective<B>>;

/// Every peer's `x` (`[n, d]`, the same `n` on every peer) stacked in rank order,
/// `[world * n, d]`, with no gradient.
pub fn gather_rows_detached<B: Backend>(
    collective: &dyn Collective<B>,
    x: Tensor<B, 2>,
) -> Result<Tensor<B, 2>, CollectiveError> {
    stack_rows(x, collective.rank(), collective.world(), |padded| {
        collective.all_reduce(padded, Reduce::Sum)
    })
}

/// Every peer's rows through `sum_over_peers`, which adds up each peer's flat zero-padded
/// `[world * n * d]` tensor: this peer's `x` in block `rank`.
pub(crate) fn stack_rows<B: Backend>(
    x: Tensor<B, 2>,
    rank: usize,
    world: usize,
    sum_over_peers: impl FnOnce(Tensor<B, 1>) -> Result<Tensor<B, 1>, CollectiveError>,
) -> Result<Tensor<B, 2>, CollectiveError> {
    if world == 1 {
        return Ok(x);
    }
    let [n, d] = x.dims();
    let padded = own_block(x, rank, world).reshape([world * n * d]);
    Ok(sum_over_peers(padded)?.reshape([world * n, d]))
}

/// `x` in block `rank` of a zero `[world * n, d]` tensor.
fn own_block<B: Backend>(x: Tensor<B, 2>, rank: usize, world: usize) -> Tensor<B, 2> {
    let [n, d] = x.dims();
    let device = x.device();
    let mut blocks = Vec::with_capacity(world);
    for peer in 0..world {
        if peer == rank {
            blocks.push(x.clone());
        } else {
            blocks.push(Tensor::zeros([n, d], &device));
        }
    }
    Tensor::cat(blocks, 0)
}

/// Collectives inside the autodiff graph: an all-reduce whose backward all-reduces the
/// gradient, and the gather built on it. Implemented for every `Autodiff<B, C>`, that is for
/// every backend selfsup trains on.
pub trait TrackedCollective: AutodiffBackend {
    /// The sum over the peers of `x`; its gradient is the sum over the peers of theirs.
    fn all_reduce_tracked(
        x: Tensor<Self, 1>,
        collective: &Shared<Self::InnerBackend>,
    ) -> Result<Tensor<Self, 1>, CollectiveError>;

    /// Every peer's `x` (`[n, d]`) stacked in rank order, `[world * n, d]`; the gradient of
    /// this peer's block comes back from every peer's loss.
    fn gather_rows(
        x: Tensor<Self, 2>,
        collective: &Shared<Self::InnerBackend>,
    ) -> Result<Tensor<Self, 2>, CollectiveError> {
        stack_rows(x, collective.rank(), collective.world(), |padded| {
            Self::all_reduce_tracked(padded, collective)
        })
    }
}

impl<B: Backend, C: CheckpointStrategy> TrackedCollective for Autodiff<B, C> {
    fn all_reduce_tracked(
        x: Tensor<Self, 1>,
        collective: &Shared<B>,
    ) -> Result<Tensor<Self, 1>, CollectiveError> {
        let x = x.into_primitive().tensor();
        let prep = <AllReduceBackward as Backward<B, 1>>::prepare::<C>(
            AllReduceBackward,
            [x.node.clone()],
        )
        .compute_bound()
        .stateful();
        let values = Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(x.primitive));
        let reduced = collective
            .all_reduce(values, Reduce::Sum)?
            .into_primitive()
            .tensor();
        let output = match prep {
            OpsKind::Tracked(prep) => prep.finish(collective.clone(), reduced),
            OpsKind::UnTracked(prep) => prep.finish(reduced),
        };
        Ok(Tensor::from_primitive(TensorPrimitive::Float(output)))
    }
}

#[derive(Debug)]
struct AllReduceBackward;

impl<B: Backend> Backward<B, 1> for AllReduceBackward {
    type State = Shared<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let Some(parent) = parent else {
            return;
        };
        let grad = Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(grad));
        let shape = grad.dims();
        let device = grad.device();
        // A failed all-reduce is kept by the peer (`Collective::failure`) and reported by the
        // gradient average that follows every backward pass; the zero gradient here only lets
        // the backward pass finish.
        let reduced = ops
            .state
            .all_reduce(grad, Reduce::Sum)
            .unwrap_or_else(|_| Tensor::zeros(shape, &device));
        grads.register::<B>(parent.id, reduced.into_primitive().tensor());
    }
}
