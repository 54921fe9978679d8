//! Bad input ends in one clear line on stderr and a non-zero exit, never a panic.

mod common;

use std::io::Write;

fn run_with_config(text: &str, extra: &[&str]) -> std::process::Output {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut args = vec![
        "pretrain",
        "--config",
        file.path().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    common::selfsup(&args)
}

fn assert_error(text: &str, extra: &[&str], needles: &[&str]) {
    let line = common::error_line(&run_with_config(text, extra));
    for needle in needles {
        assert!(line.contains(needle), "{needle:?} not in {line:?}");
    }
}

#[test]
fn unknown_key_is_rejected_with_its_name() {
    assert_error(
        "method = \"wcl\"\n[train]\nepocs = 3\n",
        &[],
        &["train", "epocs", "epochs"],
    );
    assert_error(
        "method = \"wcl\"\n",
        &["--set", "model.depth=50"],
        &["model", "depth"],
    );
}

#[test]
fn unknown_method_lists_the_allowed_ones() {
    assert_error(
        "method = \"mocov9\"\n",
        &[],
        &[
            "method", "mocov9", "simclr", "wcl", "instdisc", "cmc", "moco",
        ],
    );
}

#[test]
fn wrong_type_names_the_key() {
    assert_error(
        "method = \"wcl\"\n[train]\nlr = \"fast\"\n",
        &[],
        &["train.lr", "f64"],
    );
}

#[test]
fn out_of_range_values_name_key_and_expectation() {
    let base = "method = \"simclr\"\n";
    assert_error(
        base,
        &["--set", "train.lr=-1"],
        &["train.lr = -1", "positive"],
    );
    assert_error(
        base,
        &["--set", "train.batch_size=1"],
        &["train.batch_size = 1", "at least 2"],
    );
    assert_error(
        base,
        &["--set", "simclr.temperature=0"],
        &["simclr.temperature = 0", "positive"],
    );
    assert_error(
        base,
        &["--set", "augment.crop_scale=[0.9, 0.1]"],
        &["augment.crop_scale"],
    );
}

#[test]
fn malformed_override_is_explained() {
    assert_error(
        "method = \"wcl\"\n",
        &["--set", "train.epochs"],
        &["--set train.epochs", "key=value"],
    );
}

#[test]
fn missing_dataset_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    assert_error(
        "method = \"wcl\"\n",
        &["--data-dir", dir.path().to_str().unwrap()],
        &["train-images-idx3-ubyte.gz", "dataset-fashion-mnist"],
    );
}

#[test]
fn k_larger_than_the_training_set_is_refused() {
    common::require_dataset();
    assert_error(
        "method = \"wcl\"\n[train]\nbatch_size = 64\n[data]\ntrain_limit = 100\n",
        &["--set", "eval.knn_k=200"],
        &["eval.knn_k = 200", "100"],
    );
}

#[test]
fn missing_config_file_names_it() {
    let output = common::selfsup(&["pretrain", "--config", "/nonexistent/x.toml"]);
    assert!(!output.status.success());
    assert!(common::stderr(&output).contains("/nonexistent/x.toml"));
}

#[test]
fn help_explains_the_options() {
    let output = common::selfsup(&["pretrain", "--help"]);
    let text = String::from_utf8_lossy(&output.stdout);
    for needle in ["--config", "--out", "--set", "--backend", "--data-dir"] {
        assert!(text.contains(needle), "{needle} missing from --help");
    }
}

#[test]
fn half_precision_is_refused_with_the_reason() {
    assert_error(
        "method = \"wcl\"\n[train]\nprecision = \"bf16\"\n",
        &[],
        &["train.precision", "bf16", "f32"],
    );
}

#[test]
fn a_second_cpu_device_is_refused() {
    assert_error(
        "method = \"simclr\"\n",
        &["--device", "1"],
        &["device", "cpu"],
    );
}

#[cfg(not(feature = "cuda"))]
#[test]
fn a_backend_missing_from_the_build_names_the_feature() {
    common::require_dataset();
    assert_error(
        "method = \"simclr\"\n[data]\ntrain_limit = 256\ntest_limit = 100\n[train]\nbatch_size = 64\n",
        &["--backend", "cuda"],
        &["cuda", "--features cuda"],
    );
}

#[cfg(feature = "wgpu")]
#[test]
fn a_wgpu_device_that_does_not_exist_lists_the_adapters() {
    common::require_dataset();
    assert_error(
        "method = \"simclr\"\n[data]\ntrain_limit = 256\ntest_limit = 100\n[train]\nbatch_size = 64\n",
        &["--backend", "wgpu", "--device", "9"],
        &["--device 9", "adapter", "0 = "],
    );
}

#[test]
fn cmc_on_grayscale_data_names_what_it_needs() {
    common::require_dataset();
    assert_error(
        "method = \"cmc\"\n[train]\nbatch_size = 64\n[data]\ntrain_limit = 256\ntest_limit = 100\n[eval]\nknn_k = 20\n",
        &[],
        &["cmc", "RGB", "fashion_mnist has 1 channel"],
    );
}

#[test]
fn memory_bank_method_settings_are_checked() {
    let base = "method = \"moco\"\n";
    assert_error(
        base,
        &["--set", "moco.version=3"],
        &["moco.version = 3", "1 or 2"],
    );
    assert_error(
        base,
        &["--set", "moco.momentum=1.5"],
        &["moco.momentum = 1.5", "[0, 1]"],
    );
    assert_error(
        base,
        &["--set", "instdisc.loss=\"in_batch\""],
        &["instdisc.loss", "nce"],
    );
    assert_error(
        base,
        &["--set", "eval.knn_features=\"memory_bank\""],
        &["eval.knn_features", "instdisc"],
    );
}

#[test]
fn more_noise_samples_than_images_is_refused() {
    common::require_dataset();
    assert_error(
        "method = \"instdisc\"\n[train]\nbatch_size = 64\n[data]\ntrain_limit = 256\n[eval]\nknn_k = 20\n",
        &["--set", "instdisc.negatives=4096"],
        &["instdisc.negatives = 4096", "256"],
    );
}

#[test]
fn resume_without_a_checkpoint_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let output = common::selfsup(&["pretrain", "--resume", dir.path().to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = common::stderr(&output);
    assert!(stderr.contains("no checkpoint to resume from"), "{stderr}");
}

/// A directory holding the four Fashion-MNIST files, with `name` replaced by `bytes`.
fn fashion_mnist_copy_with(name: &str, bytes: &[u8]) -> tempfile::TempDir {
    common::require_dataset();
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        std::fs::copy(
            std::path::Path::new(common::FASHION_MNIST).join(file),
            dir.path().join(file),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join(name), bytes).unwrap();
    dir
}

#[test]
fn truncated_idx_file_is_named() {
    // A labels file whose header promises 10000 labels and holds 3.
    let mut bytes = vec![0, 0, 8, 1, 0, 0, 0x27, 0x10];
    bytes.extend([1, 2, 3]);
    let dir = fashion_mnist_copy_with("t10k-labels-idx1-ubyte.gz", &bytes);
    assert_error(
        "method = \"simclr\"\n",
        &["--data-dir", dir.path().to_str().unwrap()],
        &[
            "t10k-labels-idx1-ubyte.gz",
            "truncated",
            "10000 bytes",
            "holds 3",
        ],
    );
}

#[test]
fn corrupt_idx_file_is_named() {
    let dir = fashion_mnist_copy_with("train-labels-idx1-ubyte.gz", b"this is not IDX at all");
    assert_error(
        "method = \"simclr\"\n",
        &["--data-dir", dir.path().to_str().unwrap()],
        &["train-labels-idx1-ubyte.gz", "bad magic number"],
    );
}

#[test]
fn unreadable_dataset_file_is_named() {
    let dir = fashion_mnist_copy_with("t10k-images-idx3-ubyte.gz", b"");
    let path = dir.path().join("t10k-images-idx3-ubyte.gz");
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    assert_error(
        "method = \"simclr\"\n",
        &["--data-dir", dir.path().to_str().unwrap()],
        &["t10k-images-idx3-ubyte.gz", "cannot read"],
    );
}

#[test]
fn missing_and_truncated_cifar_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cifar = "method = \"simclr\"\n[data]\ndataset = \"cifar10\"\n";
    assert_error(
        cifar,
        &["--data-dir", dir.path().to_str().unwrap()],
        &["data_batch_1.bin", "file not found", "cifar-10-batches-bin"],
    );
    for i in 1..=5 {
        std::fs::write(
            dir.path().join(format!("data_batch_{i}.bin")),
            vec![1u8; 3073],
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("test_batch.bin"), vec![1u8; 3000]).unwrap();
    assert_error(
        cifar,
        &["--data-dir", dir.path().to_str().unwrap()],
        &["test_batch.bin", "3000 bytes", "3073-byte records"],
    );
    assert_error(cifar, &[], &["data.dir", "cifar-10-batches-bin"]);
}
