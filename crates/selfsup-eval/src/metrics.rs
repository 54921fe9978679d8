//! Where a classifier fails: accuracy per class and the confusion matrix, from predicted and
//! true labels.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

#[derive(Debug, Clone, PartialEq)]
pub struct ClassReport {
    /// Fraction of each class's test images predicted as that class (NaN for a class with no
    /// test image).
    pub per_class_top1: Vec<f64>,
    /// `confusion[true][predicted]`: image counts.
    pub confusion: Vec<Vec<u64>>,
}

/// Per-class accuracy and confusion matrix over `classes` classes. Labels or predictions at or
/// above `classes` are counted nowhere.
pub fn class_report(predicted: &[u32], labels: &[u32], classes: usize) -> ClassReport {
    let mut confusion = vec![vec![0u64; classes]; classes];
    for (&p, &t) in predicted.iter().zip(labels) {
        if (t as usize) < classes && (p as usize) < classes {
            confusion[t as usize][p as usize] += 1;
        }
    }
    let per_class_top1 = confusion
        .iter()
        .enumerate()
        .map(|(class, row)| {
            let total: u64 = row.iter().sum();
            if total == 0 {
                f64::NAN
            } else {
                row[class] as f64 / total as f64
            }
        })
        .collect();
    ClassReport {
        per_class_top1,
        confusion,
    }
}

/// The highest-scoring class of each row of `scores` `[n, classes]`.
pub fn argmax_rows<B: Backend>(scores: Tensor<B, 2>) -> Vec<u32> {
    let [count, _] = scores.dims();
    if count == 0 {
        return Vec::new();
    }
    scores
        .argmax(1)
        .into_data()
        .iter::<i64>()
        .map(|class| class as u32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn confusion_counts_and_per_class_accuracy() {
        // class 0: 2 right, 1 taken for class 2; class 1: 1 right; class 2: none in the test.
        let report = class_report(&[0, 0, 2, 1], &[0, 0, 0, 1], 3);
        assert_eq!(
            report.confusion,
            vec![vec![2, 0, 1], vec![0, 1, 0], vec![0, 0, 0]]
        );
        assert!((report.per_class_top1[0] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(report.per_class_top1[1], 1.0);
        assert!(report.per_class_top1[2].is_nan());
    }

    #[test]
    fn argmax_picks_the_largest_score() {
        let scores = Tensor::<Flex, 2>::from_data(
            TensorData::new(vec![0.1f32, 0.7, 0.2, 0.9, 0.05, 0.05], [2, 3]),
            &Default::default(),
        );
        assert_eq!(argmax_rows(scores), vec![1, 0]);
    }
}
