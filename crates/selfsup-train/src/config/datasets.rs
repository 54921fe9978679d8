//! Where the run's data is, and the labelled data it is evaluated on.

use std::path::PathBuf;

use super::Config;
use crate::config::{ConfigError, DataConfig, DatasetKind, channels_of, data_dir_of};

impl Config {
    /// Channels of the images the dataset gives: fixed by the format, the config's
    /// `data.channels` for ImageFolder.
    pub fn image_channels(&self) -> usize {
        channels_of(&self.data)
    }

    /// Side of the images the dataset gives: fixed by the format, the config's
    /// `data.image_size` for image folders.
    pub fn image_side(&self) -> usize {
        match self.data.dataset {
            DatasetKind::FashionMnist | DatasetKind::Mnist => 28,
            DatasetKind::Cifar10 | DatasetKind::Cifar100 => 32,
            DatasetKind::Stl10 => 96,
            DatasetKind::Imagefolder | DatasetKind::Images => self.data.image_size,
        }
    }

    /// The labelled data the kNN monitor and `selfsup eval` use: `[eval] dataset` when it is
    /// set (its dir, image size and channels from `[eval]`), else the training data's own
    /// splits; `None` for an unlabeled folder without an evaluation set.
    pub fn labelled_data(&self) -> Option<DataConfig> {
        match self.eval.dataset {
            Some(dataset) => Some(DataConfig {
                dataset,
                dir: self.eval.dir.clone(),
                train_limit: None,
                image_size: self.eval.image_size.unwrap_or(self.data.image_size),
                channels: self.eval.channels.unwrap_or(self.data.channels),
                ..self.data.clone()
            }),
            None if self.data.dataset == DatasetKind::Images => None,
            None => Some(self.data.clone()),
        }
    }

    pub fn data_dir(&self) -> Result<PathBuf, ConfigError> {
        data_dir_of(&self.data, "data.dir")
    }
}
