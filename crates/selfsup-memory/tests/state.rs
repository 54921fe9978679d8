use burn::backend::Flex;
use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use selfsup_memory::{KeyQueue, MemoryBank};

type B = Flex;

fn rows(t: Tensor<B, 2>) -> Vec<Vec<f32>> {
    let [_, d] = t.dims();
    t.into_data()
        .into_vec::<f32>()
        .unwrap()
        .chunks(d)
        .map(|r| r.to_vec())
        .collect()
}

fn constant_rows(values: &[f32], dim: usize) -> Tensor<B, 2> {
    let flat: Vec<f32> = values
        .iter()
        .flat_map(|&v| std::iter::repeat_n(v, dim))
        .collect();
    Tensor::from_data(
        TensorData::new(flat, [values.len(), dim]),
        &Default::default(),
    )
}

fn indices(i: &[i64]) -> Tensor<B, 1, Int> {
    Tensor::from_data(TensorData::new(i.to_vec(), [i.len()]), &Default::default())
}

#[test]
fn queue_overwrites_oldest_first_and_wraps_when_capacity_is_not_a_multiple() {
    let mut queue = KeyQueue::<B>::new(5, 2, &Default::default());
    for row in rows(queue.keys()) {
        let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "initial keys are unit vectors");
    }
    queue.enqueue(constant_rows(&[1.0, 2.0], 2));
    assert_eq!(queue.next_row(), 2);
    queue.enqueue(constant_rows(&[3.0, 4.0], 2));
    assert_eq!(queue.next_row(), 4);
    // Wraps: 5 goes to row 4, 6 to row 0.
    queue.enqueue(constant_rows(&[5.0, 6.0], 2));
    assert_eq!(queue.next_row(), 1);
    let firsts: Vec<f32> = rows(queue.keys()).iter().map(|r| r[0]).collect();
    assert_eq!(firsts, vec![6.0, 2.0, 3.0, 4.0, 5.0]);
}

#[test]
fn queue_keeps_the_last_rows_of_an_oversized_batch() {
    let mut queue = KeyQueue::<B>::new(3, 1, &Default::default());
    queue.enqueue(constant_rows(&[1.0], 1));
    queue.enqueue(constant_rows(&[2.0, 3.0, 4.0, 5.0], 1));
    let firsts: Vec<f32> = rows(queue.keys()).iter().map(|r| r[0]).collect();
    // 3, 4, 5 written starting at row 1, wrapping to row 0.
    assert_eq!(firsts, vec![5.0, 3.0, 4.0]);
    assert_eq!(queue.next_row(), 1);
}

#[test]
fn bank_update_renormalises_only_this_batchs_rows() {
    let device = Default::default();
    let mut bank = MemoryBank::<B>::new(10, 4, &device);
    let before = rows(bank.rows());
    let features = Tensor::<B, 2>::from_data(
        TensorData::new(vec![1.0f32, 0.0, 0.0, 0.0, 0.0, 3.0, 4.0, 0.0], [2, 4]),
        &device,
    );
    bank.update(indices(&[7, 2]), features, 0.5);
    let after = rows(bank.rows());
    for i in 0..10 {
        if i == 7 || i == 2 {
            let norm: f32 = after[i].iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "row {i} norm {norm}");
        } else {
            assert_eq!(after[i], before[i], "row {i} changed");
        }
    }
    // Row 7 = norm(0.5 * old + 0.5 * (1, 0, 0, 0)).
    let blended: Vec<f32> = before[7]
        .iter()
        .zip([1.0f32, 0.0, 0.0, 0.0])
        .map(|(o, f)| 0.5 * o + 0.5 * f)
        .collect();
    let norm: f32 = blended.iter().map(|x| x * x).sum::<f32>().sqrt();
    for (got, want) in after[7].iter().zip(&blended) {
        assert!((got - want / norm).abs() < 1e-5);
    }
}

#[test]
fn bank_initialisation_has_unit_norm_in_expectation() {
    let bank = MemoryBank::<B>::new(2000, 128, &Default::default());
    let mean_sq: f32 = rows(bank.rows())
        .iter()
        .map(|r| r.iter().map(|x| x * x).sum::<f32>())
        .sum::<f32>()
        / 2000.0;
    assert!((mean_sq - 1.0).abs() < 0.02, "mean squared norm {mean_sq}");
}

#[test]
fn sampled_indices_are_uniform_over_the_bank_and_seeded() {
    let device = Default::default();
    let bank = MemoryBank::<B>::new(20, 2, &device);
    let draw = |seed| {
        bank.sample_indices(&mut ChaCha8Rng::seed_from_u64(seed), 100, 200, &device)
            .into_data()
            .convert::<i64>()
            .into_vec::<i64>()
            .unwrap()
    };
    let sample = draw(1);
    assert_eq!(sample, draw(1));
    assert_ne!(sample, draw(2));
    let mut counts = [0f64; 20];
    for &i in &sample {
        assert!((0..20).contains(&i));
        counts[i as usize] += 1.0;
    }
    // Chi-square with 19 degrees of freedom: 43.8 is its 99.9% quantile.
    let expected = sample.len() as f64 / 20.0;
    let chi2: f64 = counts
        .iter()
        .map(|c| (c - expected).powi(2) / expected)
        .sum();
    assert!(chi2 < 43.8, "chi-square {chi2}: counts {counts:?}");
    let gathered =
        bank.gather(bank.sample_indices(&mut ChaCha8Rng::seed_from_u64(3), 4, 5, &device));
    assert_eq!(gathered.dims(), [4, 5, 2]);
}

#[test]
fn bank_and_queue_are_restored_from_their_records() {
    use burn::module::Module;
    let device = Default::default();
    let mut bank = MemoryBank::<B>::new(6, 3, &device);
    bank.update(indices(&[1]), constant_rows(&[2.0], 3), 0.5);
    let restored = MemoryBank::<B>::new(6, 3, &device).load_record(bank.clone().into_record());
    assert_eq!(rows(restored.rows()), rows(bank.rows()));

    let mut queue = KeyQueue::<B>::new(5, 2, &device);
    queue.enqueue(constant_rows(&[1.0, 2.0, 3.0], 2));
    let restored = KeyQueue::<B>::new(5, 2, &device).load_record(queue.clone().into_record());
    assert_eq!(restored.next_row(), 3);
    assert_eq!(rows(restored.keys()), rows(queue.keys()));
}
