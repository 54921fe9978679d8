use burn::module::{Module, RunningState};
use burn::tensor::backend::Backend;
use burn::tensor::linalg::vector_normalize;
use burn::tensor::{Distribution, ElementConversion, Tensor};

/// MoCo's queue of the K most recent keys: a ring buffer on the device. Enqueueing a batch
/// overwrites the oldest rows; the batch size need not divide K (the official code asserts it
/// does; here the write wraps around).
///
/// A module so that it is saved with the model and restored on resume: keys and the write
/// position are `RunningState`s (state, never trained).
#[derive(Module, Debug)]
pub struct KeyQueue<B: Backend> {
    keys: RunningState<Tensor<B, 2>>,
    /// Row the next write starts at, kept as a one-element tensor so it is saved with the keys.
    next: RunningState<Tensor<B, 1>>,
}

impl<B: Backend> KeyQueue<B> {
    /// Starts full of random unit vectors, as MoCo initialises it.
    pub fn new(capacity: usize, dim: usize, device: &B::Device) -> Self {
        assert!(
            capacity > 0 && dim > 0,
            "a queue needs capacity and dim > 0"
        );
        let keys = Tensor::random([capacity, dim], Distribution::Normal(0.0, 1.0), device);
        Self::from_state(vector_normalize(keys, 2.0, 1, 1e-12), 0)
    }

    /// Rebuilds a queue from its keys and the row the next write goes to.
    pub fn from_state(keys: Tensor<B, 2>, next: usize) -> Self {
        assert!(next < keys.dims()[0], "next row {next} outside the queue");
        let device = keys.device();
        Self {
            keys: RunningState::new(keys.detach()),
            next: RunningState::new(Tensor::from_floats([next as f32], &device)),
        }
    }

    pub fn capacity(&self) -> usize {
        self.keys().dims()[0]
    }

    /// Row that the next enqueued key will overwrite (the oldest key).
    pub fn next_row(&self) -> usize {
        self.next.value().into_scalar().elem::<f64>() as usize
    }

    /// All K keys, `[capacity, dim]`, in storage order (not age order).
    pub fn keys(&self) -> Tensor<B, 2> {
        self.keys.value()
    }

    /// Writes `batch` (`[b, dim]`, detached) over the oldest rows. A batch larger than the queue
    /// keeps only its last `capacity` rows.
    pub fn enqueue(&mut self, batch: Tensor<B, 2>) {
        let capacity = self.capacity();
        let next = self.next_row();
        let [rows, dim] = batch.dims();
        let batch = if rows > capacity {
            batch.narrow(0, rows - capacity, capacity)
        } else {
            batch
        };
        let rows = rows.min(capacity);
        let batch = batch.detach();
        let first = rows.min(capacity - next);
        let keys = self.keys().slice_assign(
            [next..next + first, 0..dim],
            batch.clone().narrow(0, 0, first),
        );
        let keys = if first < rows {
            keys.slice_assign(
                [0..rows - first, 0..dim],
                batch.narrow(0, first, rows - first),
            )
        } else {
            keys
        };
        *self = Self::from_state(keys, (next + rows) % capacity);
    }
}
