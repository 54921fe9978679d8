//! The `selfsup` command line: config, backend choice, one file per method, the shared training
//! loop, outputs. The binary itself (`src/main.rs` of the root package) only calls [`main`].

pub mod allocator;
pub mod backend;
pub mod bench;
pub mod cli;
pub mod curves;
pub mod data;
pub mod distill;
pub mod embed;
pub mod epoch_checkpoints;
pub use selfsup_train::config;
pub mod evaluate;
pub mod export;
pub mod grid;
pub mod interrupt;
pub mod neighbours;
pub mod plots;
pub mod preview;
pub mod progress;
pub mod recipe;
pub mod saved;
pub mod storage;
pub mod train;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use selfsup_train::TrainError;
use selfsup_train::stop::Interrupted;

/// Parses the command line, runs it, and turns any error into one line on stderr and exit
/// status 1 (130 / 143 after SIGINT / SIGTERM, with the checkpoint to resume from).
pub fn main() -> ExitCode {
    allocator::keep_freed_memory();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: a log redirected to a file or a pipe stays plain.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Pretraining's stop comes inside its TrainError; fine-tuning's on its own.
            let interrupted = error.downcast_ref::<Interrupted>().or_else(|| {
                error
                    .downcast_ref::<TrainError>()
                    .and_then(TrainError::interrupted)
            });
            if let Some(interrupted) = interrupted {
                eprintln!("{interrupted}");
                return ExitCode::from(interrupted.exit_code());
            }
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
