//! Two peers on the one CPU device, in threads (`selfsup pretrain --devices 0,0`), each with
//! half of every batch, against one device with the whole batch: with `model.sync_bn = true`
//! and `train.gather = "grad"` the two must take the same steps, for SimCLR, WCL, SwAV and
//! MoCo. Per-step losses and the
//! parameters after 3 steps agree within 1e-5 (relative), and the two peers hold the very
//! same parameters after every step.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use burn::backend::{Autodiff, Flex};
use burn::module::{ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use selfsup_augment::NeighbourCrops;
use selfsup_distributed::{
    BurnPeer, Collective, GatherGradient, PeerSetup, Shared, Solo, StepPeers, reset_engine,
};
use selfsup_train::config::{Config, MethodKind};
use selfsup_train::knn_crops;
use selfsup_train::methods::{
    Cmc, DataInfo, InstDisc, Method, Moco, Simclr, StepBatch, Swav, Wcl, init_portable,
};
use selfsup_train::optimizer::sgd;
use selfsup_train::step::{StepOutcome, train_step};
use selfsup_weaklabel::weak_label_mask;

type A = Autodiff<Flex>;

const STEPS: usize = 3;
const BATCH: usize = 32;
const SIDE: usize = 12;
const PEERS: usize = 2;

/// Burn's collective engine is one per process and backend: the tests take turns.
fn engine() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    reset_engine::<Flex>();
    turn
}

/// `method`'s config for the comparison; `section` adds its own keys (`[swav]\n...`).
fn config(method: &str, section: &str) -> Config {
    let text = format!(
        "method = \"{method}\"\nseed = 11\n\
         [model]\nwidth = 8\nproj_hidden_dim = 16\nproj_output_dim = 8\nsync_bn = true\n\
         [train]\nbatch_size = {BATCH}\nlr = 0.001\nweight_decay = 1e-4\ngather = \"grad\"\n\
         {section}"
    );
    Config::from_toml(&text, "test.toml", &[]).expect("a valid config")
}

/// The training set: 64 images (memory-bank rows), RGB for CMC (its Lab views), else gray.
fn data(config: &Config) -> DataInfo {
    DataInfo {
        channels: if config.method == MethodKind::Cmc {
            3
        } else {
            1
        },
        train_len: 64,
    }
}

/// The `views` views of step `step`'s whole batch: `[BATCH, channels, SIDE, SIDE]` each,
/// uniform noise.
fn whole_batch(step: usize, views: usize, channels: usize) -> Vec<Tensor<A, 4>> {
    let device = Default::default();
    (0..views)
        .map(|view| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64((step * views + view) as u64);
            let values: Vec<f32> = (0..BATCH * channels * SIDE * SIDE)
                .map(|_| rand::Rng::random_range(&mut rng, -1.0f32..1.0))
                .collect();
            let shape = [BATCH, channels, SIDE, SIDE];
            Tensor::from_data(TensorData::new(values, shape), &device)
        })
        .collect()
}

/// The training-set indices of step `step`'s whole batch: distinct, and other rows each step.
fn batch_indices(step: usize) -> Vec<usize> {
    (0..BATCH).map(|i| (step * 7 + i * 2) % 64).collect()
}

/// What a run of `STEPS` steps gives: each step's loss, the parameters after each step, and
/// the state that is no parameter after the last (memory banks, queues, batch norm's running
/// statistics).
struct Trace {
    losses: Vec<f64>,
    parameters: Vec<Vec<Vec<f32>>>,
    state: Vec<Vec<f32>>,
}

/// `STEPS` steps of `M` as peer `peers.rank()` of `peers.world()`, on its share of each batch.
fn train<M: Method<A>>(
    config: &Config,
    collective: Shared<Flex>,
    step_peers: StepPeers<A>,
) -> Trace {
    let device = Default::default();
    let data = data(config);
    let mut model = init_portable::<A, M>(config, &data, &device).expect("initial weights");
    let mut optimizer = sgd(&config.train).init::<A, M>();
    let share = BATCH / collective.world();
    let own = collective.rank() * share..(collective.rank() + 1) * share;
    let mut trace = Trace {
        losses: Vec::new(),
        parameters: Vec::new(),
        state: Vec::new(),
    };
    for step in 0..STEPS {
        let all_indices = batch_indices(step);
        let batch = StepBatch {
            views: whole_batch(step, model.num_views(), data.channels)
                .into_iter()
                .map(|view| view.narrow(0, own.start, own.len()))
                .collect(),
            indices: all_indices[own.clone()].to_vec(),
            all_indices,
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
        )
        .expect("a step");
        let StepOutcome::Updated {
            model: updated,
            loss,
        } = stepped.outcome
        else {
            panic!("step {step} was rejected");
        };
        model = updated;
        trace.losses.push(loss);
        trace.parameters.push(values(&model, true));
    }
    trace.state = values(&model, false);
    trace
}

fn on_one_device<M: Method<A>>(config: &Config) -> Trace {
    train::<M>(config, Arc::new(Solo), StepPeers::alone())
}

/// The traces of `PEERS` peers in threads, in rank order.
fn on_peers<M: Method<A>>(config: &Config, gather: GatherGradient) -> Vec<Trace> {
    let config = config.clone();
    on_two_peers(move |peer| {
        let step_peers = StepPeers::<A>::new(peer.clone())
            .with_gather(gather)
            .with_synced_batch_norm(true);
        train::<M>(&config, peer, step_peers)
    })
}

/// `work` on `PEERS` peers of Burn's engine, one thread each (the engine taken in turn with
/// the other tests); their results in rank order.
fn on_two_peers<T: Send + 'static>(
    work: impl Fn(Arc<BurnPeer<Flex>>) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let _turn = engine();
    let work = Arc::new(work);
    let threads: Vec<_> = (0..PEERS)
        .map(|rank| {
            let work = work.clone();
            std::thread::spawn(move || {
                let setup = PeerSetup {
                    rank,
                    devices: PEERS,
                    timeout: Duration::from_secs(60),
                    nodes: None,
                };
                let peer = Arc::new(
                    BurnPeer::<Flex>::register(setup, Default::default()).expect("registration"),
                );
                let result = work(peer.clone());
                if let Ok(peer) = Arc::try_unwrap(peer) {
                    peer.finish().expect("finish");
                }
                result
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// The values of the tensors that carry a gradient (`trained`: the parameters) or of those
/// that carry none (the state), in visit order.
struct Values {
    trained: bool,
    values: Vec<Vec<f32>>,
}

impl<B: Backend> ModuleVisitor<B> for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        if value.is_require_grad() == self.trained {
            self.values
                .push(value.into_data().convert::<f32>().into_vec().unwrap());
        }
    }
}

fn values<M: burn::module::Module<A>>(model: &M, trained: bool) -> Vec<Vec<f32>> {
    let mut values = Values {
        trained,
        values: Vec::new(),
    };
    model.visit(&mut values);
    values.values
}

/// `||got - want|| / max(||want||, 1)` over each parameter tensor: its largest value. The
/// floor keeps tensors that start at zero and move little in three steps (batch norm's
/// shifts) from turning rounding into large relative differences.
fn largest_relative_difference(got: &[Vec<f32>], want: &[Vec<f32>]) -> f64 {
    got.iter()
        .zip(want)
        .map(|(got, want)| {
            let squared =
                |values: &mut dyn Iterator<Item = f64>| values.map(|v| v * v).sum::<f64>();
            let difference = squared(&mut got.iter().zip(want).map(|(g, w)| f64::from(g - w)));
            (difference / squared(&mut want.iter().map(|&w| f64::from(w))).max(1.0)).sqrt()
        })
        .fold(0.0, f64::max)
}

/// How far two peers' `STEPS` steps are from one device's, relative to the one device's: the
/// largest over the steps' losses, and the largest over the parameters after the last step.
/// The peers' parameters must be the same after every step, and their other state (banks,
/// queues, batch norm statistics) after the last.
fn compare<M: Method<A>>(method: &str, section: &str, gather: GatherGradient) -> Differences {
    let config = config(method, section);
    let one = on_one_device::<M>(&config);
    let peers = on_peers::<M>(&config, gather);
    for step in 0..STEPS {
        let first_difference = peers[0].parameters[step]
            .iter()
            .zip(&peers[1].parameters[step])
            .position(|(a, b)| a != b);
        if let Some(tensor) = first_difference {
            let (a, b) = (
                &peers[0].parameters[step][tensor],
                &peers[1].parameters[step][tensor],
            );
            let largest =
                largest_relative_difference(std::slice::from_ref(a), std::slice::from_ref(b));
            panic!(
                "{method}: the peers' parameters differ after step {}, first in tensor {tensor} \
                 of {} ({} values, relative difference {largest:e})",
                step + 1,
                peers[0].parameters[step].len(),
                a.len()
            );
        }
    }
    // MoCo's key encoder keeps per-peer batch norm statistics (each peer encodes its own
    // shuffle-BN groups); every other state (banks, queues, synchronised statistics) is the
    // same on every peer.
    if method != "moco" {
        assert!(
            peers[0].state == peers[1].state,
            "{method}: the peers' banks, queues or batch norm statistics differ"
        );
    }
    let losses = (0..STEPS)
        .map(|step| (peers[0].losses[step] - one.losses[step]).abs() / one.losses[step].abs())
        .fold(0.0, f64::max);
    Differences {
        losses,
        parameters: largest_relative_difference(
            &peers[0].parameters[STEPS - 1],
            &one.parameters[STEPS - 1],
        ),
        state: (method != "moco").then(|| largest_relative_difference(&peers[0].state, &one.state)),
    }
}

/// How far two peers' steps are from one device's (relative, see [`compare`]).
struct Differences {
    losses: f64,
    parameters: f64,
    /// Not for MoCo, whose key encoder's statistics are each peer's own.
    state: Option<f64>,
}

fn check_equivalent<M: Method<A>>(method: &str, section: &str) {
    let Differences {
        losses,
        parameters,
        state,
    } = compare::<M>(method, section, GatherGradient::Tracked);
    // The figures docs/distributed.md quotes (`-- --nocapture` shows them).
    eprintln!(
        "{method}: relative differences, losses {losses:.1e}, parameters {parameters:.1e}, \
         state {state:?}"
    );
    // Banks and queues hold normalised embeddings, running statistics are blends of batch
    // moments: rounding reaches them in the sixth digit (SwAV's queue: 4.7e-6), a missing
    // peer's rows would change them entirely.
    if let Some(state) = state {
        assert!(
            state <= 1e-4,
            "{method}: banks, queues or batch norm statistics after {STEPS} steps differ by \
             {state:e} (relative) from one device's"
        );
    }
    assert!(
        losses <= 1e-5,
        "{method}: the steps' losses differ by up to {losses:e} (relative)"
    );
    assert!(
        parameters <= 1e-5,
        "{method}: parameters after {STEPS} steps differ by {parameters:e} (relative)"
    );
}

#[test]
fn simclr_on_two_peers_takes_the_one_device_steps() {
    check_equivalent::<Simclr<A>>("simclr", "");
}

#[test]
fn wcl_on_two_peers_takes_the_one_device_steps() {
    check_equivalent::<Wcl<A>>("wcl", "");
}

/// SwAV's Sinkhorn-Knopp sums over every peer's samples, with its queue in use from the
/// second step (32 rows: full after the first step's 32 images; each peer takes 16).
#[test]
fn swav_on_two_peers_takes_the_one_device_steps() {
    check_equivalent::<Swav<A>>(
        "swav",
        "[swav]\nprototypes = 16\nqueue_length = 32\nqueue_start_epoch = 0\n\
         freeze_prototypes_epochs = 0\n",
    );
}

/// MoCo's shuffle-BN: 4 groups of the whole shuffled batch, two on each peer, and every
/// peer's keys in the queue.
#[test]
fn moco_on_two_peers_takes_the_one_device_steps() {
    check_equivalent::<Moco<A>>("moco", "[moco]\nqueue_size = 64\nbn_splits = 4\n");
}

/// InstDisc's memory bank written with every peer's rows, its noise rows the one-device
/// draw, its NCE normaliser (estimated at the first step) averaged over the peers.
#[test]
fn instdisc_on_two_peers_takes_the_one_device_steps() {
    check_equivalent::<InstDisc<A>>("instdisc", "[instdisc]\nnegatives = 16\n");
}

/// CMC's two banks (L and ab) written with every peer's rows.
#[test]
fn cmc_on_two_peers_takes_the_one_device_steps() {
    check_equivalent::<Cmc<A>>("cmc", "[cmc]\nnegatives = 16\n");
}

/// The comparison sees a gradient that is not the one device's: with `train.gather =
/// "detached"` each peer's gradient lacks the other peer's loss through its rows, and the
/// parameters drift apart from the one-device run by far more than the tolerance.
#[test]
fn a_detached_gather_is_not_the_one_device_step() {
    let parameters = compare::<Simclr<A>>("simclr", "", GatherGradient::Detached).parameters;
    eprintln!("simclr, detached gather: parameters differ by {parameters:.1e}");
    assert!(
        parameters > 1e-4,
        "detached gather: parameters differ by only {parameters:e}"
    );
}

/// The weak labels every peer builds from the gathered embeddings are the one device's on
/// the joined batch.
#[test]
fn wcl_weak_labels_on_two_peers_are_the_joined_batch_labels() {
    // Drawn from a generator of its own: Flex's is one for the process, and a draw here while
    // another test's peers draw their initial weights would change theirs.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let values: Vec<f32> = (0..12 * 5)
        .map(|_| rand::Rng::random_range(&mut rng, -1.0f32..1.0))
        .collect();
    let embeddings =
        Tensor::<A, 2>::from_data(TensorData::new(values, [12, 5]), &Default::default());
    let alone: Vec<f32> = weak_label_mask(embeddings.clone())
        .into_data()
        .into_vec()
        .unwrap();
    let joined = embeddings.inner();
    let masks = on_two_peers(move |peer| {
        let share = joined.clone().narrow(0, peer.rank() * 6, 6);
        let gathered = StepPeers::<A>::new(peer).gather_detached(Tensor::from_inner(share));
        weak_label_mask(gathered)
            .into_data()
            .into_vec::<f32>()
            .unwrap()
    });
    for (rank, mask) in masks.into_iter().enumerate() {
        assert_eq!(mask, alone, "peer {rank}'s weak labels");
    }
}

/// WCL's KNN multi-crop table: the first peer's, on every peer, indices above 2^16 included.
#[test]
fn the_neighbour_table_is_the_first_peers_on_every_peer() {
    let (images, k) = (70_000, 2);
    let table: Vec<u32> = (0..images)
        .flat_map(|image| (0..k).map(move |j| ((image + 1 + j * 7919) % images) as u32))
        .collect();
    let expected = table.clone();
    let tables = on_two_peers(move |peer| {
        let own = (peer.rank() == 0).then(|| NeighbourCrops::new(k, table.clone()).unwrap());
        knn_crops::from_first_peer(own, k, images, peer.as_ref(), &Default::default())
            .expect("the table")
            .table()
            .to_vec()
    });
    for (rank, shared) in tables.into_iter().enumerate() {
        assert!(shared == expected, "peer {rank}'s table");
    }
}
