//! Fine-tuning and distillation write a checkpoint after every epoch: stopped part-way
//! (`--stop-after-epoch`) and continued with `--resume`, they end exactly where an
//! uninterrupted run ends; a resume with other settings, or with nothing to resume, is refused
//! with the reason.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::read_json;
use serde_json::Value;

/// `selfsup eval finetune` of 10% of the labels, 4 epochs, plus `extra`; its output, logged at
/// `info` (where a stop at `--stop-after-epoch` is reported).
fn finetune(run: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["eval", "finetune", "--labels", "0.1", "--checkpoint", run];
    for set in [
        "eval.finetune_epochs=4",
        "eval.finetune_batch_size=16",
        "eval.finetune_lr=0.8",
    ] {
        args.extend_from_slice(&["--set", set]);
    }
    args.extend_from_slice(extra);
    common::selfsup_logging(&args, "info")
}

/// `selfsup distill` of `teacher` into a width-2 student for 3 epochs on 128 images.
fn distill(teacher: &str, out: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["distill", "--teacher", teacher, "--out", out];
    for set in [
        "distill.student_width=2",
        "distill.epochs=3",
        "distill.batch_size=32",
        "data.train_limit=128",
    ] {
        args.extend_from_slice(&["--set", set]);
    }
    args.extend_from_slice(extra);
    common::selfsup_logging(&args, "info")
}

fn succeeded(output: &std::process::Output) -> String {
    let stderr = common::stderr(output);
    assert!(output.status.success(), "{stderr}");
    stderr
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every tensor of a safetensors file by name: its dtype, shape and raw bytes. (The files'
/// metadata is a map written in no fixed order, so the files themselves are not compared.)
fn tensors(path: &Path) -> BTreeMap<String, (String, Vec<u8>)> {
    let file = bytes(path);
    let header_len = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&file[8..8 + header_len]).unwrap();
    let data = &file[8 + header_len..];
    header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| *name != "__metadata__")
        .map(|(name, info)| {
            let offsets = &info["data_offsets"];
            let (start, end) = (
                offsets[0].as_u64().unwrap() as usize,
                offsets[1].as_u64().unwrap() as usize,
            );
            let kind = format!("{} {}", info["dtype"], info["shape"]);
            (name.clone(), (kind, data[start..end].to_vec()))
        })
        .collect()
}

#[test]
fn finetuning_and_distillation_continue_where_they_stopped() {
    common::require_dataset();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let dir = run.to_str().unwrap();
    common::tiny_finished_run("simclr", dir, &[]);
    let eval = run.join("eval");

    succeeded(&finetune(dir, &[]));
    let whole = read_json(&eval.join("finetune_0.1.json"));
    let whole_model = tensors(&eval.join("finetune_0.1.safetensors"));
    assert!(whole_model.len() > 10, "{:?}", whole_model.keys());
    assert!(
        !eval.join("finetune_0.1.checkpoint").exists(),
        "removed once done"
    );

    let stderr = succeeded(&finetune(dir, &["--stop-after-epoch", "2"]));
    assert!(stderr.contains("stopped after epoch 2 of 4"), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    let checkpoint = eval.join("finetune_0.1.checkpoint");
    assert!(checkpoint.join("state.json").is_file());

    // Another learning rate than the checkpoint's: refused, naming the setting.
    let other = common::selfsup(&[
        "eval",
        "finetune",
        "--labels",
        "0.1",
        "--checkpoint",
        dir,
        "--set",
        "eval.finetune_epochs=4",
        "--set",
        "eval.finetune_batch_size=16",
        "--resume",
    ]);
    assert!(!other.status.success());
    let message = common::stderr(&other);
    assert!(message.contains("another lr"), "{message}");

    succeeded(&finetune(dir, &["--resume"]));
    let continued = read_json(&eval.join("finetune_0.1.json"));
    for key in ["top1", "top5", "final_loss", "per_class_top1"] {
        assert_eq!(continued[key], whole[key], "{key}");
    }
    assert!(
        tensors(&eval.join("finetune_0.1.safetensors")) == whole_model,
        "classifier differs"
    );
    assert!(!checkpoint.exists());

    // Nothing left to continue.
    let again = finetune(dir, &["--resume"]);
    assert!(!again.status.success());
    let message = common::stderr(&again);
    assert!(
        message.contains("there is no checkpoint to continue"),
        "{message}"
    );

    let teacher = eval.join("finetune_0.1.safetensors");
    let teacher = teacher.to_str().unwrap();
    let whole_out = tmp.path().join("whole");
    succeeded(&distill(teacher, whole_out.to_str().unwrap(), &[]));
    let parts_out = tmp.path().join("parts");
    let parts = parts_out.to_str().unwrap();
    let stderr = succeeded(&distill(teacher, parts, &["--stop-after-epoch", "1"]));
    assert!(stderr.contains("stopped after epoch 1 of 3"), "{stderr}");
    succeeded(&distill(teacher, parts, &["--resume"]));
    assert!(
        tensors(&parts_out.join("student.safetensors"))
            == tensors(&whole_out.join("student.safetensors")),
        "student differs"
    );
    let (whole, parts) = (
        read_json(&whole_out.join("distill.json")),
        read_json(&parts_out.join("distill.json")),
    );
    for key in ["top1", "agreement", "final_loss"] {
        assert_eq!(whole[key], parts[key], "{key}");
    }
}
