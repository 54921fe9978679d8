//! A plain folder of unlabeled images: every image file under a directory, at any depth, in
//! sorted path order, with no classes and no split. Decoded, resized and stored as
//! ImageFolder's images are (see [`crate::imagefolder`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::encoded_files::ImageFolderOptions;
use crate::error::{DataError, Result};
use crate::imagefolder::{decode_files, read_dir};
use crate::stl10::UNLABELED;

/// An unlabeled folder, decoded: the images (every label [`UNLABELED`]), their files in
/// dataset order, and the files that were skipped.
#[derive(Debug)]
pub struct ImageFiles {
    pub dataset: Dataset,
    /// The file of each image, in the dataset's order.
    pub paths: Vec<PathBuf>,
    pub skipped: Vec<(PathBuf, String)>,
}

/// The image files under `dir`, at any depth, sorted by path. An image file is one whose
/// extension names a format the `image` crate knows (`.png`, `.jpg`, `.JPEG`, `.webp`, ...);
/// other files and hidden entries (names starting with `.`) are not listed.
pub fn image_paths(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(DataError::Missing {
            path: dir.to_path_buf(),
            hint: " (expected a directory of image files, at any depth)".to_string(),
        });
    }
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for path in read_dir(&current)? {
            let hidden = path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with('.'));
            if hidden {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if image::ImageFormat::from_path(&path).is_ok() {
                found.push(path);
            }
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(DataError::NoImages {
            path: dir.to_path_buf(),
        });
    }
    Ok(found)
}

/// Decodes every image file under `dir` (see [`image_paths`]).
pub fn load_images(dir: &Path, options: &ImageFolderOptions) -> Result<ImageFiles> {
    let files: Vec<(PathBuf, u32)> = image_paths(dir)?
        .into_iter()
        .map(|path| (path, UNLABELED))
        .collect();
    let listed: Vec<PathBuf> = files.iter().map(|(path, _)| path.clone()).collect();
    let (dataset, skipped) = decode_files(files, 0, options)?;
    let bad: HashSet<&PathBuf> = skipped.iter().map(|(path, _)| path).collect();
    let paths = listed
        .into_iter()
        .filter(|path| !bad.contains(path))
        .collect();
    Ok(ImageFiles {
        dataset,
        paths,
        skipped,
    })
}

/// What a folder holds, from the headers of a sample of its files (no full decode).
#[derive(Debug, Clone, PartialEq)]
pub struct FolderSurvey {
    /// Image files found (see [`image_paths`]).
    pub images: usize,
    /// Files whose header was read: up to the sample size, evenly spaced in path order.
    pub sampled: usize,
    /// The median of the sampled images' shorter sides, in pixels.
    pub median_short_side: usize,
    /// Whether every sampled image that could be read is grayscale (with or without alpha).
    pub grayscale: bool,
}

/// Surveys `paths` by reading the headers of up to `sample` of them, evenly spaced. Files
/// whose header cannot be read are left out of the figures (loading reports them).
pub fn survey(paths: &[PathBuf], sample: usize) -> FolderSurvey {
    let step = paths.len().div_ceil(sample.max(1)).max(1);
    let mut sides = Vec::new();
    let mut grayscale = true;
    for path in paths.iter().step_by(step) {
        let Some((width, height, gray)) = header(path) else {
            continue;
        };
        sides.push(width.min(height) as usize);
        grayscale &= gray;
    }
    sides.sort_unstable();
    FolderSurvey {
        images: paths.len(),
        sampled: sides.len(),
        median_short_side: sides.get(sides.len() / 2).copied().unwrap_or(0),
        grayscale: grayscale && !sides.is_empty(),
    }
}

/// Width, height and whether the image is grayscale, from the file's header.
fn header(path: &Path) -> Option<(u32, u32, bool)> {
    use image::ImageDecoder;
    let decoder = image::ImageReader::open(path)
        .ok()?
        .with_guessed_format()
        .ok()?
        .into_decoder()
        .ok()?;
    let (width, height) = decoder.dimensions();
    let gray = matches!(
        decoder.color_type(),
        image::ColorType::L8
            | image::ColorType::La8
            | image::ColorType::L16
            | image::ColorType::La16
    );
    Some((width, height, gray))
}
