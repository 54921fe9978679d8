use std::borrow::Cow;
use std::sync::Arc;

use crate::encoded_files::EncodedFiles;

/// A labelled image set: decoded once and kept compactly as u8 (row-major HWC per image,
/// `height x width x channels` bytes each), or, when that would not fit in memory, as a list of
/// image files decoded each time an image is read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dataset {
    /// Decoded pixels of every image; empty when `files` is set.
    pub images: Vec<u8>,
    /// Images read from disk on demand (ImageFolder with `data.storage = "disk"`).
    pub files: Option<Arc<EncodedFiles>>,
    pub labels: Vec<u32>,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub num_classes: usize,
}

/// An image: `height x width x channels` bytes, row-major, channels last; borrowed from memory
/// or freshly decoded.
#[derive(Debug, Clone)]
pub struct ImageRef<'a> {
    pub pixels: Cow<'a, [u8]>,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

/// Images read for the normalisation statistics of a dataset kept on disk.
pub const STATS_SAMPLE: usize = 10_000;

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    pub fn image(&self, index: usize) -> ImageRef<'_> {
        let len = self.image_len();
        let pixels = match &self.files {
            Some(files) => Cow::Owned(files.decode(index, len)),
            None => Cow::Borrowed(&self.images[index * len..(index + 1) * len]),
        };
        ImageRef {
            pixels,
            height: self.height,
            width: self.width,
            channels: self.channels,
        }
    }

    /// Image `index` as its file holds it, at its own size, for views cut from the whole photo
    /// (`data.crop_from = "original"`); the stored square when the images are in memory.
    pub fn original(&self, index: usize) -> ImageRef<'_> {
        match &self.files {
            Some(files) => {
                let (pixels, height, width) = files.original(index);
                ImageRef {
                    pixels: Cow::Owned(pixels),
                    height,
                    width,
                    channels: self.channels,
                }
            }
            None => self.image(index),
        }
    }

    /// Appends `other`'s images after this one's (same image shape, checked by the caller);
    /// labels follow, so unlabeled images keep their marker label.
    pub fn append(&mut self, other: Dataset) {
        debug_assert!(self.files.is_none() && other.files.is_none());
        debug_assert_eq!(
            (self.height, self.width, self.channels),
            (other.height, other.width, other.channels)
        );
        self.images.extend_from_slice(&other.images);
        self.labels.extend(other.labels);
        self.num_classes = self.num_classes.max(other.num_classes);
    }

    /// Keeps the first `limit` images (all of them when `limit` is larger).
    pub fn truncate(&mut self, limit: usize) {
        if limit < self.len() {
            self.labels.truncate(limit);
            self.images.truncate(limit * self.image_len());
            if let Some(files) = &mut self.files {
                Arc::make_mut(files).paths.truncate(limit);
            }
        }
    }

    /// The images `indices`, in that order, with their labels.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let len = self.image_len();
        let images = match &self.files {
            Some(_) => Vec::new(),
            None => indices
                .iter()
                .flat_map(|&i| &self.images[i * len..(i + 1) * len])
                .copied()
                .collect(),
        };
        let files = self.files.as_ref().map(|files| {
            Arc::new(EncodedFiles {
                paths: indices.iter().map(|&i| files.paths[i].clone()).collect(),
                options: files.options.clone(),
            })
        });
        Dataset {
            images,
            files,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            height: self.height,
            width: self.width,
            channels: self.channels,
            num_classes: self.num_classes,
        }
    }

    /// Per-channel mean and standard deviation of the pixels scaled to [0, 1] (for images on
    /// disk, of up to `STATS_SAMPLE` evenly spaced images, so it does not decode the whole set).
    pub fn channel_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let c = self.channels;
        let mut sum = vec![0f64; c];
        let mut sum_sq = vec![0f64; c];
        let mut add = |pixels: &[u8]| {
            for (i, &p) in pixels.iter().enumerate() {
                let v = p as f64 / 255.0;
                sum[i % c] += v;
                sum_sq[i % c] += v * v;
            }
        };
        let pixel_bytes = if self.files.is_some() {
            let step = self.len().div_ceil(STATS_SAMPLE).max(1);
            let mut bytes = 0;
            for index in (0..self.len()).step_by(step) {
                let image = self.image(index);
                add(&image.pixels);
                bytes += image.pixels.len();
            }
            bytes
        } else {
            add(&self.images);
            self.images.len()
        };
        let count = (pixel_bytes / c.max(1)).max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
        let std = sum_sq
            .iter()
            .zip(&mean)
            .map(|(sq, m)| (sq / count - m * m).max(0.0).sqrt())
            .collect::<Vec<_>>();
        (
            mean.iter().map(|&m| m as f32).collect(),
            std.iter().map(|&s| s as f32).collect(),
        )
    }
}
