//! The trait every collective operation of selfsup goes through, its errors, and the one-peer
//! case.

use std::fmt::Debug;
use std::time::Duration;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// How an all-reduce combines the peers' tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    Sum,
    Mean,
}

/// Why a collective operation failed. Every variant names the operation and this peer's rank.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CollectiveError {
    #[error(
        "peer {rank}: {operation} got no answer from the other peers within {} s (a peer \
         stopped, crashed or cannot be reached); resume the run from its last checkpoint",
        timeout.as_secs()
    )]
    Timeout {
        operation: &'static str,
        rank: usize,
        timeout: Duration,
    },
    #[error(
        "peer {rank}: {operation} failed: Burn's collective engine lost its connection to \
         another machine (a peer stopped, crashed or cannot be reached); resume the run from \
         its last checkpoint"
    )]
    Lost {
        operation: &'static str,
        rank: usize,
    },
    #[error("peer {rank}: {operation} failed in Burn's collective engine: {message}")]
    Engine {
        operation: &'static str,
        rank: usize,
        message: String,
    },
    #[error(
        "peer {rank} and peer {other} disagree on {what} (value {index}: {ours} here, {theirs} \
         there)"
    )]
    Disagree {
        what: String,
        rank: usize,
        other: usize,
        index: usize,
        ours: f32,
        theirs: f32,
    },
    #[error("peer {rank}: {message}")]
    Layout { rank: usize, message: String },
}

/// The peers of a run as one peer sees them. Every peer must make the same calls, with tensors
/// of the same shapes, in the same order: each all-reduce pairs the peers' n-th calls.
pub trait Collective<B: Backend>: Send + Sync + Debug {
    /// This peer's place, `0..world()`; rows gathered from the peers come in this order.
    fn rank(&self) -> usize;

    /// How many peers take part.
    fn world(&self) -> usize;

    /// The element-wise sum (or mean) over the peers of `tensor`.
    fn all_reduce(
        &self,
        tensor: Tensor<B, 1>,
        reduce: Reduce,
    ) -> Result<Tensor<B, 1>, CollectiveError>;

    /// The first operation that failed, if one did: after it the peers are out of step, and
    /// every later operation fails with it. (A failure inside a backward pass, which cannot
    /// return an error, is reported this way.)
    fn failure(&self) -> Option<CollectiveError> {
        None
    }
}

/// A run on one device: every collective operation gives back what it was given.
#[derive(Debug, Clone, Copy, Default)]
pub struct Solo;

impl<B: Backend> Collective<B> for Solo {
    fn rank(&self) -> usize {
        0
    }

    fn world(&self) -> usize {
        1
    }

    fn all_reduce(
        &self,
        tensor: Tensor<B, 1>,
        _reduce: Reduce,
    ) -> Result<Tensor<B, 1>, CollectiveError> {
        Ok(tensor)
    }
}

/// Checks that every peer holds the same `values` (a checksum of the weights, the step
/// number): each peer's values go to its own slot of a zero vector, one all-reduce sums the
/// slots (adding zeros keeps every value exact), and each slot is compared with this peer's.
pub fn check_same_values<B: Backend>(
    collective: &dyn Collective<B>,
    what: &str,
    values: &[f32],
    device: &B::Device,
) -> Result<(), CollectiveError> {
    let (rank, world, len) = (collective.rank(), collective.world(), values.len());
    if world == 1 || len == 0 {
        return Ok(());
    }
    let mut slots = vec![0.0f32; world * len];
    slots[rank * len..][..len].copy_from_slice(values);
    let slots = Tensor::<B, 1>::from_data(TensorData::new(slots, [world * len]), device);
    let all = read_back(collective.all_reduce(slots, Reduce::Sum)?, rank, what)?;
    for (other, theirs) in all.chunks_exact(len).enumerate() {
        for (index, (&ours, &theirs)) in values.iter().zip(theirs).enumerate() {
            let same = ours == theirs || (ours.is_nan() && theirs.is_nan());
            if !same {
                return Err(CollectiveError::Disagree {
                    what: what.to_string(),
                    rank,
                    other,
                    index,
                    ours,
                    theirs,
                });
            }
        }
    }
    Ok(())
}

/// The values of `tensor` on the host, as f32; `what` names them in the error.
pub(crate) fn read_back<B: Backend>(
    tensor: Tensor<B, 1>,
    rank: usize,
    what: &str,
) -> Result<Vec<f32>, CollectiveError> {
    tensor
        .into_data()
        .convert::<f32>()
        .into_vec()
        .map_err(|error| CollectiveError::Layout {
            rank,
            message: format!("reading {what} back: {error:?}"),
        })
}
