//! A first tiny computation on the chosen device, so a device that cannot run (no driver, lost
//! GPU) ends in one line of error instead of a panic deep inside the backend.

use std::panic::{AssertUnwindSafe, catch_unwind};

use anyhow::{Result, anyhow};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

pub fn check<B: Backend>(device: &B::Device, name: &str) -> Result<()> {
    catch_quietly(|| Tensor::<B, 1>::ones([4], device).sum().into_scalar())
        .map(|_| ())
        .map_err(|message| anyhow!("{name}: the device failed its first computation: {message}"))
}

/// Runs `f`, turning a panic into the first line of its message. The backends (and cudarc,
/// when libcuda is missing) report a failed start by panicking; the default hook would print
/// it, so it is silenced meanwhile.
pub fn catch_quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    outcome.map_err(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        message.lines().next().unwrap_or(message).to_string()
    })
}
