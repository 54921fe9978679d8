//! Fashion-MNIST and MNIST share one layout: four IDX files per directory, optionally gzipped.

use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::idx;

/// Where Debian's `dataset-fashion-mnist` package installs the files.
pub const DEFAULT_FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    fn file_prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// Loads one split of an MNIST-layout directory (`train-images-idx3-ubyte[.gz]`, ...).
pub fn load_split(dir: &Path, split: Split) -> Result<Dataset> {
    let prefix = split.file_prefix();
    let images_path = find_file(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = find_file(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let images = idx::read_images(&images_path)?;
    let labels = idx::read_labels(&labels_path)?;
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images_path,
            images: images.count,
            labels_path,
            labels: labels.len(),
        });
    }
    let num_classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    Ok(Dataset {
        images: images.pixels,
        labels: labels.into_iter().map(u32::from).collect(),
        height: images.rows,
        width: images.cols,
        channels: 1,
        num_classes,
        ..Dataset::default()
    })
}

/// Accepts both the gzipped files as distributed and their uncompressed form.
fn find_file(dir: &Path, stem: &str) -> Result<PathBuf> {
    let candidates = [dir.join(format!("{stem}.gz")), dir.join(stem)];
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .ok_or_else(|| DataError::Missing {
            path: candidates[0].clone(),
            hint: format!(
                " (nor {}; on Debian/Ubuntu `apt-get install dataset-fashion-mnist` installs \
                 Fashion-MNIST in {DEFAULT_FASHION_MNIST_DIR}, or point data.dir / --data-dir \
                 at a directory holding the four IDX files)",
                candidates[1].display()
            ),
        })
}
