//! STL-10 through the binary, on files written here in the binary layout: pretraining on the
//! labelled and unlabeled images, kNN on the labelled ones; a truncated file is named.

mod common;

use std::path::Path;

const SIDE: usize = 96;

/// Class c: the image is bright in channel c % 3 and dark elsewhere, with a per-image offset;
/// planes are column-major as in STL-10.
fn images(count: usize, class_of: impl Fn(usize) -> usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(count * 3 * SIDE * SIDE);
    for i in 0..count {
        let class = class_of(i);
        for c in 0..3 {
            for k in 0..SIDE {
                for r in 0..SIDE {
                    let base = if c == class % 3 { 200 } else { 30 };
                    bytes.push((base + (r + k + i) % 40) as u8);
                }
            }
        }
    }
    bytes
}

fn write_stl(dir: &Path) {
    std::fs::write(dir.join("train_X.bin"), images(60, |i| i % 3)).unwrap();
    std::fs::write(
        dir.join("train_y.bin"),
        (0..60).map(|i| (i % 3 + 1) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(dir.join("test_X.bin"), images(30, |i| i % 3)).unwrap();
    std::fs::write(
        dir.join("test_y.bin"),
        (0..30).map(|i| (i % 3 + 1) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(dir.join("unlabeled_X.bin"), images(40, |i| i)).unwrap();
}

fn pretrain(data: &Path, out: &Path) -> std::process::Output {
    common::selfsup(&[
        "pretrain",
        "--config",
        "configs/stl10/simclr.toml",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--set",
        "augment.crop_size=32",
        "--set",
        "train.warmup_epochs=0",
        "--set",
        "model.width=4",
        "--set",
        "train.batch_size=25",
        "--set",
        "train.epochs=1",
        "--set",
        "eval.knn_k=10",
    ])
}

#[test]
fn stl10_pretrains_on_labelled_and_unlabeled_images() {
    let data = tempfile::tempdir().unwrap();
    write_stl(data.path());
    let out = tempfile::tempdir().unwrap();
    let output = pretrain(data.path(), out.path());
    assert!(output.status.success(), "{}", common::stderr(&output));
    let summary: serde_json::Value = common::read_json(&out.path().join("summary.json"));
    assert_eq!(summary["dataset"], "stl10");
    assert_eq!(summary["train_images"], 100, "60 labelled + 40 unlabeled");
    assert_eq!(summary["steps"], 4);
    assert!(summary["knn_top1"].as_f64().unwrap() > 0.5, "{summary}");
}

#[test]
fn truncated_stl10_file_is_named() {
    let data = tempfile::tempdir().unwrap();
    write_stl(data.path());
    let path = data.path().join("test_X.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 5);
    std::fs::write(&path, bytes).unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = pretrain(data.path(), out.path());
    assert!(!output.status.success());
    let stderr = common::stderr(&output);
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap();
    assert!(line.contains("test_X.bin"), "{line}");
    assert!(line.contains("27648-byte records"), "{line}");
}
