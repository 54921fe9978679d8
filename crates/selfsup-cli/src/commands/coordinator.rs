//! `selfsup coordinator --port P`: the coordinator the machines of a run on several register
//! with (`selfsup pretrain --nodes N --coordinator HOST:P ...`).

use anyhow::{Context, Result};
use clap::Args;
use tracing::info;

#[derive(Args, Debug)]
pub struct CoordinatorArgs {
    /// Port to listen on, on every interface (Burn's server binds 0.0.0.0 and authenticates no
    /// one: run it on a private network).
    #[arg(long, value_name = "PORT", default_value_t = 29500)]
    pub port: u16,
}

pub(crate) fn coordinator_command(args: CoordinatorArgs) -> Result<()> {
    info!(
        port = args.port,
        "coordinator: listening on every interface, unauthenticated (private network only); \
         Ctrl-C stops it"
    );
    selfsup_distributed::run_coordinator(args.port)
        .with_context(|| format!("the coordinator on port {}", args.port))
}
