//! SIGINT and SIGTERM routed to a run's [`StopFlag`]: the training library finishes its step,
//! writes a checkpoint and returns `Interrupted`, and the binary exits 128 + the signal number.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use selfsup_train::stop::StopFlag;

/// Routes SIGINT and SIGTERM to `stop`. A second signal of either kind while the first is being
/// handled terminates at once (the default action), so a stuck run can still be stopped.
pub fn install_signal_handlers(stop: &StopFlag) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag;
    for signal in [SIGINT, SIGTERM] {
        let seen = Arc::new(AtomicBool::new(false));
        // Registered first, so it sees `seen` as it was before this signal arrived.
        flag::register_conditional_default(signal, seen.clone())?;
        flag::register(signal, seen)?;
        flag::register_usize(signal, stop.shared(), signal as usize)?;
    }
    Ok(())
}

/// A fresh stop flag that SIGINT and SIGTERM set.
pub fn stop_on_signals() -> anyhow::Result<StopFlag> {
    let stop = StopFlag::default();
    anyhow::Context::context(
        install_signal_handlers(&stop),
        "installing the SIGINT/SIGTERM handlers",
    )?;
    Ok(stop)
}
