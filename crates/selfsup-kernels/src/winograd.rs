//! 3x3 stride-1 convolutions (padding 1) by Winograd's minimal filtering F(2x2, 3x3) (Lavin &
//! Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): each 2x2 output tile is
//! `A^T [(G g G^T) . (B^T d B)] A` for its 4x4 input tile `d`, so the products become 16
//! independent GEMMs, one per transformed component, with 2.25x fewer multiply-adds than
//! im2col's single GEMM.
//!
//! Why: after im2col + GEMM was tuned, the 3x3 stride-1 layers were 539 of the 860 ms training
//! step at width 16, at 130-170 GFLOP/s against gemm's 200-228 on the same shapes, and removing
//! im2col alone (a shifted-view variant, measured and dropped) gained nothing: the arithmetic
//! itself had to shrink (docs/benchmarks.md has the figures). The input gradient of these
//! layers is again such a convolution (see `conv::stride_one_adjoint`), and the weight gradient
//! has its own Winograd form ([`weight_gradient_components`], then
//! [`weight_from_components`]). Rounding: the transforms add and subtract a handful of values
//! per output, so the result differs from im2col's in the last bits only
//! (`tests/conv_against_burn.rs` holds both to 1e-5 of a float64 reference).
//!
//! The transforms are this crate's own loops, so they are compiled for AVX-512 and AVX2 beside
//! the baseline and picked at run time (`multiversion`): compiled for the baseline x86-64
//! alone, they ran on 128-bit vectors and cost more than the GEMMs they feed. They run over a
//! whole tile row of every image at once (the images are the fastest index of the tiles, see
//! [`Tiling`]), which keeps their loops contiguous and long enough to vectorise on small maps.

use std::mem::MaybeUninit;

use multiversion::multiversion;
use rayon::prelude::*;

use crate::across_images::{gather_pixel, scatter_images};
use crate::geometry::ConvGeometry;
use crate::matmul::{MatRef, matmul};

/// At least this many tiles per tile row of a group (`cols * count`), so the transforms' loops
/// fill whole 16-float vectors: on a 14x14 map one image gives 7, which ran scalar.
const MIN_RUN: usize = 32;

/// Transformed components of one tile (4x4).
const COMPONENTS: usize = 16;

/// From this many images per group on, the output leaves the tiles by AVX-512 gathers (see
/// `across_images`): 16 images of a 4x4 map in one instruction. With fewer, the gathers'
/// partly empty vectors lost to plain loops.
const MIN_SCATTERED_IMAGES: usize = 16;

/// About this many tiles go into one set of 16 GEMMs: several images share them when their
/// maps are small, so each GEMM stays wide enough for gemm's kernels, and few enough that the
/// transformed matrices stay in cache. 128 measured as fast as 256 or faster, and 512 slower
/// (the 4x4 layer at width 16: 4.8, 5.6 and 5.9 ms forward, `examples/conv_timing.rs`).
const TARGET_TILES: usize = 128;

/// Fewer input channels keep im2col: at 16 the 16 GEMMs, each with a 16-long inner product,
/// and the transforms (whose cost grows with the channels, not their square) were slower than
/// im2col's one GEMM: 7.1 against 6.5 ms on the first stage at width 16, batch 256
/// (`examples/conv_timing.rs`).
const MIN_IN_CHANNELS: usize = 32;

/// Whether `g` is a convolution this module computes, and one it is faster on (forward, and
/// so the input gradient).
pub fn applies(g: &ConvGeometry) -> bool {
    g.kernel == [3, 3]
        && g.stride == [1, 1]
        && g.padding == [1, 1]
        && g.in_channels >= MIN_IN_CHANNELS
        && g.height > 0
        && g.width > 0
}

/// Whether the weight gradient is faster here too: only on even maps. An odd map's last tile
/// row and column are half outside it (8x8 tiles for a 7x7 map, 31% more), which the forward
/// pass absorbs but the weight gradient, whose transforms are heavier, did not: 7.0 against
/// 5.7 ms on the 7x7 layer at width 16.
pub fn applies_to_weight_gradient(g: &ConvGeometry) -> bool {
    applies(g) && g.out_height().is_multiple_of(2) && g.out_width().is_multiple_of(2)
}

/// How the output of one image is cut into 2x2 tiles, and how many images share a GEMM.
///
/// Tile `(ty, tx)` of image `n` in a group of `count` images is GEMM column
/// `(ty * cols + tx) * count + n`: the images are the fastest index. The transforms then run
/// over one tile row of all the group's images at once, a contiguous run of `cols * count`
/// values, long enough to vectorise even on a 4x4 map (2 tiles wide).
#[derive(Debug, Clone, Copy)]
struct Tiling {
    rows: usize,
    cols: usize,
    images: usize,
}

impl Tiling {
    fn of(g: &ConvGeometry) -> Self {
        let (rows, cols) = (g.out_height().div_ceil(2), g.out_width().div_ceil(2));
        Self {
            rows,
            cols,
            images: (TARGET_TILES / (rows * cols))
                .max(MIN_RUN.div_ceil(cols))
                .clamp(1, g.batch.max(1)),
        }
    }

    /// Positions of one parity plane of the padded input (its even or odd rows, even or odd
    /// columns): `rows + 1` rows of `cols + 1`.
    fn plane_positions(&self) -> usize {
        (self.rows + 1) * (self.cols + 1)
    }
}

/// The images that share one set of GEMMs.
struct Group {
    tiling: Tiling,
    count: usize,
    /// Tiles of the group, `rows * cols * count`.
    tiles: usize,
    /// Columns of the GEMMs: the tiles rounded up to whole 16-float vectors (zero columns),
    /// so that gemm reads the matrices in place.
    columns: usize,
}

impl Group {
    fn new(tiling: Tiling, count: usize) -> Self {
        let tiles = tiling.rows * tiling.cols * count;
        Self {
            tiling,
            count,
            tiles,
            columns: tiles.next_multiple_of(16),
        }
    }

    /// Whether the scatter into (and gather out of) the tile layout walks the images innermost,
    /// writing each pixel's `count` values as one run; with few images, walking each image's
    /// rows is faster (14x14 maps, 5 images: 5.0 against 4.6 ms forward at width 16).
    fn pixel_major(&self) -> bool {
        self.count >= 8
    }

    /// One parity plane, each position holding all the group's images, plus one position
    /// read past the end.
    fn plane_len(&self) -> usize {
        (self.tiling.plane_positions() + 1) * self.count
    }
}

/// `U[component][out][in] = G g G^T` for every 3x3 filter `g` of `weight` `[out, in, 3, 3]`.
fn transform_weight(weight: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (cin, cout) = (g.in_channels, g.out_channels);
    let mut u = vec![0.0f32; COMPONENTS * cout * cin];
    for (filter, k) in weight.chunks_exact(9).enumerate() {
        // G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]], on rows then columns.
        let mut gk = [[0.0f32; 3]; 4];
        for col in 0..3 {
            let (k0, k1, k2) = (k[col], k[3 + col], k[6 + col]);
            gk[0][col] = k0;
            gk[1][col] = 0.5 * (k0 + k1 + k2);
            gk[2][col] = 0.5 * (k0 - k1 + k2);
            gk[3][col] = k2;
        }
        for (i, row) in gk.iter().enumerate() {
            let [a0, a1, a2] = *row;
            let transformed = [a0, 0.5 * (a0 + a1 + a2), 0.5 * (a0 - a1 + a2), a2];
            for (j, value) in transformed.into_iter().enumerate() {
                u[(i * 4 + j) * cout * cin + filter] = value;
            }
        }
    }
    u
}

/// Channel `channel` of the group's `images`, zero-padded by one row and column and split
/// into four parity planes, `planes[row parity * 2 + column parity]`, position
/// `(row / 2) * (cols + 1) + column / 2` of padded row and column, image `n` at
/// `position * count + n`.
#[inline(always)]
fn split_parities(
    images: &[f32],
    channel: usize,
    g: &ConvGeometry,
    group: &Group,
    planes: &mut [Vec<f32>; 4],
) {
    let (count, slots) = (group.count, group.tiling.cols + 1);
    for plane in planes.iter_mut() {
        plane.clear();
        plane.resize(group.plane_len(), 0.0);
    }
    if group.pixel_major() {
        // Every image's value of one pixel at a time: the writes are one contiguous run
        // (strided writes, one per image, were a third of this transform).
        let first = channel * g.in_pixels();
        for y in 0..g.height {
            let (row_parity, plane_row) = ((y + 1) % 2, y.div_ceil(2));
            for x in 0..g.width {
                let (column_parity, column) = ((x + 1) % 2, x.div_ceil(2));
                let plane = &mut planes[row_parity * 2 + column_parity];
                let values = &mut plane[(plane_row * slots + column) * count..][..count];
                gather_pixel(images, g.image_len(), first + y * g.width + x, values);
            }
        }
        return;
    }
    for (n, image) in images.chunks_exact(g.image_len()).take(count).enumerate() {
        let pixels = &image[channel * g.in_pixels()..][..g.in_pixels()];
        for (y, row) in pixels.chunks_exact(g.width).enumerate() {
            // Input (y, x) is padded (y + 1, x + 1).
            let (row_parity, plane_row) = ((y + 1) % 2, y.div_ceil(2));
            let (even_columns, odd_columns) = planes[row_parity * 2..].split_at_mut(1);
            let start = plane_row * slots * count + n;
            // Odd x to the even plane at column (x + 1) / 2, even x to the odd one at x / 2.
            let even = &mut even_columns[0][start + count..];
            let odd = &mut odd_columns[0][start..];
            deinterleave(row, odd, even, count);
        }
    }
}

/// `first[k * stride] = row[2k]` and `second[k * stride] = row[2k + 1]`: a row split into its
/// even and odd columns, written `stride` apart.
#[inline(always)]
fn deinterleave(row: &[f32], first: &mut [f32], second: &mut [f32], stride: usize) {
    let pairs = row.chunks_exact(2);
    if let [value] = pairs.remainder() {
        first[row.len() / 2 * stride] = *value;
    }
    for (k, pair) in pairs.enumerate() {
        first[k * stride] = pair[0];
        second[k * stride] = pair[1];
    }
}

/// `V[component][in][tile] = B^T d B` for every input tile `d` of the group's images; the
/// columns past the last tile are zero.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn transform_input(
    images: &[f32],
    g: &ConvGeometry,
    group: &Group,
    v: &mut [f32],
    scratch: &mut Scratch,
) {
    let (count, columns, tiling) = (group.count, group.columns, &group.tiling);
    let Scratch { planes, rows, .. } = scratch;
    for row in v.chunks_exact_mut(columns) {
        row[group.tiles..].fill(0.0);
    }
    // Padded column 2tx + k of a position's tile: the even plane at the position (k = 0),
    // the odd one (1), the even one a position further (2), the odd one further (3).
    let hl = tiling.plane_positions() * count;
    let run = tiling.cols * count;
    let next_row = (tiling.cols + 1) * count;
    rows.resize(8 * hl, 0.0);
    for c in 0..g.in_channels {
        split_parities(images, c, g, group, planes);
        // B^T along the rows of every tile, for the even and the odd padded rows:
        // `rows[parity * 4 + j]`.
        for parity in 0..2 {
            let (even, odd) = (&planes[parity * 2], &planes[parity * 2 + 1]);
            let (e0, e1) = (&even[..hl], &even[count..hl + count]);
            let (o0, o1) = (&odd[..hl], &odd[count..hl + count]);
            let along = &mut rows[parity * 4 * hl..][..4 * hl];
            let (h0, rest) = along.split_at_mut(hl);
            let (h1, rest) = rest.split_at_mut(hl);
            let (h2, h3) = rest.split_at_mut(hl);
            map2(h0, e0, e1, |d0, d2| d0 - d2);
            map2(h1, o0, e1, |d1, d2| d1 + d2);
            map2(h2, e1, o0, |d2, d1| d2 - d1);
            map2(h3, o0, o1, |d1, d3| d1 - d3);
        }
        // Then B^T down the columns, one tile row (of every image) at a time: padded rows
        // 2ty..2ty+4 are the even and odd rows at plane row ty and ty + 1.
        for j in 0..4 {
            let even = &rows[j * hl..][..hl];
            let odd = &rows[(4 + j) * hl..][..hl];
            for ty in 0..tiling.rows {
                let here = ty * next_row;
                let (p0, p1) = (&even[here..][..run], &odd[here..][..run]);
                let (p2, p3) = (
                    &even[here + next_row..][..run],
                    &odd[here + next_row..][..run],
                );
                let at = |i: usize| ((i * 4 + j) * g.in_channels + c) * columns + ty * run;
                map2(&mut v[at(0)..][..run], p0, p2, |a, c| a - c);
                map2(&mut v[at(1)..][..run], p1, p2, |b, c| b + c);
                map2(&mut v[at(2)..][..run], p2, p1, |c, b| c - b);
                map2(&mut v[at(3)..][..run], p1, p3, |b, d| b - d);
            }
        }
    }
}

/// `out[i] = f(a[i], b[i])`: written as a zip so that it vectorises.
#[inline(always)]
fn map2(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

/// `out[i] = f(a[i], b[i], c[i])`.
#[inline(always)]
fn map3(out: &mut [f32], a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32) {
    for (((o, &x), &y), &z) in out.iter_mut().zip(a).zip(b).zip(c) {
        *o = f(x, y, z);
    }
}

/// The 16 rows `(component, channel)` of a `[component][channels][columns]` matrix, `len`
/// long.
#[inline(always)]
fn rows_of(
    matrix: &[f32],
    channels: usize,
    channel: usize,
    columns: usize,
    len: usize,
) -> [&[f32]; COMPONENTS] {
    std::array::from_fn(|k| &matrix[(k * channels + channel) * columns..][..len])
}

/// `Y = A^T M A` for every tile: the output `[count, out, out_h, out_w]` from
/// `M[component][out][tile]`, clipped at odd edges.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn transform_output(
    m: &[f32],
    g: &ConvGeometry,
    group: &Group,
    out: &mut [MaybeUninit<f32>],
    scratch: &mut Scratch,
) {
    let (count, tiles, tiling) = (group.count, group.tiles, &group.tiling);
    let (oh, ow) = (g.out_height(), g.out_width());
    let Scratch {
        rows,
        quarters,
        offsets,
        ..
    } = scratch;
    rows.resize(8 * tiles, 0.0);
    quarters.resize(4 * tiles, 0.0);
    // Output (y, x) of image n is quarters[offsets[y * ow + x] + n].
    offsets.clear();
    offsets.extend((0..oh * ow).map(|pixel| {
        let (y, x) = (pixel / ow, pixel % ow);
        let quarter = y % 2 * 2 + x % 2;
        (quarter * tiles + (y / 2 * tiling.cols + x / 2) * count) as i32
    }));
    for co in 0..g.out_channels {
        let ms = rows_of(m, g.out_channels, co, group.columns, tiles);
        // A^T = [[1, 1, 1, 0], [0, 1, -1, -1]] down the columns: `s[a * 4 + j]`...
        for j in 0..4 {
            let (m0, m1, m2, m3) = (ms[j], ms[4 + j], ms[8 + j], ms[12 + j]);
            let (top, bottom) = rows.split_at_mut(4 * tiles);
            map3(&mut top[j * tiles..][..tiles], m0, m1, m2, |a, b, c| {
                a + b + c
            });
            map3(&mut bottom[j * tiles..][..tiles], m1, m2, m3, |b, c, d| {
                b - c - d
            });
        }
        // ...then along the rows: quarter `a * 2 + b` is output (2ty + a, 2tx + b).
        for a in 0..2 {
            let s = &rows[a * 4 * tiles..][..4 * tiles];
            let (s0, s1) = (&s[..tiles], &s[tiles..2 * tiles]);
            let (s2, s3) = (&s[2 * tiles..3 * tiles], &s[3 * tiles..]);
            let (left, right) = quarters[a * 2 * tiles..][..2 * tiles].split_at_mut(tiles);
            map3(left, s0, s1, s2, |a, b, c| a + b + c);
            map3(right, s1, s2, s3, |b, c, d| b - c - d);
        }
        if count >= MIN_SCATTERED_IMAGES {
            let channel = &mut out[co * oh * ow..];
            scatter_images(quarters, offsets, count, channel, g.out_image_len());
        } else {
            write_images(quarters, offsets, count, &mut out[co * oh * ow..], g);
        }
    }
}

/// `out[n * out_image_len + p] = quarters[offsets[p] + n]` one image at a time, in plain
/// loops.
#[inline(always)]
fn write_images(
    quarters: &[f32],
    offsets: &[i32],
    count: usize,
    out: &mut [MaybeUninit<f32>],
    g: &ConvGeometry,
) {
    for (n, image) in out.chunks_mut(g.out_image_len()).take(count).enumerate() {
        for (value, &offset) in image.iter_mut().zip(offsets) {
            value.write(quarters[offset as usize + n]);
        }
    }
}

/// `dM[component][out][tile] = A dY A^T`, the adjoint of [`transform_output`]: the output
/// gradient `[count, out, out_h, out_w]` in the components' space (zero past the edges and in
/// the padding columns).
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn transform_output_grad(
    output_grad: &[f32],
    g: &ConvGeometry,
    group: &Group,
    dm: &mut [f32],
    scratch: &mut Scratch,
) {
    let (count, tiles, columns, tiling) = (group.count, group.tiles, group.columns, &group.tiling);
    let (oh, ow) = (g.out_height(), g.out_width());
    let Scratch { planes, rows, .. } = scratch;
    for row in dm.chunks_exact_mut(columns) {
        row[tiles..].fill(0.0);
    }
    rows.resize(8 * tiles, 0.0);
    for co in 0..g.out_channels {
        // The gradient split by its position within a tile, `planes[a * 2 + b]`, zero where
        // a tile runs past the edge.
        for plane in planes.iter_mut() {
            plane.clear();
            plane.resize(tiles, 0.0);
        }
        if group.pixel_major() {
            for y in 0..oh {
                for x in 0..ow {
                    let tile = (y / 2 * tiling.cols + x / 2) * count;
                    let values = &mut planes[y % 2 * 2 + x % 2][tile..][..count];
                    let pixel = (co * oh + y) * ow + x;
                    gather_pixel(output_grad, g.out_image_len(), pixel, values);
                }
            }
        } else {
            for (n, image) in output_grad
                .chunks_exact(g.out_image_len())
                .take(count)
                .enumerate()
            {
                let channel = &image[co * oh * ow..][..oh * ow];
                for (y, row) in channel.chunks_exact(ow).enumerate() {
                    let (ty, a) = (y / 2, y % 2);
                    let first = ty * tiling.cols * count + n;
                    let (left, right) = planes[a * 2..].split_at_mut(1);
                    let (left, right) = (&mut left[0][first..], &mut right[0][first..]);
                    deinterleave(row, left, right, count);
                }
            }
        }
        // A = [[1, 0], [1, 1], [1, -1], [0, -1]] along the rows: `c[a * 4 + j]`...
        for a in 0..2 {
            let (y0, y1) = (&planes[a * 2][..tiles], &planes[a * 2 + 1][..tiles]);
            let c = &mut rows[a * 4 * tiles..][..4 * tiles];
            let (c0, rest) = c.split_at_mut(tiles);
            let (c1, rest) = rest.split_at_mut(tiles);
            let (c2, c3) = rest.split_at_mut(tiles);
            c0.copy_from_slice(y0);
            map2(c1, y0, y1, |p, q| p + q);
            map2(c2, y0, y1, |p, q| p - q);
            map2(c3, y0, y1, |_, q| -q);
        }
        // ...then down the columns.
        for j in 0..4 {
            let (top, bottom) = (
                &rows[j * tiles..][..tiles],
                &rows[(4 + j) * tiles..][..tiles],
            );
            let at = |i: usize| ((i * 4 + j) * g.out_channels + co) * columns;
            dm[at(0)..][..tiles].copy_from_slice(top);
            map2(&mut dm[at(1)..][..tiles], top, bottom, |p, q| p + q);
            map2(&mut dm[at(2)..][..tiles], top, bottom, |p, q| p - q);
            map2(&mut dm[at(3)..][..tiles], top, bottom, |_, q| -q);
        }
    }
}

/// Per-thread scratch space.
#[derive(Default)]
struct Buffers {
    v: Vec<f32>,
    m: Vec<f32>,
    scratch: Scratch,
}

impl Buffers {
    /// Sizes the transformed input and output for `group`.
    fn size_for(&mut self, g: &ConvGeometry, group: &Group) {
        self.v
            .resize(COMPONENTS * g.in_channels * group.columns, 0.0);
        self.m
            .resize(COMPONENTS * g.out_channels * group.columns, 0.0);
    }
}

/// Scratch space of the transforms: four planes of one channel and up to eight rows of
/// intermediate sums.
#[derive(Default)]
struct Scratch {
    planes: [Vec<f32>; 4],
    rows: Vec<f32>,
    /// The four positions of every output tile, one after the other (`transform_output`).
    quarters: Vec<f32>,
    /// Where each output pixel's images start in `quarters`.
    offsets: Vec<i32>,
}

/// `output = conv(input, weight)` for a geometry [`applies`] accepts; every value of `output`
/// is written, so it may start uninitialised.
pub fn forward(input: &[f32], weight: &[f32], g: &ConvGeometry, output: &mut [MaybeUninit<f32>]) {
    let tiling = Tiling::of(g);
    let (cin, cout) = (g.in_channels, g.out_channels);
    let (image_len, out_image_len) = (g.image_len(), g.out_image_len());
    let u = transform_weight(weight, g);
    output
        .par_chunks_mut(tiling.images * out_image_len)
        .enumerate()
        .for_each_init(Buffers::default, |buffers, (chunk, out)| {
            let count = out.len() / out_image_len;
            let first = chunk * tiling.images;
            let group = Group::new(tiling, count);
            let columns = group.columns;
            buffers.size_for(g, &group);
            let images = &input[first * image_len..][..count * image_len];
            transform_input(images, g, &group, &mut buffers.v, &mut buffers.scratch);
            for k in 0..COMPONENTS {
                matmul(
                    &mut buffers.m[k * cout * columns..][..cout * columns],
                    MatRef::new(&u[k * cout * cin..][..cout * cin], cout, cin),
                    MatRef::new(
                        &buffers.v[k * cin * columns..][..cin * columns],
                        cin,
                        columns,
                    ),
                    false,
                );
            }
            transform_output(&buffers.m, g, &group, out, &mut buffers.scratch);
        });
}

/// The sum over `images` of the weight gradient in the components' space, transposed:
/// `dU^T[component][in][out] = V dM^T`.
pub fn weight_gradient_components(
    input: &[f32],
    output_grad: &[f32],
    g: &ConvGeometry,
    images: std::ops::Range<usize>,
) -> Vec<f32> {
    let tiling = Tiling::of(g);
    let (cin, cout) = (g.in_channels, g.out_channels);
    let (image_len, out_image_len) = (g.image_len(), g.out_image_len());
    let mut partial = vec![0.0f32; COMPONENTS * cin * cout];
    let mut buffers = Buffers::default();
    for (step, first) in images.clone().step_by(tiling.images).enumerate() {
        let count = tiling.images.min(images.end - first);
        let group = Group::new(tiling, count);
        let columns = group.columns;
        buffers.size_for(g, &group);
        let batch = &input[first * image_len..][..count * image_len];
        transform_input(batch, g, &group, &mut buffers.v, &mut buffers.scratch);
        let grads = &output_grad[first * out_image_len..][..count * out_image_len];
        transform_output_grad(grads, g, &group, &mut buffers.m, &mut buffers.scratch);
        for k in 0..COMPONENTS {
            matmul(
                &mut partial[k * cin * cout..][..cin * cout],
                MatRef::new(
                    &buffers.v[k * cin * columns..][..cin * columns],
                    cin,
                    columns,
                ),
                MatRef::transposed(
                    &buffers.m[k * cout * columns..][..cout * columns],
                    columns,
                    cout,
                ),
                step > 0,
            );
        }
    }
    partial
}

/// `dW = G^T dU G` for every filter: the weight gradient `[out, in, 3, 3]` from its
/// components `dU^T[component][in][out]` (the adjoint of [`transform_weight`]).
pub fn weight_from_components(du: &[f32], g: &ConvGeometry, weight_grad: &mut [f32]) {
    let (cin, cout) = (g.in_channels, g.out_channels);
    // G^T = [[1, 1/2, 1/2, 0], [0, 1/2, -1/2, 0], [0, 1/2, 1/2, 1]], by rows then columns.
    let g_t = |v: [f32; 4]| {
        [
            v[0] + 0.5 * (v[1] + v[2]),
            0.5 * (v[1] - v[2]),
            0.5 * (v[1] + v[2]) + v[3],
        ]
    };
    for (filter, out) in weight_grad.chunks_exact_mut(9).enumerate() {
        let (co, ci) = (filter / cin, filter % cin);
        let component = |i: usize, j: usize| du[((i * 4 + j) * cin + ci) * cout + co];
        let mut half = [[0.0f32; 3]; 4];
        for (i, row) in half.iter_mut().enumerate() {
            *row = g_t([
                component(i, 0),
                component(i, 1),
                component(i, 2),
                component(i, 3),
            ]);
        }
        for s in 0..3 {
            let column = g_t([half[0][s], half[1][s], half[2][s], half[3][s]]);
            for r in 0..3 {
                out[r * 3 + s] = column[r];
            }
        }
    }
}
