use rand::Rng;
use rayon::prelude::*;
use selfsup_data::ImageRef;
use serde::{Deserialize, Serialize};

use crate::blur::gaussian_blur;
use crate::color::{Jitter, color_jitter, solarize, to_grayscale};
use crate::crop::{resize_crop, sample_crop_box};
use crate::neighbour_crops::NeighbourCrops;
use crate::rotate::rotate;
use crate::seed::view_rng;
use crate::simd::with_avx2;

/// The SimCLR view recipe: RandomResizedCrop -> horizontal flip -> (rotation) -> ColorJitter (with
/// probability `jitter_prob`) -> RandomGrayscale -> Gaussian blur -> solarize -> normalise.
/// Saturation, hue and grayscale act on RGB images only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ViewConfig {
    /// Side of the square output view in pixels.
    pub crop_size: usize,
    /// Range of the crop's area as a fraction of the image (SimCLR: 0.08..1, CIFAR: 0.2..1).
    pub crop_scale: [f32; 2],
    /// Range of the crop's aspect ratio (width / height), sampled log-uniformly.
    pub crop_ratio: [f32; 2],
    pub flip_prob: f32,
    /// Rotation by an angle drawn from [-r, r] degrees after the crop, corners filled with 0
    /// (Exemplar-CNN: 20); 0 = off.
    pub rotation_degrees: f32,
    /// Probability of applying the brightness/contrast jitter at all.
    pub jitter_prob: f32,
    pub brightness: f32,
    pub contrast: f32,
    /// RGB only: saturation factor drawn from [1 - s, 1 + s], hue shift from [-hue, hue].
    pub saturation: f32,
    pub hue: f32,
    /// RGB only: probability of turning the view gray (SimCLR: 0.2).
    pub grayscale_prob: f32,
    /// Probability of a Gaussian blur (MoCo v2, SimCLR: 0.5 on large images; 0 for 32 px and
    /// smaller, as the papers do).
    pub blur_prob: f32,
    /// Range the blur's sigma is drawn from, in pixels.
    pub blur_sigma: [f32; 2],
    /// Probability of solarizing (inverting values >= 0.5; BYOL: 0.2 on its second view).
    pub solarize_prob: f32,
    /// Multi-crop (SwAV, WCL): low-resolution local crops added after the two global views
    /// (0: none). Local crops use `local_crop_size` and `local_crop_scale`, everything else as
    /// the global views.
    pub local_crops: usize,
    pub local_crop_size: usize,
    pub local_crop_scale: [f32; 2],
}

/// The two full-resolution views every method draws; local crops come after them.
pub const GLOBAL_VIEWS: usize = 2;

impl Default for ViewConfig {
    fn default() -> Self {
        Self {
            crop_size: 28,
            crop_scale: [0.2, 1.0],
            crop_ratio: [3.0 / 4.0, 4.0 / 3.0],
            flip_prob: 0.5,
            rotation_degrees: 0.0,
            jitter_prob: 0.8,
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.4,
            hue: 0.1,
            grayscale_prob: 0.2,
            blur_prob: 0.0,
            blur_sigma: [0.1, 2.0],
            solarize_prob: 0.0,
            local_crops: 0,
            local_crop_size: 12,
            local_crop_scale: [0.05, 0.14],
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("augment.{field} = {value}: {expected}")]
pub struct AugmentConfigError {
    pub field: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl ViewConfig {
    pub fn validate(&self) -> Result<(), AugmentConfigError> {
        let err = |field, value: String, expected| {
            Err(AugmentConfigError {
                field,
                value,
                expected,
            })
        };
        let [s0, s1] = self.crop_scale;
        let [r0, r1] = self.crop_ratio;
        if self.crop_size == 0 {
            return err(
                "crop_size",
                "0".into(),
                "expected a positive number of pixels",
            );
        }
        if !(0.0 < s0 && s0 <= s1 && s1 <= 1.0) {
            return err(
                "crop_scale",
                format!("[{s0}, {s1}]"),
                "expected [min, max] with 0 < min <= max <= 1",
            );
        }
        if !(0.0 < r0 && r0 <= r1) {
            return err(
                "crop_ratio",
                format!("[{r0}, {r1}]"),
                "expected [min, max] with 0 < min <= max",
            );
        }
        let [l0, l1] = self.local_crop_scale;
        if self.local_crops > 0 && !(0.0 < l0 && l0 <= l1 && l1 <= 1.0) {
            return err(
                "local_crop_scale",
                format!("[{l0}, {l1}]"),
                "expected [min, max] with 0 < min <= max <= 1",
            );
        }
        if self.local_crops > 0 && self.local_crop_size == 0 {
            return err(
                "local_crop_size",
                "0".into(),
                "expected a positive number of pixels",
            );
        }
        if !(0.0..=180.0).contains(&self.rotation_degrees) {
            return err(
                "rotation_degrees",
                self.rotation_degrees.to_string(),
                "expected an angle in [0, 180] degrees",
            );
        }
        let [b0, b1] = self.blur_sigma;
        if !(0.0 < b0 && b0 <= b1) {
            return err(
                "blur_sigma",
                format!("[{b0}, {b1}]"),
                "expected [min, max] with 0 < min <= max",
            );
        }
        for (field, p) in [
            ("flip_prob", self.flip_prob),
            ("jitter_prob", self.jitter_prob),
            ("blur_prob", self.blur_prob),
            ("grayscale_prob", self.grayscale_prob),
            ("solarize_prob", self.solarize_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return err(field, p.to_string(), "expected a probability in [0, 1]");
            }
        }
        for (field, s) in [
            ("brightness", self.brightness),
            ("contrast", self.contrast),
            ("saturation", self.saturation),
        ] {
            if !(0.0..=1.0).contains(&s) {
                return err(field, s.to_string(), "expected a jitter strength in [0, 1]");
            }
        }
        if !(0.0..=0.5).contains(&self.hue) {
            return err(
                "hue",
                self.hue.to_string(),
                "expected a hue shift in [0, 0.5]",
            );
        }
        Ok(())
    }
}

/// The colour space a view is normalised in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorSpace {
    /// The image's own channels (grayscale or RGB), values in [0, 1].
    Native,
    /// CIE Lab from RGB (CMC): L in [0, 100], a and b around 0.
    Lab,
}

/// The last step of every view and of the evaluation transform: optional colour-space
/// conversion, then per-channel `(x - mean) / std`.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalize {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub color: ColorSpace,
}

impl Normalize {
    /// `(x - mean) / std` on the image's own channels in [0, 1].
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Self {
        Self {
            mean,
            std,
            color: ColorSpace::Native,
        }
    }

    /// RGB -> Lab, then CMC's Lab constants.
    pub fn lab() -> Self {
        Self {
            mean: crate::lab::LAB_MEAN.to_vec(),
            std: crate::lab::LAB_STD.to_vec(),
            color: ColorSpace::Lab,
        }
    }

    /// The per-channel `(scale, shift)` that turn a view's bytes into its normalised values,
    /// `byte * scale + shift` (`scale = 1 / (255 std)`, `shift = -mean / std`), for views
    /// normalised on the device; `None` for Lab, whose conversion needs the unquantised RGB.
    pub fn byte_affine(&self) -> Option<(Vec<f32>, Vec<f32>)> {
        if self.color == ColorSpace::Lab {
            return None;
        }
        let scale = self.std.iter().map(|s| 1.0 / (255.0 * s)).collect();
        let shift = self
            .mean
            .iter()
            .zip(&self.std)
            .map(|(m, s)| -m / s)
            .collect();
        Some((scale, shift))
    }

    fn apply(&self, chw: &mut [f32]) {
        if self.color == ColorSpace::Lab {
            crate::lab::chw_rgb_to_lab(chw);
        }
        let plane = chw.len() / self.mean.len();
        for (c, channel) in chw.chunks_mut(plane).enumerate() {
            standardize(channel, self.mean[c], 1.0 / self.std[c]);
        }
    }
}

with_avx2! {
    /// Values in [0, 1] as bytes, rounded half up as PIL stores its pixels (out of range:
    /// clamped, NaN: 0).
    fn quantize(unit: &[f32], out: &mut [u8]) {
        for (byte, &v) in out.iter_mut().zip(unit) {
            // max/min return the number when the other is NaN, so `level` is in [0.5, 255.5]
            // (clamp would pass NaN on).
            #[allow(clippy::manual_clamp)]
            let level = v.max(0.0).min(1.0) * 255.0 + 0.5;
            // SAFETY: `level` is finite and within i32's range. A checked `as u8` (saturating,
            // NaN to 0) kept this loop scalar: about 7% of a 224-pixel u8 view's time.
            *byte = unsafe { level.to_int_unchecked::<i32>() } as u8;
        }
    }
}

with_avx2! {
    /// `(v - mean) * inverse_std` for every value of one channel.
    fn standardize(channel: &mut [f32], mean: f32, inverse_std: f32) {
        channel.iter_mut().for_each(|v| *v = (*v - mean) * inverse_std);
    }
}

/// Produces the random views of images, deterministically from (seed, epoch, index, view).
#[derive(Debug, Clone)]
pub struct ViewPipeline {
    pub config: ViewConfig,
    pub normalize: Normalize,
}

impl ViewPipeline {
    pub fn new(config: ViewConfig, normalize: Normalize) -> Self {
        Self { config, normalize }
    }

    /// Whether view number `view` is a local crop: with multi-crop on, every view after the
    /// two global ones.
    pub fn is_local(&self, view: usize) -> bool {
        self.config.local_crops > 0 && view >= GLOBAL_VIEWS
    }

    /// Side of view number `view`: the global crop size, or the local one for local crops.
    pub fn view_side(&self, view: usize) -> usize {
        if self.is_local(view) {
            self.config.local_crop_size
        } else {
            self.config.crop_size
        }
    }

    /// Floats in view number `view` of one image: `channels x side x side`.
    pub fn view_len(&self, channels: usize, view: usize) -> usize {
        let side = self.view_side(view);
        channels * side * side
    }

    /// Writes view number `view` of `image` (sample `index` in `epoch`) into `out` as CHW.
    pub fn view_into(
        &self,
        image: &ImageRef<'_>,
        seed: u64,
        epoch: u64,
        index: u64,
        view: u64,
        out: &mut [f32],
    ) {
        self.unit_view_into(image, seed, epoch, index, view, out);
        self.normalize.apply(out);
    }

    /// As [`Self::view_into`], but the view before normalisation, quantised to bytes (CHW):
    /// `byte * scale + shift` with [`Normalize::byte_affine`] gives the normalised view within
    /// half a byte level. `unit` is scratch space of the same length as `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn view_bytes_into(
        &self,
        image: &ImageRef<'_>,
        seed: u64,
        epoch: u64,
        index: u64,
        view: u64,
        unit: &mut [f32],
        out: &mut [u8],
    ) {
        self.unit_view_into(image, seed, epoch, index, view, unit);
        quantize(unit, out);
    }

    /// The view with values in [0, 1], every step but the normalisation.
    fn unit_view_into(
        &self,
        image: &ImageRef<'_>,
        seed: u64,
        epoch: u64,
        index: u64,
        view: u64,
        out: &mut [f32],
    ) {
        let cfg = &self.config;
        let (side, scale) = if self.is_local(view as usize) {
            (cfg.local_crop_size, cfg.local_crop_scale)
        } else {
            (cfg.crop_size, cfg.crop_scale)
        };
        let mut rng = view_rng(seed, epoch, index, view);
        let crop = sample_crop_box(&mut rng, image.height, image.width, scale, cfg.crop_ratio);
        let flip = rng.random::<f32>() < cfg.flip_prob;
        resize_crop(image, crop, side, flip, out);
        // Drawn only when enabled, so configs without rotation keep their views unchanged.
        if cfg.rotation_degrees > 0.0 {
            let angle = rng.random_range(-cfg.rotation_degrees..=cfg.rotation_degrees);
            rotate(out, side, angle);
        }
        if rng.random::<f32>() < cfg.jitter_prob {
            let jitter = Jitter {
                brightness: cfg.brightness,
                contrast: cfg.contrast,
                saturation: cfg.saturation,
                hue: cfg.hue,
            };
            color_jitter(&mut rng, out, image.channels, &jitter);
        }
        // Drawn only for RGB views with the option on, so other views stay as they were.
        if image.channels == 3
            && cfg.grayscale_prob > 0.0
            && rng.random::<f32>() < cfg.grayscale_prob
        {
            to_grayscale(out);
        }
        // Drawn only when enabled, so configs without blur keep their views unchanged.
        if cfg.blur_prob > 0.0 && rng.random::<f32>() < cfg.blur_prob {
            let sigma = rng.random_range(cfg.blur_sigma[0]..=cfg.blur_sigma[1]);
            gaussian_blur(out, side, sigma);
        }
        if cfg.solarize_prob > 0.0 && rng.random::<f32>() < cfg.solarize_prob {
            solarize(out, 0.5);
        }
    }

    /// `num_views` batches, each `[indices.len(), C, S, S]` flattened, built in parallel.
    pub fn batch_views<'a>(
        &self,
        image: impl Fn(usize) -> ImageRef<'a> + Sync,
        indices: &[usize],
        seed: u64,
        epoch: u64,
        num_views: usize,
    ) -> Vec<Vec<f32>> {
        self.batch_views_with_crops(image, indices, seed, epoch, num_views, None)
    }

    /// As `batch_views`, with KNN multi-crop: local crop j of image i cut from the image
    /// `neighbours.source(i, j)` names. The crop's random stream stays that of (i, j), so
    /// which image is cut changes nothing else. Each image is read once for all its views
    /// (`image` may decode a file).
    pub fn batch_views_with_crops<'a>(
        &self,
        image: impl Fn(usize) -> ImageRef<'a> + Sync,
        indices: &[usize],
        seed: u64,
        epoch: u64,
        num_views: usize,
        neighbours: Option<&NeighbourCrops>,
    ) -> Vec<Vec<f32>> {
        let sources = ViewSources { image, neighbours };
        self.batches_of(&sources, indices, num_views, |sample, view, out| {
            let index = sample.index as u64;
            self.view_into(sample.image, seed, epoch, index, view, out)
        })
    }

    /// As [`Self::batch_views_with_crops`], each view as bytes before its normalisation
    /// ([`Self::view_bytes_into`]): a quarter of the memory, for a device that normalises
    /// them.
    pub fn batch_bytes_with_crops<'a>(
        &self,
        image: impl Fn(usize) -> ImageRef<'a> + Sync,
        indices: &[usize],
        seed: u64,
        epoch: u64,
        num_views: usize,
        neighbours: Option<&NeighbourCrops>,
    ) -> Vec<Vec<u8>> {
        let sources = ViewSources { image, neighbours };
        self.batches_of(&sources, indices, num_views, |sample, view, out| {
            // Per image and view, under glibc's mmap threshold: taken from the heap again.
            let mut unit = vec![0f32; out.len()];
            let index = sample.index as u64;
            self.view_bytes_into(sample.image, seed, epoch, index, view, &mut unit, out)
        })
    }

    /// `num_views` batches of `T`, each `[indices.len(), C, S, S]` flattened, built in
    /// parallel: `write(image, view, out)` draws view `view` of the (sample, image) pair into
    /// its slot. Each image is read once for all its views.
    fn batches_of<'a, T: Copy + Default + Send, F: Fn(usize) -> ImageRef<'a> + Sync>(
        &self,
        sources: &ViewSources<'_, F>,
        indices: &[usize],
        num_views: usize,
        write: impl Fn(&Sample<'_, 'a>, u64, &mut [T]) + Sync,
    ) -> Vec<Vec<T>> {
        let Some(&first) = indices.first() else {
            return vec![Vec::new(); num_views];
        };
        // Read once: it gives the channel count and is the first image's own source below.
        let first_image = (sources.image)(first);
        let channels = first_image.channels;
        let lens: Vec<usize> = (0..num_views)
            .map(|view| self.view_len(channels, view))
            .collect();
        let mut batches: Vec<Vec<T>> = lens
            .iter()
            .map(|len| vec![T::default(); indices.len() * len])
            .collect();
        // Each image's slot in every view's batch, so one task writes all views of an image.
        let mut slots: Vec<Vec<&mut [T]>> = indices.iter().map(|_| Vec::new()).collect();
        for (batch, &len) in batches.iter_mut().zip(&lens) {
            for (image_slots, out) in slots.iter_mut().zip(batch.chunks_mut(len)) {
                image_slots.push(out);
            }
        }
        slots
            .into_par_iter()
            .zip(indices.par_iter())
            .enumerate()
            .for_each(|(position, (outs, &index))| {
                let read;
                let own = if position == 0 {
                    &first_image
                } else {
                    read = (sources.image)(index);
                    &read
                };
                for (view, out) in outs.into_iter().enumerate() {
                    match sources.neighbours {
                        Some(table) if self.is_local(view) => {
                            let source = table.source(index, view - GLOBAL_VIEWS);
                            let source_image = (sources.image)(source);
                            let sample = Sample {
                                index,
                                image: &source_image,
                            };
                            write(&sample, view as u64, out)
                        }
                        _ => write(&Sample { index, image: own }, view as u64, out),
                    }
                }
            });
        batches
    }
}

/// Where a batch's views are cut from: each sample's own image, or for KNN multi-crop's local
/// crops the image the neighbour table names.
struct ViewSources<'n, F> {
    image: F,
    neighbours: Option<&'n NeighbourCrops>,
}

/// One view's source: the sample it belongs to (its random stream) and the image it is cut
/// from.
struct Sample<'r, 'a> {
    index: usize,
    image: &'r ImageRef<'a>,
}

/// HWC bytes as CHW floats scaled to [0, 1], written into `out` (the same length).
pub fn hwc_to_unit_chw(pixels: &[u8], channels: usize, out: &mut [f32]) {
    let plane = pixels.len() / channels;
    for (i, &p) in pixels.iter().enumerate() {
        out[(i % channels) * plane + i / channels] = p as f32 / 255.0;
    }
}

/// The evaluation transform: the whole image, scaled to [0, 1] and normalised, as CHW.
pub fn normalized_batch<'a>(
    image: impl Fn(usize) -> ImageRef<'a> + Sync,
    indices: &[usize],
    normalize: &Normalize,
) -> Vec<f32> {
    let Some(&first) = indices.first() else {
        return Vec::new();
    };
    let len = image(first).pixels.len();
    let mut batch = vec![0f32; indices.len() * len];
    batch
        .par_chunks_mut(len)
        .zip(indices.par_iter())
        .for_each(|(out, &index)| {
            let img = image(index);
            hwc_to_unit_chw(&img.pixels, img.channels, out);
            normalize.apply(out);
        });
    batch
}

#[cfg(test)]
mod tests {
    use super::quantize;

    #[test]
    fn bytes_round_half_up_and_clamp_whatever_the_float() {
        let half_level = 0.5 / 255.0;
        let unit = [
            -1.0,
            0.0,
            half_level * 0.99,
            half_level * 1.01,
            0.5,
            1.0,
            2.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        let mut bytes = [7u8; 10];
        quantize(&unit, &mut bytes);
        assert_eq!(bytes, [0, 0, 0, 1, 128, 255, 255, 0, 255, 0]);
    }
}
