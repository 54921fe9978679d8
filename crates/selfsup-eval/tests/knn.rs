use burn::backend::Flex;
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use selfsup_eval::{KnnConfig, KnnError, KnnIndex, KthValue};

type B = Flex;

fn matrix(rows: &[Vec<f64>]) -> Tensor<B, 2> {
    let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    Tensor::from_data(
        TensorData::new(flat, [rows.len(), rows[0].len()]),
        &Default::default(),
    )
}

fn labels(l: &[usize]) -> Tensor<B, 1, Int> {
    let v: Vec<i64> = l.iter().map(|&x| x as i64).collect();
    Tensor::from_data(TensorData::new(v, [l.len()]), &Default::default())
}

/// Straightforward float64 weighted kNN: sort every similarity, vote with the top k.
fn reference_scores(
    train: &[Vec<f64>],
    train_labels: &[usize],
    query: &[f64],
    k: usize,
    t: f64,
    classes: usize,
) -> Vec<f64> {
    let unit = |v: &[f64]| {
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter().map(|x| x / n).collect::<Vec<_>>()
    };
    let q = unit(query);
    let mut sims: Vec<(f64, usize)> = train
        .iter()
        .zip(train_labels)
        .map(|(x, &l)| (unit(x).iter().zip(&q).map(|(a, b)| a * b).sum(), l))
        .collect();
    sims.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut scores = vec![0.0; classes];
    for &(s, l) in &sims[..k] {
        scores[l] += (s / t).exp();
    }
    scores
}

#[test]
fn scores_and_accuracy_match_a_float64_reference() {
    matches_reference(KthValue::TopK);
}

#[test]
fn bisection_scores_and_accuracy_match_a_float64_reference() {
    matches_reference(KthValue::Bisection);
}

fn matches_reference(kth: KthValue) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (n, q, d, classes, k) = (300, 70, 12, 7, 20);
    let centers: Vec<Vec<f64>> = (0..classes)
        .map(|_| (0..d).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let mut sample = |count: usize| {
        let ls: Vec<usize> = (0..count).map(|_| rng.random_range(0..classes)).collect();
        let xs: Vec<Vec<f64>> = ls
            .iter()
            .map(|&l| {
                centers[l]
                    .iter()
                    .map(|c| c + rng.random_range(-0.8..0.8))
                    .collect()
            })
            .collect();
        (xs, ls)
    };
    let (train, train_l) = sample(n);
    let (test, test_l) = sample(q);
    let config = KnnConfig {
        k,
        temperature: 0.07,
        chunk_size: 16,
        kth,
    };
    let index = KnnIndex::new(matrix(&train), labels(&train_l), classes).unwrap();
    let scores = index.class_scores(matrix(&test), &config).unwrap();
    assert_eq!(scores.dims(), [q, classes]);
    let scores = scores.into_data().into_vec::<f32>().unwrap();
    let (mut top1, mut top5) = (0, 0);
    for (i, query) in test.iter().enumerate() {
        let want = reference_scores(&train, &train_l, query, k, 0.07, classes);
        for c in 0..classes {
            let got = scores[i * classes + c] as f64;
            assert!(
                (got - want[c]).abs() <= 1e-4 * want[c].max(1.0),
                "query {i} class {c}: {got} vs {}",
                want[c]
            );
        }
        let mut order: Vec<usize> = (0..classes).collect();
        order.sort_by(|&a, &b| want[b].total_cmp(&want[a]));
        top1 += usize::from(order[0] == test_l[i]);
        top5 += usize::from(order[..5].contains(&test_l[i]));
    }
    let acc = index
        .accuracy(matrix(&test), labels(&test_l), &config)
        .unwrap();
    assert_eq!(acc.queries, q);
    assert!((acc.top1 - top1 as f64 / q as f64).abs() < 1e-12);
    assert!((acc.top5 - top5 as f64 / q as f64).abs() < 1e-12);
    assert!(
        acc.top1 > 0.5,
        "clustered data should be easy: {}",
        acc.top1
    );
}

#[test]
fn chunk_size_does_not_change_the_result() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let train: Vec<Vec<f64>> = (0..100)
        .map(|_| (0..5).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let train_l: Vec<usize> = (0..100).map(|i| i % 3).collect();
    let index = KnnIndex::new(matrix(&train), labels(&train_l), 3).unwrap();
    let query = matrix(&train[..37]);
    let a = index
        .class_scores(
            query.clone(),
            &KnnConfig {
                k: 10,
                temperature: 0.1,
                chunk_size: 5,
                ..KnnConfig::default()
            },
        )
        .unwrap();
    let b = index
        .class_scores(
            query,
            &KnnConfig {
                k: 10,
                temperature: 0.1,
                chunk_size: 1000,
                ..KnnConfig::default()
            },
        )
        .unwrap();
    // The matmul's reduction order depends on the chunk's shape: equal up to rounding.
    let (a, b) = (
        a.into_data().into_vec::<f32>().unwrap(),
        b.into_data().into_vec::<f32>().unwrap(),
    );
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-6 * x.abs().max(1.0), "{x} vs {y}");
    }
}

#[test]
fn bad_arguments_are_typed_errors() {
    let train = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
    let index = KnnIndex::new(matrix(&train), labels(&[0, 1]), 2).unwrap();
    let cfg = |k| KnnConfig {
        k,
        temperature: 0.07,
        chunk_size: 4,
        kth: KthValue::TopK,
    };
    assert_eq!(
        index.class_scores(matrix(&train), &cfg(3)).unwrap_err(),
        KnnError::BadK { k: 3, stored: 2 }
    );
    assert_eq!(
        index
            .class_scores(matrix(&[vec![1.0, 2.0, 3.0]]), &cfg(1))
            .unwrap_err(),
        KnnError::DimMismatch {
            stored: 2,
            queries: 3
        }
    );
    assert!(matches!(
        KnnIndex::new(matrix(&train), labels(&[0]), 2),
        Err(KnnError::LabelCount { .. })
    ));
}
