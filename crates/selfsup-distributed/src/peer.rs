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
use std::str::FromStr;

use burn_collective::{CollectiveConfig, PeerId, ReduceOperation};
use burn_communication::Address;

use crate::collective::{Collective, CollectiveError, Reduce};

/// Where a peer stands in a run: on this machine, and among the machines.
#[derive(Debug, Clone)]
pub struct PeerSetup {
    /// This peer's place on its machine, `0..devices`.
    pub rank: usize,
    /// Peers on this machine, one per device (`--devices 0,0` makes two on one CPU device).
    pub devices: usize,
    /// How long a collective call waits for the other peers before it fails.
    pub timeout: Duration,
    /// The machines of a run on several; `None` on one machine (loopback only).
    pub nodes: Option<NodeSetup>,
}

impl PeerSetup {
    /// This peer's rank among every machine's peers: the machines in `node_rank` order, each
    /// machine's peers in order.
    pub fn global_rank(&self) -> usize {
        self.node_rank() * self.devices + self.rank
    }

    /// Peers on every machine (each machine runs as many).
    pub fn world(&self) -> usize {
        self.nodes.as_ref().map_or(1, |nodes| nodes.nodes) * self.devices
    }

    fn node_rank(&self) -> usize {
        self.nodes.as_ref().map_or(0, |nodes| nodes.node_rank)
    }

    /// Burn's settings for this peer's machine.
    fn collective_config(&self) -> CollectiveConfig {
        let config = CollectiveConfig::default().with_num_devices(self.devices);
        let Some(nodes) = &self.nodes else {
            return config;
        };
        let websocket = |host_port: String| {
            Address::from_str(&format!("ws://{host_port}")).expect("any string is an address")
        };
        config
            .with_num_nodes(nodes.nodes as u32)
            .with_global_address(websocket(nodes.coordinator.clone()))
            .with_node_address(websocket(format!("{}:{}", nodes.address, nodes.data_port)))
            .with_data_service_port(nodes.data_port)
    }
}

/// One machine of a run on several (`--nodes`).
#[derive(Debug, Clone)]
pub struct NodeSetup {
    /// Machines in the run.
    pub nodes: usize,
    /// This machine's place, `0..nodes`: its peers' ranks follow those of the machines before.
    pub node_rank: usize,
    /// `HOST:PORT` of the coordinator every machine registers with (`selfsup coordinator`).
    pub coordinator: String,
    /// This machine's host name or address as the other machines reach it.
    pub address: String,
    /// The port this machine's peers exchange tensors on. Burn's server listens on it on every
    /// interface, unauthenticated: a private network only.
    pub data_port: u16,
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
    /// Registers this peer on `device`; returns once every peer of the run has registered
    /// (or fails after the timeout). On one machine only loopback is used: nothing listens on
    /// the network. On several, this machine's peers reach the coordinator and the other
    /// machines, and listen on `NodeSetup::data_port`.
    pub fn register(setup: PeerSetup, device: B::Device) -> Result<Self, CollectiveError> {
        let id = PeerId::from(setup.global_rank());
        let config = setup.collective_config();
        let rank = setup.global_rank();
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
        bounded(
            "finish",
            self.setup.global_rank(),
            self.setup.timeout,
            move || burn_collective::finish_collective::<B>(id),
        )
    }
}

impl<B: Backend> Collective<B> for BurnPeer<B> {
    fn rank(&self) -> usize {
        self.setup.global_rank()
    }

    fn world(&self) -> usize {
        self.setup.world()
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
            self.setup.global_rank(),
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
        // The engine's server task ends when a connection to another machine breaks.
        Ok(Err(burn_collective::CollectiveError::LocalServerMissing)) => {
            Err(CollectiveError::Lost { operation, rank })
        }
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
