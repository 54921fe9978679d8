//! Training health without labels: is the encoder learning or collapsing? Measured on a fixed
//! probe batch, in float64:
//! - the standard deviation of the L2-normalised projections (per dimension over the batch,
//!   unbiased, then averaged over dimensions, as lightly's `std_of_l2_normalized`): about
//!   `1/sqrt(d)` when the projections spread over the sphere, 0 when they collapse to a point;
//! - the effective rank of the backbone features (RankMe, Garrido et al. 2023): `exp` of the
//!   entropy of the singular values normalised to sum 1 (plus 1e-7 each, as the paper);
//! - alignment and uniformity (Wang & Isola, 2020) of the two views' normalised projections:
//!   the mean squared distance between an image's two views, and `log` of the mean of
//!   `exp(-2 |zi - zj|^2)` over pairs of images (the mean of both views' values).

use nalgebra::DMatrix;

/// The constant RankMe adds to every normalised singular value.
const RANK_EPSILON: f64 = 1e-7;

/// A row-major `[rows, cols]` matrix of f32 values, as read back from the device.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    pub values: &'a [f32],
    pub rows: usize,
    pub cols: usize,
}

impl<'a> Rows<'a> {
    pub fn new(values: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(values.len(), rows * cols, "{rows} x {cols} matrix");
        Self { values, rows, cols }
    }

    fn row(&self, i: usize) -> &'a [f32] {
        &self.values[i * self.cols..(i + 1) * self.cols]
    }
}

/// The health metrics of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Health {
    pub projection_std: f64,
    /// `1/sqrt(d)`: what `projection_std` is for projections spread evenly over the sphere.
    pub projection_std_spread: f64,
    pub effective_rank: f64,
    /// The largest rank the features can have: min(images, feature dimension).
    pub rank_limit: usize,
    pub alignment: f64,
    pub uniformity: f64,
}

/// Health of `features` (backbone, one row per probe image) and the projections of the two
/// views of the same images.
pub fn health(features: Rows<'_>, views: [Rows<'_>; 2]) -> Health {
    assert_eq!(
        views[0].rows, views[1].rows,
        "both views of the same images"
    );
    assert_eq!(views[0].cols, views[1].cols, "both views of the same head");
    let [first, second] = views.map(normalized_rows);
    let d = views[0].cols;
    Health {
        projection_std: mean_std(&first, d),
        projection_std_spread: 1.0 / (d as f64).sqrt(),
        effective_rank: effective_rank(features),
        rank_limit: features.rows.min(features.cols),
        alignment: alignment(&first, &second),
        uniformity: (uniformity(&first) + uniformity(&second)) / 2.0,
    }
}

/// Each row divided by its L2 norm (a zero row stays zero), in f64.
fn normalized_rows(m: Rows<'_>) -> Vec<Vec<f64>> {
    (0..m.rows)
        .map(|i| {
            let row: Vec<f64> = m.row(i).iter().map(|&v| v as f64).collect();
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
            row.iter().map(|v| v / norm).collect()
        })
        .collect()
}

/// Unbiased standard deviation of each column over the rows, averaged over the columns.
fn mean_std(rows: &[Vec<f64>], d: usize) -> f64 {
    let n = rows.len();
    if n < 2 || d == 0 {
        return 0.0;
    }
    let total: f64 = (0..d)
        .map(|j| {
            let mean = rows.iter().map(|r| r[j]).sum::<f64>() / n as f64;
            let var = rows.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            var.sqrt()
        })
        .sum();
    total / d as f64
}

/// RankMe: `exp(-sum p log p)`, `p` the singular values of the matrix normalised to sum 1,
/// plus [`RANK_EPSILON`].
pub fn effective_rank(m: Rows<'_>) -> f64 {
    if m.rows == 0 || m.cols == 0 {
        return 0.0;
    }
    let matrix = DMatrix::from_row_iterator(m.rows, m.cols, m.values.iter().map(|&v| v as f64));
    let singular = matrix.singular_values();
    let sum: f64 = singular.iter().sum();
    if sum <= 0.0 {
        return 0.0;
    }
    let entropy: f64 = singular
        .iter()
        .map(|s| {
            let p = s / sum + RANK_EPSILON;
            -p * p.ln()
        })
        .sum();
    entropy.exp()
}

/// Mean over images of the squared distance between the two views' normalised projections.
fn alignment(first: &[Vec<f64>], second: &[Vec<f64>]) -> f64 {
    let n = first.len().max(1) as f64;
    first
        .iter()
        .zip(second)
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>())
        .sum::<f64>()
        / n
}

/// `log` of the mean over pairs `i < j` of `exp(-2 |zi - zj|^2)`.
fn uniformity(rows: &[Vec<f64>]) -> f64 {
    let n = rows.len();
    if n < 2 {
        return 0.0;
    }
    let mut sum = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            let distance: f64 = rows[i]
                .iter()
                .zip(&rows[j])
                .map(|(x, y)| (x - y).powi(2))
                .sum();
            sum += (-2.0 * distance).exp();
        }
    }
    (sum / (n * (n - 1) / 2) as f64).ln()
}

impl Health {
    /// Each metric's larger value of the two (the limits are the same for one run).
    pub fn highest(&self, other: &Health) -> Health {
        Health {
            projection_std: self.projection_std.max(other.projection_std),
            effective_rank: self.effective_rank.max(other.effective_rank),
            alignment: self.alignment.max(other.alignment),
            uniformity: self.uniformity.max(other.uniformity),
            ..*self
        }
    }
}

/// Why a run looks collapsed, or `None`. The projections' spread is judged against a spread
/// over the sphere (`1/sqrt(d)`): under a hundredth of it is a collapse; under a tenth is one
/// when it is also under half of the highest value of the run's earlier evaluations
/// (`highest`). Early in training a network maps every image into a narrow cone: a tiny
/// SimCLR run measured 7.5% of the spread at its first evaluation and 48% two epochs later,
/// low but rising, which is not a collapse. The features' effective rank is flagged under 1%
/// of its limit and half of its highest value.
pub fn collapse(health: &Health, highest: &Health) -> Option<String> {
    let std = health.projection_std;
    let spread = health.projection_std_spread;
    if std < spread / 100.0 || (std < spread / 10.0 && std < highest.projection_std / 2.0) {
        return Some(format!(
            "the L2-normalised projections' standard deviation is {std:.2e}, against 1/sqrt(d) \
             = {spread:.3} when they spread over the sphere and {:.3} earlier in this run: the \
             projections have collapsed towards one point",
            highest.projection_std
        ));
    }
    let rank = health.effective_rank;
    if rank < health.rank_limit as f64 / 100.0 && rank < highest.effective_rank / 2.0 {
        return Some(format!(
            "the backbone features' effective rank is {rank:.2}, under 1% of its limit {} and \
             down from {:.2}: the features have collapsed onto a few directions",
            health.rank_limit, highest.effective_rank
        ));
    }
    None
}
