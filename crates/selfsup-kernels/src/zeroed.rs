//! Output buffers: zeroed on every thread, or written once without zeroing.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// A zeroed vector of `len` floats, written by all of rayon's threads: `vec![0.0; len]` zeroes
/// (or takes its page faults) on the calling thread alone while the other cores wait, which
/// was 1-2% of a training step at width 16 for the activations and their gradients.
pub fn zeroed(len: usize) -> Vec<f32> {
    let mut values = Vec::with_capacity(len);
    values.par_extend(rayon::iter::repeat_n(0.0f32, len));
    values
}

/// A vector of `len` floats filled by `write`: no zeroing pass first, which was 5% of a
/// training step at width 16 once the allocator reused memory instead of mapping fresh zero
/// pages.
///
/// # Safety
/// `write` must initialise every one of the `len` values it is given, or panic.
pub unsafe fn written(len: usize, write: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut values = Vec::with_capacity(len);
    write(&mut values.spare_capacity_mut()[..len]);
    // SAFETY: `write` returned, so it initialised all `len` values (the caller's promise).
    unsafe { values.set_len(len) };
    values
}
