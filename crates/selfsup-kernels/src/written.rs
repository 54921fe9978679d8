//! Output buffers written once, without zeroing them first.

use std::mem::MaybeUninit;

/// A vector of `len` floats filled by `write`, with no zeroing pass first: `vec![0.0; len]`
/// zeroed the activations and their gradients on the calling thread alone, and zeroing them on
/// every thread still cost 5% of a training step at width 16 once the allocator reused memory
/// instead of mapping fresh zero pages.
///
/// Returns the vector and what `write` returned.
///
/// # Safety
/// `write` must initialise every one of the `len` values it is given, or panic.
pub unsafe fn written<R>(
    len: usize,
    write: impl FnOnce(&mut [MaybeUninit<f32>]) -> R,
) -> (Vec<f32>, R) {
    let mut values = Vec::with_capacity(len);
    let result = write(&mut values.spare_capacity_mut()[..len]);
    // SAFETY: `write` returned, so it initialised all `len` values (the caller's promise).
    unsafe { values.set_len(len) };
    (values, result)
}
