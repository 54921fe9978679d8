//! The peers as one training step's forward pass sees them ([`StepPeers`]): the gathers its
//! loss makes and the sums synchronised batch norm makes, on the autodiff backend the model
//! trains on.
//!
//! A loss cannot return an error, so a failed collective here gives back a stand-in of the
//! right shape (this peer's own values) and is kept by the peer (`Collective::failure`); the
//! gradient average that ends every step reports it, before anything is updated.

use std::fmt::Debug;
use std::ops::Range;
use std::sync::Arc;

use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::collective::{CollectiveError, Reduce, Solo};
use crate::gather::{Shared, TrackedCollective, stack_rows};
use crate::scope;

/// What a gather's backward gives the other peers' rows (`train.gather`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GatherGradient {
    /// Every peer's rows carry the gradient of every peer's loss back to the peer they came
    /// from (`"grad"`): a step on N peers is then the one-device step on the joined batch.
    #[default]
    Tracked,
    /// Only this peer's rows carry a gradient, of its own loss (`"detached"`), as MoCo's and
    /// WCL's official code gather.
    Detached,
}

/// Sums over the peers of a tensor of the training backend `B`, with a gradient or without.
trait SumOverPeers<B: Backend>: Send + Sync + Debug {
    fn rank(&self) -> usize;
    fn world(&self) -> usize;
    fn sum_tracked(&self, x: Tensor<B, 1>) -> Result<Tensor<B, 1>, CollectiveError>;
    fn sum_detached(&self, x: Tensor<B, 1>) -> Result<Tensor<B, 1>, CollectiveError>;
}

#[derive(Debug)]
struct OnEngine<B: TrackedCollective> {
    collective: Shared<B::InnerBackend>,
}

impl<B: TrackedCollective> SumOverPeers<B> for OnEngine<B> {
    fn rank(&self) -> usize {
        self.collective.rank()
    }

    fn world(&self) -> usize {
        self.collective.world()
    }

    fn sum_tracked(&self, x: Tensor<B, 1>) -> Result<Tensor<B, 1>, CollectiveError> {
        B::all_reduce_tracked(x, &self.collective)
    }

    fn sum_detached(&self, x: Tensor<B, 1>) -> Result<Tensor<B, 1>, CollectiveError> {
        let sum = self.collective.all_reduce(x.inner(), Reduce::Sum)?;
        Ok(Tensor::from_inner(sum))
    }
}

/// This peer's view of the others during a step's forward pass; on one device every
/// operation gives back what it was given, with no copy.
#[derive(Debug, Clone)]
pub struct StepPeers<B: Backend> {
    sums: Option<Arc<dyn SumOverPeers<B>>>,
    gradient: GatherGradient,
    synced_batch_norm: bool,
}

impl<B: Backend> Default for StepPeers<B> {
    fn default() -> Self {
        Self::alone()
    }
}

impl<B: Backend> StepPeers<B> {
    /// A run on one device.
    pub fn alone() -> Self {
        Self {
            sums: None,
            gradient: GatherGradient::default(),
            synced_batch_norm: false,
        }
    }

    /// The same peers, with `gradient` for the other peers' gathered rows.
    pub fn with_gather(mut self, gradient: GatherGradient) -> Self {
        self.gradient = gradient;
        self
    }

    /// The same peers, with batch norm over every peer's batch in [`StepPeers::forward`]
    /// when `synced` (`model.sync_bn`).
    pub fn with_synced_batch_norm(mut self, synced: bool) -> Self {
        self.synced_batch_norm = synced;
        self
    }

    /// Runs a step's forward pass, `forward`: with batch norm over every peer's batch when
    /// these peers synchronise it.
    pub fn forward<R>(&self, forward: impl FnOnce() -> R) -> R {
        if self.synced_batch_norm && self.world() > 1 {
            scope::within(self, forward)
        } else {
            forward()
        }
    }

    pub fn rank(&self) -> usize {
        self.sums.as_ref().map_or(0, |sums| sums.rank())
    }

    pub fn world(&self) -> usize {
        self.sums.as_ref().map_or(1, |sums| sums.world())
    }

    /// This peer's rows in a gather of `n` rows from each peer.
    pub fn own_rows(&self, n: usize) -> Range<usize> {
        let start = self.rank() * n;
        start..start + n
    }

    /// Every peer's `x` (`[n, d]`) stacked in rank order, `[world * n, d]`; the other peers'
    /// rows carry a gradient as `train.gather` says, this peer's always do.
    pub fn gather(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let Some(sums) = &self.sums else {
            return x;
        };
        match self.gradient {
            GatherGradient::Tracked => {
                stack_rows_or_own(x, sums.as_ref(), |padded| sums.sum_tracked(padded))
            }
            GatherGradient::Detached => {
                let [n, d] = x.dims();
                let rows = self.own_rows(n);
                self.gather_detached(x.clone())
                    .slice_assign([rows, 0..d], x)
            }
        }
    }

    /// Every peer's `x` stacked in rank order, with no gradient at all (weak labels, queues).
    pub fn gather_detached(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        match &self.sums {
            None => x.detach(),
            Some(sums) => stack_rows_or_own(x.detach(), sums.as_ref(), |padded| {
                sums.sum_detached(padded)
            }),
        }
    }

    /// The sum over the peers of `x`; its gradient is the sum over the peers of theirs.
    pub fn sum(&self, x: Tensor<B, 1>) -> Tensor<B, 1> {
        match &self.sums {
            None => x,
            Some(sums) => sums.sum_tracked(x.clone()).unwrap_or(x),
        }
    }
}

/// `gather.rs`'s stacking of every peer's rows through `sum`; if the sum fails, this peer's
/// rows alone in their block (the failure is kept by the peer and reported after the step).
fn stack_rows_or_own<B: Backend>(
    x: Tensor<B, 2>,
    sums: &dyn SumOverPeers<B>,
    sum: impl FnOnce(Tensor<B, 1>) -> Result<Tensor<B, 1>, CollectiveError>,
) -> Tensor<B, 2> {
    let stacked = stack_rows(x, sums.rank(), sums.world(), |padded| {
        Ok(sum(padded.clone()).unwrap_or(padded))
    });
    stacked.expect("the sum's failure is replaced by this peer's rows")
}

impl<B: TrackedCollective> StepPeers<B> {
    /// The peers of `collective` (one of them on one device).
    pub fn new(collective: Shared<B::InnerBackend>) -> Self {
        if collective.world() == 1 {
            return Self::alone();
        }
        Self {
            sums: Some(Arc::new(OnEngine::<B> { collective })),
            gradient: GatherGradient::default(),
            synced_batch_norm: false,
        }
    }
}

/// The peers of a run as its trainer holds them: the collective the gradient average goes
/// through, and the view a step's forward pass has of them.
#[derive(Debug, Clone)]
pub struct Peers<B: AutodiffBackend> {
    pub collective: Shared<B::InnerBackend>,
    pub step: StepPeers<B>,
}

impl<B: AutodiffBackend> Peers<B> {
    /// A run on one device.
    pub fn alone() -> Self {
        Self {
            collective: Arc::new(Solo),
            step: StepPeers::alone(),
        }
    }
}

impl<B: TrackedCollective> Peers<B> {
    /// The peers of `collective`, on the training backend `B`.
    pub fn new(collective: Shared<B::InnerBackend>) -> Self {
        Self {
            step: StepPeers::new(collective.clone()),
            collective,
        }
    }
}
