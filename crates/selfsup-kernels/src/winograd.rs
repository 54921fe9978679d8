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
//! has its own Winograd form ([`backward_weight`]).
//!
//! The transforms run along whole rows of tiles, so their loops are contiguous and vectorise:
//! a padded input row is split into its even and odd columns first, which puts the four values
//! of every tile at the same index of four arrays.

use multiversion::multiversion;
use rayon::prelude::*;

use crate::geometry::ConvGeometry;
use crate::matmul::{MatRef, matmul};

/// Transformed components of one tile (4x4).
const COMPONENTS: usize = 16;

/// About this many tiles go into one set of 16 GEMMs: several images share them when their
/// maps are small, so each GEMM stays wide enough for gemm's kernels.
const TARGET_TILES: usize = 256;

/// Fewer input channels keep im2col: at 16 the 16 GEMMs, each with a 16-long inner product,
/// ran no faster than im2col's one GEMM (`examples/conv_timing.rs`, width 16, first stage).
const MIN_IN_CHANNELS: usize = 32;

/// Narrower maps keep im2col: a 7x7 map is computed as 4x4 tiles plus a spare slot per tile
/// row, 63% more output positions than it has, which ate the saving (measured at 7x7 and 4x4).
const MIN_OUT_WIDTH: usize = 14;

/// Whether `g` is a convolution this module computes, and one it is faster on.
pub fn applies(g: &ConvGeometry) -> bool {
    g.kernel == [3, 3]
        && g.stride == [1, 1]
        && g.padding == [1, 1]
        && g.in_channels >= MIN_IN_CHANNELS
        && g.out_width() >= MIN_OUT_WIDTH
        && g.height > 0
}

/// How the output of one image is cut into 2x2 tiles, and how many images share a GEMM.
///
/// Tiles are numbered row by row with one spare slot at the end of every tile row
/// (`slots_per_row = cols + 1`). With that spare slot, the tiles of one row and the next sit
/// at a fixed distance in every plane below, so each transform is one flat loop over all the
/// tiles of an image, which vectorises; the spare slots are computed and never read back.
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
            images: (TARGET_TILES / (rows * (cols + 1))).clamp(1, g.batch.max(1)),
        }
    }

    fn slots_per_row(&self) -> usize {
        self.cols + 1
    }

    /// Tile slots of one image.
    fn per_image(&self) -> usize {
        self.rows * self.slots_per_row()
    }

    /// One parity plane of the padded input (its even or odd rows, even or odd columns):
    /// `rows + 1` rows of `slots_per_row`, plus one slot read past the end by the last spare.
    fn plane_len(&self) -> usize {
        (self.rows + 1) * self.slots_per_row() + 1
    }

    /// Columns of the GEMMs for `count` images: their tile slots, rounded up to whole 16-float
    /// vectors (zero columns) so that gemm reads the matrices in place.
    fn columns(&self, count: usize) -> usize {
        (count * self.per_image()).next_multiple_of(16)
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

/// Writes `value` at input row `y`, column `x` of a padded map (one zero row and column
/// around it) split into four parity planes, `planes[row parity * 2 + column parity]`.
#[inline(always)]
fn split_parities(channel: &[f32], width: usize, tiling: &Tiling, planes: &mut [Vec<f32>; 4]) {
    let slots = tiling.slots_per_row();
    for plane in planes.iter_mut() {
        plane.clear();
        plane.resize(tiling.plane_len(), 0.0);
    }
    for (y, row) in channel.chunks_exact(width).enumerate() {
        let (row_parity, plane_row) = ((y + 1) % 2, y.div_ceil(2));
        let (even_columns, odd_columns) = planes[row_parity * 2..].split_at_mut(1);
        let (even_columns, odd_columns) = (&mut even_columns[0], &mut odd_columns[0]);
        let even = &mut even_columns[plane_row * slots..][..slots];
        let odd = &mut odd_columns[plane_row * slots..][..slots];
        // Input column x is padded column x + 1: odd x to the even plane at (x + 1) / 2, even
        // x to the odd plane at x / 2.
        let pairs = row.chunks_exact(2);
        let last = pairs.remainder();
        for ((value, even), odd) in pairs.zip(&mut even[1..]).zip(&mut *odd) {
            *odd = value[0];
            *even = value[1];
        }
        if let [value] = last {
            odd[width / 2] = *value;
        }
    }
}

/// `V[component][in][slot] = B^T d B` for every input tile `d` of `count` images, the slots of
/// image `i` from column `i * per_image` of rows `columns` wide; the columns past the last
/// image are zero.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn transform_input(
    images: &[f32],
    g: &ConvGeometry,
    group: &Group,
    v: &mut [f32],
    scratch: &mut Scratch,
) {
    let (count, tiling, columns) = (group.count, &group.tiling, group.columns);
    let Scratch {
        planes,
        rows: scratch,
    } = scratch;
    let cin = g.in_channels;
    let (slots, len) = (tiling.slots_per_row(), tiling.per_image());
    let used = count * len;
    for row in v.chunks_exact_mut(columns) {
        row[used..].fill(0.0);
    }
    for (n, image) in images.chunks_exact(g.image_len()).take(count).enumerate() {
        for (c, channel) in image.chunks_exact(g.in_pixels()).enumerate() {
            split_parities(channel, g.width, tiling, planes);
            // B^T along the rows of every tile, for the even and the odd padded rows:
            // `along[parity * 4 + j]`, from the columns 2tx..2tx+4 of slot q, which are the
            // even and odd planes at q and q + 1.
            let hl = (tiling.rows + 1) * slots;
            scratch.resize(8 * hl, 0.0);
            for parity in 0..2 {
                let (even, odd) = (&planes[parity * 2], &planes[parity * 2 + 1]);
                let (e0, e1, o0, o1) = (&even[..hl], &even[1..hl + 1], &odd[..hl], &odd[1..hl + 1]);
                let along = &mut scratch[parity * 4 * hl..][..4 * hl];
                let (h0, rest) = along.split_at_mut(hl);
                let (h1, rest) = rest.split_at_mut(hl);
                let (h2, h3) = rest.split_at_mut(hl);
                map2(h0, e0, e1, |d0, d2| d0 - d2);
                map2(h1, o0, e1, |d1, d2| d1 + d2);
                map2(h2, e1, o0, |d2, d1| d2 - d1);
                map2(h3, o0, o1, |d1, d3| d1 - d3);
            }
            // Then B^T down the columns: the tile's rows 2ty..2ty+4 are the even and odd
            // planes at q and q + slots.
            let outs = split_rows(v, cin, c, columns, n * len, len);
            let [
                o0,
                o1,
                o2,
                o3,
                o4,
                o5,
                o6,
                o7,
                o8,
                o9,
                o10,
                o11,
                o12,
                o13,
                o14,
                o15,
            ] = outs;
            let rows = [
                [o0, o4, o8, o12],
                [o1, o5, o9, o13],
                [o2, o6, o10, o14],
                [o3, o7, o11, o15],
            ];
            for (j, [v0, v1, v2, v3]) in rows.into_iter().enumerate() {
                let even = &scratch[j * hl..][..hl];
                let odd = &scratch[(4 + j) * hl..][..hl];
                let (p0, p1, p2, p3) = (
                    &even[..len],
                    &odd[..len],
                    &even[slots..][..len],
                    &odd[slots..][..len],
                );
                map2(v0, p0, p2, |a, c| a - c);
                map2(v1, p1, p2, |b, c| b + c);
                map2(v2, p2, p1, |c, b| c - b);
                map2(v3, p1, p3, |b, d| b - d);
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

/// The 16 rows `(component, channel)` of a `[component][channels][columns]` matrix, each from
/// column `first`, `len` long.
#[inline(always)]
fn split_rows(
    matrix: &mut [f32],
    channels: usize,
    channel: usize,
    columns: usize,
    first: usize,
    len: usize,
) -> [&mut [f32]; COMPONENTS] {
    let mut rest = &mut matrix[channel * columns + first..];
    let stride = channels * columns;
    std::array::from_fn(|k| {
        let taken = std::mem::take(&mut rest);
        if k + 1 < COMPONENTS {
            let (row, tail) = taken.split_at_mut(stride);
            rest = tail;
            &mut row[..len]
        } else {
            &mut taken[..len]
        }
    })
}

/// The 16 rows `(component, channel)` of a `[component][channels][columns]` matrix, read-only.
#[inline(always)]
fn rows_of(
    matrix: &[f32],
    channels: usize,
    channel: usize,
    columns: usize,
    first: usize,
    len: usize,
) -> [&[f32]; COMPONENTS] {
    std::array::from_fn(|k| &matrix[(k * channels + channel) * columns + first..][..len])
}

/// `Y = A^T M A` for every tile: the output `[count, out, out_h, out_w]` from
/// `M[component][out][slot]`, clipped at odd edges.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn transform_output(
    m: &[f32],
    g: &ConvGeometry,
    group: &Group,
    out: &mut [f32],
    scratch: &mut Scratch,
) {
    let (count, tiling, columns) = (group.count, &group.tiling, group.columns);
    let Scratch {
        planes: tiles,
        rows: scratch,
    } = scratch;
    let (cout, (oh, ow)) = (g.out_channels, (g.out_height(), g.out_width()));
    let (slots, len) = (tiling.slots_per_row(), tiling.per_image());
    for plane in tiles.iter_mut() {
        plane.resize(len, 0.0);
    }
    for (n, image) in out
        .chunks_exact_mut(g.out_image_len())
        .take(count)
        .enumerate()
    {
        for (co, channel) in image.chunks_exact_mut(oh * ow).enumerate() {
            let ms = rows_of(m, cout, co, columns, n * len, len);
            // A^T = [[1, 1, 1, 0], [0, 1, -1, -1]] down the columns: `s[a * 4 + j]`...
            scratch.resize(8 * len, 0.0);
            for j in 0..4 {
                let (m0, m1, m2, m3) = (ms[j], ms[4 + j], ms[8 + j], ms[12 + j]);
                let (top, bottom) = scratch.split_at_mut(4 * len);
                map3(&mut top[j * len..][..len], m0, m1, m2, |a, b, c| a + b + c);
                map3(&mut bottom[j * len..][..len], m1, m2, m3, |b, c, d| {
                    b - c - d
                });
            }
            // ...then along the rows.
            for a in 0..2 {
                let s = &scratch[a * 4 * len..][..4 * len];
                let (s0, s1, s2, s3) = (
                    &s[..len],
                    &s[len..2 * len],
                    &s[2 * len..3 * len],
                    &s[3 * len..],
                );
                let (left, right) = tiles[a * 2..].split_at_mut(1);
                map3(&mut left[0][..len], s0, s1, s2, |a, b, c| a + b + c);
                map3(&mut right[0][..len], s1, s2, s3, |b, c, d| b - c - d);
            }
            for (y, row) in channel.chunks_exact_mut(ow).enumerate() {
                let (ty, a) = (y / 2, y % 2);
                let (left, right) = if a == 0 {
                    (&tiles[0], &tiles[1])
                } else {
                    (&tiles[2], &tiles[3])
                };
                let (left, right) = (&left[ty * slots..], &right[ty * slots..]);
                let mut pairs = row.chunks_exact_mut(2);
                for ((pair, &l), &r) in (&mut pairs).zip(left).zip(right) {
                    pair[0] = l;
                    pair[1] = r;
                }
                if let [value] = pairs.into_remainder() {
                    *value = left[ow / 2];
                }
            }
        }
    }
}

/// `dM[component][out][slot] = A dY A^T`, the adjoint of [`transform_output`]: the output
/// gradient `[count, out, out_h, out_w]` in the components' space (zero past the edges, in the
/// spare slots and in the padding columns).
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn transform_output_grad(
    output_grad: &[f32],
    g: &ConvGeometry,
    group: &Group,
    dm: &mut [f32],
    scratch: &mut Scratch,
) {
    let (count, tiling, columns) = (group.count, &group.tiling, group.columns);
    let Scratch {
        planes: tiles,
        rows: scratch,
    } = scratch;
    let (cout, (oh, ow)) = (g.out_channels, (g.out_height(), g.out_width()));
    let (slots, len) = (tiling.slots_per_row(), tiling.per_image());
    let used = count * len;
    for row in dm.chunks_exact_mut(columns) {
        row[used..].fill(0.0);
    }
    for (n, image) in output_grad
        .chunks_exact(g.out_image_len())
        .take(count)
        .enumerate()
    {
        for (co, channel) in image.chunks_exact(oh * ow).enumerate() {
            // The gradient split into its four positions within a tile, zero where the tile
            // runs past the edge.
            for plane in tiles.iter_mut() {
                plane.clear();
                plane.resize(len, 0.0);
            }
            for (y, row) in channel.chunks_exact(ow).enumerate() {
                let (ty, a) = (y / 2, y % 2);
                let (left, right) = tiles[a * 2..].split_at_mut(1);
                let (left, right) = (&mut left[0], &mut right[0]);
                let (left, right) = (&mut left[ty * slots..], &mut right[ty * slots..]);
                let pairs = row.chunks_exact(2);
                let last = pairs.remainder();
                for ((pair, l), r) in pairs.zip(&mut *left).zip(&mut *right) {
                    *l = pair[0];
                    *r = pair[1];
                }
                if let [value] = last {
                    left[ow / 2] = *value;
                }
            }
            // A = [[1, 0], [1, 1], [1, -1], [0, -1]] along the rows: `c[a * 4 + j]`...
            scratch.resize(8 * len, 0.0);
            for a in 0..2 {
                let (y0, y1) = (&tiles[a * 2][..len], &tiles[a * 2 + 1][..len]);
                let c = &mut scratch[a * 4 * len..][..4 * len];
                let (c0, rest) = c.split_at_mut(len);
                let (c1, rest) = rest.split_at_mut(len);
                let (c2, c3) = rest.split_at_mut(len);
                c0.copy_from_slice(y0);
                map2(c1, y0, y1, |p, q| p + q);
                map2(c2, y0, y1, |p, q| p - q);
                map2(c3, y0, y1, |_, q| -q);
            }
            // ...then down the columns.
            let outs = split_rows(dm, cout, co, columns, n * len, len);
            let [
                o0,
                o1,
                o2,
                o3,
                o4,
                o5,
                o6,
                o7,
                o8,
                o9,
                o10,
                o11,
                o12,
                o13,
                o14,
                o15,
            ] = outs;
            let rows = [
                [o0, o4, o8, o12],
                [o1, o5, o9, o13],
                [o2, o6, o10, o14],
                [o3, o7, o11, o15],
            ];
            for (j, [d0, d1, d2, d3]) in rows.into_iter().enumerate() {
                let (top, bottom) = (&scratch[j * len..][..len], &scratch[(4 + j) * len..][..len]);
                d0.copy_from_slice(top);
                map2(d1, top, bottom, |p, q| p + q);
                map2(d2, top, bottom, |p, q| p - q);
                map2(d3, top, bottom, |_, q| -q);
            }
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

/// Scratch space of the transforms: four planes of one channel and up to eight rows of
/// intermediate sums.
#[derive(Default)]
struct Scratch {
    planes: [Vec<f32>; 4],
    rows: Vec<f32>,
}

/// The images that share one set of GEMMs.
struct Group {
    tiling: Tiling,
    count: usize,
    columns: usize,
}

impl Group {
    fn new(tiling: Tiling, count: usize) -> Self {
        Self {
            tiling,
            count,
            columns: tiling.columns(count),
        }
    }
}

/// `output = conv(input, weight)` for a geometry [`applies`] accepts.
pub fn forward(input: &[f32], weight: &[f32], g: &ConvGeometry, output: &mut [f32]) {
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
            buffers.v.resize(COMPONENTS * cin * columns, 0.0);
            buffers.m.resize(COMPONENTS * cout * columns, 0.0);
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
        buffers.v.resize(COMPONENTS * cin * columns, 0.0);
        buffers.m.resize(COMPONENTS * cout * columns, 0.0);
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
