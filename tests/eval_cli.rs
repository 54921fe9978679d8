//! `selfsup eval knn|linear --checkpoint RUN_DIR` on a finished tiny run.

mod common;

use serde_json::Value;

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn eval_reloads_the_encoder_and_reports_knn_and_a_linear_probe() {
    common::require_dataset();
    let run = tempfile::tempdir().unwrap();
    let dir = run.path().to_str().unwrap();
    let output = common::selfsup(&[
        "pretrain",
        "--config",
        "configs/fashion_mnist/simclr.toml",
        "--out",
        dir,
        "--set",
        "data.train_limit=512",
        "--set",
        "data.test_limit=500",
        "--set",
        "model.width=4",
        "--set",
        "train.batch_size=64",
        "--set",
        "train.epochs=1",
        "--set",
        "eval.knn_k=20",
    ]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let summary = read_json(&run.path().join("summary.json"));

    // The reloaded encoder gives exactly the kNN the run measured at its end.
    let output = common::selfsup(&["eval", "knn", "--checkpoint", dir]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("knn on fashion_mnist: top-1"));
    let knn = read_json(&run.path().join("eval/knn.json"));
    assert_eq!(knn["top1"], summary["knn_top1"]);
    assert_eq!(knn["test_images"], 500);

    let output = common::selfsup(&[
        "eval",
        "linear",
        "--checkpoint",
        dir,
        "--set",
        "eval.linear_epochs=20",
    ]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let linear = read_json(&run.path().join("eval/linear.json"));
    for key in ["top1", "top5", "train_top1", "final_loss", "seconds"] {
        assert!(linear[key].as_f64().unwrap().is_finite(), "{key}: {linear}");
    }
    assert_eq!(linear["dataset"], "fashion_mnist");
    assert_eq!(linear["epochs"], 20);
    assert!(linear["top1"].as_f64().unwrap() > 0.5, "{linear}");
}

#[test]
fn eval_of_a_run_without_an_encoder_says_why() {
    let run = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::repo_root().join("configs/fashion_mnist/simclr.toml"),
        run.path().join("config.toml"),
    )
    .unwrap();
    let line = common::error_line(&common::selfsup(&[
        "eval",
        "linear",
        "--checkpoint",
        run.path().to_str().unwrap(),
    ]));
    assert!(line.contains("encoder.safetensors: no encoder"), "{line}");
}
