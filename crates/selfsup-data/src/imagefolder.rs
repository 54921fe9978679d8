//! ImageFolder trees: `root/<split>/<class>/<image>`, classes in sorted order (as torchvision's
//! `ImageFolder`), images in any format the `image` crate decodes, resized to a square side and
//! converted to grayscale or RGB, then kept as u8 in memory, or, for sets larger than the
//! memory budget, kept as a file list and decoded whenever an image is read.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use std::sync::Arc;

use crate::dataset::Dataset;
use crate::encoded_files::{EncodedFiles, ImageFolderOptions, Storage, decode};
use crate::error::{DataError, Result};

/// A decoded split and the files that were skipped.
#[derive(Debug)]
pub struct ImageFolderSplit {
    pub dataset: Dataset,
    pub classes: Vec<String>,
    pub skipped: Vec<(PathBuf, String)>,
}

/// The training split's folder.
pub const TRAIN: &str = "train";

/// The evaluation split's folder under `root`: `test`, or ImageNet's `val` when there is no
/// `test`.
pub fn test_split(root: &Path) -> &'static str {
    if !root.join("test").is_dir() && root.join("val").is_dir() {
        "val"
    } else {
        "test"
    }
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

/// Which classes of a split to read.
#[derive(Debug, Clone, Copy)]
pub enum ClassChoice<'a> {
    /// This split's own class folders (the training split's, by default).
    Own,
    /// The training split's classes; a folder outside them is an error (the test split).
    Known(&'a [String]),
    /// These classes only, other folders left out; a class without a folder is an error in
    /// the training split (a subset such as ImageNet-100, `data.classes`).
    Only(&'a [String]),
}

/// Decodes `root/<split>` with the classes `choice` gives (the training split's for every
/// other split, so labels agree across splits).
pub fn load_image_folder(
    root: &Path,
    split: &str,
    choice: ClassChoice<'_>,
    options: &ImageFolderOptions,
) -> Result<ImageFolderSplit> {
    let dir = root.join(split);
    if !dir.is_dir() {
        return Err(DataError::Missing {
            path: dir,
            hint: " (expected an ImageFolder tree: data.dir/train/<class>/<image> and \
                   data.dir/test/<class>/<image>, or data.dir/val/<class>/<image> as \
                   ImageNet's)"
                .to_string(),
        });
    }
    let own = class_names(&dir)?;
    let classes: Vec<String> = match choice {
        ClassChoice::Own => own,
        ClassChoice::Known(known) => {
            if let Some(unknown) = own.iter().find(|c| !known.contains(c)) {
                return Err(DataError::UnknownClass {
                    path: dir.join(unknown),
                    class: unknown.clone(),
                    known: known.to_vec(),
                });
            }
            known.to_vec()
        }
        ClassChoice::Only(chosen) => {
            if split == TRAIN
                && let Some(missing) = chosen.iter().find(|c| !own.contains(c))
            {
                return Err(DataError::Missing {
                    path: dir.join(missing),
                    hint: " (a class of data.classes without a folder in the training split)"
                        .to_string(),
                });
            }
            chosen.to_vec()
        }
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

    let (dataset, skipped) = decode_files(files, classes.len(), options)?;
    Ok(ImageFolderSplit {
        dataset,
        classes,
        skipped,
    })
}

/// Decodes `files` (path and label, in dataset order) into a [`Dataset`] as `options` say:
/// in memory or as a file list read on demand. Files that cannot be decoded are an error
/// naming them, or, with `skip_bad`, left out and returned.
pub(crate) fn decode_files(
    files: Vec<(PathBuf, u32)>,
    num_classes: usize,
    options: &ImageFolderOptions,
) -> Result<(Dataset, Vec<(PathBuf, String)>)> {
    let decoded_bytes = (files.len() * options.image_size.pow(2) * options.channels) as u64;
    let in_memory = match options.storage {
        Storage::Memory => true,
        Storage::Disk => false,
        Storage::Auto { budget_bytes } => decoded_bytes <= budget_bytes,
    };
    let mut dataset = Dataset {
        height: options.image_size,
        width: options.image_size,
        channels: options.channels,
        num_classes,
        ..Dataset::default()
    };
    let mut bad = Vec::new();
    if in_memory {
        let decoded: Vec<std::result::Result<Vec<u8>, String>> = files
            .par_iter()
            .map(|(path, _)| decode(path, options))
            .collect();
        dataset.images.reserve(decoded_bytes as usize);
        for ((path, label), pixels) in files.into_iter().zip(decoded) {
            match pixels {
                Ok(pixels) => {
                    dataset.images.extend_from_slice(&pixels);
                    dataset.labels.push(label);
                }
                Err(reason) => bad.push((path, reason)),
            }
        }
    } else {
        // Headers only: a full decode here would cost what keeping the images saves.
        let checked: Vec<std::result::Result<(), String>> =
            files.par_iter().map(|(path, _)| readable(path)).collect();
        let mut paths = Vec::new();
        for ((path, label), check) in files.into_iter().zip(checked) {
            match check {
                Ok(()) => {
                    paths.push(path);
                    dataset.labels.push(label);
                }
                Err(reason) => bad.push((path, reason)),
            }
        }
        dataset.files = Some(Arc::new(EncodedFiles {
            paths,
            options: options.clone(),
        }));
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
    Ok((dataset, bad))
}

/// The file opens and its header names a format and a size the `image` crate can decode.
fn readable(path: &Path) -> std::result::Result<(), String> {
    let (width, height) = image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .into_dimensions()
        .map_err(|e| e.to_string())?;
    if width == 0 || height == 0 {
        return Err(format!("{width}x{height} image"));
    }
    Ok(())
}

pub(crate) fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::read_dir(dir)
        .map_err(io)?
        .map(|entry| entry.map(|e| e.path()).map_err(io))
        .collect()
}
