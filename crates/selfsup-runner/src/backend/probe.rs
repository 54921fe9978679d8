//! A first tiny computation on the chosen device, so a device that cannot run (no driver, lost
//! GPU) ends in one line of error instead of a panic deep inside the backend.

use std::panic::{AssertUnwindSafe, catch_unwind};

use anyhow::{Result, anyhow};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

pub fn check<B: Backend>(device: &B::Device, name: &str) -> Result<()> {
    let previous = std::panic::take_hook();
    // The backend reports a failed start by panicking; its message becomes our error instead.
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        Tensor::<B, 1>::ones([4], device).sum().into_scalar()
    }));
    std::panic::set_hook(previous);
    outcome.map(|_| ()).map_err(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        let first_line = message.lines().next().unwrap_or(message);
        anyhow!("{name}: the device failed its first computation: {first_line}")
    })
}
