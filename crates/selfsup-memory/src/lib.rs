//! Method state that is not a trainable parameter: InstDisc's memory bank and MoCo's key queue,
//! both living on the device. (The EMA of one module from another comes with the methods that
//! need it.)

mod bank;
mod queue;

pub use bank::MemoryBank;
pub use queue::KeyQueue;
