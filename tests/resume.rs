//! A run stopped after an epoch and resumed from its checkpoint continues exactly as the
//! uninterrupted run: the same loss at every step. For MoCo that needs the queue (with its write
//! position), the key encoder (an EMA, never trained directly) and the optimizer's momentum to be
//! restored bit for bit.

mod common;

use serde_json::Value;

/// Tiny runs: 256 images in 4 steps of 64 per epoch, 3 epochs, width 4.
const TINY: &[&str] = &[
    "--set",
    "data.train_limit=256",
    "--set",
    "data.test_limit=200",
    "--set",
    "model.width=4",
    "--set",
    "train.batch_size=64",
    "--set",
    "train.epochs=3",
    "--set",
    "eval.knn_k=20",
];

/// `selfsup pretrain` of `configs/fashion_mnist/<config>.toml` at the tiny size, then `settings`.
fn tiny_pretrain(config: &str, out: &std::path::Path, settings: &[&str]) {
    let config = format!("configs/fashion_mnist/{config}.toml");
    let mut args = vec![
        "pretrain",
        "--config",
        &config,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(TINY);
    args.extend_from_slice(settings);
    let output = common::selfsup(&args);
    assert!(output.status.success(), "{}", common::stderr(&output));
}

fn pretrain(out: &std::path::Path, extra: &[&str]) {
    tiny_pretrain(
        "moco",
        out,
        &[&["--set", "moco.queue_size=100"], extra].concat(),
    );
}

fn step_losses(run: &std::path::Path) -> Vec<(u64, String)> {
    std::fs::read_to_string(run.join("steps.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            (v["step"].as_u64().unwrap(), v["loss"].to_string())
        })
        .collect()
}

#[test]
fn moco_stopped_and_resumed_matches_the_uninterrupted_run_step_for_step() {
    common::require_dataset();
    let whole = tempfile::tempdir().unwrap();
    pretrain(whole.path(), &[]);

    let parts = tempfile::tempdir().unwrap();
    pretrain(parts.path(), &["--stop-after-epoch", "1"]);
    assert_eq!(step_losses(parts.path()).len(), 4, "one epoch of 4 steps");
    let checkpoints = parts.path().join("checkpoints");
    assert!(checkpoints.join("step-00000004/state.json").exists());

    // Resume for one more epoch, then to the end: two restores.
    let run = parts.path().to_str().unwrap();
    for stop in [&["--stop-after-epoch", "2"][..], &[][..]] {
        let mut args = vec!["pretrain", "--resume", run];
        args.extend_from_slice(stop);
        let output = common::selfsup(&args);
        assert!(output.status.success(), "{}", common::stderr(&output));
        assert!(String::from_utf8_lossy(&output.stdout).contains("resuming"));
    }

    let expected = step_losses(whole.path());
    assert_eq!(expected.len(), 12);
    assert_eq!(step_losses(parts.path()), expected);
    // checkpoint.keep = 2: the oldest was removed.
    assert!(!checkpoints.join("step-00000004").exists());
    assert!(checkpoints.join("step-00000012/state.json").exists());
    let summary = |dir: &std::path::Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
    };
    assert_eq!(
        summary(parts.path())["knn_top1"],
        summary(whole.path())["knn_top1"]
    );
}

#[test]
fn resuming_a_finished_run_is_refused() {
    common::require_dataset();
    let run = tempfile::tempdir().unwrap();
    pretrain(run.path(), &["--set", "train.epochs=1"]);
    let output = common::selfsup(&["pretrain", "--resume", run.path().to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains("nothing to train, 1 of 1 epochs are done"),
        "{stderr}"
    );
}

/// BYOL under LARS, stopped after epoch 1 and resumed: the target network (an EMA at a
/// step-dependent tau) and LARS's velocities come back bit for bit.
#[test]
fn byol_with_lars_stopped_and_resumed_matches_the_uninterrupted_run() {
    common::require_dataset();
    let run = |out: &std::path::Path, extra: &[&str]| {
        let lars = [
            "--set",
            "train.optimizer=\"lars\"",
            "--set",
            "train.lr=2.0",
            "--set",
            "byol.hidden_dim=32",
        ];
        tiny_pretrain("byol", out, &[&lars[..], extra].concat());
    };
    let whole = tempfile::tempdir().unwrap();
    run(whole.path(), &[]);
    let parts = tempfile::tempdir().unwrap();
    run(parts.path(), &["--stop-after-epoch", "1"]);
    let output = common::selfsup(&["pretrain", "--resume", parts.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let expected = step_losses(whole.path());
    assert_eq!(expected.len(), 12);
    assert_eq!(step_losses(parts.path()), expected);
    let first: f64 = expected[0].1.parse().unwrap();
    let last: f64 = expected[11].1.parse().unwrap();
    assert!(last.is_finite() && first.is_finite());
}

/// WCL with KNN multi-crop and warm-up views. Epoch 1: weaker warm-up views and ordinary
/// multi-crop, so it matches a run without KNN crops step for step; from epoch 2 the local
/// crops come from each image's neighbours, so the losses part. Stopped after epoch 2 and
/// resumed, the run crops from the neighbour table saved in the checkpoint and matches the
/// uninterrupted one.
#[test]
fn wcl_knn_multi_crop_resumes_from_its_saved_neighbour_table() {
    common::require_dataset();
    let run = |out: &std::path::Path, knn: bool, extra: &[&str]| {
        let knn_crops = format!("wcl.knn_crops={knn}");
        let settings = [
            "--set",
            "augment.local_crops=2",
            "--set",
            &knn_crops,
            "--set",
            "wcl.knn_neighbours=3",
            "--set",
            "train.augment_warmup_epochs=1",
            "--set",
            "augment_warmup.brightness=0.2",
            "--set",
            "augment_warmup.contrast=0.2",
            "--set",
            "augment_warmup.crop_scale=[0.5, 1.0]",
        ];
        tiny_pretrain("wcl", out, &[&settings[..], extra].concat());
    };
    let whole = tempfile::tempdir().unwrap();
    run(whole.path(), true, &[]);
    let plain = tempfile::tempdir().unwrap();
    run(plain.path(), false, &[]);
    let (with_knn, without) = (step_losses(whole.path()), step_losses(plain.path()));
    assert_eq!(with_knn.len(), 12);
    assert_eq!(
        with_knn[..4],
        without[..4],
        "epoch 1 is ordinary multi-crop"
    );
    for (a, b) in with_knn[4..].iter().zip(&without[4..]) {
        assert_ne!(a, b, "from epoch 2 the crops come from neighbours");
    }

    let parts = tempfile::tempdir().unwrap();
    run(parts.path(), true, &["--stop-after-epoch", "2"]);
    let checkpoint = parts.path().join("checkpoints/step-00000008");
    assert!(checkpoint.join("neighbours.safetensors").exists());
    let output = common::selfsup(&["pretrain", "--resume", parts.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    assert_eq!(step_losses(parts.path()), with_knn);

    // Without its table the checkpoint cannot continue the run, and says so.
    std::fs::remove_file(checkpoint.join("neighbours.safetensors")).unwrap();
    std::fs::remove_dir_all(parts.path().join("checkpoints/step-00000012")).unwrap();
    let output = common::selfsup(&["pretrain", "--resume", parts.path().to_str().unwrap()]);
    assert!(!output.status.success());
    let error = common::error_line(&output);
    assert!(error.contains("no neighbour table"), "{error}");
}
