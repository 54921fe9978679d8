//! Pretraining on a plain folder of unlabeled images (PNG and JPEG in nested folders, one
//! corrupt file), with and without a separate labelled set to evaluate on.

mod common;

use std::io::Write;
use std::path::Path;

/// 90 unlabeled images spread over nested folders, a third of them JPEG, plus a text file
/// and a corrupt PNG.
fn write_unlabeled(root: &Path) -> std::path::PathBuf {
    for i in 0..90 {
        let dir = root.join(format!("day_{}/camera_{}", i % 4, i % 3));
        std::fs::create_dir_all(&dir).unwrap();
        let extension = if i % 3 == 0 { "jpg" } else { "png" };
        common::shape_image(i % 3, i)
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
    common::write_shape_split(root, "train", 20, 100);
    common::write_shape_split(root, "test", 8, 100);
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

    embeddings_match_the_run(out.path(), labelled.path(), images.path(), top1);
}

/// `selfsup embed` of the finished run `run` on the labelled folders, read back in Python:
/// the weighted kNN there is the run's `top1`, and the rows follow the file list; `--head`
/// on the unlabeled `images` writes the projection head's output.
fn embeddings_match_the_run(run: &Path, labelled: &Path, images: &Path, top1: f64) {
    // equals `selfsup eval knn`, and the rows follow the file list.
    let embeddings = tempfile::tempdir().unwrap();
    let mut written = Vec::new();
    for split in ["train", "test"] {
        let file = embeddings.path().join(format!("{split}.safetensors"));
        let embedded = common::selfsup(&[
            "embed",
            "--checkpoint",
            run.to_str().unwrap(),
            "--images",
            labelled.join(split).to_str().unwrap(),
            "--out",
            file.to_str().unwrap(),
        ]);
        assert!(embedded.status.success(), "{}", common::stderr(&embedded));
        let index = common::read_json(&file.with_extension("json"));
        let files: Vec<&str> = index["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let count = if split == "train" { 60 } else { 24 };
        assert_eq!(files.len(), count);
        assert_eq!(files[0], "class_0/000.png");
        assert!(files.windows(2).all(|w| w[0] < w[1]), "sorted paths");
        assert_eq!(index["features"], "backbone");
        assert_eq!(index["dim"], 32, "width 4: 8 x 4 features");
        written.push(file);
    }
    let python = std::process::Command::new("python3")
        .arg(common::repo_root().join("scripts/embeddings_knn.py"))
        .args([&written[0], &written[1]])
        .args(["--k", "10", "--t", "0.07"])
        .output()
        .expect("python3 (scripts/setup.sh installs it)");
    assert!(
        python.status.success(),
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
    let from_python: serde_json::Value = serde_json::from_slice(&python.stdout).unwrap();
    assert_eq!(from_python["queries"], 24);
    assert_eq!(from_python["top1"].as_f64().unwrap(), top1, "{from_python}");

    // --head: the projection head's output, from the run's last checkpoint.
    let head = embeddings.path().join("head.safetensors");
    let embedded = common::selfsup(&[
        "embed",
        "--checkpoint",
        run.to_str().unwrap(),
        "--images",
        images.to_str().unwrap(),
        "--out",
        head.to_str().unwrap(),
        "--head",
        "--set",
        "data.skip_bad=true",
    ]);
    assert!(embedded.status.success(), "{}", common::stderr(&embedded));
    let index = common::read_json(&head.with_extension("json"));
    assert_eq!(index["images"], 90);
    assert_eq!(index["features"], "head");
    assert_eq!(index["dim"], 128, "SimCLR's projection");
    assert_eq!(index["skipped"].as_array().unwrap().len(), 1);
    let bytes = std::fs::read(&head).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    assert_eq!(header["embeddings"]["shape"], serde_json::json!([90, 128]));
    assert_eq!(header["embeddings"]["dtype"], "F32");
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
        for key in [
            "projection_std",
            "effective_rank",
            "alignment",
            "uniformity",
        ] {
            assert!(record[key].as_f64().unwrap().is_finite(), "{key}: {record}");
        }
    }
    let (_, height) = image::image_dimensions(out.path().join("curves.png")).unwrap();
    assert_eq!(height, 6 * 300);

    let eval = common::selfsup(&["eval", "knn", "--checkpoint", out.path().to_str().unwrap()]);
    assert!(!eval.status.success());
    let message = common::error_line(&eval);
    assert!(message.contains("eval.dataset"), "{message}");

    // The neighbour grid of the unlabeled folder: the same seed draws the same images.
    let grid = |seed: &str| {
        let output = common::selfsup(&[
            "neighbours",
            "--checkpoint",
            out.path().to_str().unwrap(),
            "--images",
            images.path().to_str().unwrap(),
            "--queries",
            "4",
            "--k",
            "3",
            "--seed",
            seed,
            "--set",
            "data.skip_bad=true",
        ]);
        assert!(output.status.success(), "{}", common::stderr(&output));
        let name = images
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let path = out
            .path()
            .join("eval")
            .join(format!("neighbours_{name}.png"));
        let (width, height) = image::image_dimensions(&path).unwrap();
        assert!(width > 0 && height > 0);
        std::fs::read(&path).unwrap()
    };
    let first = grid("1");
    assert_eq!(grid("1"), first, "same seed, same grid");
    assert_ne!(grid("2"), first, "another seed draws other images");
}

#[test]
fn pretrain_data_dir_chooses_a_recipe_prints_it_and_saves_it() {
    let images = tempfile::tempdir().unwrap();
    let corrupt = write_unlabeled(images.path());
    let out = tempfile::tempdir().unwrap();
    let data = |extra: &[&str]| {
        let mut args = vec![
            "pretrain",
            "--data",
            images.path().to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
            "--set",
            "train.epochs=1",
        ];
        args.extend_from_slice(extra);
        common::selfsup(&args)
    };
    // The corrupt file is refused, named; then skipped with data.skip_bad.
    let refused = data(&[]);
    assert!(!refused.status.success());
    let message = common::error_line(&refused);
    assert!(
        message.contains(&corrupt.display().to_string()),
        "{message}"
    );

    let run = data(&["--set", "data.skip_bad=true"]);
    assert!(run.status.success(), "{}", common::stderr(&run));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("recipe chosen for"), "{stdout}");
    assert!(
        stdout.contains("91 images, median shorter side 20 px, colour"),
        "{stdout}"
    );
    assert!(
        stdout.contains("WCL, ResNet-18 width 16 on cpu"),
        "{stdout}"
    );
    let saved = std::fs::read_to_string(out.path().join("config.toml")).unwrap();
    for line in [
        "method = \"wcl\"",
        "dataset = \"images\"",
        "image_size = 20",
        "channels = 3",
        "batch_size = 16",
        "epochs = 1",
    ] {
        assert!(saved.contains(line), "{line} in\n{saved}");
    }
    let metrics = std::fs::read_to_string(out.path().join("metrics.jsonl")).unwrap();
    assert!(metrics.contains("\"effective_rank\""), "{metrics}");
    // Loss, learning rate and the four health panels (no labelled set, so no kNN panel).
    let (_, height) = image::image_dimensions(out.path().join("curves.png")).unwrap();
    assert_eq!(height, 6 * 300);
    assert!(out.path().join("encoder.safetensors").exists());
    // One command: the folder's embeddings come with the encoder.
    assert!(stdout.contains("embeddings of the 90 images"), "{stdout}");
    let index = common::read_json(&out.path().join("embeddings.json"));
    assert_eq!(index["images"], 90);
    assert_eq!(index["files"].as_array().unwrap().len(), 90);
    assert!(out.path().join("embeddings.safetensors").exists());
}

#[test]
fn rgba_images_train_with_four_channels() {
    let images = tempfile::tempdir().unwrap();
    for i in 0..64 {
        let rgb = common::shape_image(i % 3, i);
        let alpha = (i * 37 % 256) as u8;
        let rgba = image::RgbaImage::from_fn(20, 20, |x, y| {
            let p = rgb.get_pixel(x, y).0;
            image::Rgba([p[0], p[1], p[2], alpha])
        });
        rgba.save(images.path().join(format!("{i:03}.png")))
            .unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let run = common::selfsup(&[
        "pretrain",
        "--data",
        images.path().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--set",
        "train.epochs=1",
        "--set",
        "data.channels=4",
    ]);
    assert!(run.status.success(), "{}", common::stderr(&run));
    let saved = std::fs::read_to_string(out.path().join("config.toml")).unwrap();
    assert!(saved.contains("channels = 4"), "{saved}");
    let index = common::read_json(&out.path().join("embeddings.json"));
    assert_eq!(index["images"], 64);
}
