//! Training health end to end: a run built to collapse (SimSiam without its stop-gradient,
//! with weight decay pulling the projector's last batch norm to a constant) is flagged with
//! the metric named, and stops under `train.on_collapse = "stop"`; a healthy run is not
//! flagged. The collapsing run's learning rate and weight decay (1.0, 0.03) are chosen so that
//! it stays collapsed at every epoch: with 0.5 and 0.01 it collapsed, then spread out again
//! by epoch 6 or not, depending on the order of the f32 additions in the kernels (a change of
//! that order, issue 16's direct weight gradient, turned it from one to the other). The metrics themselves are checked against numpy in selfsup-eval's tests.

mod common;

use std::path::Path;

fn collapsing_run(out: &Path, on_collapse: &str) -> std::process::Output {
    let out = out.to_str().unwrap();
    let on_collapse = format!("train.on_collapse=\"{on_collapse}\"");
    common::selfsup(&[
        "pretrain",
        "--config",
        "configs/fashion_mnist/simsiam.toml",
        "--out",
        out,
        "--set",
        "data.train_limit=512",
        "--set",
        "data.test_limit=200",
        "--set",
        "model.width=4",
        "--set",
        "train.batch_size=64",
        "--set",
        "train.epochs=6",
        "--set",
        "train.lr=1.0",
        "--set",
        "train.weight_decay=0.03",
        "--set",
        "simsiam.stop_gradient=false",
        "--set",
        "eval.every=1",
        "--set",
        "eval.knn_k=20",
        "--set",
        &on_collapse,
    ])
}

fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn a_collapsing_run_is_flagged_then_stopped_under_on_collapse_stop() {
    common::require_dataset();
    let out = tempfile::tempdir().unwrap();
    let warned = collapsing_run(out.path(), "warn");
    assert!(warned.status.success(), "{}", common::stderr(&warned));
    let log = common::stderr(&warned);
    assert!(log.contains("the run looks collapsed"), "{log}");
    assert!(log.contains("standard deviation"), "{log}");
    let records = metrics(out.path());
    assert_eq!(records.len(), 6);
    let last = &records[5];
    assert!(last["collapse"].is_string(), "{last}");
    assert!(
        last["projection_std"].as_f64().unwrap()
            < last["projection_std_spread"].as_f64().unwrap() / 10.0,
        "{last}"
    );

    let out = tempfile::tempdir().unwrap();
    let stopped = collapsing_run(out.path(), "stop");
    assert!(!stopped.status.success());
    let message = common::error_line(&stopped);
    assert!(message.contains("train.on_collapse"), "{message}");
    assert!(message.contains("standard deviation"), "{message}");
    let records = metrics(out.path());
    assert!(records.len() < 6, "stopped before the last epoch");
    assert!(records.last().unwrap()["collapse"].is_string());
    assert!(
        out.path().join("checkpoints").is_dir(),
        "the epoch's checkpoint is kept"
    );
}

#[test]
fn a_healthy_run_writes_the_metrics_and_their_curves_and_is_not_flagged() {
    common::require_dataset();
    let out = tempfile::tempdir().unwrap();
    common::tiny_finished_run(
        "simclr",
        out.path().to_str().unwrap(),
        &["--set", "train.epochs=2", "--set", "eval.every=1"],
    );
    let records = metrics(out.path());
    assert_eq!(records.len(), 2);
    for record in &records {
        assert!(record["collapse"].is_null(), "{record}");
        let std = record["projection_std"].as_f64().unwrap();
        let spread = record["projection_std_spread"].as_f64().unwrap();
        assert!(std > spread / 100.0 && std <= 1.0, "{record}");
        let rank = record["effective_rank"].as_f64().unwrap();
        assert!(
            rank >= 1.0 && rank <= record["rank_limit"].as_f64().unwrap(),
            "{record}"
        );
        assert!(record["alignment"].as_f64().unwrap() >= 0.0);
        assert!(record["uniformity"].as_f64().unwrap() <= 0.0);
        assert!(record["health_seconds"].as_f64().unwrap() > 0.0);
    }
    // Loss, learning rate, kNN and the four health panels, 300 pixels each.
    let (_, height) = image::image_dimensions(out.path().join("curves.png")).unwrap();
    assert_eq!(height, 7 * 300);
}
