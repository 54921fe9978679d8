//! Collectives between the peers of a data-parallel run: one peer per device, on one machine or
//! several (issue 18).
//!
//! Why this crate exists: the contrastive methods need more than averaged gradients. SimCLR and
//! WCL take their negatives from every device's embeddings, WCL builds its 1-NN graph over the
//! gathered batch, SwAV normalises over all devices. So a run needs an all-reduce, a gather whose
//! gradient reaches the peer that produced each row, and a gradient average that every peer
//! computes over the same parameters in the same order. Burn 0.21's `burn-collective` gives the
//! all-reduce between threads and between machines; it has no gather, its all-reduce is not
//! differentiable, and `GradientsParams::all_reduce` walks parameters in `ParamId` order, which
//! is random per process. What is here:
//!
//! - [`Collective`]: the one trait the rest of selfsup talks to (rank, world size, all-reduce
//!   of a flat tensor). [`Solo`] is the one-peer case; [`BurnPeer`] is a peer of Burn's
//!   collective engine, each call bounded by a timeout so that a dead peer is an error, not a
//!   hang. A later Burn's collectives replace it in one place.
//! - [`gather_rows_detached`] and, on autodiff backends, [`TrackedCollective::gather_rows`]:
//!   every peer's rows stacked in rank order; the tracked one's backward all-reduces the
//!   gradient and keeps this peer's rows (what lightly's gather got wrong before its PR #1531).
//! - [`all_reduce_gradients`]: one flat all-reduce of every gradient in the model's visit order.
//! - [`check_same_values`]: every peer's copy of a value, compared (the start-up checksum).
//! - [`StepPeers`]: the peers as a step's forward pass sees them (the losses' gathers, with
//!   the gradient `train.gather` asks for), and [`synced_batch_norm`] for `model.sync_bn`.

mod collective;
mod coordinator;
mod gather;
mod gradients;
mod peer;
mod scope;
mod step_peers;
mod synced_batch_norm;

pub use collective::{Collective, CollectiveError, Reduce, Solo, check_same_values};
pub use coordinator::run_coordinator;
pub use gather::{Shared, TrackedCollective, gather_rows_detached};
pub use gradients::all_reduce_gradients;
pub use peer::{BurnPeer, NodeSetup, PeerSetup, reset_engine};
pub use step_peers::{GatherGradient, Peers, StepPeers};
pub use synced_batch_norm::{BatchNormState, synced_batch_norm, synced_peers, with_own_batch_norm};
