//! A peer of Burn's collective engine (`burn-collective` 0.21), behind [`Collective`].
//!
//! Its calls block until every peer has made the same call, and they never time out: a peer
//! that crashed would leave the others waiting forever. So each call runs on a thread of its
//! own and this peer waits for the answer with a timeout; past it, the call is abandoned (its
//! thread stays blocked until the process ends, which it then does with the error).

use std::sync::{Mutex, mpsc};
use std::time::Duration;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};
use burn_collective::{CollectiveConfig, PeerId, ReduceOperation};

use crate::collective::{Collective, CollectiveError, Reduce};

/// Where a peer stands in a run on one machine.
#[derive(Debug, Clone)]
pub struct PeerSetup {
    /// This peer's rank, `0..devices`.
    pub rank: usize,
    /// Peers on this machine, one per device (`--devices 0,0` makes two on one CPU device).
    pub devices: usize,
    /// How long a collective call waits for the other peers before it fails.
    pub timeout: Duration,
}

/// One peer of Burn's local collective server.
#[derive(Debug)]
pub struct BurnPeer<B: Backend> {
    setup: PeerSetup,
    id: PeerId,
    failed: Mutex<Option<CollectiveError>>,
    _backend: std::marker::PhantomData<B>,
}

impl<B: Backend> BurnPeer<B> {
    /// Registers this peer on `device`; returns once every peer of the machine has registered
    /// (or fails after the timeout). Only loopback is used: nothing listens on the network.
    pub fn register(setup: PeerSetup, device: B::Device) -> Result<Self, CollectiveError> {
        let id = PeerId::from(setup.rank);
        let config = CollectiveConfig::default().with_num_devices(setup.devices);
        let rank = setup.rank;
        bounded("registration", rank, setup.timeout, move || {
            burn_collective::register::<B>(id, device, config)
        })?;
        Ok(Self {
            setup,
            id,
            failed: Mutex::new(None),
            _backend: std::marker::PhantomData,
        })
    }

    /// Unregisters this peer; the last one to leave closes the session, so that another run
    /// in the same process can register again.
    pub fn finish(self) -> Result<(), CollectiveError> {
        let id = self.id;
        bounded("finish", self.setup.rank, self.setup.timeout, move || {
            burn_collective::finish_collective::<B>(id)
        })
    }
}

impl<B: Backend> Collective<B> for BurnPeer<B> {
    fn rank(&self) -> usize {
        self.setup.rank
    }

    fn world(&self) -> usize {
        self.setup.devices
    }

    fn all_reduce(
        &self,
        tensor: Tensor<B, 1>,
        reduce: Reduce,
    ) -> Result<Tensor<B, 1>, CollectiveError> {
        if let Some(error) = self.failure() {
            return Err(error);
        }
        let id = self.id;
        let op = match reduce {
            Reduce::Sum => ReduceOperation::Sum,
            Reduce::Mean => ReduceOperation::Mean,
        };
        let primitive = tensor.into_primitive().tensor();
        let reduced = bounded(
            "all-reduce",
            self.setup.rank,
            self.setup.timeout,
            move || burn_collective::all_reduce::<B>(id, primitive, op),
        )
        .inspect_err(|error| {
            let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
            failed.get_or_insert_with(|| error.clone());
        })?;
        Ok(Tensor::from_primitive(TensorPrimitive::Float(reduced)))
    }

    fn failure(&self) -> Option<CollectiveError> {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Forgets every peer and operation of Burn's collective engine for backend `B` in this
/// process, so that a new session can register (after a session that failed half-way).
pub fn reset_engine<B: Backend>() {
    burn_collective::reset_collective::<B>();
}

/// Runs `call` on a thread of its own and waits at most `timeout` for its result.
fn bounded<T: Send + 'static>(
    operation: &'static str,
    rank: usize,
    timeout: Duration,
    call: impl FnOnce() -> Result<T, burn_collective::CollectiveError> + Send + 'static,
) -> Result<T, CollectiveError> {
    let (sender, receiver) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name(format!("collective-{operation}-{rank}"))
        .spawn(move || {
            // The receiver is gone only when this peer gave up waiting.
            let _ = sender.send(call());
        })
        .map_err(|error| CollectiveError::Engine {
            operation,
            rank,
            message: format!("could not start its thread: {error}"),
        })?;
    match receiver.recv_timeout(timeout) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(CollectiveError::Engine {
            operation,
            rank,
            message: format!("{error:?}"),
        }),
        Err(_) => Err(CollectiveError::Timeout {
            operation,
            rank,
            timeout,
        }),
    }
}
