//! Image files kept as paths and decoded when read: how a file becomes the pixels of a
//! dataset image (resized, converted to the channels asked for).

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

/// How to decode a folder tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFolderOptions {
    /// Every image is resized to `image_size x image_size` (bilinear).
    pub image_size: usize,
    /// 1: grayscale, 2: grayscale + alpha, 3: RGB, 4: RGBA.
    pub channels: usize,
    /// Skip files that cannot be decoded instead of failing (they are counted).
    pub skip_bad: bool,
    pub storage: Storage,
}

/// Where decoded images live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Decoded once, `image_size^2 * channels` bytes per image in memory.
    Memory,
    /// Only the file list in memory; each read decodes and resizes the file again.
    Disk,
    /// Memory when the decoded split fits in `budget_bytes`, disk otherwise.
    Auto { budget_bytes: u64 },
}

/// Image files decoded on demand, in dataset order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFiles {
    pub paths: Vec<PathBuf>,
    pub options: ImageFolderOptions,
}

impl EncodedFiles {
    /// The image's `len` bytes. A file that decoded when the set was loaded but fails now
    /// (changed or removed during a run) reads as black, with a warning, instead of stopping a
    /// long run.
    pub(crate) fn decode(&self, index: usize, len: usize) -> Vec<u8> {
        let path = &self.paths[index];
        match decode(path, &self.options) {
            Ok(pixels) if pixels.len() == len => pixels,
            Ok(_) | Err(_) => {
                tracing::warn!(path = %path.display(), "image no longer decodes; read as black");
                vec![0; len]
            }
        }
    }
}

/// The file's pixels, resized to `options.image_size` square and converted to its channels.
pub(crate) fn decode(
    path: &Path,
    options: &ImageFolderOptions,
) -> std::result::Result<Vec<u8>, String> {
    let image = image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())?;
    let side = options.image_size as u32;
    let resized = if image.width() == side && image.height() == side {
        image
    } else {
        image.resize_exact(side, side, FilterType::Triangle)
    };
    Ok(match options.channels {
        1 => resized.into_luma8().into_raw(),
        2 => resized.into_luma_alpha8().into_raw(),
        4 => resized.into_rgba8().into_raw(),
        _ => resized.into_rgb8().into_raw(),
    })
}
