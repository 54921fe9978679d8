//! An ImageFolder tree of PNG files trains and evaluates through the binary with only a config;
//! an undecodable image and an empty class folder stop it with the file named.

mod common;

use std::io::Write;
use std::path::Path;

const CONFIG: &str = r#"
method = "simclr"
[data]
dataset = "imagefolder"
image_size = 16
channels = 3
[model]
width = 4
[train]
epochs = 2
batch_size = 30
lr = 0.1
warmup_epochs = 0
[augment]
crop_size = 16
[eval]
every = 1
knn_k = 10
"#;

fn run(root: &Path, extra: &[&str]) -> (std::process::Output, tempfile::TempDir) {
    let mut config = tempfile::NamedTempFile::new().unwrap();
    config.write_all(CONFIG.as_bytes()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut args = vec![
        "pretrain",
        "--config",
        config.path().to_str().unwrap(),
        "--data-dir",
        root.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (common::selfsup(&args), out)
}

#[test]
fn png_image_folder_trains_and_evaluates_from_a_config_alone() {
    let root = tempfile::tempdir().unwrap();
    common::write_shape_split(root.path(), "train", 30, 0);
    common::write_shape_split(root.path(), "test", 10, 0);
    let (output, out) = run(root.path(), &[]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let summary: serde_json::Value = common::read_json(&out.path().join("summary.json"));
    assert_eq!(summary["dataset"], "imagefolder");
    assert_eq!(summary["train_images"], 90);
    assert_eq!(summary["test_images"], 30);
    let top1 = summary["knn_top1"].as_f64().unwrap();
    assert!(
        top1 > 0.5,
        "kNN top-1 {top1} on 3 easy classes (chance 0.33)"
    );

    // The same run evaluated: a linear probe and fine-tuning on half of the labels.
    let dir = out.path().to_str().unwrap();
    for args in [
        vec![
            "eval",
            "linear",
            "--checkpoint",
            dir,
            "--set",
            "eval.linear_epochs=20",
        ],
        vec![
            "eval",
            "finetune",
            "--labels",
            "0.5",
            "--checkpoint",
            dir,
            "--set",
            "eval.finetune_epochs=3",
        ],
    ] {
        let output = common::selfsup(&args);
        assert!(output.status.success(), "{}", common::stderr(&output));
    }
    let linear: serde_json::Value = common::read_json(&out.path().join("eval/linear.json"));
    assert_eq!(
        linear["class_names"],
        serde_json::json!(["class_0", "class_1", "class_2"])
    );
    assert!(linear["top1"].as_f64().unwrap() > 0.5, "{linear}");
    assert!(out.path().join("eval/finetune_0.5.json").exists());
}

/// `data.storage = "disk"` decodes every file when it is read: the same run, the same losses.
#[test]
fn images_decoded_on_the_fly_train_exactly_as_images_in_memory() {
    let root = tempfile::tempdir().unwrap();
    common::write_shape_split(root.path(), "train", 30, 0);
    common::write_shape_split(root.path(), "test", 10, 0);
    let losses = |storage: &str| {
        let mut config = tempfile::NamedTempFile::new().unwrap();
        config.write_all(CONFIG.as_bytes()).unwrap();
        let out = tempfile::tempdir().unwrap();
        // Info level: the line saying where the images are kept.
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_selfsup"))
            .env("RUST_LOG", "info")
            .arg("pretrain")
            .arg("--config")
            .arg(config.path())
            .arg("--data-dir")
            .arg(root.path())
            .arg("--out")
            .arg(out.path())
            .args(["--set", &format!("data.storage=\"{storage}\"")])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", common::stderr(&output));
        let log = common::stderr(&output);
        let expected = if storage == "disk" {
            "decoded on the fly"
        } else {
            "kept in memory"
        };
        assert!(log.contains(expected), "{log}");
        std::fs::read_to_string(out.path().join("steps.jsonl")).unwrap()
    };
    assert_eq!(losses("disk"), losses("memory"));
}

#[test]
fn preview_draws_the_augmented_views_of_an_image_folder() {
    let root = tempfile::tempdir().unwrap();
    common::write_shape_split(root.path(), "train", 30, 0);
    common::write_shape_split(root.path(), "test", 10, 0);
    let mut config = tempfile::NamedTempFile::new().unwrap();
    config.write_all(CONFIG.as_bytes()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let png = out.path().join("views.png");
    let output = common::selfsup(&[
        "preview",
        "--config",
        config.path().to_str().unwrap(),
        "--data-dir",
        root.path().to_str().unwrap(),
        "--images",
        "3",
        "--views",
        "4",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let image = image::open(&png).unwrap().to_rgb8();
    // 3 rows of 5 cells (the image and 4 views), 16 px shown at 96.
    assert!(image.width() > 5 * 96 && image.height() > 3 * 96 && image.height() < 4 * 96 + 60);
    // Coloured views: some pixel is far from gray.
    assert!(
        image
            .pixels()
            .any(|p| (p[0] as i32 - p[1] as i32).abs() > 100)
    );
}

#[test]
fn an_undecodable_image_is_named_and_can_be_skipped() {
    let root = tempfile::tempdir().unwrap();
    common::write_shape_split(root.path(), "train", 30, 0);
    common::write_shape_split(root.path(), "test", 10, 0);
    let bad = root.path().join("train/class_1/999.png");
    std::fs::write(&bad, b"not a png").unwrap();
    let line = common::error_line(&run(root.path(), &[]).0);
    assert!(line.contains("999.png"), "{line}");
    assert!(line.contains("data.skip_bad = true"), "{line}");
    let (output, _) = run(root.path(), &["--set", "data.skip_bad=true"]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    assert!(common::stderr(&output).contains("skipped"));
}

#[test]
fn an_empty_class_folder_is_named() {
    let root = tempfile::tempdir().unwrap();
    common::write_shape_split(root.path(), "train", 30, 0);
    common::write_shape_split(root.path(), "test", 10, 0);
    std::fs::create_dir_all(root.path().join("train/class_9")).unwrap();
    let line = common::error_line(&run(root.path(), &[]).0);
    assert!(line.contains("class_9"), "{line}");
    assert!(line.contains("no images in this class folder"), "{line}");
}
