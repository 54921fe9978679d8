//! ImageFolder trees: `root/<split>/<class>/<image>`, classes in sorted order (as torchvision's
//! `ImageFolder`), images in any format the `image` crate decodes, resized to a square side and
//! converted to grayscale or RGB, then kept as u8.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use rayon::prelude::*;

use crate::dataset::Dataset;
use crate::error::{DataError, Result};

/// How to decode a folder tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFolderOptions {
    /// Every image is resized to `image_size x image_size` (bilinear).
    pub image_size: usize,
    /// 1: grayscale, 3: RGB.
    pub channels: usize,
    /// Skip files that cannot be decoded instead of failing (they are counted).
    pub skip_bad: bool,
}

/// A decoded split and the files that were skipped.
#[derive(Debug)]
pub struct ImageFolderSplit {
    pub dataset: Dataset,
    pub classes: Vec<String>,
    pub skipped: Vec<(PathBuf, String)>,
}

/// Class folder names of `dir`, sorted.
pub fn class_names(dir: &Path) -> Result<Vec<String>> {
    let mut classes: Vec<String> = read_dir(dir)?
        .into_iter()
        .filter(|path| path.is_dir())
        .filter_map(|path| path.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    classes.sort();
    if classes.is_empty() {
        return Err(DataError::NoClasses {
            path: dir.to_path_buf(),
        });
    }
    Ok(classes)
}

/// Decodes `root/<split>` with the class list `classes` (the training split's, so labels agree
/// across splits; pass `None` to take this split's own folders).
pub fn load_image_folder(
    root: &Path,
    split: &str,
    classes: Option<&[String]>,
    options: &ImageFolderOptions,
) -> Result<ImageFolderSplit> {
    let dir = root.join(split);
    if !dir.is_dir() {
        return Err(DataError::Missing {
            path: dir,
            hint: " (expected an ImageFolder tree: data.dir/train/<class>/<image> and \
                   data.dir/test/<class>/<image>)"
                .to_string(),
        });
    }
    let own = class_names(&dir)?;
    let classes: Vec<String> = match classes {
        Some(known) => {
            if let Some(unknown) = own.iter().find(|c| !known.contains(c)) {
                return Err(DataError::UnknownClass {
                    path: dir.join(unknown),
                    class: unknown.clone(),
                    known: known.to_vec(),
                });
            }
            known.to_vec()
        }
        None => own,
    };
    let mut files = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let class_dir = dir.join(class);
        if !class_dir.is_dir() {
            continue;
        }
        let mut images: Vec<PathBuf> = read_dir(&class_dir)?
            .into_iter()
            .filter(|path| path.is_file())
            .collect();
        if images.is_empty() {
            return Err(DataError::EmptyClass { path: class_dir });
        }
        images.sort();
        files.extend(images.into_iter().map(|path| (path, label as u32)));
    }

    let decoded: Vec<std::result::Result<Vec<u8>, String>> = files
        .par_iter()
        .map(|(path, _)| decode(path, options))
        .collect();
    let mut dataset = Dataset {
        images: Vec::new(),
        labels: Vec::new(),
        height: options.image_size,
        width: options.image_size,
        channels: options.channels,
        num_classes: classes.len(),
    };
    let mut bad = Vec::new();
    for ((path, label), pixels) in files.into_iter().zip(decoded) {
        match pixels {
            Ok(pixels) => {
                dataset.images.extend_from_slice(&pixels);
                dataset.labels.push(label);
            }
            Err(reason) => bad.push((path, reason)),
        }
    }
    if !bad.is_empty() && !options.skip_bad {
        let list = bad
            .iter()
            .take(20)
            .map(|(path, reason)| format!("{} ({reason})", path.display()))
            .collect::<Vec<_>>()
            .join(", ");
        let more = if bad.len() > 20 { ", ..." } else { "" };
        return Err(DataError::BadImages {
            count: bad.len(),
            list: format!("{list}{more}"),
        });
    }
    Ok(ImageFolderSplit {
        dataset,
        classes,
        skipped: bad,
    })
}

fn decode(path: &Path, options: &ImageFolderOptions) -> std::result::Result<Vec<u8>, String> {
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
        _ => resized.into_rgb8().into_raw(),
    })
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::read_dir(dir)
        .map_err(io)?
        .map(|entry| entry.map(|e| e.path()).map_err(io))
        .collect()
}
