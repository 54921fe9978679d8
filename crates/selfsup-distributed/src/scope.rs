//! A value the current thread's forward pass can reach without it being passed down every
//! call: how batch norm layers find the peers of a synchronised step (synced_batch_norm.rs).
//! Per thread, which is per peer.

use std::any::Any;
use std::cell::RefCell;

thread_local! {
    static CURRENT: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Puts back the value that was there before, however `forward` ends.
struct Restore(Option<Box<dyn Any>>);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|current| *current.borrow_mut() = self.0.take());
    }
}

/// Runs `forward` with `value` reachable through [`current`].
pub(crate) fn within<T: Clone + 'static, R>(value: &T, forward: impl FnOnce() -> R) -> R {
    let before = CURRENT.with(|current| current.borrow_mut().replace(Box::new(value.clone())));
    let _restore = Restore(before);
    forward()
}

/// Runs `forward` with nothing reachable.
pub(crate) fn outside<R>(forward: impl FnOnce() -> R) -> R {
    let _restore = Restore(CURRENT.with(|current| current.borrow_mut().take()));
    forward()
}

/// The value of the innermost [`within`] on this thread, if it is a `T`.
pub(crate) fn current<T: Clone + 'static>() -> Option<T> {
    CURRENT.with(|current| {
        current
            .borrow()
            .as_ref()
            .and_then(|value| value.downcast_ref::<T>())
            .cloned()
    })
}
