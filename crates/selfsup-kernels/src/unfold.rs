//! im2col and its adjoint for one image in NCHW order. The unfolded matrix is
//! `[patch_len, out_pixels]`, row `(c, ky, kx)` holding input channel `c` shifted by tap
//! `(ky, kx)` at every output pixel, so the convolution of one image is one GEMM with the weight
//! `[out_channels, patch_len]` (Burn's `[out, in, ky, kx]` as stored).

use crate::geometry::ConvGeometry;

/// The output columns `ox` whose input column `ox * stride + tap - padding` lies inside
/// `0..width`.
fn valid_columns(
    tap: usize,
    stride: usize,
    padding: usize,
    width: usize,
    out_width: usize,
) -> (usize, usize) {
    // ix >= 0  <=>  ox * stride >= padding - tap
    let first = padding.saturating_sub(tap).div_ceil(stride);
    // ix < width  <=>  ox * stride < width + padding - tap
    let end = (width + padding)
        .checked_sub(tap)
        .map_or(0, |limit| limit.div_ceil(stride));
    (
        first.min(out_width),
        end.min(out_width).max(first.min(out_width)),
    )
}

/// Writes the unfolded matrix of `image` (`[in_channels, height, width]`), `[patch_len,
/// out_pixels]`, into `columns`, its row `r` starting at `r * row_stride`: with `row_stride`
/// wider than `out_pixels`, the matrices of several images sit side by side, each starting at
/// its own column offset.
pub fn unfold(image: &[f32], g: &ConvGeometry, columns: &mut [f32], row_stride: usize) {
    let (out_h, out_w) = (g.out_height(), g.out_width());
    let out_pixels = out_h * out_w;
    let [kh, kw] = g.kernel;
    let same_width = g.stride[1] == 1 && out_w == g.width;
    for c in 0..g.in_channels {
        let channel = &image[c * g.in_pixels()..][..g.in_pixels()];
        for ky in 0..kh {
            for kx in 0..kw {
                let row = &mut columns[((c * kh + ky) * kw + kx) * row_stride..][..out_pixels];
                if same_width && g.stride[0] == 1 {
                    unfold_tap_in_one_copy(channel, g, [ky, kx], row);
                    continue;
                }
                let (first, end) = valid_columns(kx, g.stride[1], g.padding[1], g.width, out_w);
                for oy in 0..out_h {
                    let out_row = &mut row[oy * out_w..][..out_w];
                    let iy = (oy * g.stride[0] + ky).wrapping_sub(g.padding[0]);
                    if iy >= g.height {
                        out_row.fill(0.0);
                        continue;
                    }
                    out_row[..first].fill(0.0);
                    out_row[end..].fill(0.0);
                    if first == end {
                        continue;
                    }
                    let input_row = &channel[iy * g.width..][..g.width];
                    let ix0 = first * g.stride[1] + kx - g.padding[1];
                    if g.stride[1] == 1 {
                        out_row[first..end].copy_from_slice(&input_row[ix0..ix0 + end - first]);
                    } else {
                        for (i, out) in out_row[first..end].iter_mut().enumerate() {
                            *out = input_row[ix0 + i * g.stride[1]];
                        }
                    }
                }
            }
        }
    }
}

/// One row of the unfolded matrix (tap `(ky, kx)` of one channel) for a stride-1 convolution
/// whose output is as wide as its input: consecutive output rows then read consecutive input
/// rows at one fixed shift, so the whole tap is one copy, after which the columns that fell
/// outside the image are zeroed. A copy per output row costs a `memmove` call per 4-28 floats,
/// which made im2col a sixth of the training step (docs/benchmarks.md).
fn unfold_tap_in_one_copy(
    channel: &[f32],
    g: &ConvGeometry,
    [ky, kx]: [usize; 2],
    row: &mut [f32],
) {
    let (out_h, width) = (g.out_height(), g.width);
    // Output rows oy read input row oy + ky - padding: valid for oy in first_row..end_row.
    let first_row = g.padding[0].saturating_sub(ky).min(out_h);
    let end_row = (g.height + g.padding[0])
        .saturating_sub(ky)
        .min(out_h)
        .max(first_row);
    row[..first_row * width].fill(0.0);
    row[end_row * width..].fill(0.0);
    if first_row == end_row {
        return;
    }
    let block = &mut row[first_row * width..end_row * width];
    let source_start = (first_row + ky - g.padding[0]) * width;
    let source = &channel[source_start..source_start + block.len()];
    // Output column ox reads input column ox + kx - padding[1].
    let (columns_left, columns_right) = (
        g.padding[1].saturating_sub(kx),
        (kx + width).saturating_sub(g.padding[1] + width).min(width),
    );
    if kx >= g.padding[1] {
        let shift = kx - g.padding[1];
        let len = block.len() - shift;
        block[..len].copy_from_slice(&source[shift..]);
    } else {
        let shift = g.padding[1] - kx;
        let len = block.len() - shift;
        block[shift..].copy_from_slice(&source[..len]);
    }
    for line in block.chunks_exact_mut(width) {
        line[..columns_left.min(width)].fill(0.0);
        line[width - columns_right..].fill(0.0);
    }
}

/// The adjoint of [`unfold`]: adds every entry of `columns` back onto the input pixel it was
/// read from, into `image` (which the caller zeroes first).
pub fn fold_add(columns: &[f32], g: &ConvGeometry, image: &mut [f32]) {
    let (out_h, out_w) = (g.out_height(), g.out_width());
    let out_pixels = out_h * out_w;
    let [kh, kw] = g.kernel;
    let in_pixels = g.in_pixels();
    for c in 0..g.in_channels {
        let channel = &mut image[c * in_pixels..][..in_pixels];
        for ky in 0..kh {
            for kx in 0..kw {
                let row = &columns[((c * kh + ky) * kw + kx) * out_pixels..][..out_pixels];
                let (first, end) = valid_columns(kx, g.stride[1], g.padding[1], g.width, out_w);
                for oy in 0..out_h {
                    let iy = (oy * g.stride[0] + ky).wrapping_sub(g.padding[0]);
                    if iy >= g.height || first >= end {
                        continue;
                    }
                    let out_row = &row[oy * out_w..][..out_w];
                    let input_row = &mut channel[iy * g.width..][..g.width];
                    let ix0 = first * g.stride[1] + kx - g.padding[1];
                    if g.stride[1] == 1 {
                        for (dst, src) in input_row[ix0..ix0 + end - first]
                            .iter_mut()
                            .zip(&out_row[first..end])
                        {
                            *dst += src;
                        }
                    } else {
                        for (i, src) in out_row[first..end].iter().enumerate() {
                            input_row[ix0 + i * g.stride[1]] += src;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(
        height: usize,
        width: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> ConvGeometry {
        ConvGeometry {
            batch: 1,
            in_channels: 2,
            height,
            width,
            out_channels: 1,
            kernel: [kernel, kernel],
            stride: [stride, stride],
            padding: [padding, padding],
        }
    }

    /// The unfolded entry by its definition, one index at a time.
    fn entry(image: &[f32], g: &ConvGeometry, row: usize, pixel: usize) -> f32 {
        let [kh, kw] = g.kernel;
        let (c, ky, kx) = (row / (kh * kw), row / kw % kh, row % kw);
        let (oy, ox) = (pixel / g.out_width(), pixel % g.out_width());
        let iy = (oy * g.stride[0] + ky) as isize - g.padding[0] as isize;
        let ix = (ox * g.stride[1] + kx) as isize - g.padding[1] as isize;
        if iy < 0 || ix < 0 || iy >= g.height as isize || ix >= g.width as isize {
            return 0.0;
        }
        image[c * g.in_pixels() + iy as usize * g.width + ix as usize]
    }

    #[test]
    fn unfold_matches_its_definition_and_fold_is_its_adjoint() {
        for (h, w, k, s, p) in [
            (5, 7, 3, 1, 1),
            (4, 4, 3, 1, 1),
            (2, 2, 3, 1, 1),
            (1, 3, 3, 1, 1),
            (6, 6, 5, 1, 2),
            (6, 5, 1, 1, 0),
            (6, 5, 3, 2, 1),
            (4, 4, 1, 2, 0),
            (3, 3, 3, 1, 0),
            (1, 1, 3, 1, 1),
            (7, 6, 7, 2, 3),
        ] {
            let g = geometry(h, w, k, s, p);
            let image: Vec<f32> = (0..2 * h * w).map(|i| i as f32 + 1.0).collect();
            let mut columns = vec![f32::NAN; g.patch_len() * g.out_pixels()];
            unfold(&image, &g, &mut columns, g.out_pixels());
            // Beside another image, in a matrix twice as wide: the same rows, shifted.
            let mut side_by_side = vec![f32::NAN; 2 * columns.len()];
            unfold(
                &image,
                &g,
                &mut side_by_side[g.out_pixels()..],
                2 * g.out_pixels(),
            );
            for (row, values) in columns.chunks_exact(g.out_pixels()).enumerate() {
                let wide_row = &side_by_side[(2 * row + 1) * g.out_pixels()..][..g.out_pixels()];
                assert_eq!(wide_row, values, "{h}x{w} k{k} s{s} p{p} row {row}");
            }
            for row in 0..g.patch_len() {
                for pixel in 0..g.out_pixels() {
                    assert_eq!(
                        columns[row * g.out_pixels() + pixel],
                        entry(&image, &g, row, pixel),
                        "{h}x{w} k{k} s{s} p{p}"
                    );
                }
            }
            // <unfold(x), y> = <x, fold(y)> for all x, y: with x = e_i it says fold(y)_i is the
            // sum of y over the entries that read pixel i.
            let y: Vec<f32> = (0..columns.len()).map(|i| (i % 13) as f32 - 6.0).collect();
            let mut folded = vec![0.0; image.len()];
            fold_add(&y, &g, &mut folded);
            for i in 0..image.len() {
                let mut unit = vec![0.0; image.len()];
                unit[i] = 1.0;
                let mut unit_columns = vec![0.0; columns.len()];
                unfold(&unit, &g, &mut unit_columns, g.out_pixels());
                let want: f32 = unit_columns.iter().zip(&y).map(|(a, b)| a * b).sum();
                assert_eq!(folded[i], want, "{h}x{w} k{k} s{s} p{p} pixel {i}");
            }
        }
    }
}
