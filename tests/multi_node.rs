//! Runs on several machines, played by processes on 127.0.0.1: `selfsup coordinator` and one
//! `selfsup pretrain --nodes 2 --node-rank R` per machine, through Burn's multi-machine
//! collectives (websockets between the processes).

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{error_line, require_dataset, selfsup, spawn_selfsup, stderr, tiny_run_args};

/// Ports this process has handed out, so no two machines or coordinators get the same one
/// (the system may offer a port again once the probe below has closed it).
static GIVEN_PORTS: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// The tests' runs one at a time: each starts several processes on the two cores, and their
/// ports are picked before they bind them.
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A port nothing listens on now (the system's pick; free again when this returns) and that
/// this process has not handed out before.
fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut given = GIVEN_PORTS.lock().unwrap();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The coordinator, stopped when dropped.
struct Coordinator {
    child: Child,
    port: u16,
}

impl Coordinator {
    fn start() -> Self {
        let port = free_port();
        let child = spawn_selfsup(&["coordinator".into(), "--port".into(), port.to_string()]);
        // It listens once it has started; the machines retry their connection anyway.
        std::thread::sleep(Duration::from_millis(300));
        Self { child, port }
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `run`'s arguments for machine `node_rank` of two, each on its own data port.
fn on_machine(mut run: Vec<String>, coordinator: &Coordinator, node_rank: usize) -> Vec<String> {
    run.extend(
        [
            "--nodes",
            "2",
            "--node-rank",
            &node_rank.to_string(),
            "--coordinator",
            &format!("127.0.0.1:{}", coordinator.port),
            "--node-address",
            "127.0.0.1",
            "--data-port",
            &free_port().to_string(),
            "--peer-timeout",
            "20",
        ]
        .map(String::from),
    );
    run
}

fn step_lines(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("steps.jsonl"))
        .unwrap_or_else(|e| panic!("{}: {e}", run.display()))
        .lines()
        .map(String::from)
        .collect()
}

fn finished(child: Child) -> Output {
    child.wait_with_output().expect("waiting for a machine")
}

/// Two processes give the steps of two threads (`--devices 0,0`) bit for bit: the same batch
/// shares, and sums of two values in either order. Machine 1 keeps no run directory.
#[test]
fn two_machines_take_the_steps_of_two_devices() {
    require_dataset();
    let _turn = one_at_a_time();
    let coordinator = Coordinator::start();
    let (out0, out1) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let run = |out: &Path| tiny_run_args("simclr", out.join("run").to_str().unwrap());
    let machine1 = spawn_selfsup(&on_machine(run(out1.path()), &coordinator, 1));
    let machine0 = spawn_selfsup(&on_machine(run(out0.path()), &coordinator, 0));
    let (output0, output1) = (finished(machine0), finished(machine1));
    assert!(output0.status.success(), "{}", stderr(&output0));
    assert!(output1.status.success(), "{}", stderr(&output1));
    assert!(
        String::from_utf8_lossy(&output1.stdout).contains("machine 1 of 2 finished"),
        "{}",
        String::from_utf8_lossy(&output1.stdout)
    );
    assert!(!out1.path().join("run").exists(), "machine 1 wrote a run");

    let threads = tempfile::tempdir().unwrap();
    let mut args = run(threads.path());
    args.extend(["--devices".into(), "0,0".into()]);
    let output = selfsup(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(output.status.success(), "{}", stderr(&output));
    let steps = step_lines(&out0.path().join("run"));
    assert_eq!(steps.len(), 8);
    assert_eq!(steps, step_lines(&threads.path().join("run")));
}

/// A machine killed mid-run makes the other stop within `--peer-timeout` with an error that
/// says so; the run then resumes from its last checkpoint on one device.
#[test]
fn a_killed_machine_stops_the_other_and_the_run_resumes() {
    require_dataset();
    let _turn = one_at_a_time();
    let coordinator = Coordinator::start();
    let (out0, out1) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let run = |out: &Path| {
        let mut args = tiny_run_args("simclr", out.join("run").to_str().unwrap());
        for set in [
            "data.train_limit=1024",
            "train.epochs=3",
            "checkpoint.every_steps=2",
        ] {
            args.extend(["--set".into(), set.into()]);
        }
        args
    };
    let mut machine1 = spawn_selfsup(&on_machine(run(out1.path()), &coordinator, 1));
    let mut machine0 = spawn_selfsup(&on_machine(run(out0.path()), &coordinator, 0));
    let checkpoint = out0.path().join("run/checkpoints/step-00000004/state.json");
    let started = Instant::now();
    while !checkpoint.exists() {
        let ended = [machine0.try_wait().unwrap(), machine1.try_wait().unwrap()];
        if ended.iter().any(Option::is_some) || started.elapsed() > Duration::from_secs(120) {
            // Say what each machine printed: an early end, or a run that stalled.
            let _ = (machine0.kill(), machine1.kill());
            let (output0, output1) = (finished(machine0), finished(machine1));
            panic!(
                "no checkpoint at step 4 after {:?} (machines ended: {ended:?})\n\
                 machine 0:\n{}{}\nmachine 1:\n{}{}",
                started.elapsed(),
                String::from_utf8_lossy(&output0.stdout),
                stderr(&output0),
                String::from_utf8_lossy(&output1.stdout),
                stderr(&output1)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    machine1.kill().unwrap();
    let killed = Instant::now();
    let output0 = finished(machine0);
    let waited = killed.elapsed();
    // A broken connection ends Burn's engine at once; a machine that hangs instead would be
    // caught by the timeout.
    let line = error_line(&output0);
    assert!(
        (line.contains("lost its connection to another machine")
            || line.contains("got no answer from the other peers within 20 s"))
            && line.contains("resume the run from its last checkpoint"),
        "{line}"
    );
    assert!(waited < Duration::from_secs(60), "stopped after {waited:?}");
    let _ = finished(machine1);

    let resumed = selfsup(&[
        "pretrain",
        "--resume",
        out0.path().join("run").to_str().unwrap(),
    ]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(step_lines(&out0.path().join("run")).len(), 48);
}
