//! WCL's KNN multi-crop table: each training image's K nearest other images by cosine
//! similarity of their features, from which the next epoch draws its local crops.

use burn::tensor::backend::Backend;
use burn::tensor::linalg::vector_normalize;
use burn::tensor::{IndexingUpdateOp, Int, Tensor};

/// Added to a score that must not be chosen again: cosines lie in [-1, 1], so a score lowered
/// by 4 is below every score still in play.
const EXCLUDED: f32 = -4.0;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NeighbourError {
    #[error("{k} nearest neighbours of each of {images} images: need k between 1 and {max}", max = .images.saturating_sub(1))]
    BadK { k: usize, images: usize },
    #[error("neighbour chunk size 0: need at least one query per block")]
    EmptyChunk,
}

/// `[n, k]` image indices: row i holds the k rows of `features` (`[n, d]`) most similar to row
/// i by cosine, most similar first, never i itself.
///
/// Runs on the features' device in blocks of `chunk` queries, so the scores held at once are
/// `chunk x n` instead of `n x n`. The k picks are k rounds of argmax with the picked entry
/// pushed below every cosine: O(k n) per query where a full sort (Burn's `topk`) would be
/// O(n log n), and k is small. Ties go the backend's argmax way, the same on every call.
pub fn nearest_neighbours<B: Backend>(
    features: Tensor<B, 2>,
    k: usize,
    chunk: usize,
) -> Result<Tensor<B, 2, Int>, NeighbourError> {
    let [images, _] = features.dims();
    if k == 0 || k >= images {
        return Err(NeighbourError::BadK { k, images });
    }
    if chunk == 0 {
        return Err(NeighbourError::EmptyChunk);
    }
    let device = features.device();
    let unit = vector_normalize(features, 2.0, 1, 1e-12);
    let keys = unit.clone().transpose();
    let blocks = (0..images)
        .step_by(chunk)
        .map(|start| {
            let end = (start + chunk).min(images);
            let rows = end - start;
            let mut scores = unit.clone().narrow(0, start, rows).matmul(keys.clone());
            let penalty = Tensor::full([rows, 1], EXCLUDED, &device);
            let exclude = |scores: Tensor<B, 2>, columns: Tensor<B, 2, Int>| {
                scores.scatter(1, columns, penalty.clone(), IndexingUpdateOp::Add)
            };
            let own = Tensor::<B, 1, Int>::arange(start as i64..end as i64, &device);
            scores = exclude(scores, own.reshape([rows, 1]));
            let mut picked = Vec::with_capacity(k);
            for _ in 0..k {
                let best = scores.clone().argmax(1);
                scores = exclude(scores, best.clone());
                picked.push(best);
            }
            Tensor::cat(picked, 1)
        })
        .collect();
    Ok(Tensor::cat(blocks, 0))
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::tensor::TensorData;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    type B = Flex;

    /// `[n, d]` features drawn on the host from `seed` (Burn's generator is global).
    fn random_rows(n: usize, d: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| (0..d).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect()
    }

    fn tensor(rows: &[Vec<f64>]) -> Tensor<B, 2> {
        let flat: Vec<f32> = rows.iter().flatten().map(|&x| x as f32).collect();
        let shape = [rows.len(), rows[0].len()];
        Tensor::from_data(TensorData::new(flat, shape), &Default::default())
    }

    fn table(features: Tensor<B, 2>, k: usize, chunk: usize) -> Vec<Vec<i64>> {
        let out = nearest_neighbours(features, k, chunk).unwrap();
        let [n, k] = out.dims();
        let flat = out.into_data().convert::<i64>().into_vec::<i64>().unwrap();
        (0..n).map(|i| flat[i * k..(i + 1) * k].to_vec()).collect()
    }

    /// The k most similar other rows by a float64 cosine on the host, for comparison.
    fn brute_force(rows: &[Vec<f64>], k: usize) -> Vec<Vec<i64>> {
        let norm = |a: &[f64]| a.iter().map(|x| x * x).sum::<f64>().sqrt();
        let cosine = |a: &[f64], b: &[f64]| {
            a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>() / (norm(a) * norm(b))
        };
        rows.iter()
            .enumerate()
            .map(|(i, a)| {
                let mut others: Vec<(f64, usize)> = rows
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(j, b)| (cosine(a, b), j))
                    .collect();
                others.sort_by(|x, y| y.0.total_cmp(&x.0));
                others[..k].iter().map(|&(_, j)| j as i64).collect()
            })
            .collect()
    }

    #[test]
    fn neighbours_are_the_most_similar_other_images_in_order() {
        // Points on a circle at distinct angles: cosine order is angular order.
        let angles = [0.0f64, 0.3, 1.0, 1.25, 2.5, 3.0, 4.1, 5.9];
        let rows: Vec<Vec<f64>> = angles
            .iter()
            .map(|a| vec![a.cos() * 2.0, a.sin() * 2.0])
            .collect();
        let features = tensor(&rows);
        let expected = brute_force(&rows, 3);
        assert_eq!(table(features.clone(), 3, 3), expected);
        assert_eq!(
            table(features, 3, 100),
            expected,
            "chunking changes nothing"
        );
        // Image 0 (angle 0): 0.3 (0.3 away), then 5.9 (0.38 around the circle), then 1.0.
        assert_eq!(expected[0], vec![1, 7, 2]);
    }

    #[test]
    fn an_image_is_never_its_own_neighbour_even_when_duplicated() {
        let mut rows = random_rows(50, 6, 1);
        // Row 10 duplicates row 3: each is the other's nearest, and neither lists itself.
        rows[10] = rows[3].clone();
        let table = table(tensor(&rows), 5, 7);
        for (i, row) in table.iter().enumerate() {
            assert!(!row.contains(&(i as i64)), "row {i}: {row:?}");
            let mut unique = row.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), 5, "row {i} repeats an image: {row:?}");
        }
        assert_eq!(table[3][0], 10);
        assert_eq!(table[10][0], 3);
    }

    #[test]
    fn the_table_is_deterministic_and_matches_float64() {
        let rows = random_rows(64, 8, 2);
        let first = table(tensor(&rows), 4, 10);
        assert_eq!(first, table(tensor(&rows), 4, 10));
        assert_eq!(first, brute_force(&rows, 4));
    }

    #[test]
    fn k_must_leave_room_for_the_image_itself() {
        let features = Tensor::<B, 2>::zeros([4, 2], &Default::default());
        assert_eq!(
            nearest_neighbours(features.clone(), 4, 2).unwrap_err(),
            NeighbourError::BadK { k: 4, images: 4 }
        );
        assert_eq!(
            nearest_neighbours(features, 1, 0).unwrap_err(),
            NeighbourError::EmptyChunk
        );
    }
}
