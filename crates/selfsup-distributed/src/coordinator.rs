//! The coordinator the machines of a run on several register with (`selfsup coordinator`):
//! Burn's global orchestrator. It tells each machine where the others are; the tensors go
//! between the machines directly.

use std::net::TcpListener;

use crate::collective::CollectiveError;

/// Runs the coordinator on `port` until the process gets Ctrl-C or SIGTERM. Burn's server
/// listens on every interface and authenticates no one: run it on a private network.
pub fn run_coordinator(port: u16) -> Result<(), CollectiveError> {
    // Burn's server logs a bind failure and returns; checking first gives the reason.
    TcpListener::bind(("0.0.0.0", port)).map_err(|error| CollectiveError::Engine {
        operation: "starting the coordinator",
        rank: 0,
        message: format!("port {port}: {error}"),
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| CollectiveError::Engine {
            operation: "starting the coordinator",
            rank: 0,
            message: error.to_string(),
        })?;
    runtime.block_on(burn_collective::start_global_orchestrator(port));
    Ok(())
}
