//! CMC end to end on colour images that the test draws (the CIFAR loader is not needed): RGB ->
//! Lab, L and ab (or L, a, b) through their own encoders, the NCE / softmax / in-batch losses and
//! the core and full view graphs.

mod common;

use std::sync::Arc;

use burn::backend::{Autodiff, Flex};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use selfsup::backbones::{Encoder, ResNetConfig};
use selfsup::data::Dataset;
use selfsup::distributed::Peers;
use selfsup::train::config::Config;
use selfsup::train::observer::Silent;
use selfsup::train::run_dir::RunDir;
use selfsup::train::{EvalSets, RunInputs, pretrain_configured};
use serde_json::Value;

const SIDE: usize = 16;
const CLASSES: usize = 10;

fn colour_shapes(count: usize, seed: u64) -> Dataset {
    colour_shapes_sized(count, seed, SIDE)
}

/// Class c is a rectangle of hue 36c degrees at a random place and size on a random gray
/// background, with pixel noise.
fn colour_shapes_sized(count: usize, seed: u64, side: usize) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut images = Vec::with_capacity(count * side * side * 3);
    let mut labels = Vec::with_capacity(count);
    for i in 0..count {
        let class = i % CLASSES;
        let hue = class as f32 * 36.0;
        let colour = hsv_to_rgb(hue, 0.9, rng.random_range(0.6..1.0));
        let background: f32 = rng.random_range(0.1..0.6);
        let (w, h) = (
            rng.random_range(side * 3 / 8..side * 3 / 4),
            rng.random_range(side * 3 / 8..side * 3 / 4),
        );
        let (x0, y0) = (rng.random_range(0..side - w), rng.random_range(0..side - h));
        for y in 0..side {
            for x in 0..side {
                let inside = (x0..x0 + w).contains(&x) && (y0..y0 + h).contains(&y);
                for channel in colour {
                    let value = if inside { channel } else { background };
                    let noisy = value + rng.random_range(-0.05..0.05);
                    images.push((noisy.clamp(0.0, 1.0) * 255.0) as u8);
                }
            }
        }
        labels.push(class as u32);
    }
    Dataset {
        images,
        labels,
        height: side,
        width: side,
        channels: 3,
        num_classes: CLASSES,
        ..Dataset::default()
    }
}

fn hsv_to_rgb(hue: f32, saturation: f32, value: f32) -> [f32; 3] {
    let c = value * saturation;
    let h = hue / 60.0;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as usize {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = value - c;
    [r + m, g + m, b + m]
}

fn train_cmc(overrides: &[&str]) -> (tempfile::TempDir, Vec<Value>) {
    let text = r#"
method = "cmc"
[model]
width = 8
[train]
epochs = 3
batch_size = 32
lr = 0.1
warmup_epochs = 0
weight_decay = 5e-4
[augment]
crop_size = 16
crop_scale = [0.5, 1.0]
jitter_prob = 0.0
[eval]
every = 1
knn_k = 20
[cmc]
negatives = 64
"#;
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let config = Config::from_toml(text, "cmc test", &overrides).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut run_dir = RunDir::create(out.path(), &config).unwrap();
    let train = Arc::new(colour_shapes(320, 1));
    let inputs = RunInputs {
        config,
        backend_name: "cpu".into(),
        dataset_name: "colour shapes".into(),
        pretrain_set: train.clone(),
        eval_sets: Some(EvalSets {
            train,
            test: Arc::new(colour_shapes(200, 2)),
        }),
        resume: None,
        stop_after_epoch: None,
        stop: Default::default(),
    };
    let summary = pretrain_configured::<Autodiff<Flex>>(
        &inputs,
        &mut run_dir,
        &Default::default(),
        "cpu",
        &mut Silent,
        Peers::alone(),
    )
    .unwrap();
    assert_eq!(summary.method, "cmc");
    let metrics = std::fs::read_to_string(out.path().join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out, metrics)
}

fn check(metrics: &[Value], loss_falls: bool) {
    assert_eq!(metrics.len(), 3);
    for m in metrics {
        assert!(m["loss"].as_f64().unwrap().is_finite(), "{m}");
    }
    let (first, last) = (
        metrics[0]["loss"].as_f64().unwrap(),
        metrics[2]["loss"].as_f64().unwrap(),
    );
    if loss_falls {
        assert!(last < first, "loss did not fall: {first} -> {last}");
    }
    let top1 = metrics[2]["knn_top1"].as_f64().unwrap();
    assert!(top1 > 0.3, "kNN top-1 {top1}: not above chance (0.1)");
}

/// The saved encoder is one half-width ResNet per view with the view's channels.
fn assert_encoder_parts(out: &std::path::Path, channels: &[usize]) {
    let parts = channels
        .iter()
        .map(|&c| {
            ResNetConfig::resnet18()
                .with_width(4)
                .with_in_channels(c)
                .init::<Flex>(&Default::default())
        })
        .collect();
    let mut encoder = Encoder::channel_groups(parts);
    let mut store = SafetensorsStore::from_file(out.join("encoder.safetensors"));
    let applied = encoder.load_from(&mut store).unwrap();
    assert!(applied.missing.is_empty(), "missing: {:?}", applied.missing);
    assert!(applied.unused.is_empty(), "unused: {:?}", applied.unused);
}

#[test]
fn two_views_with_nce_against_the_other_views_bank() {
    let (out, metrics) = train_cmc(&[]);
    check(&metrics, false);
    assert_encoder_parts(out.path(), &[1, 2]);
}

#[test]
fn three_views_full_graph_with_the_softmax_loss() {
    let (out, metrics) = train_cmc(&[
        "cmc.views=\"l_a_b\"",
        "cmc.graph=\"full\"",
        "cmc.loss=\"softmax\"",
    ]);
    check(&metrics, true);
    assert_encoder_parts(out.path(), &[1, 1, 1]);
}

#[test]
fn three_views_core_graph_in_batch() {
    let (out, metrics) = train_cmc(&[
        "cmc.views=\"l_a_b\"",
        "cmc.graph=\"core\"",
        "cmc.loss=\"in_batch\"",
    ]);
    check(&metrics, true);
    assert_encoder_parts(out.path(), &[1, 1, 1]);
}

/// CIFAR-10 files written in the binary layout (label byte, then R, G and B planes): 5 training
/// batches of 40 images, a test batch of 100.
fn write_cifar10(dir: &std::path::Path) {
    let write = |name: &str, dataset: &Dataset| {
        let mut bytes = Vec::new();
        for i in 0..dataset.len() {
            bytes.push(dataset.labels[i] as u8);
            let pixels = dataset.image(i).pixels;
            for c in 0..3 {
                bytes.extend(pixels.iter().skip(c).step_by(3));
            }
        }
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let train = colour_shapes_sized(5 * 40, 3, 32);
    for b in 0..5 {
        let mut part = train.clone();
        part.labels = train.labels[b * 40..(b + 1) * 40].to_vec();
        part.images = train.images[b * 40 * 3072..(b + 1) * 40 * 3072].to_vec();
        write(&format!("data_batch_{}.bin", b + 1), &part);
    }
    write("test_batch.bin", &colour_shapes_sized(100, 4, 32));
}

/// A shipped CIFAR-10 config through the binary on generated CIFAR-10 files, scaled down by
/// `overrides`; returns summary.json.
fn run_shipped_cifar10(config: &str, overrides: &[&str]) -> Value {
    let data = tempfile::tempdir().unwrap();
    write_cifar10(data.path());
    let out = tempfile::tempdir().unwrap();
    let mut args = vec![
        "model.width=8",
        "train.epochs=2",
        "train.batch_size=32",
        "eval.knn_k=20",
    ];
    args.extend_from_slice(overrides);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_selfsup"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .args(["pretrain", "--config", config, "--data-dir"])
        .arg(data.path())
        .arg("--out")
        .arg(out.path())
        .args(args.iter().flat_map(|a| ["--set", a]))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{config}: {stderr}");
    let summary: Value = common::read_json(&out.path().join("summary.json"));
    assert_eq!(summary["dataset"], "cifar10");
    assert_eq!(summary["train_images"], 200);
    assert!(
        summary["final_loss"].as_f64().unwrap().is_finite(),
        "{summary}"
    );
    summary
}

#[test]
fn shipped_cifar10_cmc_config_runs_from_the_command_line() {
    let summary = run_shipped_cifar10("configs/cifar10/cmc.toml", &["cmc.negatives=64"]);
    assert_eq!(summary["method"], "cmc");
    assert!(summary["knn_top1"].as_f64().unwrap() > 0.2, "{summary}");
}

/// SimCLR and WCL with the full colour recipe (jitter with saturation and hue, grayscale).
#[test]
fn shipped_cifar10_simclr_and_wcl_configs_run_from_the_command_line() {
    for method in ["simclr", "wcl"] {
        let summary = run_shipped_cifar10(&format!("configs/cifar10/{method}.toml"), &[]);
        assert_eq!(summary["method"], method);
        assert!(summary["knn_top1"].as_f64().unwrap() > 0.2, "{summary}");
    }
}

/// WCL as the paper trains it (LARS, warm-up views, 4 local crops, KNN multi-crop), shortened to
/// one warm-up epoch and one epoch of neighbour crops.
#[test]
fn shipped_cifar10_wcl_paper_config_runs_from_the_command_line() {
    let summary = run_shipped_cifar10(
        "configs/cifar10/wcl_paper.toml",
        &[
            "train.warmup_epochs=0",
            "train.augment_warmup_epochs=1",
            "wcl.knn_warmup_epochs=1",
            "train.lr=0.5",
        ],
    );
    assert_eq!(summary["method"], "wcl");
    assert!(summary["knn_top1"].as_f64().unwrap() > 0.2, "{summary}");
}
