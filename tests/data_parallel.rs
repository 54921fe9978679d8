//! `selfsup pretrain --devices 0,0`: two peers on the one CPU device, through the binary. The
//! run trains, its peers keep the same weights (checked by the run itself at the start and
//! after the first step), it stops after an epoch, and one device resumes it; the refusals name
//! what is wrong.

mod common;

use common::{error_line, require_dataset, selfsup, selfsup_logging, stderr, tiny_run_args};

/// The tiny run of `config` in `dir` (`common::tiny_run_args`) with `extra` after it, at log
/// level `level`.
fn tiny_run(config: &str, dir: &str, extra: &[&str], level: &str) -> std::process::Output {
    let mut args = tiny_run_args(config, dir);
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    selfsup_logging(&args, level)
}

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn two_peers_train_an_epoch_and_one_device_resumes_the_run() {
    require_dataset();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let extra = [
        "--set",
        "train.epochs=2",
        "--stop-after-epoch",
        "1",
        "--devices",
        "0,0",
    ];
    let output = tiny_run("simclr", dir, &extra, "info");
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("data-parallel run") && log.contains("world=2"),
        "{log}"
    );
    for rank in ["rank=0", "rank=1"] {
        assert!(log.contains(rank), "every peer says it is ready:\n{log}");
    }

    // 512 images in batches of 64: 8 steps, each peer taking 32 images of each.
    let steps = lines(&out.path().join("steps.jsonl"));
    assert_eq!(steps.len(), 8);
    for step in &steps {
        assert!(step["loss"].as_f64().unwrap().is_finite(), "{step}");
    }
    let metrics = lines(&out.path().join("metrics.jsonl"));
    assert_eq!(metrics.len(), 1);
    assert!(metrics[0]["knn_top1"].as_f64().unwrap() > 0.1);

    let output = selfsup(&["pretrain", "--resume", dir]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(lines(&out.path().join("steps.jsonl")).len(), 16);
    assert_eq!(lines(&out.path().join("metrics.jsonl")).len(), 2);
}

#[test]
fn a_batch_the_devices_cannot_share_evenly_is_refused() {
    require_dataset();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let line = error_line(&tiny_run("simclr", dir, &["--devices", "0,0,0"], "warn"));
    assert!(
        line.contains("train.batch_size = 64") && line.contains("3 devices"),
        "{line}"
    );
}

/// InstDisc's memory bank is written with every peer's rows, so each peer's kNN on the bank
/// sees the same bank.
#[test]
fn a_method_with_a_memory_bank_trains_on_two_devices() {
    require_dataset();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let extra = ["--devices", "0,0", "--set", "instdisc.negatives=256"];
    let output = tiny_run("instdisc", dir, &extra, "warn");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(lines(&out.path().join("steps.jsonl")).len(), 8);
}

/// MoCo trains on two peers (shuffle-BN's 8 groups, 4 on each); 3 groups cannot be shared by
/// 2 devices, and the error names the key.
#[test]
fn moco_trains_on_two_devices_and_refuses_groups_they_cannot_share() {
    require_dataset();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let queue = ["--devices", "0,0", "--set", "moco.queue_size=128"];
    let output = tiny_run("moco", dir, &queue, "warn");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(lines(&out.path().join("steps.jsonl")).len(), 8);

    let refused = tempfile::tempdir().unwrap();
    let dir = refused.path().to_str().unwrap();
    let mut uneven = queue.to_vec();
    uneven.extend(["--set", "moco.bn_splits=3"]);
    let line = error_line(&tiny_run("moco", dir, &uneven, "warn"));
    assert!(
        line.contains("moco.bn_splits = 3") && line.contains("2 devices"),
        "{line}"
    );
}

/// SimCLR on two peers, 1024 images, 16 steps per epoch, 2 epochs, a checkpoint every 3 steps.
fn checkpointed_run(out: &std::path::Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "pretrain",
        "--config",
        "configs/fashion_mnist/simclr.toml",
        "--out",
        out.to_str().unwrap(),
        "--devices",
        "0,0",
    ]
    .map(String::from)
    .to_vec();
    for set in [
        "data.train_limit=1024",
        "data.test_limit=200",
        "model.width=4",
        "train.batch_size=64",
        "train.epochs=2",
        "eval.knn_k=20",
        "checkpoint.every_steps=3",
        "checkpoint.keep=100",
    ] {
        args.extend(["--set".to_string(), set.to_string()]);
    }
    args
}

fn step_losses(run: &std::path::Path) -> Vec<String> {
    lines(&run.join("steps.jsonl"))
        .iter()
        .map(|v| format!("{} {}", v["step"], v["loss"]))
        .collect()
}

/// Ctrl-C reaches both peers through the step's gradient average: they stop after the same
/// step, the first peer writes the checkpoint, and two peers resuming from it give the losses
/// of the run that was never stopped (two peers add their gradients in either order to the
/// same bits).
#[test]
fn sigint_stops_every_peer_after_the_same_step_and_the_run_resumes_exactly() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    require_dataset();
    let whole = tempfile::tempdir().unwrap();
    let output = common::selfsup(
        &checkpointed_run(whole.path())
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let expected = step_losses(whole.path());
    assert_eq!(expected.len(), 32);

    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_selfsup"))
        .args(checkpointed_run(out.path()))
        .current_dir(common::repo_root())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !out
        .path()
        .join("checkpoints/step-00000003/state.json")
        .exists()
    {
        assert!(child.try_wait().unwrap().is_none(), "ended before step 3");
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{log}");
    assert!(log.contains("interrupted by SIGINT"), "{log}");

    let output = selfsup(&[
        "pretrain",
        "--resume",
        out.path().to_str().unwrap(),
        "--devices",
        "0,0",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(step_losses(out.path()), expected);
}

/// A loss that overflows (on both peers: their weights are the same) stops the run with the
/// same message as on one device, after the gradient average every peer reaches, not a hang.
#[test]
fn a_non_finite_loss_stops_every_peer_with_the_one_device_message() {
    require_dataset();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let extra = [
        "--devices",
        "0,0",
        "--set",
        "train.lr=1e30",
        "--set",
        "checkpoint.every_steps=1",
    ];
    let line = error_line(&tiny_run("simclr", dir, &extra, "warn"));
    assert!(line.contains("non-finite loss NaN"), "{line}");
    assert!(line.contains("at epoch 1 step 2;"), "{line}");
    assert!(line.contains("checkpoints/step-00000001"), "{line}");
}

/// Through the binary, with `model.sync_bn = true`: two peers' first steps are one device's
/// (later steps drift apart at this learning rate as rounding grows; the library test
/// crates/selfsup-train/tests/data_parallel_equivalence.rs compares three whole steps).
/// WCL with KNN multi-crop from the second epoch: the first peer's neighbour table reaches
/// the other, and the run finishes on both.
#[test]
fn synchronised_batch_norm_gives_the_one_device_first_steps() {
    require_dataset();
    let settings = [
        "--set",
        "model.sync_bn=true",
        "--set",
        "train.epochs=2",
        "--set",
        "augment.local_crops=2",
        "--set",
        "wcl.knn_crops=true",
        "--set",
        "wcl.knn_warmup_epochs=1",
    ];
    let losses = |devices: &str| {
        let out = tempfile::tempdir().unwrap();
        let mut extra = settings.to_vec();
        extra.extend(["--devices", devices]);
        let output = tiny_run("wcl", out.path().to_str().unwrap(), &extra, "warn");
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            common::checkpoint_file(out.path(), "neighbours.safetensors"),
            "no neighbour table in the checkpoint"
        );
        lines(&out.path().join("steps.jsonl"))
            .iter()
            .map(|step| step["loss"].as_f64().unwrap())
            .collect::<Vec<f64>>()
    };
    let (alone, two) = (losses("0"), losses("0,0"));
    assert_eq!(alone.len(), 16);
    assert_eq!(two.len(), 16);
    for step in 0..2 {
        assert!(
            (alone[step] - two[step]).abs() <= 1e-5 * alone[step].abs(),
            "step {}: one device {}, two peers {}",
            step + 1,
            alone[step],
            two[step]
        );
    }
}
