//! A run stopped after an epoch and resumed from its checkpoint continues exactly as the
//! uninterrupted run: the same loss at every step. For MoCo that needs the queue (with its write
//! position), the key encoder (an EMA, never trained directly) and the optimizer's momentum to be
//! restored bit for bit.

mod common;

use serde_json::Value;

const TINY_MOCO: &[&str] = &[
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
    "moco.queue_size=100",
    "--set",
    "eval.knn_k=20",
];

fn pretrain(out: &std::path::Path, extra: &[&str]) {
    let mut args = vec![
        "pretrain",
        "--config",
        "configs/fashion_mnist/moco.toml",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(TINY_MOCO);
    args.extend_from_slice(extra);
    let output = common::selfsup(&args);
    assert!(output.status.success(), "{}", common::stderr(&output));
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
        let mut args = vec![
            "pretrain",
            "--config",
            "configs/fashion_mnist/byol.toml",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(&TINY_MOCO[..12]);
        args.extend_from_slice(&[
            "--set",
            "train.optimizer=\"lars\"",
            "--set",
            "train.lr=2.0",
            "--set",
            "byol.hidden_dim=32",
            "--set",
            "eval.knn_k=20",
        ]);
        args.extend_from_slice(extra);
        let output = common::selfsup(&args);
        assert!(output.status.success(), "{}", common::stderr(&output));
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
