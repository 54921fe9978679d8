//! Method state that is not a trainable parameter: InstDisc's memory bank, MoCo's key queue,
//! the exponential moving average of one module from another (MoCo's key encoder, BYOL's
//! target), and WCL's table of each image's nearest neighbours. Bank and queue are modules, so
//! they are saved and restored with the model.

mod bank;
mod ema;
mod neighbours;
mod queue;

pub use bank::{MemoryBank, sample_uniform_indices};
pub use ema::ema_update;
pub use neighbours::{NeighbourError, nearest_neighbours};
pub use queue::KeyQueue;
