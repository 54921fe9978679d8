//! How image files are decoded and stored, from the config's `data` keys (ImageFolder trees and
//! unlabeled folders, for pretraining, evaluation, `embed` and `neighbours` alike).

use selfsup_data::{ImageFolderOptions, Storage};

use crate::config::{DataConfig, StorageKind};

/// How image files are decoded and stored, from `data`'s keys.
pub fn image_options(data: &DataConfig) -> ImageFolderOptions {
    let storage = match data.storage {
        StorageKind::Memory => Storage::Memory,
        StorageKind::Disk => Storage::Disk,
        StorageKind::Auto => Storage::Auto {
            budget_bytes: available_memory() / 2,
        },
    };
    ImageFolderOptions {
        image_size: data.image_size,
        channels: data.channels,
        skip_bad: data.skip_bad,
        storage,
    }
}

/// MemAvailable from /proc/meminfo; 8 GB where it cannot be read.
fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("MemAvailable:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .map_or(8_000_000_000, |kb| kb * 1024)
}
