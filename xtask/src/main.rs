//! Developer tasks, run as `cargo xtask <task>`:
//!   pretrain [ARGS]  build selfsup in release and run `selfsup pretrain ARGS` (default config:
//!                    configs/fashion_mnist/wcl.toml); `--backend wgpu|cuda` (on the command
//!                    line, in `--set backend=...` or in the config) builds that feature in
//!   eval [ARGS]      build selfsup in release (with the run's backend) and run
//!                    `selfsup eval ARGS`, e.g. `eval finetune --labels 0.01 --checkpoint RUN`
//!   distill [ARGS]   build selfsup in release (with the run's backend) and run
//!                    `selfsup distill ARGS`, e.g. `distill --teacher RUN/eval/finetune_0.1.safetensors`
//!   bench [ARGS]     build selfsup with the backends asked for and run `selfsup bench ARGS`
//!   test [ARGS]      run the whole workspace's tests with the wgpu feature (release profile)

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
    /// Any arguments go to `selfsup pretrain`, e.g. `--set train.epochs=1`, or `--data DIR`
    /// to pretrain on a folder of your own images with a recipe chosen for it.
    Pretrain {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build in release and run `selfsup eval` on a finished run: `knn`, `linear` or
    /// `finetune --labels 0.01|0.1`, with `--checkpoint RUN_DIR` (see `selfsup eval --help`).
    /// The run's backend (or `--set backend=...`) decides which feature is built in.
    Eval {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build in release and run `selfsup distill --teacher RUN_DIR/eval/finetune_F.safetensors`
    /// (see `selfsup distill --help`). The run's backend decides which feature is built in.
    Distill {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build in release with the backends asked for (`--backends cpu,wgpu`; default: cpu and
    /// wgpu) and run `selfsup bench` (see `selfsup bench --help` and docs/benchmarks.md).
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run every test of the workspace in the release profile, with the wgpu feature so the
    /// CPU-vs-WGPU parity tests run (they need a Vulkan driver: lavapipe without a GPU).
    /// Extra arguments go to `cargo test`.
    Test {
        /// Leave the wgpu backend and its parity tests out (a quicker build).
        #[arg(long)]
        cpu_only: bool,
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

/// Builds the `selfsup` binary in release with `features` and returns its path.
fn build_selfsup(features: &[String]) -> Result<PathBuf> {
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "--package",
        "selfsup",
        "--bin",
        "selfsup",
    ]);
    if !features.is_empty() {
        build.arg("--features").arg(features.join(","));
    }
    run(build)?;
    let root = workspace_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("release/selfsup"))
}

/// Builds `selfsup` with `features` and runs `selfsup <subcommand> <args>` in the workspace root.
fn run_selfsup(features: &[String], subcommand: &str, args: &[String]) -> Result<()> {
    let mut selfsup = Command::new(build_selfsup(features)?);
    selfsup
        .current_dir(workspace_root())
        .arg(subcommand)
        .args(args);
    run(selfsup)
}

/// The value of `--name VALUE` or `--name=VALUE` in `args`, the last one winning.
fn flag_value(args: &[String], names: &[&str]) -> Option<String> {
    let mut found = None;
    for (i, arg) in args.iter().enumerate() {
        for name in names {
            if arg == name {
                found = args.get(i + 1).cloned();
            } else if let Some(value) = arg.strip_prefix(&format!("{name}=")) {
                found = Some(value.to_string());
            }
        }
    }
    found
}

/// The backend a `selfsup pretrain` command line will use: `--backend`, else a
/// `--set backend=...`, else the config file's top-level `backend` key.
fn pretrain_backend(args: &[String], config: &Path) -> Result<String> {
    if let Some(backend) = flag_value(args, &["--backend"]) {
        return Ok(backend);
    }
    let set_backend = args
        .windows(2)
        .filter(|pair| pair[0] == "--set")
        .filter_map(|pair| pair[1].strip_prefix("backend="))
        .next_back();
    if let Some(value) = set_backend {
        return Ok(value.trim().trim_matches('"').to_string());
    }
    let text = std::fs::read_to_string(workspace_root().join(config))
        .or_else(|_| std::fs::read_to_string(config))
        .with_context(|| format!("{}: cannot read the config", config.display()))?;
    let table: toml::Table = text.parse().unwrap_or_default();
    Ok(table
        .get("backend")
        .and_then(|v| v.as_str())
        .unwrap_or("cpu")
        .to_string())
}

/// The cargo feature a backend needs (none for the CPU).
fn backend_feature(backend: &str) -> Option<String> {
    matches!(backend, "wgpu" | "cuda").then(|| backend.to_string())
}

fn pretrain(args: Vec<String>) -> Result<()> {
    let (features, args) = pretrain_command(args)?;
    run_selfsup(&features, "pretrain", &args)
}

/// The cargo features and the `selfsup pretrain` arguments for `cargo xtask pretrain ARGS`:
/// the default config goes in front unless the arguments choose one (`--config`) or make
/// their own (`--data` picks a recipe, `--resume` uses the run's config, and selfsup refuses
/// `--config` beside either).
fn pretrain_command(mut args: Vec<String>) -> Result<(Vec<String>, Vec<String>)> {
    let chooses_config = ["--data", "--resume"].iter().any(|flag| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    });
    let backend = if chooses_config {
        flag_value(&args, &["--backend"]).unwrap_or_else(|| "cpu".to_string())
    } else {
        let config = match flag_value(&args, &["--config", "-c"]) {
            Some(config) => PathBuf::from(config),
            None => {
                args.splice(0..0, ["--config".to_string(), DEFAULT_CONFIG.to_string()]);
                PathBuf::from(DEFAULT_CONFIG)
            }
        };
        pretrain_backend(&args, &config)?
    };
    let features: Vec<String> = backend_feature(&backend).into_iter().collect();
    Ok((features, args))
}

fn eval(args: Vec<String>) -> Result<()> {
    let run =
        flag_value(&args, &["--checkpoint"]).context("selfsup eval needs --checkpoint RUN_DIR")?;
    run_on_runs_backend(&Path::new(&run).join("config.toml"), "eval", &args)
}

fn distill(args: Vec<String>) -> Result<()> {
    let teacher = flag_value(&args, &["--teacher"])
        .context("selfsup distill needs --teacher RUN_DIR/eval/finetune_F.safetensors")?;
    // The teacher sits in RUN_DIR/eval/.
    let config = Path::new(&teacher)
        .parent()
        .and_then(Path::parent)
        .map(|run| run.join("config.toml"))
        .unwrap_or_default();
    run_on_runs_backend(&config, "distill", &args)
}

/// `selfsup <command> args` built with the backend of the run whose config is `config`.
fn run_on_runs_backend(config: &Path, command: &str, args: &[String]) -> Result<()> {
    // A run directory without its config is reported by selfsup itself, naming the file.
    let backend = pretrain_backend(args, config).unwrap_or_else(|_| "cpu".into());
    let features: Vec<String> = backend_feature(&backend).into_iter().collect();
    run_selfsup(&features, command, args)
}

fn bench(mut args: Vec<String>) -> Result<()> {
    let backends = match flag_value(&args, &["--backends"]) {
        Some(list) => list,
        None => {
            args.extend(["--backends".to_string(), "cpu,wgpu".to_string()]);
            "cpu,wgpu".to_string()
        }
    };
    let features: Vec<String> = backends
        .split(',')
        .filter_map(|b| backend_feature(b.trim()))
        .collect();
    run_selfsup(&features, "bench", &args)
}

fn test(cpu_only: bool, args: Vec<String>) -> Result<()> {
    let mut command = cargo();
    command.args(["test", "--release", "--workspace"]);
    if !cpu_only {
        // One build for everything: the root package's wgpu feature unifies into every crate.
        command.args(["--features", "selfsup/wgpu"]);
    }
    command.args(&args);
    // The parity tests run wgpu on lavapipe, where every autotuned kernel variant is a shader
    // compiled by LLVM on the CPU: minimal autotuning took tests/backend_parity.rs from 169 s to
    // 110 s on a cold cache (as in CI), and the tests hold the results, not the kernel choice.
    if std::env::var_os("CUBECL_AUTOTUNE_LEVEL").is_none() {
        command.env("CUBECL_AUTOTUNE_LEVEL", "minimal");
    }
    run(command)
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        Task::Pretrain { args } => pretrain(args),
        Task::Eval { args } => eval(args),
        Task::Distill { args } => distill(args),
        Task::Bench { args } => bench(args),
        Task::Test { cpu_only, args } => test(cpu_only, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn pretrain_resume_passes_no_default_config() {
        let (features, args) = pretrain_command(strings(&["--resume", "runs/wcl"])).unwrap();
        assert_eq!(args, strings(&["--resume", "runs/wcl"]));
        assert!(features.is_empty());
        let (_, args) = pretrain_command(strings(&["--resume=runs/wcl"])).unwrap();
        assert_eq!(args, strings(&["--resume=runs/wcl"]));
    }

    #[test]
    fn pretrain_on_a_folder_passes_no_default_config() {
        let (features, args) =
            pretrain_command(strings(&["--data", "photos", "--backend", "wgpu"])).unwrap();
        assert_eq!(args, strings(&["--data", "photos", "--backend", "wgpu"]));
        assert_eq!(features, strings(&["wgpu"]));
    }

    #[test]
    fn pretrain_without_a_config_gets_the_default_one() {
        let (features, args) = pretrain_command(strings(&["--set", "train.epochs=1"])).unwrap();
        assert_eq!(
            args,
            strings(&["--config", DEFAULT_CONFIG, "--set", "train.epochs=1"])
        );
        assert!(features.is_empty());
        let chosen = strings(&["--config", "configs/fashion_mnist/simclr.toml"]);
        let (_, args) = pretrain_command(chosen.clone()).unwrap();
        assert_eq!(args, chosen);
    }
}
