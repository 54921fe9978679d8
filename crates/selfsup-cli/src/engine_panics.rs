//! One line instead of a panic report when Burn's collective engine loses a connection.
//!
//! Between machines, Burn 0.21's engine reports a connection that broke (a peer that stopped or
//! crashed) by panicking in a task of its async runtime (`expect("Peer closed download
//! connection")` and the like). The task ends, the peers' calls fail, and the run stops with
//! its own error naming what happened; the runtime's panic report would only put a backtrace
//! of Burn's internals in front of it.

use std::panic::PanicHookInfo;

/// The name of the threads of Burn's collective runtime (tokio's default).
const ENGINE_THREADS: &str = "tokio-rt-worker";

/// Installs the hook: panics on the engine's threads become a one-line warning, every other
/// panic is reported as before.
pub fn quiet_engine_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
        if std::thread::current().name() == Some(ENGINE_THREADS) {
            tracing::warn!("Burn's collective engine: {}", message(info));
        } else {
            report(info);
        }
    }));
}

fn message(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a task failed".to_string())
}
