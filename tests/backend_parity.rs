//! The WGPU backend against the CPU backend, for real: on a machine without a GPU this runs on
//! Mesa's lavapipe (Vulkan on the CPU; `apt-get install mesa-vulkan-drivers`, which
//! scripts/setup.sh does). Only built with `--features wgpu`, which `cargo xtask test` always
//! passes; a missing Vulkan driver fails these tests, it never skips them.
#![cfg(feature = "wgpu")]

mod common;

use burn::backend::{Autodiff, Flex, Wgpu};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use selfsup::eval::{KnnConfig, KnnIndex, KthValue};
use selfsup::train::methods::{Method, Simclr, Wcl};
use serde_json::Value;

type Cpu = Autodiff<Flex>;
type Gpu = Autodiff<Wgpu>;

fn uniform(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn assert_gradients_agree<MC: Method<Cpu>, MG: Method<Gpu>>(method: &str) {
    let config = common::grads::tiny_config(method);
    let shape = [64, 1, 28, 28];
    let views = common::grads::real_views(&config);
    let cpu = common::grads::gradients::<Cpu, MC>(&config, &views, shape);
    let gpu = common::grads::gradients::<Gpu, MG>(&config, &views, shape);
    assert!(cpu.len() > 40, "{} gradients", cpu.len());
    assert_eq!(cpu.len(), gpu.len());
    for ((name, a), (other, b)) in cpu.iter().zip(&gpu) {
        assert_eq!(name, other);
        let scale = a.iter().fold(0f32, |m, x| m.max(x.abs()));
        let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        // Measured on these real views against a float64 reference (tests/gradients_f64.rs):
        // the CPU backend is within 1e-5 everywhere; WGPU on lavapipe is off by up to 7e-3 of
        // the largest entry in the stem and blocks 0-1 (report_gradient_errors_against_float64
        // below; docs/benchmarks.md). Not yet traced to one kernel. A wrong kernel is off by O(1).
        assert!(
            worst <= 2e-2 * scale + 1e-5,
            "{method}: the gradient of {name} differs by {worst} (largest entry {scale})"
        );
    }
}

#[test]
fn simclr_gradients_agree_between_cpu_and_wgpu() {
    assert_gradients_agree::<Simclr<Cpu>, Simclr<Gpu>>("simclr");
}

#[test]
fn wcl_gradients_agree_between_cpu_and_wgpu() {
    assert_gradients_agree::<Wcl<Cpu>, Wcl<Gpu>>("wcl");
}

fn knn_predictions<B: Backend>(
    kth: KthValue,
    stored: &[f32],
    labels: &[i64],
    queries: &[f32],
    dim: usize,
) -> (Vec<f32>, f64, f64) {
    let device = Default::default();
    let features = Tensor::<B, 2>::from_data(
        TensorData::new(stored.to_vec(), [labels.len(), dim]),
        &device,
    );
    let label_tensor =
        Tensor::<B, 1, Int>::from_data(TensorData::new(labels.to_vec(), [labels.len()]), &device);
    let index = KnnIndex::new(features, label_tensor, 10).unwrap();
    let count = queries.len() / dim;
    let query_tensor =
        || Tensor::<B, 2>::from_data(TensorData::new(queries.to_vec(), [count, dim]), &device);
    let config = KnnConfig {
        k: 200,
        temperature: 0.07,
        chunk_size: 100,
        kth,
    };
    let scores = index.class_scores(query_tensor(), &config).unwrap();
    let query_labels =
        Tensor::<B, 1, Int>::from_data(TensorData::new(labels[..count].to_vec(), [count]), &device);
    let accuracy = index
        .accuracy(query_tensor(), query_labels, &config)
        .unwrap();
    (
        scores.into_data().to_vec::<f32>().unwrap(),
        accuracy.top1,
        accuracy.top5,
    )
}

#[test]
fn knn_gives_the_same_accuracy_on_cpu_and_wgpu() {
    let (stored_count, query_count, dim) = (2000, 300, 32);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let labels: Vec<i64> = (0..stored_count).map(|i| (i % 10) as i64).collect();
    // Class centres plus noise, so the vote is neither trivial nor random.
    let centres = uniform(&mut rng, 10 * dim);
    let mut sample = |count: usize| {
        let mut features = uniform(&mut rng, count * dim);
        for (i, row) in features.chunks_mut(dim).enumerate() {
            for (x, c) in row.iter_mut().zip(&centres[(i % 10) * dim..][..dim]) {
                *x += 0.4 * c;
            }
        }
        features
    };
    let stored = sample(stored_count);
    let queries = sample(query_count);
    // Each backend with the k-th value search the runner gives it (topk on the CPU, bisection
    // on WGPU), and the CPU with bisection too.
    let (cpu_scores, cpu_top1, cpu_top5) =
        knn_predictions::<Flex>(KthValue::TopK, &stored, &labels, &queries, dim);
    let (gpu_scores, gpu_top1, gpu_top5) =
        knn_predictions::<Wgpu>(KthValue::Bisection, &stored, &labels, &queries, dim);
    let (bisect_scores, bisect_top1, _) =
        knn_predictions::<Flex>(KthValue::Bisection, &stored, &labels, &queries, dim);
    assert_eq!(cpu_top1, bisect_top1);
    for (a, b) in cpu_scores.iter().zip(&bisect_scores) {
        assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{a} vs {b}");
    }
    assert!(cpu_top1 > 0.3 && cpu_top1 < 0.95, "top-1 {cpu_top1}");
    assert_eq!(cpu_top1, gpu_top1);
    assert_eq!(cpu_top5, gpu_top5);
    for (a, b) in cpu_scores.iter().zip(&gpu_scores) {
        assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{a} vs {b}");
    }
}

fn step_losses(dir: &std::path::Path) -> Vec<f64> {
    std::fs::read_to_string(dir.join("steps.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["loss"]
                .as_f64()
                .unwrap()
        })
        .collect()
}

/// The binary on both backends with the same seed: same initial weights, same views, same
/// schedule. The first loss agrees to float rounding; after that WGPU's gradient error
/// (measured against float64, docs/benchmarks.md) feeds the next step and the trajectories drift
/// apart, by 7e-6 after one update and 2.1e-3 after two in the measured run (docs/benchmarks.md,
/// "CPU and WGPU agree"). The tolerances below are those, with room.
#[test]
fn simclr_training_losses_agree_between_cpu_and_wgpu() {
    common::require_dataset();
    let runs: Vec<(tempfile::TempDir, Value)> = ["cpu", "wgpu"]
        .iter()
        .map(|backend| {
            let out = tempfile::tempdir().unwrap();
            let output = common::selfsup(&[
                "pretrain",
                "--config",
                "configs/fashion_mnist/simclr.toml",
                "--backend",
                backend,
                "--out",
                out.path().to_str().unwrap(),
                "--set",
                "data.train_limit=384",
                "--set",
                "data.test_limit=300",
                "--set",
                "train.batch_size=64",
                "--set",
                "train.epochs=1",
                "--set",
                "model.width=4",
                "--set",
                "train.lr=0.002",
                "--set",
                "eval.knn_k=20",
            ]);
            assert!(
                output.status.success(),
                "{backend}: {}",
                common::stderr(&output)
            );
            let summary: Value = serde_json::from_str(
                &std::fs::read_to_string(out.path().join("summary.json")).unwrap(),
            )
            .unwrap();
            (out, summary)
        })
        .collect();
    let cpu = step_losses(runs[0].0.path());
    let gpu = step_losses(runs[1].0.path());
    assert_eq!(cpu.len(), 6);
    assert_eq!(cpu.len(), gpu.len());
    let tolerances = [1e-6, 5e-4, 1e-2];
    for (step, ((a, b), tolerance)) in cpu.iter().zip(&gpu).zip(tolerances).enumerate() {
        assert!(
            (a - b).abs() <= tolerance * a.abs(),
            "step {}: cpu {a} vs wgpu {b}",
            step + 1
        );
    }
    let device = runs[1].1["device"].as_str().unwrap();
    assert!(device.starts_with("wgpu"), "{device}");
    // Six small steps leave both encoders close to the shared start, so their kNN accuracy on
    // 300 test images stays within a few points (the kNN code itself is compared exactly above).
    let top1 = |run: &Value| run["knn_top1"].as_f64().unwrap();
    let (cpu_top1, gpu_top1) = (top1(&runs[0].1), top1(&runs[1].1));
    assert!(
        (cpu_top1 - gpu_top1).abs() <= 0.05,
        "kNN top-1 cpu {cpu_top1} vs wgpu {gpu_top1}"
    );
}

/// Diagnostic behind the float64 table in docs/benchmarks.md (not an assertion): prints, per
/// tensor, how far the CPU and WGPU gradients are from float64, on real and on random views.
/// `cargo test --release --features wgpu --test backend_parity -- --ignored --nocapture`
#[test]
#[ignore]
fn report_gradient_errors_against_float64() {
    let config = common::grads::tiny_config("simclr");
    let shape = [64, 1, 28, 28];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let random: Vec<Vec<f32>> = (0..2).map(|_| uniform(&mut rng, 64 * 28 * 28)).collect();
    for (label, views) in [
        ("real", common::grads::real_views(&config)),
        ("random", random),
    ] {
        let reference = common::grads::gradients_f64::<Simclr<Cpu>>(&config, &views, shape);
        let cpu = common::grads::gradients::<Cpu, Simclr<Cpu>>(&config, &views, shape);
        let gpu = common::grads::gradients::<Gpu, Simclr<Gpu>>(&config, &views, shape);
        let cpu = common::grads::relative_errors(&reference, &cpu);
        let gpu = common::grads::relative_errors(&reference, &gpu);
        for ((name, c), (_, g)) in cpu.iter().zip(&gpu) {
            eprintln!("{label} views, {name}: cpu {c:.1e} wgpu {g:.1e}");
        }
    }
}
