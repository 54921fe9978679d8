/// A labelled image set kept compactly as u8, row-major HWC per image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub images: Vec<u8>,
    pub labels: Vec<u32>,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub num_classes: usize,
}

/// A borrowed image: `height x width x channels` bytes, row-major, channels last.
#[derive(Debug, Clone, Copy)]
pub struct ImageRef<'a> {
    pub pixels: &'a [u8],
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

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
        ImageRef {
            pixels: &self.images[index * len..(index + 1) * len],
            height: self.height,
            width: self.width,
            channels: self.channels,
        }
    }

    /// Appends `other`'s images after this one's (same image shape, checked by the caller);
    /// labels follow, so unlabeled images keep their marker label.
    pub fn append(&mut self, other: Dataset) {
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
        }
    }

    /// Per-channel mean and standard deviation of the pixels scaled to [0, 1].
    pub fn channel_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let c = self.channels;
        let mut sum = vec![0f64; c];
        let mut sum_sq = vec![0f64; c];
        for (i, &p) in self.images.iter().enumerate() {
            let v = p as f64 / 255.0;
            sum[i % c] += v;
            sum_sq[i % c] += v * v;
        }
        let count = (self.images.len() / c.max(1)).max(1) as f64;
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
