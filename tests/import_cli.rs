//! `selfsup import`: a torchvision state dict in safetensors becomes a run the evaluation
//! commands accept. A round trip (export, then import) gives the same features bit for bit, and
//! a file that does not fit the architecture is refused with the tensor named.

mod common;

use std::collections::HashMap;
use std::path::Path;

use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};

/// A finished tiny SimCLR run, exported with torchvision's names: (run, export file).
fn exported_run(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    common::require_dataset();
    let run = root.join("run");
    common::tiny_finished_run("simclr", run.to_str().unwrap(), &[]);
    let output = common::selfsup(&["export", "--checkpoint", run.to_str().unwrap()]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let file = run.join("export/resnet18.safetensors");
    (run, file)
}

fn import(file: &Path, out: &Path, arch: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "import",
        file.to_str().unwrap(),
        "--arch",
        arch,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    common::selfsup(&args)
}

/// The backbone features `selfsup embed` writes for the images under `images`, as raw bytes.
fn embedded(run: &Path, images: &Path, out: &Path) -> Vec<u8> {
    let output = common::selfsup(&[
        "embed",
        "--checkpoint",
        run.to_str().unwrap(),
        "--images",
        images.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let bytes = std::fs::read(out).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    file.tensor("embeddings").unwrap().data().to_vec()
}

/// The safetensors file `source` with `edit` applied to its tensors (name -> (shape, bytes)).
fn edited(source: &Path, target: &Path, edit: impl FnOnce(&mut HashMap<String, Tensor>)) {
    let bytes = std::fs::read(source).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: HashMap<String, Tensor> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let tensor = Tensor {
                dtype: view.dtype(),
                shape: view.shape().to_vec(),
                data: view.data().to_vec(),
            };
            (name, tensor)
        })
        .collect();
    edit(&mut tensors);
    let views = tensors.iter().map(|(name, t)| {
        let view = TensorView::new(t.dtype, t.shape.clone(), &t.data).unwrap();
        (name.clone(), view)
    });
    safetensors::serialize_to_file(views, None, target).unwrap();
}

struct Tensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

#[test]
fn export_then_import_gives_the_same_features_and_bad_files_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let (run, file) = exported_run(root.path());

    let imported = root.path().join("imported");
    let config = run.join("config.toml");
    let output = import(
        &file,
        &imported,
        "resnet18",
        &["--config", config.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", common::stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("a resnet18 (width 4, 1 channels, small stem)"),
        "{stdout}"
    );

    let images = root.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    for i in 0..6 {
        // Grayscale, as the Fashion-MNIST run's images.
        image::DynamicImage::ImageRgb8(common::shape_image(i % 3, i))
            .to_luma8()
            .save(images.join(format!("{i}.png")))
            .unwrap();
    }
    let original = embedded(&run, &images, &root.path().join("original.safetensors"));
    let round_trip = embedded(
        &imported,
        &images,
        &root.path().join("imported.safetensors"),
    );
    assert_eq!(
        original.len(),
        6 * 32 * 4,
        "6 images, 32 features of 4 bytes"
    );
    assert_eq!(
        original, round_trip,
        "export then import changes no feature"
    );

    let output = common::selfsup(&["eval", "knn", "--checkpoint", imported.to_str().unwrap()]);
    assert!(output.status.success(), "{}", common::stderr(&output));

    let again = import(
        &file,
        &imported,
        "resnet18",
        &["--config", config.to_str().unwrap()],
    );
    assert!(common::error_line(&again).contains("already holds a run"));

    files_that_do_not_fit_are_refused(root.path(), &file, &config);
}

/// A narrowed, a missing or a stray tensor, or another architecture: refused, the tensor named.
fn files_that_do_not_fit_are_refused(root: &Path, file: &Path, config: &Path) {
    let refused = |name: &str, edit: &dyn Fn(&mut HashMap<String, Tensor>)| {
        let bad = root.join(format!("{name}.safetensors"));
        edited(file, &bad, edit);
        let out = root.join(format!("{name}-run"));
        common::error_line(&import(
            &bad,
            &out,
            "resnet18",
            &["--config", config.to_str().unwrap()],
        ))
    };
    let line = refused("narrow", &|t| {
        let weight = t.get_mut("layer2.0.conv1.weight").unwrap();
        weight.shape[0] -= 1;
        weight
            .data
            .truncate(weight.shape.iter().product::<usize>() * 4);
    });
    assert!(
        line.contains("layer2.0.conv1.weight has shape [7, 4, 3, 3]"),
        "{line}"
    );
    let line = refused("missing", &|t| {
        t.remove("layer3.1.bn2.running_var");
    });
    assert!(line.contains("no layer3.1.bn2.running_var"), "{line}");
    let line = refused("extra", &|t| {
        let stray = Tensor {
            dtype: Dtype::F32,
            shape: vec![1],
            data: vec![0; 4],
        };
        t.insert("layer5.0.conv1.weight".into(), stray);
    });
    assert!(
        line.contains("layer5.0.conv1.weight has no place in a torchvision resnet18"),
        "{line}"
    );
    let line = common::error_line(&import(
        file,
        &root.join("r34"),
        "resnet34",
        &["--config", config.to_str().unwrap()],
    ));
    assert!(line.contains("no layer1.2.conv1.weight"), "{line}");
}
