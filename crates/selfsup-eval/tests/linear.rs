use burn::backend::{Autodiff, Flex};
use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use selfsup_eval::{LinearProbeConfig, linear_probe};

type B = Autodiff<Flex>;

/// `per_class` points per class around class-specific centres (separation `spread`), in 16 dims
/// with a large common offset and scale (which the standardisation must undo).
fn clusters(
    per_class: usize,
    classes: usize,
    spread: f32,
    seed: u64,
) -> (Tensor<Flex, 2>, Vec<u32>) {
    let dim = 16;
    let mut centres = ChaCha8Rng::seed_from_u64(99);
    let centres: Vec<Vec<f32>> = (0..classes)
        .map(|_| {
            (0..dim)
                .map(|_| centres.random_range(-1.0..1.0) * spread)
                .collect()
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values = Vec::new();
    let mut labels = Vec::new();
    for i in 0..per_class * classes {
        let class = i % classes;
        for centre in &centres[class] {
            let noise: f32 = rng.random_range(-1.0..1.0);
            values.push(100.0 + 50.0 * (centre + noise));
        }
        labels.push(class as u32);
    }
    let n = labels.len();
    (
        Tensor::from_data(TensorData::new(values, [n, dim]), &Default::default()),
        labels,
    )
}

fn config() -> LinearProbeConfig {
    LinearProbeConfig {
        epochs: 20,
        batch_size: 32,
        ..LinearProbeConfig::default()
    }
}

#[test]
fn separable_classes_are_learned_despite_offset_and_scale() {
    let (train, train_y) = clusters(60, 4, 3.0, 1);
    let (test, test_y) = clusters(30, 4, 3.0, 2);
    let result = linear_probe::<B>(train, &train_y, test, &test_y, 4, &config()).unwrap();
    assert!(result.test.top1 > 0.95, "{result:?}");
    assert!(result.train_top1 > 0.95, "{result:?}");
    assert_eq!(result.test.queries, 120);
    assert!(result.final_loss < 0.3, "{result:?}");
}

#[test]
fn labels_without_signal_stay_near_chance_on_the_test_split() {
    let (train, _) = clusters(60, 4, 0.0, 1);
    let (test, _) = clusters(60, 4, 0.0, 2);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let random = |n: usize, rng: &mut ChaCha8Rng| {
        (0..n).map(|_| rng.random_range(0..4)).collect::<Vec<u32>>()
    };
    let (train_y, test_y) = (random(240, &mut rng), random(240, &mut rng));
    let result = linear_probe::<B>(train, &train_y, test, &test_y, 4, &config()).unwrap();
    assert!(result.test.top1 < 0.4, "{result:?}");
    assert!(
        (result.test.top5 - 1.0).abs() < 1e-12,
        "top-5 of 4 classes is everything"
    );
}

#[test]
fn same_seed_same_result_and_bad_labels_are_named() {
    let (train, train_y) = clusters(20, 3, 1.0, 1);
    let (test, test_y) = clusters(10, 3, 1.0, 2);
    let run =
        || linear_probe::<B>(train.clone(), &train_y, test.clone(), &test_y, 3, &config()).unwrap();
    assert_eq!(run(), run());
    let err = linear_probe::<B>(train.clone(), &train_y, test.clone(), &test_y, 2, &config())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("label 2 is not below the 2 classes"),
        "{err}"
    );
    let err = linear_probe::<B>(train, &train_y[1..], test, &test_y, 3, &config()).unwrap_err();
    assert!(err.to_string().contains("differ in count"), "{err}");
}
