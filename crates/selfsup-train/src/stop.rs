//! Stopping a run on request: the flag is set (the CLI's SIGINT / SIGTERM handlers do it), the
//! training loop finishes its step, writes a checkpoint and returns [`Interrupted`]; the binary
//! exits 128 + the signal number.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Set to a signal number when the run should stop after its current step (0: keep going).
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicUsize>);

impl StopFlag {
    /// The signal that asked to stop, if any.
    pub fn requested(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal as i32),
        }
    }

    /// Asks the run to stop as if `signal` had arrived.
    pub fn request(&self, signal: i32) {
        self.0.store(signal as usize, Ordering::SeqCst);
    }

    /// The value a signal handler stores the signal number into (the CLI's SIGINT / SIGTERM
    /// handlers); 0 means keep going.
    pub fn shared(&self) -> Arc<AtomicUsize> {
        self.0.clone()
    }
}

/// The run stopped on a signal after writing a checkpoint.
#[derive(Debug, thiserror::Error)]
#[error(
    "interrupted by {name} after {progress}; checkpoint written to {checkpoint}; continue \
     with: {resume}",
    name = signal_name(*signal),
    checkpoint = checkpoint.display()
)]
pub struct Interrupted {
    pub signal: i32,
    /// How far the run got, e.g. "step 120 (epoch 3)".
    pub progress: String,
    pub checkpoint: PathBuf,
    /// The command that continues the run.
    pub resume: String,
}

impl Interrupted {
    /// The shell convention: 128 + signal (130 for SIGINT, 143 for SIGTERM).
    pub fn exit_code(&self) -> u8 {
        (128 + self.signal).clamp(0, 255) as u8
    }
}

fn signal_name(signal: i32) -> String {
    match signal {
        2 => "SIGINT".into(),
        15 => "SIGTERM".into(),
        other => format!("signal {other}"),
    }
}
