//! `selfsup pretrain --devices 0,1,...`: one peer per device, each on a thread of its own, all
//! in this process. The first peer (rank 0) is the run as the user sees it: it evaluates,
//! writes the run directory and shows the progress. The others train their share of every
//! batch, make the same collective calls, and write into a temporary directory that is
//! removed when they finish.

use std::io::IsTerminal;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use selfsup_distributed::PeerSetup;
use selfsup_train::Silent;
use selfsup_train::run_dir::{RunDir, Summary};
use selfsup_train::{RunInputs, TrainObserver};
use tracing::info;
use tracing_subscriber::EnvFilter;

use crate::backend::run_on;
use crate::commands::training_job::PretrainJob;
use crate::report::progress::ProgressObserver;

/// The devices of a data-parallel run on this machine, and how long a peer waits for the
/// others.
#[derive(Debug, Clone)]
pub struct PeerPlan {
    pub devices: Vec<usize>,
    pub timeout: Duration,
}

/// Runs every peer of `plan` and returns the first peer's summary.
pub fn run(inputs: &RunInputs, run_dir: &mut RunDir, plan: &PeerPlan) -> Result<Summary> {
    let world = plan.devices.len();
    let batch = inputs.config.train.batch_size;
    if !batch.is_multiple_of(world) {
        bail!(
            "train.batch_size = {batch} cannot be split evenly between the {world} devices of \
             --devices; use a multiple of {world}"
        );
    }
    info!(
        world,
        devices = ?plan.devices,
        per_device_batch = batch / world,
        "data-parallel run: one peer per device on this machine, loopback only"
    );
    for (rank, device) in plan.devices.iter().enumerate() {
        info!(rank, device, thread = %peer_thread(rank), "peer");
    }
    let followers: Vec<JoinHandle<Result<()>>> = (1..world)
        .map(|rank| spawn_follower(inputs, plan, rank))
        .collect::<Result<_>>()?;
    let mut observer = ProgressObserver::default();
    let summary = run_peer(inputs, run_dir, plan, 0, &mut observer)?;
    for (rank, follower) in (1..).zip(followers) {
        follower
            .join()
            .map_err(|_| anyhow::anyhow!("peer {rank} panicked"))?
            .with_context(|| format!("peer {rank}"))?;
    }
    Ok(summary)
}

/// Peer `rank` on device `plan.devices[rank]`.
fn run_peer(
    inputs: &RunInputs,
    run_dir: &mut RunDir,
    plan: &PeerPlan,
    rank: usize,
    observer: &mut dyn TrainObserver,
) -> Result<Summary> {
    let setup = PeerSetup {
        rank,
        devices: plan.devices.len(),
        timeout: plan.timeout,
    };
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

/// A peer after the first: its own copy of the inputs without the evaluation sets (only the
/// first peer measures kNN), a run directory of its own under the system's temporary
/// directory, no progress output, and only its warnings and errors logged (the first peer's
/// lines say what every peer does), with its thread's name.
fn spawn_follower(
    inputs: &RunInputs,
    plan: &PeerPlan,
    rank: usize,
) -> Result<JoinHandle<Result<()>>> {
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
    let plan = plan.clone();
    let scratch = tempfile::Builder::new()
        .prefix(&format!("selfsup-peer-{rank}-"))
        .tempdir()
        .context("creating a directory for a peer's checkpoints")?;
    let mut run_dir = RunDir::create(&scratch.path().join("run"), &own.config)
        .with_context(|| format!("peer {rank}'s run directory"))?;
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
            let result = tracing::subscriber::with_default(quiet, || {
                run_peer(&own, &mut run_dir, &plan, rank, &mut Silent)
            });
            drop(scratch);
            result.map(|_| ())
        })
        .context("starting a peer's thread")
}
