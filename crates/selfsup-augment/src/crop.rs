use std::cell::RefCell;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use rand::Rng;
use selfsup_data::ImageRef as SourceImage;

use crate::simd::with_avx2;

/// A crop box in source pixels: top, left, height, width.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropBox {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

/// torchvision's `RandomResizedCrop.get_params`: ten tries at a box with area fraction in
/// `scale` and log-uniform aspect ratio in `ratio`, then a centred fallback.
pub fn sample_crop_box(
    rng: &mut impl Rng,
    height: usize,
    width: usize,
    scale: [f32; 2],
    ratio: [f32; 2],
) -> CropBox {
    let area = (height * width) as f32;
    let (log_lo, log_hi) = (ratio[0].ln(), ratio[1].ln());
    for _ in 0..10 {
        let target_area = area * rng.random_range(scale[0]..=scale[1]);
        let aspect = rng.random_range(log_lo..=log_hi).exp();
        let w = (target_area * aspect).sqrt().round() as usize;
        let h = (target_area / aspect).sqrt().round() as usize;
        if 0 < w && w <= width && 0 < h && h <= height {
            return CropBox {
                top: rng.random_range(0..=height - h),
                left: rng.random_range(0..=width - w),
                height: h,
                width: w,
            };
        }
    }
    let in_ratio = width as f32 / height as f32;
    let (w, h) = if in_ratio < ratio[0] {
        (width, (width as f32 / ratio[0]).round() as usize)
    } else if in_ratio > ratio[1] {
        ((height as f32 * ratio[1]).round() as usize, height)
    } else {
        (width, height)
    };
    CropBox {
        top: (height - h) / 2,
        left: (width - w) / 2,
        height: h,
        width: w,
    }
}

/// Bilinear resampling of `crop` from an HWC u8 image into a CHW f32 image in [0, 1] of
/// `out_size x out_size`, with half-pixel centres (PyTorch's `align_corners=False`).
/// `flip` mirrors the output horizontally.
pub fn resize_crop_into(
    pixels: &[u8],
    src_width: usize,
    channels: usize,
    crop: CropBox,
    out_size: usize,
    flip: bool,
    out: &mut [f32],
) {
    let scale_y = crop.height as f32 / out_size as f32;
    let scale_x = crop.width as f32 / out_size as f32;
    let axis = |dst: usize, scale: f32, len: usize| {
        let src = ((dst as f32 + 0.5) * scale - 0.5).max(0.0);
        let lo = (src.floor() as usize).min(len - 1);
        let hi = (lo + 1).min(len - 1);
        (lo, hi, src - lo as f32)
    };
    let xs: Vec<_> = (0..out_size)
        .map(|x| axis(x, scale_x, crop.width))
        .collect();
    let plane = out_size * out_size;
    for y in 0..out_size {
        let (y0, y1, fy) = axis(y, scale_y, crop.height);
        let row0 = (crop.top + y0) * src_width;
        let row1 = (crop.top + y1) * src_width;
        for (x, &(x0, x1, fx)) in xs.iter().enumerate() {
            let (c0, c1) = (crop.left + x0, crop.left + x1);
            let out_x = if flip { out_size - 1 - x } else { x };
            for c in 0..channels {
                let px = |row: usize, col: usize| pixels[(row + col) * channels + c] as f32;
                let top = px(row0, c0) * (1.0 - fx) + px(row0, c1) * fx;
                let bottom = px(row1, c0) * (1.0 - fx) + px(row1, c1) * fx;
                out[c * plane + y * out_size + out_x] = (top * (1.0 - fy) + bottom * fy) / 255.0;
            }
        }
    }
}

/// `crop` of `image` resampled to an `out_size` square as CHW f32 in [0, 1], mirrored when
/// `flip`: a crop that shrinks on either axis through the antialiasing filter
/// ([`resize_crop_antialiased`], as torchvision's RandomResizedCrop on PIL images), one that
/// keeps or grows its size (every crop of 28-96 pixel images into views of their own size)
/// through plain bilinear sampling ([`resize_crop_into`]), where antialiasing adds nothing.
pub fn resize_crop(
    image: &SourceImage<'_>,
    crop: CropBox,
    out_size: usize,
    flip: bool,
    out: &mut [f32],
) {
    let (pixels, width, channels) = (&image.pixels[..], image.width, image.channels);
    if shrinks(crop, out_size) {
        resize_crop_antialiased(
            pixels,
            width,
            image.height,
            channels,
            crop,
            out_size,
            flip,
            out,
        );
    } else {
        resize_crop_into(pixels, width, channels, crop, out_size, flip, out);
    }
}

/// Whether a crop shrinks on either axis into an `out_size` square.
pub fn shrinks(crop: CropBox, out_size: usize) -> bool {
    crop.width > out_size || crop.height > out_size
}

thread_local! {
    static RESIZER: RefCell<(Resizer, Image<'static>)> =
        RefCell::new((Resizer::new(), Image::new(1, 1, PixelType::U8)));
}

/// `crop` of an HWC u8 image resampled to `out_size x out_size` as PIL's `Image.resize` with
/// `BILINEAR` does (the filter widened by the scale, so a shrink averages every source pixel
/// it covers: torchvision's `RandomResizedCrop` on PIL images, `antialias=True` on tensors),
/// rounded to u8 as PIL's, then written as CHW f32 in [0, 1], mirrored when `flip`.
/// Written with fast_image_resize's SIMD convolution: a 224-pixel view from a 500x375 photo
/// costs a fraction of the plain bilinear loop's time. Channel counts other than 1-4 fall back
/// to [`resize_crop_into`].
#[allow(clippy::too_many_arguments)]
pub fn resize_crop_antialiased(
    pixels: &[u8],
    src_width: usize,
    src_height: usize,
    channels: usize,
    crop: CropBox,
    out_size: usize,
    flip: bool,
    out: &mut [f32],
) {
    let pixel_type = match channels {
        1 => PixelType::U8,
        2 => PixelType::U8x2,
        3 => PixelType::U8x3,
        4 => PixelType::U8x4,
        _ => return resize_crop_into(pixels, src_width, channels, crop, out_size, flip, out),
    };
    let source = ImageRef::new(src_width as u32, src_height as u32, pixels, pixel_type)
        .expect("an HWC image of its width, height and channels");
    let options = ResizeOptions::new()
        .crop(
            crop.left as f64,
            crop.top as f64,
            crop.width as f64,
            crop.height as f64,
        )
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        // Channels are independent here: a second or fourth channel is not an alpha to
        // premultiply by.
        .use_alpha(false);
    RESIZER.with_borrow_mut(|(resizer, target)| {
        let size = out_size as u32;
        if target.width() != size || target.height() != size || target.pixel_type() != pixel_type {
            *target = Image::new(size, size, pixel_type);
        }
        resizer
            .resize(&source, target, &options)
            .expect("same pixel types, a crop inside the image");
        unit_chw(target.buffer(), channels, out_size, flip, out);
    });
}

with_avx2! {
    /// A square HWC u8 image of `side` as CHW f32 in [0, 1], mirrored when `flip`.
    fn unit_chw(hwc: &[u8], channels: usize, side: usize, flip: bool, out: &mut [f32]) {
        let plane = side * side;
        for (c, out_plane) in out[..channels * plane].chunks_mut(plane).enumerate() {
            for (row, out_row) in hwc.chunks(side * channels).zip(out_plane.chunks_mut(side)) {
                for (x, o) in out_row.iter_mut().enumerate() {
                    let source = if flip { side - 1 - x } else { x };
                    *o = f32::from(row[source * channels + c]) / 255.0;
                }
            }
        }
    }
}
