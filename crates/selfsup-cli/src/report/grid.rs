//! Image grids as PNG (`selfsup preview`, `selfsup neighbours`): rows of equally sized cells,
//! each scaled up with nearest-neighbour sampling so small images stay sharp, optionally framed.

use std::path::Path;

use anyhow::{Context, Result};
use image::{Rgb, RgbImage, imageops};
use selfsup_augment::hwc_to_unit_chw;

const GAP: u32 = 6;
const FRAME: u32 = 3;

/// One cell: `side x side` pixels, CHW floats in [0, 1] with 1 or 3 channels, and an optional
/// frame colour.
pub struct Cell {
    pub chw: Vec<f32>,
    pub channels: usize,
    pub side: usize,
    pub frame: Option<[u8; 3]>,
}

impl Cell {
    /// A dataset image (HWC bytes) as a cell.
    pub fn from_hwc(pixels: &[u8], side: usize, channels: usize) -> Self {
        let mut chw = vec![0f32; pixels.len()];
        hwc_to_unit_chw(pixels, channels, &mut chw);
        Self {
            chw,
            channels,
            side,
            frame: None,
        }
    }

    fn to_rgb(&self, cell: u32) -> RgbImage {
        let plane = self.side * self.side;
        let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        let small = RgbImage::from_fn(self.side as u32, self.side as u32, |x, y| {
            let i = y as usize * self.side + x as usize;
            let channel = |c: usize| byte(self.chw[c.min(self.channels - 1) * plane + i]);
            Rgb([channel(0), channel(1), channel(2)])
        });
        imageops::resize(&small, cell, cell, imageops::FilterType::Nearest)
    }
}

/// Writes `rows` of cells, each drawn `cell` pixels wide, on a white background.
pub fn write_grid(path: &Path, rows: &[Vec<Cell>], cell: u32) -> Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let pitch = cell + 2 * FRAME + GAP;
    let mut canvas = RgbImage::from_pixel(
        GAP + columns * pitch,
        GAP + rows.len() as u32 * pitch,
        Rgb([255, 255, 255]),
    );
    for (r, row) in rows.iter().enumerate() {
        for (c, item) in row.iter().enumerate() {
            let (x, y) = (GAP + c as u32 * pitch, GAP + r as u32 * pitch);
            if let Some(color) = item.frame {
                let frame = RgbImage::from_pixel(cell + 2 * FRAME, cell + 2 * FRAME, Rgb(color));
                imageops::replace(&mut canvas, &frame, x as i64, y as i64);
            }
            let image = item.to_rgb(cell);
            imageops::replace(&mut canvas, &image, (x + FRAME) as i64, (y + FRAME) as i64);
        }
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("{}: cannot create", parent.display()))?;
    }
    canvas
        .save(path)
        .with_context(|| format!("{}: cannot write", path.display()))
}

/// A cell size that shows an image of `side` pixels at an integer zoom near 96 pixels.
pub fn cell_size(side: usize) -> u32 {
    let side = side.max(1) as u32;
    side * (96 / side).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_has_the_cells_and_frames_where_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        let white = Cell::from_hwc(&[255; 4], 2, 1);
        let mut framed = Cell::from_hwc(&[0; 12], 2, 3);
        framed.frame = Some([255, 0, 0]);
        write_grid(&path, &[vec![white, framed]], 8).unwrap();
        let image = image::open(&path).unwrap().to_rgb8();
        let pitch = 8 + 2 * FRAME + GAP;
        assert_eq!(image.dimensions(), (GAP + 2 * pitch, GAP + pitch));
        // Second cell: red frame around a black image.
        let x = GAP + pitch;
        assert_eq!(image.get_pixel(x, GAP).0, [255, 0, 0]);
        assert_eq!(image.get_pixel(x + FRAME + 1, GAP + FRAME + 1).0, [0, 0, 0]);
        // First cell: white image, no frame (background).
        assert_eq!(
            image.get_pixel(GAP + FRAME + 1, GAP + FRAME + 1).0,
            [255, 255, 255]
        );
    }
}
