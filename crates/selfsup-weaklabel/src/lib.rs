//! WCL's weak labels: a symmetric 1-nearest-neighbour graph over the batch, its connected
//! components by union-find, and the resulting positive mask. The core is plain Rust so it can be
//! tested without tensors; `weak_label_mask` is the thin tensor glue.

mod graph;
mod tensor;
mod union_find;

pub use graph::{components_from_neighbours, nearest_neighbours, same_component_mask, weak_labels};
pub use tensor::weak_label_mask;
pub use union_find::UnionFind;
