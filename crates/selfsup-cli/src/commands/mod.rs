//! One file per subcommand: its arguments (clap) and what it does with them.

pub mod bench;
pub mod coordinator;
pub mod data_parallel;
pub mod distill;
pub mod embed;
pub mod eval;
pub mod export;
pub mod import;
pub mod neighbours;
pub mod pretrain;
pub mod preview;
pub mod training_job;

use std::path::Path;

/// `--data-dir DIR` as the `--set` it stands for (quoted as a TOML string).
pub(crate) fn data_dir_override(dir: &Path) -> String {
    format!(
        "data.dir={}",
        toml::Value::String(dir.display().to_string())
    )
}
