//! `selfsup eval knn|linear|finetune`, `neighbours` and `export` on a finished tiny run, and the
//! pictures they and the run write.

mod common;

use common::read_json;
use serde_json::Value;

#[test]
fn eval_reloads_the_encoder_and_reports_knn_and_a_linear_probe() {
    common::require_dataset();
    let run = tempfile::tempdir().unwrap();
    let dir = run.path().to_str().unwrap();
    common::tiny_finished_run("simclr", dir, &[]);
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
    // Far above chance (10%). The tiny run's features vary with the f32 rounding of the
    // machine and code path: over seeds 0-7, with the CPU kernels and without (16 runs, AMD
    // EPYC), this probe scored 47.4-67.2% (mean 57.5%), the same spread on both paths.
    assert!(linear["top1"].as_f64().unwrap() > 0.35, "{linear}");
    assert_class_report(&linear, 500);
    assert_png(&run.path().join("eval/linear_confusion.png"));
    assert_png(&run.path().join("eval/embedding.png"));
    assert_png(&run.path().join("curves.png"));

    // 10% of the 512 labels: 51 images, about 5 per class, drawn once and reused.
    let finetune = |extra: &[&str]| {
        let mut args = vec!["eval", "finetune", "--labels", "0.1", "--checkpoint", dir];
        // 4 steps of 16 images per epoch at lr 0.8 * 16 / 256 = 0.05.
        for set in [
            "eval.finetune_epochs=20",
            "eval.finetune_batch_size=16",
            "eval.finetune_lr=0.8",
        ] {
            args.extend_from_slice(&["--set", set]);
        }
        args.extend_from_slice(extra);
        let output = common::selfsup(&args);
        assert!(output.status.success(), "{}", common::stderr(&output));
        assert!(String::from_utf8_lossy(&output.stdout).contains("finetune_0.1 on fashion_mnist"));
        read_json(&run.path().join("eval/finetune_0.1.json"))
    };
    let first = finetune(&[]);
    let split = std::fs::read_to_string(run.path().join("eval/labels_0.1.json")).unwrap();
    let indices = read_json(&run.path().join("eval/labels_0.1.json"))["indices"].clone();
    assert_eq!(indices.as_array().unwrap().len(), 51, "{split}");
    assert_eq!(first["labelled_images"], 51);
    assert_eq!(first["epochs"], 20);
    assert!(
        first["top1"].as_f64().unwrap() > 0.3,
        "chance is 0.1: {first}"
    );
    assert_class_report(&first, 500);
    assert_png(&run.path().join("eval/finetune_0.1_confusion.png"));
    assert_eq!(first["from_head_layer"], false);
    assert!(run.path().join("eval/finetune_0.1.safetensors").is_file());
    // SimCLR v1 keeps no head layer to fine-tune from.
    let output = common::selfsup(&[
        "eval",
        "finetune",
        "--labels",
        "0.1",
        "--from-head-layer",
        "--checkpoint",
        dir,
    ]);
    assert!(!output.status.success());
    let message = common::stderr(&output);
    assert!(
        message.contains("head_layer.safetensors: no head layer to fine-tune from"),
        "{message}"
    );
    // Same seed, same split file: the same figures again.
    let second = finetune(&[]);
    assert_eq!(first["top1"], second["top1"]);
    assert_eq!(
        std::fs::read_to_string(run.path().join("eval/labels_0.1.json")).unwrap(),
        split
    );

    neighbours_and_export(run.path());
}

/// `selfsup neighbours` draws its grid and `selfsup export` writes torchvision's keys, on the
/// finished run `run`.
fn neighbours_and_export(run: &std::path::Path) {
    let dir = run.to_str().unwrap();
    let output = common::selfsup(&[
        "neighbours",
        "--checkpoint",
        dir,
        "--queries",
        "4",
        "--k",
        "5",
    ]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("share the query's class"));
    let (width, height) = image::image_dimensions(run.join("eval/neighbours.png")).unwrap();
    assert!(width > height, "4 rows of 6 cells: {width}x{height}");

    let output = common::selfsup(&["export", "--checkpoint", dir]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let header = common::safetensors_header(&run.join("export/resnet18.safetensors"));
    assert_eq!(
        header["conv1.weight"]["shape"],
        serde_json::json!([4, 1, 3, 3])
    );
    assert_eq!(
        header["layer4.1.bn2.running_var"]["shape"],
        serde_json::json!([32])
    );
    assert_eq!(header["bn1.num_batches_tracked"]["dtype"], "I64");
    assert_eq!(
        header.as_object().unwrap().len(),
        121,
        "120 tensors and the metadata"
    );
}

/// Per-class accuracy and a confusion matrix over the 10 classes, counting every test image.
fn assert_class_report(report: &Value, test_images: u64) {
    assert_eq!(report["class_names"][0], "T-shirt/top");
    assert_eq!(report["per_class_top1"].as_array().unwrap().len(), 10);
    let confusion = report["confusion"].as_array().unwrap();
    assert_eq!(confusion.len(), 10);
    let total: u64 = confusion
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, test_images);
    let correct: u64 = (0..10).map(|c| confusion[c][c].as_u64().unwrap()).sum();
    let top1 = report["top1"].as_f64().unwrap();
    assert!(
        (correct as f64 / test_images as f64 - top1).abs() < 1e-9,
        "{report}"
    );
}

fn assert_png(path: &std::path::Path) {
    let (width, height) =
        image::image_dimensions(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        width >= 300 && height >= 300,
        "{}: {width}x{height}",
        path.display()
    );
}

#[test]
fn finetune_needs_a_label_fraction_in_zero_one() {
    let run = tempfile::tempdir().unwrap();
    let dir = run.path().to_str().unwrap();
    let line = common::error_line(&common::selfsup(&["eval", "finetune", "--checkpoint", dir]));
    assert!(line.contains("--labels"), "{line}");
    let line = common::error_line(&common::selfsup(&[
        "eval",
        "finetune",
        "--labels",
        "1.5",
        "--checkpoint",
        dir,
    ]));
    assert!(line.contains("--labels 1.5"), "{line}");
    let line = common::error_line(&common::selfsup(&[
        "eval",
        "knn",
        "--from-head-layer",
        "--checkpoint",
        dir,
    ]));
    assert!(
        line.contains("--from-head-layer is for finetune only"),
        "{line}"
    );
}

#[test]
fn distill_needs_a_fine_tuning_teacher_beside_its_report() {
    let run = tempfile::tempdir().unwrap();
    let eval = run.path().join("eval");
    std::fs::create_dir_all(&eval).unwrap();
    // A model file without the report fine-tuning writes beside it.
    let teacher = eval.join("finetune_0.1.safetensors");
    std::fs::write(&teacher, b"not checked before the report").unwrap();
    let teacher = teacher.to_str().unwrap();
    let line = common::error_line(&common::selfsup(&["distill", "--teacher", teacher]));
    assert!(line.contains("finetune_0.1.json: cannot read"), "{line}");
    // A report of another kind.
    std::fs::write(
        eval.join("finetune_0.1.json"),
        r#"{"kind": "linear", "class_names": ["a", "b"]}"#,
    )
    .unwrap();
    let line = common::error_line(&common::selfsup(&["distill", "--teacher", teacher]));
    assert!(
        line.contains("the teacher must be a fine-tuned model"),
        "{line}"
    );
    // The right report, but no run config above it.
    std::fs::write(
        eval.join("finetune_0.1.json"),
        r#"{"kind": "finetune", "class_names": ["a", "b"]}"#,
    )
    .unwrap();
    let line = common::error_line(&common::selfsup(&["distill", "--teacher", teacher]));
    assert!(line.contains("config.toml: missing"), "{line}");
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

/// SimCLR v2's semi-supervised pipeline on a tiny run: pretrain with the 3-layer head, fine-tune
/// from its first layer, distil the fine-tuned model into a half-width student.
#[test]
fn simclr_v2_finetunes_from_the_head_layer_and_distils_a_smaller_student() {
    common::require_dataset();
    let run = tempfile::tempdir().unwrap();
    let dir = run.path().to_str().unwrap();
    common::tiny_finished_run("simclr_v2", dir, &[]);
    assert!(run.path().join("head_layer.safetensors").is_file());

    let output = common::selfsup(&[
        "eval",
        "finetune",
        "--labels",
        "0.1",
        "--from-head-layer",
        "--checkpoint",
        dir,
        "--set",
        "eval.finetune_epochs=40",
        "--set",
        "eval.finetune_batch_size=16",
        "--set",
        "eval.finetune_lr=0.8",
    ]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let finetuned = read_json(&run.path().join("eval/finetune_0.1_head_layer.json"));
    assert_eq!(finetuned["from_head_layer"], true);
    // 51 labels on a 1-epoch width-4 encoder: about 36%.
    assert!(
        finetuned["top1"].as_f64().unwrap() > 0.25,
        "chance is 0.1: {finetuned}"
    );
    let teacher = run.path().join("eval/finetune_0.1_head_layer.safetensors");
    assert!(teacher.is_file());

    let output = common::selfsup(&[
        "distill",
        "--teacher",
        teacher.to_str().unwrap(),
        "--set",
        "distill.epochs=8",
        "--set",
        "distill.batch_size=64",
        "--set",
        "distill.lr=1.0",
    ]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("student (width 2"), "{stdout}");
    let out = run.path().join("distill/finetune_0.1_head_layer_w2");
    let report = read_json(&out.join("distill.json"));
    // The teacher reloaded from its file scores exactly what fine-tuning measured.
    assert_eq!(report["teacher_top1"], finetuned["top1"]);
    assert_eq!(report["teacher_width"], 4);
    assert_eq!(report["student_width"], 2);
    assert!(
        report["student_params"].as_u64().unwrap() * 3 < report["teacher_params"].as_u64().unwrap(),
        "{report}"
    );
    assert_eq!(report["train_images"], 512);
    assert_eq!(report["epochs"], 8);
    assert!(report["final_loss"].as_f64().unwrap().is_finite());
    // Measured: the student 32% against the teacher's 36%, agreeing on 63% of the test images.
    assert!(
        report["top1"].as_f64().unwrap() > 0.2,
        "chance is 0.1: {report}"
    );
    assert!(report["agreement"].as_f64().unwrap() > 0.4, "{report}");
    assert_class_report(&report, 500);
    assert_png(&out.join("distill_confusion.png"));
    assert!(out.join("student.safetensors").is_file());

    // A teacher that is not a fine-tuned model is refused, naming the file.
    let missing = run.path().join("eval/finetune_0.5.safetensors");
    let output = common::selfsup(&["distill", "--teacher", missing.to_str().unwrap()]);
    assert!(!output.status.success());
    let message = common::stderr(&output);
    assert!(
        message.contains("finetune_0.5.safetensors: no fine-tuned model"),
        "{message}"
    );
}
