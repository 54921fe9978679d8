//! `[checkpoint]`: how often a run saves itself and how many checkpoints it keeps.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Save a checkpoint every N epochs (and always after the last); 0: only after the last.
    pub every: usize,
    /// Also save every N optimizer steps (0: only at epoch ends).
    pub every_steps: usize,
    /// Checkpoints kept on disk (the newest ones).
    pub keep: usize,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            every: 1,
            every_steps: 0,
            keep: 2,
        }
    }
}
