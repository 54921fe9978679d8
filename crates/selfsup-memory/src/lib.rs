//! Method state that is not a trainable parameter (memory bank, queue, EMA target): filled by
//! the memory-bank issue. The spine methods (SimCLR, WCL) keep no such state.
