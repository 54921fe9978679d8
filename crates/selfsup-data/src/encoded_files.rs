//! Image files kept as paths and decoded when read: how a file becomes the pixels of a
//! dataset image (resized, converted to the channels asked for).

use std::path::{Path, PathBuf};

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

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

    /// The image at the size of its file (the training views' RandomResizedCrop cuts from the
    /// whole photo, `data.crop_from = "original"`): HWC pixels, height, width. A file that no
    /// longer decodes reads as a black `image_size` square, with a warning.
    pub(crate) fn original(&self, index: usize) -> (Vec<u8>, usize, usize) {
        let path = &self.paths[index];
        match decode_original(path, self.options.channels) {
            Ok(original) => (
                original.pixels,
                original.height as usize,
                original.width as usize,
            ),
            Err(_) => {
                tracing::warn!(path = %path.display(), "image no longer decodes; read as black");
                let side = self.options.image_size;
                (vec![0; side * side * self.options.channels], side, side)
            }
        }
    }
}

/// A file decoded at its own size and converted to `channels`: HWC pixels, width, height.
struct Original {
    pixels: Vec<u8>,
    width: u32,
    height: u32,
    pixel_type: PixelType,
}

fn decode_original(path: &Path, channels: usize) -> std::result::Result<Original, String> {
    let image = image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())?;
    let (width, height) = (image.width(), image.height());
    let (pixels, pixel_type) = match channels {
        1 => (image.into_luma8().into_raw(), PixelType::U8),
        2 => (image.into_luma_alpha8().into_raw(), PixelType::U8x2),
        4 => (image.into_rgba8().into_raw(), PixelType::U8x4),
        _ => (image.into_rgb8().into_raw(), PixelType::U8x3),
    };
    Ok(Original {
        pixels,
        width,
        height,
        pixel_type,
    })
}

/// The file's pixels, converted to its channels and resized to `options.image_size` square.
pub(crate) fn decode(
    path: &Path,
    options: &ImageFolderOptions,
) -> std::result::Result<Vec<u8>, String> {
    let Original {
        pixels,
        width,
        height,
        pixel_type,
    } = decode_original(path, options.channels)?;
    let side = options.image_size as u32;
    if (width, height) == (side, side) {
        return Ok(pixels);
    }
    resize(&pixels, width, height, pixel_type, side)
}

/// `pixels` (`width x height`, HWC) resized to `side x side` with the bilinear filter widened
/// by the scale (PIL's `BILINEAR`, antialiased), channels independent (no alpha premultiply).
fn resize(
    pixels: &[u8],
    width: u32,
    height: u32,
    pixel_type: PixelType,
    side: u32,
) -> std::result::Result<Vec<u8>, String> {
    let source = ImageRef::new(width, height, pixels, pixel_type).map_err(|e| e.to_string())?;
    let mut target = Image::new(side, side, pixel_type);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .use_alpha(false);
    Resizer::new()
        .resize(&source, &mut target, &options)
        .map_err(|e| e.to_string())?;
    Ok(target.into_vec())
}
