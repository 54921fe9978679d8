//! `selfsup pretrain --devices 0,1,...`: one peer per device, each on a thread of its own, all
//! in this process; with `--nodes N`, one such process per machine. The first peer of the
//! first machine (rank 0) is the run as the user sees it: it evaluates, writes the run
//! directory and shows the progress. The others train their share of every batch, make the
//! same collective calls, and write into a temporary directory that is removed when they
//! finish.

use std::io::IsTerminal;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use selfsup_distributed::{NodeSetup, PeerSetup};
use selfsup_train::Silent;
use selfsup_train::run_dir::{RunDir, Summary};
use selfsup_train::{RunInputs, TrainObserver};
use tracing::info;
use tracing_subscriber::EnvFilter;

use crate::backend::run_on;
use crate::commands::training_job::PretrainJob;
use crate::report::progress::ProgressObserver;

/// The devices of a data-parallel run on this machine, the machines when there are several,
/// and how long a peer waits for the others.
#[derive(Debug, Clone)]
pub struct PeerPlan {
    pub devices: Vec<usize>,
    pub timeout: Duration,
    pub nodes: Option<NodeSetup>,
}

impl PeerPlan {
    /// Peers on every machine.
    pub fn world(&self) -> usize {
        self.setup(0).world()
    }

    /// Whether this machine runs the first peer, which writes the run directory.
    pub fn leads(&self) -> bool {
        self.setup(0).global_rank() == 0
    }

    /// The setup of this machine's peer `rank`.
    fn setup(&self, rank: usize) -> PeerSetup {
        PeerSetup {
            rank,
            devices: self.devices.len(),
            timeout: self.timeout,
            nodes: self.nodes.clone(),
        }
    }
}

/// Runs this machine's peers of `plan`. On the machine that leads, the first peer writes
/// `run_dir` and its summary is returned; on the others `run_dir` is `None` and so is the
/// result.
pub fn run(
    inputs: &RunInputs,
    run_dir: Option<&mut RunDir>,
    plan: &PeerPlan,
) -> Result<Option<Summary>> {
    let world = plan.world();
    let batch = inputs.config.train.batch_size;
    if !batch.is_multiple_of(world) {
        bail!(
            "train.batch_size = {batch} cannot be split evenly between the {world} devices of \
             the run (--devices{}); use a multiple of {world}",
            if plan.nodes.is_some() {
                " on each of --nodes"
            } else {
                ""
            }
        );
    }
    log_peers(plan, batch);
    let followers: Vec<JoinHandle<Result<()>>> = (1..plan.devices.len())
        .map(|rank| spawn_follower(inputs, plan, rank))
        .collect::<Result<_>>()?;
    let summary = match run_dir {
        Some(run_dir) => {
            let mut observer = ProgressObserver::default();
            Some(run_peer(inputs, run_dir, plan, 0, &mut observer)?)
        }
        None => {
            let (own, mut scratch) = follower_inputs(inputs, 0)?;
            run_peer(&own, &mut scratch.run_dir, plan, 0, &mut Silent)?;
            None
        }
    };
    for (rank, follower) in (1..).zip(followers) {
        follower
            .join()
            .map_err(|_| anyhow::anyhow!("peer {rank} panicked"))?
            .with_context(|| format!("peer {rank}"))?;
    }
    Ok(summary)
}

/// The run's shape and every peer of this machine.
fn log_peers(plan: &PeerPlan, batch: usize) {
    let world = plan.world();
    match &plan.nodes {
        None => info!(
            world,
            devices = ?plan.devices,
            per_device_batch = batch / world,
            "data-parallel run: one peer per device on this machine, loopback only"
        ),
        Some(nodes) => info!(
            world,
            nodes = nodes.nodes,
            node_rank = nodes.node_rank,
            coordinator = %nodes.coordinator,
            node_address = %format!("{}:{}", nodes.address, nodes.data_port),
            devices = ?plan.devices,
            per_device_batch = batch / world,
            "data-parallel run on several machines (unauthenticated traffic: private network \
             only)"
        ),
    }
    for (rank, device) in plan.devices.iter().enumerate() {
        let global_rank = plan.setup(rank).global_rank();
        info!(rank = global_rank, device, thread = %peer_thread(rank), "peer");
    }
}

/// This machine's peer `rank` on device `plan.devices[rank]`.
fn run_peer(
    inputs: &RunInputs,
    run_dir: &mut RunDir,
    plan: &PeerPlan,
    rank: usize,
    observer: &mut dyn TrainObserver,
) -> Result<Summary> {
    let setup = plan.setup(rank);
    run_on(
        inputs.config.backend,
        Some(plan.devices[rank]),
        PretrainJob {
            inputs,
            run_dir,
            peer: Some(setup),
            observer,
        },
    )
}

/// The thread a peer runs on (the first peer runs on the caller's).
fn peer_thread(rank: usize) -> String {
    if rank == 0 {
        "main".to_string()
    } else {
        format!("selfsup-peer-{rank}")
    }
}

/// A follower's run directory, under the system's temporary directory, removed with it.
struct Scratch {
    run_dir: RunDir,
    _dir: tempfile::TempDir,
}

/// A follower's own copy of the inputs, without the evaluation sets (only the first peer
/// measures kNN), and a scratch run directory for its checkpoints.
fn follower_inputs(inputs: &RunInputs, rank: usize) -> Result<(RunInputs, Scratch)> {
    let own = RunInputs {
        config: inputs.config.clone(),
        backend_name: inputs.backend_name.clone(),
        dataset_name: inputs.dataset_name.clone(),
        pretrain_set: inputs.pretrain_set.clone(),
        eval_sets: None,
        resume: inputs.resume.clone(),
        stop_after_epoch: inputs.stop_after_epoch,
        stop: inputs.stop.clone(),
    };
    let dir = tempfile::Builder::new()
        .prefix(&format!("selfsup-peer-{rank}-"))
        .tempdir()
        .context("creating a directory for a peer's checkpoints")?;
    let run_dir = RunDir::create(&dir.path().join("run"), &own.config)
        .with_context(|| format!("peer {rank}'s run directory"))?;
    Ok((own, Scratch { run_dir, _dir: dir }))
}

/// A peer after the first of this machine, on a thread of its own: no progress output, and
/// only its warnings and errors logged (the first peer's lines say what every peer does),
/// with its thread's name.
fn spawn_follower(
    inputs: &RunInputs,
    plan: &PeerPlan,
    rank: usize,
) -> Result<JoinHandle<Result<()>>> {
    let (own, mut scratch) = follower_inputs(inputs, rank)?;
    let plan = plan.clone();
    std::thread::Builder::new()
        .name(peer_thread(rank))
        .spawn(move || {
            let quiet = tracing_subscriber::fmt()
                .with_env_filter(EnvFilter::new("warn"))
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_thread_names(true)
                .with_target(false)
                .finish();
            tracing::subscriber::with_default(quiet, || {
                run_peer(&own, &mut scratch.run_dir, &plan, rank, &mut Silent)
            })
            .map(|_| ())
        })
        .context("starting a peer's thread")
}
