//! Pretraining on a plain folder of unlabeled images (PNG and JPEG in nested folders, one
//! corrupt file), with and without a separate labelled set to evaluate on.

mod common;

use std::io::Write;
use std::path::Path;

use image::{Rgb, RgbImage};

/// A bright square, a horizontal bar or a vertical bar (`kind` 0, 1, 2), each in its own
/// colour, at a place that moves with `i`, on a dark 20x20 background.
fn shape(kind: usize, i: usize) -> RgbImage {
    let colours = [[230, 40, 40], [40, 200, 60], [50, 60, 220]];
    let mut img = RgbImage::from_pixel(20, 20, Rgb([20, 20, 20]));
    let offset = (i * 7 + kind * 3) % 8;
    for y in 0..20usize {
        for x in 0..20usize {
            let inside = match kind {
                0 => (offset..offset + 10).contains(&x) && (4..14).contains(&y),
                1 => (8..12).contains(&y) && (offset..offset + 12).contains(&x),
                _ => (8..12).contains(&x) && (offset..offset + 12).contains(&y),
            };
            if inside {
                img.put_pixel(x as u32, y as u32, Rgb(colours[kind]));
            }
        }
    }
    img
}

/// 90 unlabeled images spread over nested folders, a third of them JPEG, plus a text file
/// and a corrupt PNG.
fn write_unlabeled(root: &Path) -> std::path::PathBuf {
    for i in 0..90 {
        let dir = root.join(format!("day_{}/camera_{}", i % 4, i % 3));
        std::fs::create_dir_all(&dir).unwrap();
        let extension = if i % 3 == 0 { "jpg" } else { "png" };
        shape(i % 3, i)
            .save(dir.join(format!("{i:03}.{extension}")))
            .unwrap();
    }
    std::fs::write(root.join("day_0/notes.txt"), "not an image").unwrap();
    let corrupt = root.join("day_1/broken.png");
    std::fs::write(&corrupt, b"\x89PNG truncated").unwrap();
    corrupt
}

/// A labelled ImageFolder tree of the same shapes: `train/<class>/` and `test/<class>/`.
fn write_labelled(root: &Path) {
    for (split, count) in [("train", 20), ("test", 8)] {
        for class in 0..3 {
            let dir = root.join(split).join(format!("class_{class}"));
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..count {
                shape(class, i + 100)
                    .save(dir.join(format!("{i:03}.png")))
                    .unwrap();
            }
        }
    }
}

const CONFIG: &str = r#"
method = "simclr"
[data]
dataset = "images"
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

fn pretrain(images: &Path, out: &Path, sets: &[String]) -> std::process::Output {
    let mut config = tempfile::NamedTempFile::new().unwrap();
    config.write_all(CONFIG.as_bytes()).unwrap();
    let mut args: Vec<String> = [
        "pretrain",
        "--config",
        config.path().to_str().unwrap(),
        "--data-dir",
        images.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    for set in sets {
        args.push("--set".into());
        args.push(set.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::selfsup(&args)
}

#[test]
fn an_unlabeled_folder_pretrains_and_a_separate_labelled_set_evaluates_it() {
    let images = tempfile::tempdir().unwrap();
    let corrupt = write_unlabeled(images.path());
    let labelled = tempfile::tempdir().unwrap();
    write_labelled(labelled.path());
    let eval_set = [
        "eval.dataset=\"imagefolder\"".to_string(),
        format!("eval.dir={:?}", labelled.path().display().to_string()),
    ];

    // The corrupt file stops the run, named.
    let out = tempfile::tempdir().unwrap();
    let refused = pretrain(images.path(), out.path(), &eval_set);
    assert!(!refused.status.success());
    let message = common::error_line(&refused);
    assert!(
        message.contains(&corrupt.display().to_string()),
        "{message}"
    );
    assert!(message.contains("data.skip_bad"), "{message}");

    // Skipped with data.skip_bad, the other 90 images pretrain; kNN on the labelled set.
    let out = tempfile::tempdir().unwrap();
    let mut sets = eval_set.to_vec();
    sets.push("data.skip_bad=true".into());
    let run = pretrain(images.path(), out.path(), &sets);
    assert!(run.status.success(), "{}", common::stderr(&run));
    let summary = common::read_json(&out.path().join("summary.json"));
    assert_eq!(summary["train_images"], 90);
    assert_eq!(summary["test_images"], 24);
    let top1 = summary["knn_top1"].as_f64().unwrap();
    assert!(top1 > 0.0 && top1 <= 1.0, "{summary}");
    // The run's normalisation is kept in its config, from the unlabeled images.
    let saved = std::fs::read_to_string(out.path().join("config.toml")).unwrap();
    assert!(saved.contains("mean = ["), "{saved}");

    // `selfsup eval knn` on the finished run gives the kNN the run measured.
    let eval = common::selfsup(&["eval", "knn", "--checkpoint", out.path().to_str().unwrap()]);
    assert!(eval.status.success(), "{}", common::stderr(&eval));
    let report = common::read_json(&out.path().join("eval/knn.json"));
    assert_eq!(report["top1"].as_f64().unwrap(), top1, "{report}");
}

#[test]
fn without_an_evaluation_set_no_knn_is_measured_and_eval_says_why() {
    let images = tempfile::tempdir().unwrap();
    let _ = write_unlabeled(images.path());
    let out = tempfile::tempdir().unwrap();
    let run = pretrain(
        images.path(),
        out.path(),
        &["data.skip_bad=true".to_string()],
    );
    assert!(run.status.success(), "{}", common::stderr(&run));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("no kNN"), "{stdout}");
    let summary = common::read_json(&out.path().join("summary.json"));
    assert!(summary["knn_top1"].is_null(), "{summary}");
    assert!(out.path().join("encoder.safetensors").exists());
    // The training-health metrics stand in for the kNN: in metrics.jsonl at every evaluation,
    // and in curves.png (loss, learning rate and the four health panels, no kNN panel).
    let metrics = std::fs::read_to_string(out.path().join("metrics.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = metrics
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    for record in &records {
        assert!(record["knn_top1"].is_null(), "{record}");
        for key in ["projection_std", "effective_rank", "alignment", "uniformity"] {
            assert!(record[key].as_f64().unwrap().is_finite(), "{key}: {record}");
        }
    }
    let (_, height) = image::image_dimensions(out.path().join("curves.png")).unwrap();
    assert_eq!(height, 6 * 300);

    let eval = common::selfsup(&["eval", "knn", "--checkpoint", out.path().to_str().unwrap()]);
    assert!(!eval.status.success());
    let message = common::error_line(&eval);
    assert!(message.contains("eval.dataset"), "{message}");
}
