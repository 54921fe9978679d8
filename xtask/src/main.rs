//! Developer tasks, run as `cargo xtask <task>`:
//!   pretrain [ARGS]  build selfsup in release and run `selfsup pretrain ARGS` (default config:
//!                    configs/fashion_mnist/wcl.toml, CPU backend)
//!   test [ARGS]      run the whole workspace's tests (release profile, shared with pretrain)

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

const DEFAULT_CONFIG: &str = "configs/fashion_mnist/wcl.toml";

#[derive(Parser)]
#[command(name = "cargo xtask", about = "selfsup developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build in release and run `selfsup pretrain` (default: WCL on Fashion-MNIST, CPU).
    /// Any arguments go to `selfsup pretrain`, e.g. `--set train.epochs=1`.
    Pretrain {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run every test of the workspace in the release profile (the build `pretrain` uses).
    /// Extra arguments go to `cargo test`.
    Test {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

fn run(mut command: Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

fn pretrain(mut args: Vec<String>) -> Result<()> {
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "--package",
        "selfsup",
        "--bin",
        "selfsup",
    ]);
    run(build)?;
    let has_config = args
        .iter()
        .any(|a| a == "--config" || a == "-c" || a.starts_with("--config="));
    if !has_config {
        args.splice(0..0, ["--config".to_string(), DEFAULT_CONFIG.to_string()]);
    }
    let root = workspace_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let mut selfsup = Command::new(target.join("release/selfsup"));
    selfsup.current_dir(&root).arg("pretrain").args(&args);
    run(selfsup)
}

fn test(args: Vec<String>) -> Result<()> {
    let mut command = cargo();
    command
        .args(["test", "--release", "--workspace"])
        .args(&args);
    run(command)
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        Task::Pretrain { args } => pretrain(args),
        Task::Test { args } => test(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}
