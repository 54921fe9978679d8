#![allow(dead_code)]

pub mod grads;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The end-to-end tests train on the real dataset; say how to get it instead of failing obscurely.
pub fn require_dataset() {
    assert!(
        Path::new(FASHION_MNIST)
            .join("train-images-idx3-ubyte.gz")
            .exists(),
        "Fashion-MNIST is missing: `sudo apt-get install -y dataset-fashion-mnist` (the README's \
         test command does this)"
    );
}

pub fn selfsup(args: &[&str]) -> Output {
    selfsup_logging(args, "warn")
}

/// The binary run with `RUST_LOG=level`.
pub fn selfsup_logging(args: &[&str], level: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_selfsup"))
        .args(args)
        .current_dir(repo_root())
        .env("RUST_LOG", level)
        .output()
        .expect("running the selfsup binary")
}

/// The binary started with `RUST_LOG=warn`, its output piped, not waited for.
pub fn spawn_selfsup<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_selfsup"))
        .args(args)
        .current_dir(repo_root())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running the selfsup binary")
}

/// The arguments of a 1-epoch run of `configs/fashion_mnist/<config>.toml` at width 4 on 512
/// training and 500 test images, in `dir`.
pub fn tiny_run_args(config: &str, dir: &str) -> Vec<String> {
    let config = format!("configs/fashion_mnist/{config}.toml");
    [
        "pretrain",
        "--config",
        &config,
        "--out",
        dir,
        "--set",
        "data.train_limit=512",
        "--set",
        "data.test_limit=500",
        "--set",
        "model.width=4",
        "--set",
        "train.batch_size=64",
        "--set",
        "train.epochs=1",
        "--set",
        "eval.knn_k=20",
    ]
    .map(String::from)
    .to_vec()
}

/// A finished tiny run (see [`tiny_run_args`]); `extra` arguments go after the others.
pub fn tiny_finished_run(config: &str, dir: &str, extra: &[&str]) {
    let args = tiny_run_args(config, dir);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    let output = selfsup(&args);
    assert!(output.status.success(), "{}", stderr(&output));
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The last `error:` line of a failed run (Mesa's Vulkan driver may print its own first), after
/// checking the run failed without a panic.
pub fn error_line(output: &Output) -> String {
    let stderr = stderr(output);
    assert!(
        !output.status.success(),
        "expected failure, stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in:\n{stderr}"))
        .to_string()
}

/// A JSON file a run wrote (summary.json, eval/<kind>.json, ...).
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A bright square, a horizontal bar or a vertical bar (`kind` 0, 1, 2), each in its own
/// colour, at a place that moves with `i`, on a dark 20x20 background: three classes a tiny
/// encoder learns apart in a few steps.
pub fn shape_image(kind: usize, i: usize) -> image::RgbImage {
    let colours = [[230, 40, 40], [40, 200, 60], [50, 60, 220]];
    let mut img = image::RgbImage::from_pixel(20, 20, image::Rgb([20, 20, 20]));
    let offset = (i * 7 + kind * 3) % 8;
    for y in 0..20usize {
        for x in 0..20usize {
            let inside = match kind {
                0 => (offset..offset + 10).contains(&x) && (4..14).contains(&y),
                1 => (8..12).contains(&y) && (offset..offset + 12).contains(&x),
                _ => (8..12).contains(&x) && (offset..offset + 12).contains(&y),
            };
            if inside {
                img.put_pixel(x as u32, y as u32, image::Rgb(colours[kind]));
            }
        }
    }
    img
}

/// An ImageFolder split of the shapes: `root/<split>/class_<k>/NNN.png`, `per_class` images of
/// each of the three classes, drawn from `shape_image(k, first + i)`.
pub fn write_shape_split(root: &Path, split: &str, per_class: usize, first: usize) {
    for class in 0..3 {
        let dir = root.join(split).join(format!("class_{class}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            shape_image(class, first + i)
                .save(dir.join(format!("{i:03}.png")))
                .unwrap();
        }
    }
}

/// The JSON header of a safetensors file: every tensor's dtype and shape, and `__metadata__`.
pub fn safetensors_header(path: &std::path::Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + header_len]).unwrap()
}

/// Whether the newest checkpoint of `run` holds `file`.
pub fn checkpoint_file(run: &Path, file: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(run.join("checkpoints")) else {
        return false;
    };
    let newest = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_dir())
        .max();
    newest.is_some_and(|dir| dir.join(file).exists())
}
