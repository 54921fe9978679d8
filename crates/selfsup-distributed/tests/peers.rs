//! Two and three peers on the one CPU device, in threads, as `selfsup pretrain --devices 0,0`
//! runs them: all-reduce, gathers, the gather's gradient against a float64 reference, the
//! gradient average, and the errors (a peer that never comes, peers that disagree).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use burn::backend::{Autodiff, Flex};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};
use selfsup_distributed::{
    BurnPeer, CollectiveError, PeerSetup, Reduce, Shared, TrackedCollective, all_reduce_gradients,
    check_same_values, gather_rows_detached, reset_engine,
};

type B = Flex;
type A = Autodiff<Flex>;

/// Burn's collective engine is one per process and backend: the tests take turns.
fn engine() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    reset_engine::<B>();
    turn
}

fn setup(rank: usize, devices: usize) -> PeerSetup {
    PeerSetup {
        rank,
        devices,
        timeout: Duration::from_secs(20),
        nodes: None,
    }
}

/// Runs `work` on `world` peers, one thread each, and returns their results in rank order.
fn on_peers<T: Send + 'static>(
    world: usize,
    work: impl Fn(Shared<B>) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let work = Arc::new(work);
    let threads: Vec<_> = (0..world)
        .map(|rank| {
            let work = work.clone();
            std::thread::spawn(move || {
                let peer = Arc::new(
                    BurnPeer::<B>::register(setup(rank, world), Default::default())
                        .expect("registration"),
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

fn values<const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().into_vec().unwrap()
}

fn rows(rank: usize, n: usize, d: usize) -> Vec<f32> {
    (0..n * d)
        .map(|i| ((rank * 31 + i * 7) % 13) as f32 / 4.0 - 1.5)
        .collect()
}

#[test]
fn all_reduce_sums_and_averages_over_the_peers() {
    let _turn = engine();
    let results = on_peers(3, |peer| {
        let rank = peer.rank() as f32;
        let x = Tensor::<B, 1>::from_floats([rank, 10.0 * rank + 1.0], &Default::default());
        let sum = values(peer.all_reduce(x.clone(), Reduce::Sum).unwrap());
        let mean = values(peer.all_reduce(x, Reduce::Mean).unwrap());
        (sum, mean)
    });
    for (sum, mean) in results {
        assert_eq!(sum, vec![3.0, 33.0]);
        assert_eq!(mean, vec![1.0, 11.0]);
    }
}

/// Three peers on one device add up in rank order every time: 1e8 + 1 - 1e8 is 0 in f32 in
/// that order and 1 in some others, which Burn 0.21's engine took from a hash map's order
/// (patched in third_party/burn-collective). Ten sessions, each with fresh hash maps.
#[test]
fn three_peers_on_one_device_sum_in_rank_order_every_time() {
    let _turn = engine();
    for session in 0..10 {
        let results = on_peers(3, |peer| {
            let value = [1.0e8f32, 1.0, -1.0e8][peer.rank()];
            let x = Tensor::<B, 1>::from_floats([value], &Default::default());
            values(peer.all_reduce(x, Reduce::Sum).unwrap())
        });
        for (rank, sum) in results.into_iter().enumerate() {
            assert_eq!(sum, vec![0.0], "session {session}, peer {rank}");
        }
        reset_engine::<B>();
    }
}

#[test]
fn gather_stacks_every_peers_rows_in_rank_order() {
    let _turn = engine();
    let (n, d) = (3, 4);
    let results = on_peers(2, move |peer| {
        let x = Tensor::<B, 2>::from_data(
            TensorData::new(rows(peer.rank(), n, d), [n, d]),
            &Default::default(),
        );
        values(gather_rows_detached(peer.as_ref(), x).unwrap())
    });
    let expected: Vec<f32> = (0..2).flat_map(|rank| rows(rank, n, d)).collect();
    for gathered in results {
        assert_eq!(gathered, expected);
    }
}

/// Peer `r`'s loss is `sum_ij c_r[i][j] * G[i][j]^2` over the gathered `G`, so the gradient of
/// the total loss with respect to peer `s`'s row values is `sum_r 2 c_r[block s] * x_s`: every
/// peer's loss reaches every peer's rows.
#[test]
fn the_gathers_gradient_comes_back_from_every_peers_loss() {
    let _turn = engine();
    let (n, d, world) = (2, 3, 2);
    let weights = move |rank: usize| -> Vec<f32> {
        (0..world * n * d)
            .map(|i| 0.5 + ((rank * 5 + i * 3) % 7) as f32 / 7.0)
            .collect()
    };
    let results = on_peers(world, move |peer| {
        let device = Default::default();
        let rank = peer.rank();
        let x = Tensor::<A, 2>::from_data(TensorData::new(rows(rank, n, d), [n, d]), &device)
            .require_grad();
        let gathered = A::gather_rows(x.clone(), &peer).unwrap();
        let c = Tensor::<A, 2>::from_data(TensorData::new(weights(rank), [world * n, d]), &device);
        let loss = (gathered.powi_scalar(2) * c).sum();
        let grads = loss.backward();
        assert!(peer.failure().is_none());
        x.grad(&grads)
            .unwrap()
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .unwrap()
    });
    for (s, got) in results.iter().enumerate() {
        let x = rows(s, n, d);
        for (i, &got) in got.iter().enumerate() {
            let want: f64 = (0..world)
                .map(|r| 2.0 * weights(r)[s * n * d + i] as f64 * x[i] as f64)
                .sum();
            assert!(
                (got as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "peer {s}, value {i}: {got}, want {want}"
            );
        }
    }

    // One thread, the all-reduce's backward written out: each peer's loss differentiated
    // alone with respect to the joined rows, the gradients added, each peer's block taken.
    // With two peers the gather's gradient is this, bit for bit.
    let device = Default::default();
    let joined: Vec<f32> = (0..world).flat_map(|rank| rows(rank, n, d)).collect();
    let reference: Vec<f32> = (0..world)
        .map(|rank| {
            let g =
                Tensor::<A, 2>::from_data(TensorData::new(joined.clone(), [world * n, d]), &device)
                    .require_grad();
            let c =
                Tensor::<A, 2>::from_data(TensorData::new(weights(rank), [world * n, d]), &device);
            let loss = (g.clone().powi_scalar(2) * c).sum();
            g.grad(&loss.backward()).unwrap()
        })
        .reduce(|a, b| a + b)
        .unwrap()
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap();
    for (s, got) in results.iter().enumerate() {
        assert_eq!(
            got[..],
            reference[s * n * d..(s + 1) * n * d],
            "peer {s}'s gradient against the one-thread sum of the peers' gradients"
        );
    }
}

#[test]
fn gradients_are_averaged_in_visit_order() {
    let _turn = engine();
    let results = on_peers(2, |peer| {
        let device = Default::default();
        // The same weights on every peer, different inputs; ParamIds differ between peers, the
        // visit order does not.
        let model: Linear<A> = LinearConfig::new(3, 2)
            .with_initializer(Initializer::Constant { value: 0.3 })
            .init(&device);
        let input =
            Tensor::<A, 2>::from_data(TensorData::new(rows(peer.rank(), 4, 3), [4, 3]), &device);
        let loss = model.forward(input).powi_scalar(2).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let own = weight_and_bias(&model, &grads);
        let extras = [peer.rank() as f32 + 1.0];
        let (averaged, summed) =
            all_reduce_gradients(&model, grads, peer.as_ref(), &extras).unwrap();
        assert_eq!(summed, vec![3.0], "the extras are summed over the peers");
        (own, weight_and_bias(&model, &averaged))
    });
    let (own0, averaged0) = &results[0];
    let (own1, averaged1) = &results[1];
    assert_eq!(averaged0, averaged1, "every peer holds the same average");
    for (i, &got) in averaged0.iter().enumerate() {
        let want = (own0[i] as f64 + own1[i] as f64) / 2.0;
        assert!((got as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()));
    }
}

fn weight_and_bias(model: &Linear<A>, grads: &GradientsParams) -> Vec<f32> {
    let weight = grads.get::<B, 2>(model.weight.id).unwrap();
    let bias = grads.get::<B, 1>(model.bias.as_ref().unwrap().id).unwrap();
    let mut all = values(weight);
    all.extend(values(bias));
    all
}

#[test]
fn a_peer_that_never_comes_is_a_timeout_error_not_a_hang() {
    let _turn = engine();
    let started = Instant::now();
    let setup = PeerSetup {
        rank: 0,
        devices: 2,
        timeout: Duration::from_millis(500),
        nodes: None,
    };
    let error = BurnPeer::<B>::register(setup, Default::default()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(error, CollectiveError::Timeout { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("registration") && message.contains("peer 0"),
        "{message}"
    );
}

#[test]
fn peers_with_different_weights_are_told_which_value_differs() {
    let _turn = engine();
    let results = on_peers(2, |peer| {
        let checksum = [1.5f32, 2.0 + peer.rank() as f32];
        check_same_values(
            peer.as_ref(),
            "the weights' checksum",
            &checksum,
            &Default::default(),
        )
    });
    for result in results {
        let message = result.unwrap_err().to_string();
        assert!(
            message.contains("the weights' checksum") && message.contains("value 1"),
            "{message}"
        );
    }
    reset_engine::<B>();
    let _ = on_peers(2, |peer| {
        check_same_values(peer.as_ref(), "the step", &[3.0], &Default::default()).unwrap()
    });
}
