//! Method state that is not a trainable parameter: InstDisc's memory bank, MoCo's key queue, and
//! the exponential moving average of one module from another (MoCo's key encoder, BYOL's
//! target). Bank and queue are modules, so they are saved and restored with the model.

mod bank;
mod ema;
mod queue;

pub use bank::{MemoryBank, sample_uniform_indices};
pub use ema::ema_update;
pub use queue::KeyQueue;
