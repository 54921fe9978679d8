//! Runs that survive: SIGKILL, SIGTERM and SIGINT mid-run, a checkpoint write that fails before
//! its rename, a non-finite loss, and resuming with a config that does not match.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

/// SimCLR, 1024 images, 16 steps per epoch, 2 epochs, a checkpoint every 3 steps.
const TINY: &[&str] = &[
    "--set",
    "data.train_limit=1024",
    "--set",
    "data.test_limit=200",
    "--set",
    "model.width=4",
    "--set",
    "train.batch_size=64",
    "--set",
    "train.epochs=2",
    "--set",
    "eval.knn_k=20",
    "--set",
    "checkpoint.every_steps=3",
    "--set",
    "checkpoint.keep=100",
];

fn args<'a>(out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "pretrain",
        "--config",
        "configs/fashion_mnist/simclr.toml",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    args
}

fn step_losses(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("steps.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            format!("{} {}", v["step"], v["loss"])
        })
        .collect()
}

fn uninterrupted() -> (tempfile::TempDir, Vec<String>) {
    let out = tempfile::tempdir().unwrap();
    let output = common::selfsup(&args(out.path(), &[]));
    assert!(output.status.success(), "{}", common::stderr(&output));
    let losses = step_losses(out.path());
    assert_eq!(losses.len(), 32);
    (out, losses)
}

/// Waits until the run has written a checkpoint at or after `step`.
fn wait_for_checkpoint(run: &Path, step: usize, child: &mut Child) {
    let started = Instant::now();
    loop {
        let found = std::fs::read_dir(run.join("checkpoints"))
            .ok()
            .is_some_and(|dir| {
                dir.filter_map(|e| e.ok()).any(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    name.strip_prefix("step-")
                        .and_then(|n| n.parse::<usize>().ok())
                        .is_some_and(|n| n >= step)
                        && e.path().join("state.json").exists()
                })
            });
        if found {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its checkpoint at step {step}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn resume(run: &Path) {
    let output = common::selfsup(&["pretrain", "--resume", run.to_str().unwrap()]);
    assert!(output.status.success(), "{}", common::stderr(&output));
}

#[test]
fn killed_with_sigkill_mid_run_and_resumed_matches_the_uninterrupted_run() {
    common::require_dataset();
    let (_whole, expected) = uninterrupted();
    let out = tempfile::tempdir().unwrap();
    let mut child = common::spawn_selfsup(&args(out.path(), &[]));
    wait_for_checkpoint(out.path(), 6, &mut child);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !out.path().join("summary.json").exists(),
        "killed before the end"
    );
    resume(out.path());
    assert_eq!(step_losses(out.path()), expected);
}

fn signal_mid_run(signal: &str, code: i32) {
    common::require_dataset();
    let (_whole, expected) = uninterrupted();
    let out = tempfile::tempdir().unwrap();
    let mut child = common::spawn_selfsup(&args(out.path(), &[]));
    wait_for_checkpoint(out.path(), 3, &mut child);
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    let name = signal.trim_start_matches('-');
    assert!(
        stderr.contains(&format!("interrupted by SIG{name}")),
        "{stderr}"
    );
    assert!(stderr.contains("selfsup pretrain --resume"), "{stderr}");
    // The step it stopped at has its checkpoint.
    let stopped: usize = stderr
        .split("after step ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no step in {stderr}"));
    let dir = out.path().join(format!("checkpoints/step-{stopped:08}"));
    assert!(dir.join("state.json").exists(), "{}", dir.display());
    resume(out.path());
    assert_eq!(step_losses(out.path()), expected);
}

#[test]
fn sigterm_finishes_the_step_checkpoints_and_exits_143() {
    signal_mid_run("-TERM", 143);
}

#[test]
fn sigint_finishes_the_step_checkpoints_and_exits_130() {
    signal_mid_run("-INT", 130);
}

#[test]
fn a_write_that_fails_before_its_rename_leaves_the_previous_checkpoint() {
    common::require_dataset();
    // Steps 3 and 6 get checkpoints; a file where step 9's directory would go makes that write
    // fail after its files are written and before the rename.
    let out = tempfile::tempdir().unwrap();
    let checkpoints = out.path().join("checkpoints");
    std::fs::create_dir_all(&checkpoints).unwrap();
    std::fs::write(checkpoints.join("step-00000009"), b"not a directory").unwrap();
    let output = common::selfsup(&args(out.path(), &[]));
    assert!(!output.status.success());
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains("step-00000009: cannot write the checkpoint"),
        "{stderr}"
    );
    // The partial directory is left, the complete one before it is what resuming finds.
    assert!(checkpoints.join("step-00000009.partial").exists());
    std::fs::remove_file(checkpoints.join("step-00000009")).unwrap();
    let output = common::selfsup(&["pretrain", "--resume", out.path().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", common::stderr(&output));
    assert!(stdout.contains("step-00000006"), "{stdout}");
    let (_whole, expected) = uninterrupted();
    assert_eq!(step_losses(out.path()), expected);
}

#[test]
fn a_non_finite_loss_stops_the_run_naming_step_terms_and_checkpoint() {
    common::require_dataset();
    let out = tempfile::tempdir().unwrap();
    // A learning rate this large overflows at the second step; step 1 has a checkpoint.
    let output = common::selfsup(&args(
        out.path(),
        &[
            "--set",
            "train.lr=1e30",
            "--set",
            "checkpoint.every_steps=1",
        ],
    ));
    let line = common::error_line(&output);
    assert!(
        line.contains("non-finite loss NaN (nt_xent = NaN)"),
        "{line}"
    );
    assert!(line.contains("at epoch 1 step 2;"), "{line}");
    assert!(line.contains("the last good checkpoint is"), "{line}");
    assert!(line.contains("checkpoints/step-00000001"), "{line}");
    assert!(line.contains("lower train.lr"), "{line}");
    let step = 2;
    // Nothing past the bad step was logged as trained.
    assert_eq!(step_losses(out.path()).len(), step - 1);
}

#[test]
fn skip_step_leaves_the_model_unchanged_a_bounded_number_of_times() {
    common::require_dataset();
    let out = tempfile::tempdir().unwrap();
    let output = common::selfsup(&args(
        out.path(),
        &[
            "--set",
            "train.lr=1e30",
            "--set",
            "train.on_nan=\"skip_step\"",
            "--set",
            "train.max_skipped_steps=2",
        ],
    ));
    assert!(!output.status.success());
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains("after skipping train.max_skipped_steps = 2 steps"),
        "{stderr}"
    );
    let skipped = std::fs::read_to_string(out.path().join("steps.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"skipped\":true"))
        .count();
    assert_eq!(skipped, 2);
}

#[test]
fn resuming_with_a_different_config_lists_the_differences() {
    common::require_dataset();
    let out = tempfile::tempdir().unwrap();
    let output = common::selfsup(&args(out.path(), &["--stop-after-epoch", "1"]));
    assert!(output.status.success(), "{}", common::stderr(&output));
    // --out of a run with a checkpoint resumes it, so a changed config is compared.
    let output = common::selfsup(&[
        "pretrain",
        "--config",
        "configs/fashion_mnist/moco.toml",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let stderr = common::stderr(&output);
    assert!(stderr.contains("another config"), "{stderr}");
    assert!(
        stderr.contains("method: \"simclr\" -> \"moco\""),
        "{stderr}"
    );
    assert!(stderr.contains("model.width: 4 -> 16"), "{stderr}");
    // Where it runs and how it is evaluated may change.
    let output = common::selfsup(&[
        "pretrain",
        "--resume",
        out.path().to_str().unwrap(),
        "--set",
        "eval.knn_k=10",
        "--set",
        "train.lr=0.5",
    ]);
    let stderr = common::stderr(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("train.lr: 0.2 -> 0.5"), "{stderr}");
    assert!(!stderr.contains("knn_k"), "{stderr}");
}

#[test]
fn auto_resume_from_out_says_so_and_finishes_the_run() {
    common::require_dataset();
    let out = tempfile::tempdir().unwrap();
    let output = common::selfsup(&args(out.path(), &["--stop-after-epoch", "1"]));
    assert!(output.status.success(), "{}", common::stderr(&output));
    let output = common::selfsup(&args(out.path(), &[]));
    assert!(output.status.success(), "{}", common::stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("holds a checkpoint: resuming it"),
        "{stdout}"
    );
    assert_eq!(step_losses(out.path()).len(), 32);
}

#[test]
fn an_output_directory_that_cannot_be_created_is_named() {
    common::require_dataset();
    let parent = tempfile::NamedTempFile::new().unwrap();
    let out = parent.path().join("run");
    let output = common::selfsup(&args(&out, &[]));
    assert!(!output.status.success());
    let stderr = common::stderr(&output);
    assert!(stderr.contains(&out.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("cannot create the output directory"),
        "{stderr}"
    );
}

#[test]
fn a_checkpoint_of_another_method_is_refused() {
    common::require_dataset();
    let out = tempfile::tempdir().unwrap();
    let output = common::selfsup(&args(out.path(), &["--stop-after-epoch", "1"]));
    assert!(output.status.success(), "{}", common::stderr(&output));
    // A run directory whose config was edited to another method after the checkpoint.
    let config = out.path().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("method = \"simclr\"", "method = \"wcl\""),
    )
    .unwrap();
    let output = common::selfsup(&["pretrain", "--resume", out.path().to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains("a checkpoint of method simclr, not wcl"),
        "{stderr}"
    );
}
