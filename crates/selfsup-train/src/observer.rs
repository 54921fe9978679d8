//! What a pretraining run reports as it goes. The `selfsup` binary's progress bar and curves
//! listen through [`TrainObserver`]; a program of its own can show what it likes, or nothing
//! ([`Silent`]). Log lines go through `tracing`, whose subscriber the program chooses.

use std::path::Path;

use crate::run_dir::{EvalRecord, StepRecord};

/// Every method has a default that does nothing, so an observer implements what it shows.
pub trait TrainObserver {
    /// The run is about to take `steps` optimiser steps (those it has left when it resumes).
    fn run_started(&mut self, _steps: usize) {}

    /// Epoch `epoch` (1-based) of `epochs` begins.
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize) {}

    /// A step was taken or skipped (its loss is NaN then); `throughput` reads "N img/s", or
    /// "measuring img/s" over the first steps.
    fn step_done(&mut self, _record: &StepRecord, _throughput: &str) {}

    /// An evaluation was appended to `run`'s metrics.jsonl.
    fn evaluated(&mut self, _run: &Path, _record: &EvalRecord) {}

    /// Runs `work`, which may log, with the observer's own output out of its way (a progress
    /// bar hides meanwhile).
    fn aside(&mut self, work: &mut dyn FnMut()) {
        work()
    }

    /// The run stops before its last epoch (a signal, a collapse, a non-finite step).
    fn stopped(&mut self) {}

    /// The run finished; `run` holds its encoder and summary.
    fn finished(&mut self, _run: &Path) {}
}

/// An observer that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl TrainObserver for Silent {}

/// `work()`, run through [`TrainObserver::aside`], and what it returned.
pub fn aside<R>(observer: &mut dyn TrainObserver, work: impl FnOnce() -> R) -> R {
    let mut work = Some(work);
    let mut result = None;
    observer.aside(&mut || result = work.take().map(|work| work()));
    // An observer that did not run the work breaks the trait's contract: run it here.
    result.unwrap_or_else(|| (work.take().expect("not run yet"))())
}
