//! A 2-D map of feature vectors for plotting: Barnes-Hut t-SNE from the `bhtsne` crate, started
//! from a seeded layout so the same features give the same picture.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EmbeddingError {
    #[error("t-SNE needs more than {needed} points for perplexity {perplexity}, got {points}")]
    TooFewPoints {
        points: usize,
        needed: usize,
        perplexity: f32,
    },
    #[error("t-SNE: feature rows differ in length")]
    Ragged,
}

/// `[x, y]` per row of `features` (cosine geometry: rows are L2-normalised first).
pub fn tsne_2d(
    features: &[Vec<f32>],
    perplexity: f32,
    epochs: usize,
    seed: u64,
) -> Result<Vec<[f32; 2]>, EmbeddingError> {
    let needed = (3.0 * perplexity).ceil() as usize + 1;
    if features.len() <= needed {
        return Err(EmbeddingError::TooFewPoints {
            points: features.len(),
            needed,
            perplexity,
        });
    }
    let dim = features[0].len();
    if features.iter().any(|row| row.len() != dim) {
        return Err(EmbeddingError::Ragged);
    }
    let normalised: Vec<Vec<f32>> = features
        .iter()
        .map(|row| {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            row.iter().map(|v| v / norm).collect()
        })
        .collect();
    // The crate's own random start draws from an unseeded generator.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let start: Vec<f32> = (0..features.len() * 2)
        .map(|_| rng.random_range(-1e-4f32..1e-4))
        .collect();
    let distance = |a: &Vec<f32>, b: &Vec<f32>| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt()
    };
    let fit = || {
        let mut tsne = bhtsne::tSNE::<f32, Vec<f32>, 2>::new(&normalised);
        tsne.perplexity(perplexity)
            .epochs(epochs)
            .initial_embedding(start)
            .barnes_hut(0.5, distance);
        tsne.embedding()
    };
    // The crate sums forces in parallel, in an order that changes from run to run; one thread
    // gives the same map every time.
    let embedding = match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool.install(fit),
        Err(_) => fit(),
    };
    Ok(embedding.chunks_exact(2).map(|p| [p[0], p[1]]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two well-separated clusters in 8-d stay separated in 2-d: every point is closer to the
    /// centre of its own cluster than to the other's.
    #[test]
    fn separated_clusters_stay_apart_and_the_map_is_reproducible() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut features = Vec::new();
        for i in 0..120 {
            let axis = if i < 60 { 0 } else { 1 };
            let mut row: Vec<f32> = (0..8).map(|_| rng.random_range(-0.1f32..0.1)).collect();
            row[axis] += 1.0;
            features.push(row);
        }
        let points = tsne_2d(&features, 10.0, 300, 3).unwrap();
        let centre = |range: std::ops::Range<usize>| {
            let n = range.len() as f32;
            let (x, y) = points[range]
                .iter()
                .fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
            [x / n, y / n]
        };
        let (a, b) = (centre(0..60), centre(60..120));
        let dist = |p: [f32; 2], c: [f32; 2]| (p[0] - c[0]).hypot(p[1] - c[1]);
        for (i, &p) in points.iter().enumerate() {
            let (own, other) = if i < 60 { (a, b) } else { (b, a) };
            assert!(
                dist(p, own) < dist(p, other),
                "point {i} sits with the other cluster"
            );
        }
        assert_eq!(points, tsne_2d(&features, 10.0, 300, 3).unwrap());
    }

    #[test]
    fn too_few_points_is_an_error() {
        let features = vec![vec![0.0f32; 4]; 10];
        assert!(matches!(
            tsne_2d(&features, 30.0, 100, 0),
            Err(EmbeddingError::TooFewPoints { .. })
        ));
    }
}
