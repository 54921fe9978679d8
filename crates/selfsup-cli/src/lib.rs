//! The `selfsup` command line: clap's parsing (cli.rs), one file per subcommand (commands/),
//! the backend choice (backend/), the data a config names (data.rs), and what the user sees and
//! keeps (report/: the progress bar, curves, plots and image grids, listening to selfsup-train's
//! observer). The training itself is selfsup-train's. The binary (`src/main.rs` of the root
//! package) only calls [`main`].

mod allocator;
mod backend;
mod cli;
mod commands;
mod data;
mod engine_panics;
mod epoch_checkpoints;
mod interrupt;
mod names;
mod recipe;
mod report;
mod saved;
mod storage;
mod torchvision;

pub use selfsup_train::config;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use selfsup_train::TrainError;
use selfsup_train::stop::Interrupted;

/// Parses the command line, runs it, and turns any error into one line on stderr and exit
/// status 1 (130 / 143 after SIGINT / SIGTERM, with the checkpoint to resume from).
pub fn main() -> ExitCode {
    allocator::keep_freed_memory();
    // Burn's collective engine logs each registration's whole config, and its network layer
    // every connection, at info; our own lines per peer say what matters.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,burn_collective=warn,burn_communication=warn")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: a log redirected to a file or a pipe stays plain.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    engine_panics::quiet_engine_panics();
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
