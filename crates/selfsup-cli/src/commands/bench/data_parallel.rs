//! `--sections data-parallel`: what Burn's collective engine costs a train step. The step on
//! one CPU device against two peers sharing it, as threads of one process (`--devices 0,0`)
//! and as two processes on 127.0.0.1 with the coordinator (`--nodes 2`), at the same global
//! batch; for each, the median step time and the median time inside collective calls (the
//! gradient average, the losses' gathers). On two cores two peers cannot be faster than one:
//! this shows the engine's overhead, not a speed-up.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use selfsup_distributed::{
    BurnPeer, Collective, CollectiveError, NodeSetup, PeerSetup, Reduce, Shared, Solo, StepPeers,
    reset_engine,
};
use selfsup_train::HostBackend;
use selfsup_train::methods::{DataInfo, Method, MethodJob, StepBatch, init_portable, with_method};
use selfsup_train::optimizer::sgd;
use selfsup_train::step::{StepOutcome, train_step};
use serde::{Deserialize, Serialize};

use super::args::{BenchArgs, MachineArgs};
use super::stats::median;
use crate::config::{Config, config_name};

/// The CPU backend's inner (non-autodiff) backend, which the collectives move.
type Inner = <HostBackend as burn::tensor::backend::AutodiffBackend>::InnerBackend;

/// Peers of the two-peer rows.
const PEERS: usize = 2;

/// How the peers of a row run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Launch {
    /// One device, no collectives.
    OneDevice,
    /// Threads of one process (`--devices 0,0`).
    Threads,
    /// Processes on 127.0.0.1 with the coordinator (`--nodes 2`).
    Processes,
}

/// One row: the first peer's step and collective times.
#[derive(Debug, Clone, Serialize)]
pub struct ParallelResult {
    pub method: String,
    pub width: usize,
    /// The global batch: every peer's share together.
    pub batch_size: usize,
    pub peers: usize,
    pub launch: Launch,
    /// Source images of the global batch per second: batch size / median step time.
    pub images_per_sec: f64,
    pub median_step_seconds: f64,
    /// Time inside collective calls per step (the gradient average, the losses' gathers).
    pub median_collective_seconds: f64,
    pub step_seconds: Vec<f64>,
    pub collective_seconds: Vec<f64>,
}

/// One peer's timings, as a machine process prints them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PeerTimes {
    step_seconds: Vec<f64>,
    collective_seconds: Vec<f64>,
}

/// Every row of the section: for each method and width, one device, then two peers in threads,
/// then two peers in processes.
pub fn measure(args: &BenchArgs, base: &Config) -> Result<Vec<ParallelResult>> {
    let mut rows = Vec::new();
    for &method in &args.methods {
        for &width in &args.widths {
            let config = row_config(base, args, method, width)?;
            for launch in [Launch::OneDevice, Launch::Threads, Launch::Processes] {
                let times = match launch {
                    Launch::OneDevice => one_device(&config, args)?,
                    Launch::Threads => in_threads(&config, args)?,
                    Launch::Processes => in_processes(args, method, width)?,
                };
                let row = result(&config, launch, times)?;
                print_row(&row);
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

/// A machine process of the processes row (`--machine R`): its peer's timings as one JSON
/// line on stdout.
pub fn run_machine(args: &BenchArgs, base: &Config, machine: &MachineArgs) -> Result<()> {
    let (&method, &width) = args
        .methods
        .first()
        .zip(args.widths.first())
        .context("--machine needs one method and one width")?;
    let config = row_config(base, args, method, width)?;
    let setup = PeerSetup {
        rank: 0,
        devices: 1,
        timeout: Duration::from_secs(120),
        nodes: Some(NodeSetup {
            nodes: machine.machines,
            node_rank: machine.machine,
            coordinator: machine.coordinator.clone(),
            address: "127.0.0.1".into(),
            data_port: machine.data_port,
        }),
    };
    let peer = BurnPeer::<Inner>::register(setup, Default::default())?;
    let times = peer_times(&config, args, Arc::new(Timed::new(Arc::new(peer))))?;
    println!("{}", serde_json::to_string(&times)?);
    Ok(())
}

fn row_config(
    base: &Config,
    args: &BenchArgs,
    method: crate::config::MethodKind,
    width: usize,
) -> Result<Config> {
    let mut config = base.clone();
    config.method = method;
    config.model.width = width;
    config.train.batch_size = args.batch_size;
    config.validate()?;
    Ok(config)
}

fn result(config: &Config, launch: Launch, times: PeerTimes) -> Result<ParallelResult> {
    let median_step_seconds = median(&mut times.step_seconds.clone());
    Ok(ParallelResult {
        method: config_name(config.method)?,
        width: config.model.width,
        batch_size: config.train.batch_size,
        peers: if launch == Launch::OneDevice {
            1
        } else {
            PEERS
        },
        launch,
        images_per_sec: config.train.batch_size as f64 / median_step_seconds,
        median_step_seconds,
        median_collective_seconds: median(&mut times.collective_seconds.clone()),
        step_seconds: times.step_seconds,
        collective_seconds: times.collective_seconds,
    })
}

fn print_row(r: &ParallelResult) {
    println!(
        "parallel {:<7} width {:>3} batch {:>4} | {} peer(s), {:<11} | {:>8.1} img/s | step {:>7.3} s | collectives {:>7.3} s",
        r.method,
        r.width,
        r.batch_size,
        r.peers,
        format!("{:?}", r.launch),
        r.images_per_sec,
        r.median_step_seconds,
        r.median_collective_seconds,
    );
}

fn one_device(config: &Config, args: &BenchArgs) -> Result<PeerTimes> {
    peer_times(config, args, Arc::new(Timed::new(Arc::new(Solo))))
}

/// Two peers in threads on the one CPU device; the first peer's timings.
fn in_threads(config: &Config, args: &BenchArgs) -> Result<PeerTimes> {
    reset_engine::<Inner>();
    let threads: Vec<_> = (0..PEERS)
        .map(|rank| {
            let (config, args) = (config.clone(), args.clone());
            std::thread::spawn(move || -> Result<PeerTimes> {
                let setup = PeerSetup {
                    rank,
                    devices: PEERS,
                    timeout: Duration::from_secs(120),
                    nodes: None,
                };
                let peer = Arc::new(BurnPeer::<Inner>::register(setup, Default::default())?);
                let times = peer_times(&config, &args, Arc::new(Timed::new(peer.clone())))?;
                if let Ok(peer) = Arc::try_unwrap(peer) {
                    peer.finish()?;
                }
                Ok(times)
            })
        })
        .collect();
    let mut first = None;
    for thread in threads {
        let times = thread
            .join()
            .map_err(|_| anyhow!("a benchmark peer panicked"))??;
        first.get_or_insert(times);
    }
    first.context("no peer")
}

/// Two machine processes of this binary and the coordinator on 127.0.0.1; the first
/// machine's timings.
fn in_processes(
    args: &BenchArgs,
    method: crate::config::MethodKind,
    width: usize,
) -> Result<PeerTimes> {
    let binary = std::env::current_exe().context("finding this binary")?;
    let coordinator_port = free_port()?;
    let coordinator = Stopped(
        Command::new(&binary)
            .args(["coordinator", "--port", &coordinator_port.to_string()])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the coordinator")?,
    );
    std::thread::sleep(Duration::from_millis(300));
    let machines: Vec<Child> = (0..PEERS)
        .map(|machine| {
            Command::new(&binary)
                .args(machine_args(
                    args,
                    method,
                    width,
                    machine,
                    coordinator_port,
                )?)
                .env("RUST_LOG", "error")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("starting a machine process")
        })
        .collect::<Result<_>>()?;
    let mut first = None;
    for (machine, child) in machines.into_iter().enumerate() {
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!(
                "benchmark machine {machine} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let line = String::from_utf8_lossy(&output.stdout);
        let times: PeerTimes = serde_json::from_str(line.lines().last().unwrap_or_default())
            .with_context(|| format!("machine {machine}'s timings: {line}"))?;
        first.get_or_insert(times);
    }
    drop(coordinator);
    first.context("no machine")
}

fn machine_args(
    args: &BenchArgs,
    method: crate::config::MethodKind,
    width: usize,
    machine: usize,
    coordinator_port: u16,
) -> Result<Vec<String>> {
    Ok([
        "bench".to_string(),
        "--sections".into(),
        "data-parallel".into(),
        "--backends".into(),
        "cpu".into(),
        "--methods".into(),
        config_name(method)?,
        "--widths".into(),
        width.to_string(),
        "--batch-size".into(),
        args.batch_size.to_string(),
        "--steps".into(),
        args.steps.to_string(),
        "--warmup-steps".into(),
        args.warmup_steps.to_string(),
        "--machine".into(),
        machine.to_string(),
        "--machines".into(),
        PEERS.to_string(),
        "--coordinator".into(),
        format!("127.0.0.1:{coordinator_port}"),
        "--data-port".into(),
        free_port()?.to_string(),
    ]
    .to_vec())
}

/// A child process killed when this goes out of scope.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A collective that adds up the time its calls take.
#[derive(Debug)]
struct Timed {
    inner: Shared<Inner>,
    spent: Mutex<Duration>,
}

impl Timed {
    fn new(inner: Shared<Inner>) -> Self {
        Self {
            inner,
            spent: Mutex::new(Duration::ZERO),
        }
    }

    fn spent(&self) -> Duration {
        *self.spent.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Collective<Inner> for Timed {
    fn rank(&self) -> usize {
        self.inner.rank()
    }

    fn world(&self) -> usize {
        self.inner.world()
    }

    fn all_reduce(
        &self,
        tensor: Tensor<Inner, 1>,
        reduce: Reduce,
    ) -> Result<Tensor<Inner, 1>, CollectiveError> {
        let started = Instant::now();
        let result = self.inner.all_reduce(tensor, reduce);
        // The sum is read when it is used; waiting for it here keeps its time in this call.
        let result = result.inspect(|sum| {
            let _ = Inner::sync(&sum.device());
        });
        *self.spent.lock().unwrap_or_else(|e| e.into_inner()) += started.elapsed();
        result
    }

    fn failure(&self) -> Option<CollectiveError> {
        self.inner.failure()
    }
}

/// The timed steps of `config`'s method as peer `timed.rank()` of `timed.world()`.
fn peer_times(config: &Config, args: &BenchArgs, timed: Arc<Timed>) -> Result<PeerTimes> {
    with_method(
        config.method,
        PeerSteps {
            config,
            args,
            timed,
        },
    )
}

struct PeerSteps<'a> {
    config: &'a Config,
    args: &'a BenchArgs,
    timed: Arc<Timed>,
}

impl MethodJob<HostBackend> for PeerSteps<'_> {
    type Output = Result<PeerTimes>;

    fn run<M: Method<HostBackend>>(self) -> Result<PeerTimes> {
        peer_steps::<M>(self.config, self.args, self.timed)
    }
}

/// Training images the memory-bank methods size their banks for (Fashion-MNIST's).
const BANK_ROWS: usize = 60_000;

/// This peer's share of a synthetic 28x28 batch, `args.warmup_steps` untimed steps, then
/// `args.steps` timed ones: each step's time and its time in collective calls.
fn peer_steps<M: Method<HostBackend>>(
    config: &Config,
    args: &BenchArgs,
    timed: Arc<Timed>,
) -> Result<PeerTimes> {
    let device = Default::default();
    let (rank, world) = (timed.rank(), timed.world());
    let batch = config.train.batch_size;
    if !batch.is_multiple_of(world) {
        bail!("--batch-size {batch} cannot be split between {world} peers");
    }
    let share = batch / world;
    let data = DataInfo {
        channels: 1,
        train_len: BANK_ROWS,
    };
    let mut model = init_portable::<HostBackend, M>(config, &data, &device)?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let image = 28 * 28;
    let views: Vec<Vec<f32>> = (0..model.num_views())
        .map(|_| {
            let whole: Vec<f32> = (0..batch * image)
                .map(|_| rng.random_range(-1.0f32..1.0))
                .collect();
            whole[rank * share * image..(rank + 1) * share * image].to_vec()
        })
        .collect();
    let collective: Shared<Inner> = timed.clone();
    let step_peers = StepPeers::<HostBackend>::new(collective.clone())
        .with_synced_batch_norm(config.model.sync_bn);
    let mut optimizer = sgd(&config.train).init::<HostBackend, M>();
    let mut times = PeerTimes::default();
    for step in 0..args.warmup_steps + args.steps {
        let started = Instant::now();
        let before = timed.spent();
        let batch = StepBatch {
            views: views
                .iter()
                .map(|v| Tensor::from_data(TensorData::new(v.clone(), [share, 1, 28, 28]), &device))
                .collect(),
            indices: (rank * share..(rank + 1) * share).collect(),
            all_indices: (0..batch).collect(),
            seed: config.seed,
            step,
            peers: step_peers.clone(),
        };
        let stepped = train_step(
            model,
            &mut optimizer,
            &batch,
            config.train.lr,
            collective.as_ref(),
            false,
        )?;
        model = match stepped.outcome {
            StepOutcome::Updated { model, .. } => model,
            StepOutcome::Rejected { reason, .. } => bail!("{reason} in the benchmark"),
        };
        if step >= args.warmup_steps {
            times.step_seconds.push(started.elapsed().as_secs_f64());
            times
                .collective_seconds
                .push((timed.spent() - before).as_secs_f64());
        }
    }
    Ok(times)
}
