use std::collections::VecDeque;

use burn::backend::Flex;
use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use selfsup_weaklabel::{
    UnionFind, components_from_neighbours, nearest_neighbours, same_component_mask,
    weak_label_mask, weak_labels,
};

/// Components by breadth-first search over the undirected graph i - k_i: the reference.
fn bfs_components(neighbours: &[usize]) -> Vec<usize> {
    let n = neighbours.len();
    let mut adjacency = vec![Vec::new(); n];
    for (i, &k) in neighbours.iter().enumerate() {
        adjacency[i].push(k);
        adjacency[k].push(i);
    }
    let mut label = vec![usize::MAX; n];
    let mut next = 0;
    for start in 0..n {
        if label[start] != usize::MAX {
            continue;
        }
        let mut queue = VecDeque::from([start]);
        label[start] = next;
        while let Some(v) = queue.pop_front() {
            for &w in &adjacency[v] {
                if label[w] == usize::MAX {
                    label[w] = next;
                    queue.push_back(w);
                }
            }
        }
        next += 1;
    }
    label
}

fn random_similarity(rng: &mut impl Rng, n: usize) -> Vec<f32> {
    let mut s = vec![0f32; n * n];
    for i in 0..n {
        for j in i..n {
            let v = rng.random_range(-1.0..1.0);
            s[i * n + j] = v;
            s[j * n + i] = v;
        }
    }
    s
}

#[test]
fn hand_worked_six_node_example() {
    // Nearest neighbours: 0->1, 1->2, 2->1, 3->0, 4->5, 5->4.
    // Components of the symmetrised graph: {0, 1, 2, 3} and {4, 5}.
    #[rustfmt::skip]
    let s = [
        1.0, 0.9, 0.1, 0.8, 0.1, 0.1,
        0.9, 1.0, 0.95, 0.1, 0.1, 0.1,
        0.1, 0.95, 1.0, 0.1, 0.1, 0.1,
        0.8, 0.1, 0.1, 1.0, 0.1, 0.1,
        0.1, 0.1, 0.1, 0.1, 1.0, 0.7,
        0.1, 0.1, 0.1, 0.1, 0.7, 1.0,
    ];
    assert_eq!(nearest_neighbours(&s, 6), vec![1, 2, 1, 0, 5, 4]);
    assert_eq!(weak_labels(&s, 6), vec![0, 0, 0, 0, 1, 1]);
    let mask = same_component_mask(&[0, 0, 0, 0, 1, 1]);
    assert_eq!(mask[3], 1.0); // y_03
    assert_eq!(mask[4], 0.0); // y_04
    assert_eq!(mask[4 * 6 + 5], 1.0); // y_45
}

#[test]
fn self_is_never_its_own_neighbour_even_when_most_similar() {
    let s = [5.0, 1.0, 2.0, 1.0, 5.0, 0.0, 2.0, 0.0, 5.0];
    assert_eq!(nearest_neighbours(&s, 3), vec![2, 0, 0]);
}

#[test]
fn union_find_matches_bfs_on_random_graphs() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for trial in 0..300 {
        let n = rng.random_range(2..200);
        let neighbours: Vec<usize> = (0..n)
            .map(|i| {
                let j = rng.random_range(0..n - 1);
                if j >= i { j + 1 } else { j }
            })
            .collect();
        assert_eq!(
            components_from_neighbours(&neighbours),
            bfs_components(&neighbours),
            "trial {trial}"
        );
    }
}

#[test]
fn masks_are_symmetric_and_every_node_has_a_positive() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for _ in 0..50 {
        let n = rng.random_range(2..64);
        let s = random_similarity(&mut rng, n);
        let labels = weak_labels(&s, n);
        let mask = same_component_mask(&labels);
        for i in 0..n {
            assert_eq!(mask[i * n + i], 1.0);
            for j in 0..n {
                assert_eq!(mask[i * n + j], mask[j * n + i]);
            }
            let positives = (0..n).filter(|&j| j != i && mask[i * n + j] == 1.0).count();
            assert!(positives >= 1, "node {i} has no positive");
        }
        // Deterministic: the same input gives the same labels.
        assert_eq!(weak_labels(&s, n), labels);
    }
}

#[test]
fn labels_do_not_depend_on_union_order() {
    let mut a = UnionFind::new(5);
    a.union(3, 4);
    a.union(0, 2);
    let mut b = UnionFind::new(5);
    b.union(2, 0);
    b.union(4, 3);
    assert_eq!(a.labels(), b.labels());
    assert_eq!(a.labels(), vec![0, 1, 0, 2, 2]);
    assert!(!a.union(2, 0));
    assert_eq!(a.find(4), a.find(3));
}

#[test]
fn tensor_mask_equals_the_plain_rust_path() {
    let device = Default::default();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (n, d) = (48, 16);
    let mut v: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    for row in v.chunks_mut(d) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        row.iter_mut().for_each(|x| *x /= norm);
    }
    let mut s = vec![0f32; n * n];
    for i in 0..n {
        for j in 0..n {
            s[i * n + j] = (0..d).map(|k| v[i * d + k] * v[j * d + k]).sum();
        }
    }
    let expected = same_component_mask(&weak_labels(&s, n));
    let tensor = Tensor::<Flex, 2>::from_data(TensorData::new(v, [n, d]), &device);
    let mask = weak_label_mask(tensor)
        .into_data()
        .into_vec::<f32>()
        .unwrap();
    assert_eq!(mask, expected);
}
