//! `selfsup preview --config FILE`: a grid of augmented views (one row per image: the image,
//! then views drawn exactly as training draws them, the local crops of multi-crop last, shown
//! at the size of the others) to check the augmentation before a long run.

use crate::commands::data_dir_override;
use clap::Args;
use std::path::{Path, PathBuf};

use anyhow::Result;
use selfsup_augment::{Normalize, ViewPipeline};

use crate::config::Config;
use crate::report::grid::{Cell, cell_size, write_grid};

#[derive(Args, Debug)]
pub struct PreviewArgs {
    /// TOML config file whose data and augment sections are used.
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
    /// Override a config key, e.g. --set augment.crop_scale=[0.08,1.0].
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Dataset directory (overrides `data.dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Training images shown (one row each, evenly spaced through the set).
    #[arg(long, default_value_t = 8)]
    pub images: usize,
    /// Augmented views per image.
    #[arg(long, default_value_t = 8)]
    pub views: usize,
    /// Where the PNG goes.
    #[arg(long, value_name = "FILE", default_value = "preview.png")]
    pub out: PathBuf,
}

/// `selfsup preview`: writes a grid of augmented views.
pub(crate) fn preview_command(args: PreviewArgs) -> Result<()> {
    let mut overrides = args.overrides.clone();
    overrides.extend(args.data_dir.as_deref().map(data_dir_override));
    let path = preview(&args.config, &overrides, args.images, args.views, &args.out)?;
    println!("augmented views written to {}", path.display());
    Ok(())
}

/// Writes the grid for `images` training images (evenly spaced through the set) with `views`
/// views each, to `out`.
pub fn preview(
    config_path: &Path,
    overrides: &[String],
    images: usize,
    views: usize,
    out: &Path,
) -> Result<PathBuf> {
    let config = Config::load(config_path, overrides)?;
    let train = if config.data.dataset == crate::config::DatasetKind::Images {
        crate::data::load_unlabeled(&config)?
    } else {
        crate::data::load_data(&config)?.0
    };
    let channels = train.channels;
    // The views before normalisation, so they can be looked at.
    let pipeline = ViewPipeline::new(
        config.augment.clone(),
        Normalize::new(vec![0.0; channels], vec![1.0; channels]),
    );
    let cell = cell_size(pipeline.config.crop_size.max(train.height));
    let count = images.clamp(1, train.len());
    let rows: Vec<Vec<Cell>> = (0..count)
        .map(|row| {
            let index = row * train.len() / count;
            let image = train.image(index);
            let mut cells = vec![Cell::from_hwc(&image.pixels, image.height, channels)];
            cells[0].frame = Some([60, 60, 60]);
            for view in 0..views {
                let mut chw = vec![0f32; pipeline.view_len(channels, view)];
                pipeline.view_into(&image, config.seed, 0, index as u64, view as u64, &mut chw);
                cells.push(Cell {
                    chw,
                    channels,
                    side: pipeline.view_side(view),
                    frame: None,
                });
            }
            cells
        })
        .collect();
    write_grid(out, &rows, cell)?;
    Ok(out.to_path_buf())
}
