//! The CPU kernels (selfsup-kernels) against Burn's generic flex operations, end to end through
//! the binary (`--cpu-kernels on|off`): a tiny run's per-step losses agree, and a checkpoint
//! trained on either path evaluates to the same kNN on both.

mod common;

use common::read_json;
use serde_json::Value;

/// Relative difference allowed between the two paths' losses over the first
/// [`COMPARED_STEPS`] steps (two SGD updates in between). Measured: at most 1.7e-7 (AMD EPYC).
const LOSS_TOLERANCE: f64 = 1e-5;

/// Later steps are not compared: any two f32 implementations part there. Fashion-MNIST's
/// constant backgrounds give thousands of pixels the same pre-activation, and where that value
/// sits near a ReLU's zero, rounding decides the mask of all of them at once. Measured at width
/// 16 on real views: both paths' gradients are up to 1e-3 from float64 (tests/gradients_f64.rs
/// explains the same for WCL), and runs with only the convolution kernels, only the batch-norm
/// kernel, or neither part from each other at the same step.
const COMPARED_STEPS: usize = 3;

/// A finished 1-epoch SimCLR run at width 4 on 512 training and 500 test images; its losses.
fn tiny_run(dir: &str, kernels: &str) -> Vec<f64> {
    let extra = ["--cpu-kernels", kernels, "--set", "train.lr=0.002"];
    common::tiny_finished_run("simclr", dir, &extra);
    let steps = std::fs::read_to_string(std::path::Path::new(dir).join("steps.jsonl")).unwrap();
    steps
        .lines()
        .map(|line| {
            let step: Value = serde_json::from_str(line).unwrap();
            step["loss"].as_f64().unwrap()
        })
        .collect()
}

fn knn(dir: &str, kernels: &str) -> (Value, Value) {
    let output = common::selfsup(&["eval", "knn", "--cpu-kernels", kernels, "--checkpoint", dir]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let report = read_json(&std::path::Path::new(dir).join("eval/knn.json"));
    (report["top1"].clone(), report["top5"].clone())
}

#[test]
fn losses_agree_and_checkpoints_evaluate_the_same_on_both_paths() {
    common::require_dataset();
    let (fast_run, generic_run) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let fast_dir = fast_run.path().to_str().unwrap();
    let generic_dir = generic_run.path().to_str().unwrap();
    let fast = tiny_run(fast_dir, "on");
    let generic = tiny_run(generic_dir, "off");

    assert_eq!(fast.len(), 8, "8 steps of 64 images");
    assert_eq!(fast.len(), generic.len());
    assert!(fast.iter().chain(&generic).all(|loss| loss.is_finite()));
    let compared = fast.iter().zip(&generic).take(COMPARED_STEPS);
    for (step, (f, g)) in compared.enumerate() {
        let difference = (f - g).abs() / g.abs();
        assert!(
            difference < LOSS_TOLERANCE,
            "step {}: loss {f} with the kernels, {g} without ({difference:e})",
            step + 1
        );
    }

    for dir in [fast_dir, generic_dir] {
        let summary = read_json(&std::path::Path::new(dir).join("summary.json"));
        let on = knn(dir, "on");
        let off = knn(dir, "off");
        assert_eq!(
            on, off,
            "{dir}: kNN (top-1, top-5) with the kernels vs without"
        );
        assert_eq!(on.0, summary["knn_top1"], "{dir}: the run's own final kNN");
    }
}
