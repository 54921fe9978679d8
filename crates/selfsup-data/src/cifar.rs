//! CIFAR-10 and CIFAR-100, binary versions: fixed-size records of label byte(s) followed by a
//! 32x32 image as three 1024-byte planes (R, G, B), row-major.

/// CIFAR-10's class names in label order (batches.meta.txt).
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::mnist::Split;

const SIDE: usize = 32;
const PIXELS: usize = SIDE * SIDE * 3;

/// Which of CIFAR-100's two labels to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cifar100Labels {
    /// The 20 superclasses (first label byte).
    Coarse,
    /// The 100 classes (second label byte).
    Fine,
}

/// One split of CIFAR-10 from the directory of the binary version (`cifar-10-batches-bin`):
/// `data_batch_1.bin` ... `data_batch_5.bin` for training, `test_batch.bin` for testing.
pub fn load_cifar10(dir: &Path, split: Split) -> Result<Dataset> {
    let files: Vec<PathBuf> = match split {
        Split::Train => (1..=5)
            .map(|i| dir.join(format!("data_batch_{i}.bin")))
            .collect(),
        Split::Test => vec![dir.join("test_batch.bin")],
    };
    let mut dataset = empty(10);
    for file in &files {
        read_records(file, 1, 0, 10, &mut dataset)?;
    }
    Ok(dataset)
}

/// One split of CIFAR-100 from the directory of the binary version (`cifar-100-binary`):
/// `train.bin` and `test.bin`, each record a coarse and a fine label, then the image.
pub fn load_cifar100(dir: &Path, split: Split, labels: Cifar100Labels) -> Result<Dataset> {
    let file = dir.join(match split {
        Split::Train => "train.bin",
        Split::Test => "test.bin",
    });
    let (label_offset, classes) = match labels {
        Cifar100Labels::Coarse => (0, 20),
        Cifar100Labels::Fine => (1, 100),
    };
    let mut dataset = empty(classes);
    read_records(&file, 2, label_offset, classes, &mut dataset)?;
    Ok(dataset)
}

/// An empty 32x32 RGB dataset of `num_classes` classes, to append records to.
pub fn empty(num_classes: usize) -> Dataset {
    Dataset {
        images: Vec::new(),
        labels: Vec::new(),
        height: SIDE,
        width: SIDE,
        channels: 3,
        num_classes,
        ..Dataset::default()
    }
}

/// Appends the records of `path` to `dataset`, converting each image from planes to
/// channels-last.
fn read_records(
    path: &Path,
    label_bytes: usize,
    label_offset: usize,
    classes: usize,
    dataset: &mut Dataset,
) -> Result<()> {
    if !path.exists() {
        return Err(DataError::Missing {
            path: path.to_path_buf(),
            hint: " (expected the binary version of CIFAR: point data.dir at the extracted \
                   cifar-10-batches-bin or cifar-100-binary directory)"
                .to_string(),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_records(&bytes, path, label_bytes, label_offset, classes, dataset)
}

/// CIFAR records from memory: `label_bytes` label bytes (the one used at `label_offset`, below
/// `classes`) then the three planes, appended to `dataset` channels-last. `path` only names the
/// source in errors.
pub fn parse_records(
    bytes: &[u8],
    path: &Path,
    label_bytes: usize,
    label_offset: usize,
    classes: usize,
    dataset: &mut Dataset,
) -> Result<()> {
    let record = label_bytes + PIXELS;
    if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
        return Err(DataError::PartialRecord {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            record,
        });
    }
    dataset.images.reserve(bytes.len() / record * PIXELS);
    for (index, chunk) in bytes.chunks_exact(record).enumerate() {
        let label = chunk[label_offset];
        if usize::from(label) >= classes {
            return Err(DataError::BadHeader {
                path: path.to_path_buf(),
                reason: format!(
                    "record {index} has label {label}, expected 0..{} (is this the right CIFAR?)",
                    classes - 1
                ),
            });
        }
        dataset.labels.push(u32::from(label));
        let planes = &chunk[label_bytes..];
        let plane = SIDE * SIDE;
        for i in 0..plane {
            dataset.images.extend_from_slice(&[
                planes[i],
                planes[plane + i],
                planes[2 * plane + i],
            ]);
        }
    }
    Ok(())
}
