//! Issue 15: initial weights are a pure function of the seed, whatever other threads of the
//! process initialise at the same time. Before the fix, `init_portable` reseeded the CPU
//! backend's process-wide generator outside its lock, so a thread's seed could land between
//! another thread's draws: the float64 gradient tests then built their f32 and f64 models from
//! different weights on some runs.

use std::sync::{Arc, Barrier};
use std::thread;

use burn::backend::{Autodiff, Flex};
use burn::store::ModuleSnapshot;
use selfsup_backbones::{Encoder, ResNetConfig, seeded_module};
use selfsup_train::config::Config;
use selfsup_train::methods::{
    DataInfo, InstDisc, Method, Moco, Simclr, Wcl, init_portable, init_portable_module,
};

type Cpu = Autodiff<Flex>;

/// Every tensor of `module`, by path, as raw bytes: equal means bit-identical.
type Weights = Vec<(String, Vec<u8>)>;

fn weights<M: ModuleSnapshot<Cpu>>(module: &M) -> Weights {
    let mut weights: Weights = module
        .collect(None, None, false)
        .into_iter()
        .map(|snapshot| {
            let data = snapshot.to_data().unwrap();
            (snapshot.full_path(), data.bytes.to_vec())
        })
        .collect();
    weights.sort();
    weights
}

fn config(method: &str, seed: u64) -> Config {
    let text = format!("method = \"{method}\"\nseed = {seed}\n[model]\nwidth = 4\n");
    Config::from_toml(&text, method, &[]).unwrap()
}

const DATA: DataInfo = DataInfo {
    channels: 1,
    train_len: 64,
};

fn method_weights<M: Method<Cpu>>(config: &Config) -> Weights {
    weights(&init_portable::<Cpu, M>(config, &DATA, &Default::default()).unwrap())
}

/// What other threads do meanwhile: initialise other methods from other seeds, the way
/// distillation draws a student, and the way the evaluation tests draw an encoder.
fn other_work(thread: usize, round: usize) {
    let seed = 1000 + (thread * 31 + round) as u64;
    match thread % 4 {
        0 => drop(method_weights::<InstDisc<Cpu>>(&config("instdisc", seed))),
        1 => drop(method_weights::<Moco<Cpu>>(&config("moco", seed))),
        2 => {
            let resnet = ResNetConfig::resnet18().with_width(2).with_in_channels(1);
            let student = init_portable_module(
                seed,
                |host| Encoder::single(resnet.init(host)),
                || Encoder::single(resnet.init::<Cpu>(&Default::default())),
            )
            .unwrap();
            drop(weights(&student));
        }
        _ => {
            let encoder = seeded_module::<Cpu, _>(&Default::default(), seed, |device| {
                ResNetConfig::resnet18().with_width(2).init(device)
            });
            drop(weights(&encoder));
        }
    }
}

/// `threads` threads initialise the method of `config` at the same moment while as many others
/// do other initialisations; every one of the former must get the weights a lone thread gets.
fn same_weights_in_every_thread<M: Method<Cpu>>(method: &str, threads: usize, rounds: usize) {
    let config = config(method, 7);
    let alone = method_weights::<M>(&config);
    assert!(alone.len() > 40, "{method}: {} tensors", alone.len());
    for round in 0..rounds {
        let start = Arc::new(Barrier::new(2 * threads));
        let same: Vec<_> = (0..threads)
            .map(|_| {
                let (start, config) = (start.clone(), config.clone());
                thread::spawn(move || {
                    start.wait();
                    method_weights::<M>(&config)
                })
            })
            .collect();
        let others: Vec<_> = (0..threads)
            .map(|thread| {
                let start = start.clone();
                thread::spawn(move || {
                    start.wait();
                    other_work(thread, round);
                })
            })
            .collect();
        for other in others {
            other.join().unwrap();
        }
        for (thread, handle) in same.into_iter().enumerate() {
            let got = handle.join().unwrap();
            let first_difference = alone
                .iter()
                .zip(&got)
                .find(|(want, got)| want != got)
                .map(|(want, _)| want.0.clone());
            assert!(
                got == alone,
                "{method}, round {round}, thread {thread}: weights differ from a lone \
                 initialisation (first at {first_difference:?})"
            );
        }
    }
}

#[test]
fn simclr_weights_are_the_same_in_every_thread() {
    same_weights_in_every_thread::<Simclr<Cpu>>("simclr", 6, 8);
}

#[test]
fn wcl_weights_are_the_same_in_every_thread() {
    same_weights_in_every_thread::<Wcl<Cpu>>("wcl", 6, 8);
}

/// InstDisc draws its memory bank eagerly, on the device as well as on the host.
#[test]
fn instdisc_weights_are_the_same_in_every_thread() {
    same_weights_in_every_thread::<InstDisc<Cpu>>("instdisc", 6, 8);
}
