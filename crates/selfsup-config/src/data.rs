//! `[data]`: what the training images are and where they lie, and what follows from it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::invalid;
use crate::{Cifar100LabelKind, ConfigError, DatasetKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    pub dataset: DatasetKind,
    /// Directory of the dataset files; Fashion-MNIST defaults to Debian's package location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Use only the first N training images (unset: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// Evaluate on only the first N test images (unset: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_limit: Option<usize>,
    /// CIFAR-100's labels for evaluation: the 100 "fine" classes or the 20 "coarse" ones.
    pub cifar100_labels: Cifar100LabelKind,
    /// ImageFolder: side every image is resized to.
    pub image_size: usize,
    /// ImageFolder: a text file naming the class folders to use, one per line (`#` starts a
    /// comment), e.g. configs/imagenet/imagenet100.txt; the others are left out of both
    /// splits. A relative path is taken from the directory the command runs in. Unset: every
    /// class folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<std::path::PathBuf>,
    /// Image folders: 1 (grayscale), 2 (grayscale + alpha), 3 (RGB) or 4 (RGBA).
    pub channels: usize,
    /// ImageFolder: skip files that cannot be decoded (counted) instead of stopping.
    pub skip_bad: bool,
    /// STL-10: pretrain on the 100000 unlabeled images as well as the 5000 labelled ones (the
    /// kNN always stores the labelled ones).
    pub stl10_unlabeled: bool,
    /// ImageFolder: keep decoded images in memory ("memory": image_size^2 x channels bytes per
    /// image), decode each file whenever it is read ("disk": only the file list in memory), or
    /// "auto": memory when the decoded split fits in half of the memory available.
    pub storage: StorageKind,
    /// Image folders: where the training views' RandomResizedCrop cuts from: "resized", the
    /// `image_size` square every image is resized to; "original", the whole photo as its file
    /// holds it (as torchvision's transforms on ImageNet; needs `storage = "disk"`). kNN
    /// features, the neighbour table and image grids always read the square.
    pub crop_from: CropFrom,
    /// How the training views leave the loader: "f32", normalised on the CPU; or "u8", the
    /// pixels as bytes, normalised on the device (a quarter of the host memory and of the
    /// transfer, as DALI and FFCV hand batches to a GPU). The bytes are the f32 view rounded to
    /// the nearest of 256 levels, as PIL stores pixels. A device without 8-bit integers
    /// (wgpu's WGSL) gets them as f32, normalised on the CPU from the same bytes. Not with
    /// CMC's Lab views.
    pub batch_dtype: BatchDtype,
    /// Per-channel mean and standard deviation of the pixels in [0, 1] that inputs are
    /// normalised with. Unset: measured on the pretraining images when a run starts and written
    /// to its config.toml, so evaluation, `selfsup embed` and resuming use the run's values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<f32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std: Option<Vec<f32>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CropFrom {
    Resized,
    Original,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchDtype {
    F32,
    U8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageKind {
    Auto,
    Memory,
    Disk,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetKind::FashionMnist,
            dir: None,
            train_limit: None,
            test_limit: None,
            cifar100_labels: Cifar100LabelKind::Fine,
            image_size: 32,
            classes: None,
            channels: 3,
            skip_bad: false,
            stl10_unlabeled: true,
            storage: StorageKind::Auto,
            crop_from: CropFrom::Resized,
            batch_dtype: BatchDtype::F32,
            mean: None,
            std: None,
        }
    }
}

/// What `data.channels` and `eval.channels` accept: the channel counts image files hold.
pub const CHANNELS_EXPECTED: &str = "1 (grayscale), 2 (grayscale + alpha), 3 (RGB) or 4 (RGBA): the channel counts image files hold";

/// Channels of the images `data` gives: fixed by the format, `channels` for image folders.
pub fn channels_of(data: &DataConfig) -> usize {
    match data.dataset {
        DatasetKind::FashionMnist | DatasetKind::Mnist => 1,
        DatasetKind::Cifar10 | DatasetKind::Cifar100 | DatasetKind::Stl10 => 3,
        DatasetKind::Imagefolder | DatasetKind::Images => data.channels,
    }
}

/// Where `data`'s files are; `key` names the setting in errors (`data.dir`, `eval.dir`).
pub fn data_dir_of(data: &DataConfig, key: &str) -> Result<PathBuf, ConfigError> {
    {
        if let Some(dir) = &data.dir {
            return Ok(dir.clone());
        }
        let expected = match data.dataset {
            DatasetKind::FashionMnist => return Ok(selfsup_data::DEFAULT_FASHION_MNIST_DIR.into()),
            DatasetKind::Mnist => {
                "a directory holding the four MNIST IDX files (there is no default location)"
            }
            DatasetKind::Cifar10 => {
                "the extracted cifar-10-batches-bin directory (CIFAR-10's binary version)"
            }
            DatasetKind::Cifar100 => {
                "the extracted cifar-100-binary directory (CIFAR-100's binary version)"
            }
            DatasetKind::Stl10 => "the extracted stl10_binary directory (STL-10's binary version)",
            DatasetKind::Imagefolder => {
                "the root of an ImageFolder tree (data.dir/train/<class>/<image>, data.dir/test/...)"
            }
            DatasetKind::Images => "a directory of image files (at any depth)",
        };
        Err(invalid(key, "(unset)", expected))
    }
}
