//! A pretraining run dispatched to the backend its config names, with the progress bar and
//! curves listening (the loop itself is selfsup-train's).

use crate::commands::data_dir_override;
use crate::config::{BackendKind, Config, DatasetKind, config_name, material_differences};
use crate::data::load_pretraining_data;
use crate::interrupt::stop_on_signals;
use crate::names::backend_parser;
use anyhow::Result;
use anyhow::{Context, bail};
use clap::Args;
use selfsup_train::RunInputs;
use selfsup_train::checkpoint;
use selfsup_train::methods;
use selfsup_train::run_dir::CONFIG_FILE;
use selfsup_train::run_dir::{RunDir, Summary};
use std::path::{Path, PathBuf};
use tracing::info;

use crate::commands::data_parallel::{self, PeerPlan};
use crate::commands::training_job::run_pretrain;
use selfsup_distributed::NodeSetup;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct PretrainArgs {
    /// TOML config file (see configs/ and docs/configuration.md). Not with --resume, which
    /// uses the run's own config.toml, nor with --data, which chooses one.
    #[arg(
        long,
        short,
        value_name = "FILE",
        required_unless_present_any = ["resume", "data"]
    )]
    pub config: Option<PathBuf>,
    /// Pretrain on the images under DIR (any depth, no labels) without a config: a WCL recipe
    /// is chosen from the folder's size and image resolution (printed, and written to the
    /// run's config.toml; the rule is in docs/custom_data.md). --set changes any of it, e.g.
    /// --set train.epochs=20, or --set eval.dataset=... to measure kNN on a labelled set.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "resume", "data_dir"])]
    pub data: Option<PathBuf>,
    /// Continue the run in DIR from its newest checkpoint (DIR/checkpoints/step-N), with the
    /// config it was started with (--set may change only where it runs and how it is evaluated).
    /// Lines its logs got after that checkpoint are replaced. `--out DIR` of a run with a
    /// checkpoint resumes it too.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "out"])]
    pub resume: Option<PathBuf>,
    /// Stop after this many epochs of the schedule (a checkpoint is written), e.g. to fit a
    /// time-limited job; `--resume` continues from there with the same schedule.
    #[arg(long, value_name = "EPOCHS")]
    pub stop_after_epoch: Option<usize>,
    /// Output directory [default: runs/<method>-<dataset>-<unix time>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Override a config key, in TOML syntax; repeatable. E.g. --set train.epochs=10
    /// --set data.train_limit=10000 --set 'data.dir="/data/fmnist"'.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Compute backend (overrides the config's `backend`). wgpu and cuda need a build with
    /// `--features wgpu` / `--features cuda`.
    #[arg(long, value_parser = backend_parser())]
    pub backend: Option<BackendKind>,
    /// GPU to use, numbered as the backend lists them (overrides the config's `device`);
    /// a wrong number prints the devices that exist.
    #[arg(long, value_name = "N")]
    pub device: Option<usize>,
    /// Dataset directory (overrides `data.dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Train data-parallel on these devices, one peer (thread) each, e.g. --devices 0,1,2,3:
    /// every step's batch (`train.batch_size`, which they must divide) is split between them
    /// and their gradients are averaged. On the cpu backend, --devices 0,0 runs two peers on
    /// the one CPU device. Only the first peer evaluates and writes the run directory.
    /// Without --nodes nothing listens on the network (docs/distributed.md).
    #[arg(
        long,
        value_name = "N,N,...",
        value_delimiter = ',',
        conflicts_with = "device"
    )]
    pub devices: Vec<usize>,
    /// How long a peer waits for the others in a collective operation before the run stops
    /// with an error naming it (a peer that crashed or hangs); the run then resumes from its
    /// last checkpoint, on as many devices as you like.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub peer_timeout: u64,
    /// Machines in the run: each runs this same command with its own --node-rank, and the
    /// same --devices count; the batch is split between every machine's devices. Needs
    /// --coordinator and --node-address (docs/distributed.md has a SLURM script).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub nodes: usize,
    /// This machine's place among the --nodes, 0..N (SLURM: $SLURM_NODEID). Machine 0 writes
    /// the run directory and measures kNN; the others keep nothing.
    #[arg(long, value_name = "R", default_value_t = 0)]
    pub node_rank: usize,
    /// HOST:PORT of the coordinator the machines register with (`selfsup coordinator --port
    /// PORT`, started before on one of them).
    #[arg(long, value_name = "HOST:PORT")]
    pub coordinator: Option<String>,
    /// This machine's host name or address as the other machines reach it.
    #[arg(long, value_name = "HOST")]
    pub node_address: Option<String>,
    /// Port this machine's peers exchange tensors on with the other machines. Burn's server
    /// listens on it on every interface, unauthenticated: a private network only.
    #[arg(long, value_name = "PORT", default_value_t = 29501)]
    pub data_port: u16,
}

pub(crate) fn pretrain_command(args: PretrainArgs) -> Result<()> {
    let overrides = pretrain_overrides(&args)?;
    let resume = run_to_resume(&args)?;
    let mut config = pretrain_config(&args, resume.as_ref(), &overrides)?;
    // The saved config.toml then says where the data came from, default or not.
    config.data.dir = Some(config.data_dir()?);
    if args.stop_after_epoch == Some(0) {
        bail!("--stop-after-epoch 0: expected at least 1 epoch");
    }
    let (pretrain_set, eval_sets) = load_pretraining_data(&config)?;
    // The run's normalisation is measured once and kept in its config.toml, so evaluation,
    // `selfsup embed` and resuming read the same values.
    let fixed = (methods::hooks(config.method).fixed_normalization)();
    if config.data.mean.is_none() && fixed.is_none() {
        let (mean, std) = pretrain_set.channel_stats();
        config.data.mean = Some(mean);
        config.data.std = Some(std);
    }
    if let Some((run, _)) = &resume {
        check_resumable(run, &config)?;
    }
    let dataset_name = config_name(config.data.dataset)?;
    let backend_name = config_name(config.backend)?;
    let method_name = config_name(config.method)?;
    let plan = peer_plan(&args, config.device)?;
    let inputs = RunInputs {
        config,
        backend_name,
        dataset_name,
        pretrain_set,
        eval_sets,
        resume: resume.as_ref().map(|(_, checkpoint)| checkpoint.clone()),
        stop_after_epoch: args.stop_after_epoch,
        stop: stop_on_signals()?,
    };
    if let Some(plan) = plan.as_ref().filter(|plan| !plan.leads()) {
        // The first machine writes the run directory; this one only trains its share.
        data_parallel::run(&inputs, None, plan)?;
        println!(
            "machine {} of {} finished its share; machine 0 wrote the run directory",
            args.node_rank, args.nodes
        );
        return Ok(());
    }
    let (out, mut run_dir) = open_run_dir(
        &args,
        resume.as_ref(),
        &inputs.config,
        &method_name,
        &inputs.dataset_name,
    )?;
    info!(out = %out.display(), method = %method_name, backend = %inputs.backend_name, "run directory");
    let summary = match &plan {
        Some(plan) => data_parallel::run(&inputs, Some(&mut run_dir), plan)?
            .expect("the leading machine's first peer gives the summary"),
        None => run_pretrain(&inputs, &mut run_dir)?,
    };
    report_pretrain(&summary, &inputs.config, &out)
}

/// The peers of a data-parallel run (`--devices` with several, or `--nodes`), checked; `None`
/// for a run on one device. `device` is the config's, for a run of one device per machine.
fn peer_plan(args: &PretrainArgs, device: Option<usize>) -> Result<Option<PeerPlan>> {
    let (nodes, node_rank) = (args.nodes, args.node_rank);
    if nodes == 0 {
        bail!("--nodes 0: expected at least 1 machine");
    }
    if node_rank >= nodes {
        bail!(
            "--node-rank {node_rank}: expected 0..{} for --nodes {nodes}",
            nodes - 1
        );
    }
    let nodes = if nodes == 1 {
        if args.coordinator.is_some() || args.node_address.is_some() {
            bail!("--coordinator and --node-address are for a run on several machines (--nodes N)");
        }
        None
    } else {
        let coordinator = args.coordinator.clone().with_context(|| {
            format!(
                "--nodes {nodes} needs --coordinator HOST:PORT, where `selfsup coordinator --port \
                 PORT` runs"
            )
        })?;
        let address = args.node_address.clone().with_context(|| {
            format!("--nodes {nodes} needs --node-address HOST: this machine's address as the others reach it")
        })?;
        Some(NodeSetup {
            nodes,
            node_rank,
            coordinator,
            address,
            data_port: args.data_port,
        })
    };
    if args.devices.len() <= 1 && nodes.is_none() {
        return Ok(None);
    }
    let devices = match args.devices.as_slice() {
        [] => vec![device.unwrap_or(0)],
        devices => devices.to_vec(),
    };
    Ok(Some(PeerPlan {
        devices,
        timeout: Duration::from_secs(args.peer_timeout),
        nodes,
    }))
}

/// The `--set` overrides, with `--backend`, `--device` and `--data-dir` as the ones they stand
/// for.
fn pretrain_overrides(args: &PretrainArgs) -> Result<Vec<String>> {
    let mut overrides = args.overrides.clone();
    if let Some(backend) = args.backend {
        overrides.push(format!("backend=\"{}\"", config_name(backend)?));
    }
    if let Some(device) = args.device {
        overrides.push(format!("device={device}"));
    }
    if let [device] = args.devices[..] {
        overrides.push(format!("device={device}"));
    }
    overrides.extend(args.data_dir.as_deref().map(data_dir_override));
    Ok(overrides)
}

/// The run directory and checkpoint to continue: `--resume`'s, or an `--out` that holds a
/// checkpoint (resumed as if `--resume` had been given).
fn run_to_resume(args: &PretrainArgs) -> Result<Option<(PathBuf, PathBuf)>> {
    Ok(match (&args.resume, &args.out) {
        (Some(run), _) => {
            let checkpoint = checkpoint::latest(run)?.with_context(|| {
                format!(
                    "{}: no checkpoint to resume from (expected {}/step-N/)",
                    run.display(),
                    checkpoint::CHECKPOINT_DIR
                )
            })?;
            Some((run.clone(), checkpoint))
        }
        (None, Some(out)) => checkpoint::latest(out)?.map(|checkpoint| {
            println!("{} holds a checkpoint: resuming it", out.display());
            (out.clone(), checkpoint)
        }),
        (None, None) => None,
    })
}

/// The config of the run: `--config`'s file, the resumed run's own, or the recipe `--data`
/// chooses, with the overrides applied.
fn pretrain_config(
    args: &PretrainArgs,
    resume: Option<&(PathBuf, PathBuf)>,
    overrides: &[String],
) -> Result<Config> {
    Ok(match (&args.config, resume, &args.data) {
        (Some(path), _, _) => Config::load(path, overrides)?,
        (None, Some((run, _)), _) => Config::load(&run.join(CONFIG_FILE), overrides)?,
        (None, None, Some(dir)) => {
            let recipe =
                crate::recipe::automatic_recipe(dir, args.backend.unwrap_or(BackendKind::Cpu))?;
            println!("recipe chosen for {}:", dir.display());
            for line in &recipe.summary {
                println!("  {line}");
            }
            Config::from_toml(&recipe.toml, "the automatic recipe", overrides)?
        }
        (None, None, None) => {
            bail!("--config FILE is required (or --resume RUN_DIR, or --data DIR)")
        }
    })
}

/// Refuses to resume `run` with a config that changes the training its checkpoint belongs to.
fn check_resumable(run: &Path, config: &Config) -> Result<()> {
    let saved = Config::load(&run.join(CONFIG_FILE), &[])?;
    let differences = material_differences(&saved, config);
    if !differences.is_empty() {
        bail!(
            "{}: its checkpoint belongs to a run with another config ({}); resume without \
                 these changes, or start a new run with another --out",
            run.display(),
            differences.join("; ")
        );
    }
    Ok(())
}

/// The run directory: the resumed one, or a new one at `--out` (default
/// `runs/<method>-<dataset>-<unix seconds>`).
fn open_run_dir(
    args: &PretrainArgs,
    resume: Option<&(PathBuf, PathBuf)>,
    config: &Config,
    method_name: &str,
    dataset_name: &str,
) -> Result<(PathBuf, RunDir)> {
    Ok(match resume {
        Some((run, checkpoint)) => {
            let state = checkpoint::read_state(checkpoint)?;
            println!(
                "resuming {} from {} (epoch {} of {}, step {})",
                run.display(),
                checkpoint.display(),
                state.epoch,
                config.train.epochs,
                state.step
            );
            (run.clone(), RunDir::resume(run, state.epoch, state.step)?)
        }
        None => {
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| default_out(method_name, dataset_name));
            let run_dir = RunDir::create(&out, config)?;
            (out, run_dir)
        }
    })
}

/// Prints how the run ended, and for a folder of one's own images writes their embeddings.
fn report_pretrain(summary: &Summary, config: &Config, out: &Path) -> Result<()> {
    if summary.completed_epochs < summary.epochs {
        let knn = match summary.knn_top1 {
            Some(top1) => format!("kNN top-1 {:.2}%", top1 * 100.0),
            None => "no kNN (no labelled evaluation set)".to_string(),
        };
        println!(
            "stopped after epoch {} of {}: {knn} | continue with: selfsup pretrain --resume {}",
            summary.completed_epochs,
            summary.epochs,
            out.display()
        );
        return Ok(());
    }
    let knn = match (summary.knn_top1, summary.knn_top5) {
        (Some(top1), Some(top5)) => {
            format!("kNN top-1 {:.2}% top-5 {:.2}%", top1 * 100.0, top5 * 100.0)
        }
        _ => "no kNN (no labelled evaluation set)".to_string(),
    };
    println!(
        "{} on {}: {knn} | {:.0} images/s | {:.0} s | {}",
        summary.method,
        summary.dataset,
        summary.images_per_sec,
        summary.wall_seconds,
        out.display()
    );
    if config.data.dataset == DatasetKind::Images {
        // A folder of one's own images: the embeddings of those images come with the encoder.
        let dir = config.data_dir()?;
        let report = crate::commands::embed::embed(&crate::commands::embed::EmbedRequest {
            run: out,
            images: &dir,
            out: None,
            head: false,
            overrides: &[],
        })
        .context("embedding the pretraining images")?;
        println!(
            "embeddings of the {} images: {} (file list {})",
            report.index.images,
            report.tensor_path.display(),
            report.index_path.display()
        );
    }
    Ok(())
}

fn default_out(method: &str, dataset: &str) -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Path::new("runs").join(format!("{method}-{dataset}-{stamp}"))
}
