//! configs/imagenet/*.toml run end to end through the binary on a tiny generated ImageNet tree
//! (train/<wnid>/*.JPEG and val/<wnid>/*.JPEG of varied sizes, ImageNet-100's classes and one
//! more), with only the sizes that would
//! take a GPU turned down (width 4, batch 8, 2 epochs): ResNet-50 with the ImageNet stem,
//! 224-pixel views, LARS, and for WCL the warm-up views, multi-crop and KNN multi-crop.

mod common;

use std::path::Path;

use image::{Rgb, RgbImage};

/// The class outside ImageNet-100 the tree adds.
const OUTSIDE: &str = "n01440764";

/// Every class of ImageNet-100 with one training and one validation JPEG, and one class outside
/// it with two of each: smooth colour fields with a class's own frequency, and per-image phase
/// and size (100 to 180 pixels wide).
fn write_tree(root: &Path) {
    let listed =
        std::fs::read_to_string(common::repo_root().join("configs/imagenet/imagenet100.txt"))
            .unwrap();
    let mut classes: Vec<(&str, u32)> = listed
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|class| (class.trim(), 1))
        .collect();
    assert_eq!(classes.len(), 100);
    classes.push((OUTSIDE, 2));
    for (label, (class, count)) in classes.iter().enumerate() {
        for split in ["train", "val"] {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..*count {
                let (w, h) = (
                    100 + (label as u32 * 7 + i * 13) % 80,
                    80 + (label as u32 * 5) % 60,
                );
                let frequency = 0.03 + 0.002 * label as f32;
                let image = RgbImage::from_fn(w, h, |x, y| {
                    let wave = |phase: f32| {
                        (((x as f32 + phase) * frequency).sin()
                            * (y as f32 * frequency).cos()
                            * 110.0
                            + 128.0) as u8
                    };
                    Rgb([wave(i as f32 * 3.0), wave(40.0), wave(80.0 + label as f32)])
                });
                image.save(dir.join(format!("{i}.JPEG"))).unwrap();
            }
        }
    }
}

fn run(config: &str, root: &Path, extra: &[&str]) -> serde_json::Value {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec![
        "pretrain",
        "--config",
        config,
        "--backend",
        "cpu",
        "--data-dir",
        root.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ];
    for set in [
        "model.width=4",
        "model.proj_hidden_dim=64",
        "train.batch_size=8",
        "train.epochs=2",
        "train.warmup_epochs=0",
        "eval.every=1",
        "eval.knn_k=4",
    ] {
        args.extend(["--set", set]);
    }
    args.extend_from_slice(extra);
    let output = common::selfsup_logging(&args, "info");
    assert!(
        output.status.success(),
        "{config}: {}",
        common::stderr(&output)
    );
    // Every ImageNet config sends its views as bytes, normalised on the device.
    assert!(
        common::stderr(&output).contains("views travel as u8 and are normalised on the device"),
        "{config}: {}",
        common::stderr(&output)
    );
    common::read_json(&out.path().join("summary.json"))
}

/// The two epochs of a WCL run: the warm-up views first, then KNN multi-crop.
const WCL_EPOCHS: [&str; 4] = [
    "--set",
    "train.augment_warmup_epochs=1",
    "--set",
    "wcl.knn_warmup_epochs=1",
];

#[test]
fn the_imagenet_configs_train_on_a_tiny_imagenet_tree() {
    let root = tempfile::tempdir().unwrap();
    write_tree(root.path());

    let wcl = run("configs/imagenet/wcl.toml", root.path(), &WCL_EPOCHS);
    assert_eq!(wcl["train_images"], 102);
    assert_eq!(wcl["test_images"], 102);

    let simclr = run("configs/imagenet/simclr.toml", root.path(), &[]);
    assert_eq!(simclr["train_images"], 102);

    // ImageNet-100 leaves out the class it does not list.
    let subset = run(
        "configs/imagenet/imagenet100_wcl.toml",
        root.path(),
        &WCL_EPOCHS,
    );
    assert_eq!(subset["train_images"], 100);
    assert_eq!(subset["test_images"], 100);
}
