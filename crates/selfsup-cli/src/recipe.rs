//! `selfsup pretrain --data DIR`: a WCL recipe chosen from what the folder holds, so a user
//! with only a folder of images needs no config. The rule (docs/custom_data.md):
//!
//! - images: every image file under DIR (`data.dataset = "images"`); channels 1 when every
//!   sampled image is grayscale, else 3; side: the median shorter side of up to 200 sampled
//!   images, rounded to even, within 16..=64 (the small-stem ResNet-18 trains on small images;
//!   ImageNet-size inputs need the 7x7 stem of a later version);
//! - model: ResNet-18, width 16 on the CPU backend, 64 (the standard network) on GPUs;
//! - views: random crops of the whole side, scale [0.5, 1] up to 32 pixels (measured best on
//!   Fashion-MNIST, docs/results.md) and [0.2, 1] above (WCL's and SimCLR's); flips; colour
//!   jitter 0.4 brightness and contrast, plus 0.4 saturation, 0.1 hue and 20% grayscale for
//!   RGB; Gaussian blur (p 0.5) from 64 pixels, as SimCLR uses it only on large images;
//! - batch: 256, or for folders under 2048 images the power of two nearest below an eighth of
//!   them (at least 16);
//! - length: the default config's budget, 1872 steps of 256 images at 28 pixels (8 epochs, 14.6
//!   minutes on 2 Zen 5 CPU cores, docs/results.md), scaled by pixels per image and images per batch, at
//!   most 10,000 steps and 500 epochs: small folders get many epochs;
//! - evaluation every third of the run (kNN only with an `[eval]` set; the health metrics
//!   always).

use std::path::Path;

use anyhow::{Context, Result, bail};
use selfsup_data::{FolderSurvey, image_paths, survey};

use crate::config::{BackendKind, config_name};

/// Headers read to size the images.
const SURVEY_SAMPLE: usize = 200;
/// The default config's length: steps of 256 images at 28 pixels.
const BUDGET_STEPS: f64 = 1872.0;
const BUDGET_SIDE: f64 = 28.0;
const BUDGET_BATCH: f64 = 256.0;
const MAX_STEPS: f64 = 10_000.0;
const MAX_EPOCHS: usize = 500;

/// The chosen config as TOML (with a comment per choice) and the choices in one line each.
pub struct Recipe {
    pub toml: String,
    pub summary: Vec<String>,
}

pub fn automatic_recipe(dir: &Path, backend: BackendKind) -> Result<Recipe> {
    let paths = image_paths(dir).with_context(|| format!("surveying {}", dir.display()))?;
    let found = survey(&paths, SURVEY_SAMPLE);
    if found.sampled == 0 {
        bail!(
            "{}: none of the {} sampled image files has a readable header",
            dir.display(),
            paths.len().min(SURVEY_SAMPLE)
        );
    }
    Ok(recipe_for(dir, &found, backend))
}

fn recipe_for(dir: &Path, found: &FolderSurvey, backend: BackendKind) -> Recipe {
    let channels = if found.grayscale { 1 } else { 3 };
    let side = (found.median_short_side / 2 * 2).clamp(16, 64);
    let width = if backend == BackendKind::Cpu { 16 } else { 64 };
    let scale_low = if side <= 32 { 0.5 } else { 0.2 };
    let batch = if found.images >= 2048 {
        256
    } else {
        (found.images / 8).max(16).next_power_of_two() / 2
    }
    .clamp(16, found.images.max(2));
    let steps_per_epoch = (found.images / batch).max(1);
    let cost = (side as f64 / BUDGET_SIDE).powi(2) * (batch as f64 / BUDGET_BATCH);
    let steps = (BUDGET_STEPS / cost).min(MAX_STEPS);
    let epochs = ((steps / steps_per_epoch as f64).ceil() as usize).clamp(1, MAX_EPOCHS);
    let every = (epochs / 3).max(1);
    let colour = if channels == 3 {
        "saturation = 0.4\nhue = 0.1\ngrayscale_prob = 0.2\n"
    } else {
        ""
    };
    let blur = if side >= 64 {
        "blur_prob = 0.5\nblur_sigma = [0.1, 2.0]\n"
    } else {
        ""
    };
    let backend_name = config_name(backend).unwrap_or_else(|_| "cpu".to_string());
    let toml = format!(
        r#"# Chosen by `selfsup pretrain --data` from the folder: {images} images, median shorter
# side {median} px, {kind} (the rule: docs/custom_data.md). Every key: docs/configuration.md.
method = "wcl"
seed = 0
backend = "{backend_name}"

[data]
dataset = "images"
dir = {dir}
image_size = {side}
channels = {channels}

[model]
backbone = "resnet18"
width = {width}
proj_output_dim = 128

[train]
epochs = {epochs}        # about {total} steps of {batch} images
batch_size = {batch}
lr = 0.2
momentum = 0.9
weight_decay = 5e-4
warmup_epochs = 0

[augment]
crop_size = {side}
crop_scale = [{scale_low}, 1.0]
flip_prob = 0.5
jitter_prob = 0.8
brightness = 0.4
contrast = 0.4
{colour}{blur}
[eval]
every = {every}

[wcl]
temperature = 0.1
swap_weight = 1.0
"#,
        images = found.images,
        median = found.median_short_side,
        kind = if channels == 1 { "grayscale" } else { "colour" },
        dir = toml::Value::String(dir.display().to_string()),
        total = epochs * steps_per_epoch,
    );
    let summary = vec![
        format!(
            "{} images, median shorter side {} px, {}: {side}x{side} {} channel(s)",
            found.images,
            found.median_short_side,
            if channels == 1 { "grayscale" } else { "colour" },
            channels
        ),
        format!("WCL, ResNet-18 width {width} on {backend_name}"),
        format!(
            "views: crops of scale [{scale_low}, 1]{}{}",
            if channels == 3 {
                ", colour jitter and grayscale"
            } else {
                ", brightness and contrast jitter"
            },
            if side >= 64 { ", blur" } else { "" }
        ),
        format!(
            "{epochs} epochs of {steps_per_epoch} steps of {batch} images, evaluated every {every}"
        ),
    ];
    Recipe { toml, summary }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(images: usize, side: usize, grayscale: bool) -> FolderSurvey {
        FolderSurvey {
            images,
            sampled: images.min(SURVEY_SAMPLE),
            median_short_side: side,
            grayscale,
        }
    }

    fn parsed(found: &FolderSurvey, backend: BackendKind) -> crate::config::Config {
        let recipe = recipe_for(Path::new("/photos"), found, backend);
        crate::config::Config::from_toml(&recipe.toml, "recipe", &[]).unwrap()
    }

    #[test]
    fn fashion_mnist_as_a_folder_gets_the_default_config() {
        let config = parsed(&folder(60_000, 28, true), BackendKind::Cpu);
        assert_eq!(config.data.image_size, 28);
        assert_eq!(config.data.channels, 1);
        assert_eq!(config.model.width, 16);
        assert_eq!(config.train.batch_size, 256);
        assert_eq!(config.train.epochs, 8, "1872 steps of 234 per epoch");
        assert_eq!(config.augment.crop_scale, [0.5, 1.0]);
        assert_eq!(config.augment.blur_prob, 0.0);
        assert_eq!(config.eval.every, 2);
    }

    #[test]
    fn photos_get_colour_views_blur_and_a_64_pixel_side() {
        let config = parsed(&folder(50_000, 375, false), BackendKind::Cpu);
        assert_eq!((config.data.image_size, config.data.channels), (64, 3));
        assert_eq!(config.augment.crop_scale, [0.2, 1.0]);
        assert_eq!(config.augment.blur_prob, 0.5);
        assert_eq!(config.augment.grayscale_prob, 0.2);
        // 1872 steps at 28 px cost what 358 steps cost at 64 px: two 195-step epochs.
        assert_eq!(config.train.epochs, 2);
        let gpu = parsed(&folder(50_000, 375, false), BackendKind::Cuda);
        assert_eq!(gpu.model.width, 64);
    }

    #[test]
    fn small_folders_get_small_batches_and_many_epochs() {
        let config = parsed(&folder(500, 32, false), BackendKind::Cpu);
        assert_eq!(
            config.train.batch_size, 32,
            "the power of two below 500 / 8"
        );
        let steps_per_epoch = 500 / 32;
        let steps = config.train.epochs * steps_per_epoch;
        assert!(config.train.epochs >= 100, "{}", config.train.epochs);
        assert!(steps <= 10_000 + steps_per_epoch, "{steps}");
        let tiny = parsed(&folder(40, 12, true), BackendKind::Cpu);
        assert_eq!(tiny.train.batch_size, 16);
        assert_eq!(tiny.data.image_size, 16);
        assert_eq!(tiny.train.epochs, MAX_EPOCHS);
    }
}
