use burn::module::{Module, RunningState};
use burn::tensor::backend::Backend;
use burn::tensor::linalg::vector_normalize;
use burn::tensor::{Distribution, IndexingUpdateOp, Int, Tensor, TensorData};
use rand::Rng;

/// InstDisc's memory bank: one d-dimensional feature per training image, on the device.
///
/// A module so that it is saved with the model and restored on resume; the rows are a
/// `RunningState` (state, never a trainable parameter: the optimizer does not see them).
#[derive(Module, Debug)]
pub struct MemoryBank<B: Backend> {
    rows: RunningState<Tensor<B, 2>>,
}

impl<B: Backend> MemoryBank<B> {
    /// lemniscate's initialisation: uniform in +-1/sqrt(d/3), so rows have unit norm in
    /// expectation.
    pub fn new(len: usize, dim: usize, device: &B::Device) -> Self {
        let bound = 1.0 / (dim as f64 / 3.0).sqrt();
        Self::from_rows(Tensor::random(
            [len, dim],
            Distribution::Uniform(-bound, bound),
            device,
        ))
    }

    pub fn from_rows(rows: Tensor<B, 2>) -> Self {
        Self {
            rows: RunningState::new(rows.detach()),
        }
    }

    pub fn len(&self) -> usize {
        self.rows().dims()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dim(&self) -> usize {
        self.rows().dims()[1]
    }

    pub fn rows(&self) -> Tensor<B, 2> {
        self.rows.value()
    }

    /// Entries of `indices` (`[b]`) as `[b, dim]`.
    pub fn get(&self, indices: Tensor<B, 1, Int>) -> Tensor<B, 2> {
        self.rows().select(0, indices)
    }

    /// `v_i <- norm(momentum * v_i + (1 - momentum) * f_i)` for this batch's rows only
    /// (InstDisc: momentum 0.5). `indices` must be distinct; no gradient is kept.
    pub fn update(&mut self, indices: Tensor<B, 1, Int>, features: Tensor<B, 2>, momentum: f64) {
        let old = self.get(indices.clone());
        let blended = vector_normalize(
            old.clone()
                .mul_scalar(momentum)
                .add(features.detach().mul_scalar(1.0 - momentum)),
            2.0,
            1,
            1e-12,
        );
        // Burn 0.21 implements select_assign only with Add for floats: add the change.
        let rows = self
            .rows()
            .select_assign(0, indices, blended - old, IndexingUpdateOp::Add);
        self.rows = RunningState::new(rows.detach());
    }

    /// `count` indices per anchor for `anchors` anchors, uniform in `[0, len)` (the positive may
    /// be drawn, as in lemniscate). Drawn from `rng` on the host so every backend sees the same
    /// negatives for the same seed.
    pub fn sample_indices(
        &self,
        rng: &mut impl Rng,
        anchors: usize,
        count: usize,
        device: &B::Device,
    ) -> Tensor<B, 2, Int> {
        sample_uniform_indices(rng, self.len(), anchors, count, device)
    }

    /// Bank rows for a `[anchors, count]` index tensor, as `[anchors, count, dim]`.
    pub fn gather(&self, indices: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let [anchors, count] = indices.dims();
        let dim = self.dim();
        self.rows()
            .select(0, indices.reshape([anchors * count]))
            .reshape([anchors, count, dim])
    }
}

/// `[anchors, count]` indices uniform in `[0, len)`, drawn on the host.
pub fn sample_uniform_indices<B: Backend>(
    rng: &mut impl Rng,
    len: usize,
    anchors: usize,
    count: usize,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    let len = len as i64;
    let indices: Vec<i64> = (0..anchors * count)
        .map(|_| rng.random_range(0..len))
        .collect();
    Tensor::from_data(TensorData::new(indices, [anchors, count]), device)
}
