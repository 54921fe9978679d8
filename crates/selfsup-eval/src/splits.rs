//! Label subsets for semi-supervised evaluation: a fixed fraction of each class, chosen by a
//! seed, so 1% of Fashion-MNIST is 60 images of each of its 10 classes on every machine.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SplitError {
    #[error("label fraction must be in (0, 1], got {0}")]
    BadFraction(f64),
    #[error("no labelled images to draw a subset from")]
    Empty,
}

/// Sorted indices of `round(fraction * n_c)` images of each class c (at least one per class
/// present), drawn without replacement by a generator seeded with `seed`.
pub fn class_balanced_subset(
    labels: &[u32],
    fraction: f64,
    seed: u64,
) -> Result<Vec<usize>, SplitError> {
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(SplitError::BadFraction(fraction));
    }
    if labels.is_empty() {
        return Err(SplitError::Empty);
    }
    let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut by_class = vec![Vec::new(); classes];
    for (index, &label) in labels.iter().enumerate() {
        by_class[label as usize].push(index);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut chosen = Vec::new();
    for mut members in by_class.into_iter().filter(|m| !m.is_empty()) {
        let take = ((fraction * members.len() as f64).round() as usize).clamp(1, members.len());
        members.shuffle(&mut rng);
        chosen.extend_from_slice(&members[..take]);
    }
    chosen.sort_unstable();
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<u32> {
        // 3 classes: 100, 50 and 3 images, interleaved.
        let mut labels = Vec::new();
        for i in 0..100 {
            labels.push(0);
            if i % 2 == 0 {
                labels.push(1);
            }
            if i % 40 == 0 {
                labels.push(2);
            }
        }
        labels
    }

    #[test]
    fn takes_the_fraction_of_every_class_and_at_least_one() {
        let labels = labels();
        let subset = class_balanced_subset(&labels, 0.1, 7).unwrap();
        let count = |c| subset.iter().filter(|&&i| labels[i] == c).count();
        assert_eq!((count(0), count(1), count(2)), (10, 5, 1));
        assert!(subset.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
    }

    #[test]
    fn same_seed_same_subset_other_seed_other_subset() {
        let labels = labels();
        let a = class_balanced_subset(&labels, 0.1, 7).unwrap();
        assert_eq!(a, class_balanced_subset(&labels, 0.1, 7).unwrap());
        assert_ne!(a, class_balanced_subset(&labels, 0.1, 8).unwrap());
    }

    #[test]
    fn rejects_fractions_outside_zero_one() {
        for bad in [0.0, -0.1, 1.5, f64::NAN] {
            assert!(matches!(
                class_balanced_subset(&[0, 1], bad, 0),
                Err(SplitError::BadFraction(_))
            ));
        }
        assert_eq!(class_balanced_subset(&[0, 1], 1.0, 0).unwrap(), vec![0, 1]);
    }
}
