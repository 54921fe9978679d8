//! STL-10, binary version: `train_X.bin` / `test_X.bin` / `unlabeled_X.bin` hold 96x96 RGB
//! images, each as three planes (R, G, B) stored column-major; `train_y.bin` / `test_y.bin` one
//! byte per image, classes 1..=10.

/// STL-10's class names in label order (class_names.txt).
pub const STL10_CLASSES: [&str; 10] = [
    "airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck",
];

use std::path::Path;

use crate::dataset::Dataset;
use crate::error::{DataError, Result};

pub const SIDE: usize = 96;
const IMAGE_BYTES: usize = SIDE * SIDE * 3;
pub const CLASSES: usize = 10;
/// The label of the unlabeled split's images.
pub const UNLABELED: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StlSplit {
    /// 5000 labelled images.
    Train,
    /// 8000 labelled images.
    Test,
    /// 100000 images without labels (label [`UNLABELED`]), for pretraining.
    Unlabeled,
}

pub fn load_stl10(dir: &Path, split: StlSplit) -> Result<Dataset> {
    let stem = match split {
        StlSplit::Train => "train",
        StlSplit::Test => "test",
        StlSplit::Unlabeled => "unlabeled",
    };
    let images_path = dir.join(format!("{stem}_X.bin"));
    let images = parse_images(&read(&images_path)?, &images_path)?;
    let count = images.len() / IMAGE_BYTES;
    let labels = if split == StlSplit::Unlabeled {
        vec![UNLABELED; count]
    } else {
        let labels_path = dir.join(format!("{stem}_y.bin"));
        let labels = parse_labels(&read(&labels_path)?, &labels_path)?;
        if labels.len() != count {
            return Err(DataError::CountMismatch {
                images_path,
                images: count,
                labels_path,
                labels: labels.len(),
            });
        }
        labels
    };
    Ok(Dataset {
        images,
        labels,
        height: SIDE,
        width: SIDE,
        channels: 3,
        num_classes: CLASSES,
        ..Dataset::default()
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing {
            path: path.to_path_buf(),
            hint: " (expected STL-10's binary version: point data.dir at the extracted \
                   stl10_binary directory)"
                .to_string(),
        },
        _ => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Images of an `*_X.bin` file, converted to row-major channels-last; `path` only names the
/// source in errors.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(IMAGE_BYTES) {
        return Err(DataError::PartialRecord {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            record: IMAGE_BYTES,
        });
    }
    let plane = SIDE * SIDE;
    let mut out = Vec::with_capacity(bytes.len());
    for image in bytes.chunks_exact(IMAGE_BYTES) {
        for row in 0..SIDE {
            for col in 0..SIDE {
                // Column-major within each plane.
                let at = col * SIDE + row;
                out.extend_from_slice(&[image[at], image[plane + at], image[2 * plane + at]]);
            }
        }
    }
    Ok(out)
}

/// Labels of a `*_y.bin` file, 1..=10 on disk, returned as 0..=9.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u32>> {
    bytes
        .iter()
        .enumerate()
        .map(|(index, &label)| {
            if (1..=CLASSES as u8).contains(&label) {
                Ok(u32::from(label) - 1)
            } else {
                Err(DataError::BadHeader {
                    path: path.to_path_buf(),
                    reason: format!("label {index} is {label}, expected 1..=10"),
                })
            }
        })
        .collect()
}
