use crate::union_find::UnionFind;

/// For each row of a row-major `n x n` similarity matrix, the column of its largest entry with
/// the diagonal excluded (ties go to the lowest index). Needs `n >= 2`.
pub fn nearest_neighbours(similarity: &[f32], n: usize) -> Vec<usize> {
    assert_eq!(similarity.len(), n * n, "similarity must be n x n");
    assert!(n >= 2, "a 1-NN graph needs at least two nodes");
    (0..n)
        .map(|i| {
            let row = &similarity[i * n..(i + 1) * n];
            (0..n)
                .filter(|&j| j != i)
                .fold((usize::MAX, f32::NEG_INFINITY), |best, j| {
                    if row[j] > best.1 || best.0 == usize::MAX {
                        (j, row[j])
                    } else {
                        best
                    }
                })
                .0
        })
        .collect()
}

/// Connected components of the symmetric 1-NN graph (edge i - k_i for every i) as labels
/// numbered by smallest member.
pub fn components_from_neighbours(neighbours: &[usize]) -> Vec<usize> {
    let mut sets = UnionFind::new(neighbours.len());
    for (i, &k) in neighbours.iter().enumerate() {
        sets.union(i, k);
    }
    sets.labels()
}

/// `y_ij = 1` when i and j share a component (so `y_ii = 1`), row-major `n x n`.
pub fn same_component_mask(labels: &[usize]) -> Vec<f32> {
    labels
        .iter()
        .flat_map(|&a| labels.iter().map(move |&b| f32::from(a == b)))
        .collect()
}

/// WCL's weak labels from a similarity matrix: 1-NN with self excluded, symmetrised, connected
/// components.
pub fn weak_labels(similarity: &[f32], n: usize) -> Vec<usize> {
    components_from_neighbours(&nearest_neighbours(similarity, n))
}
