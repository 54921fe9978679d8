//! `[train]`: the optimiser, its schedule, and what a run does on NaN or collapse.

use serde::{Deserialize, Serialize};

use crate::Precision;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate, reached at the end of the warm-up.
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub warmup_epochs: usize,
    /// Only "f32" is offered; see docs/benchmarks.md ("Half precision") for why.
    pub precision: Precision,
    /// After the warm-up: "cosine" decay to 0, or "step": x0.1 at each of `step_milestones`.
    pub schedule: LrScheduleKind,
    /// Fractions of training after which a "step" schedule divides the rate by 10.
    pub step_milestones: Vec<f64>,
    /// On a NaN/infinite loss or gradient: "stop" (with the last good checkpoint named) or
    /// "skip_step" (leave the model as it was and go on, at most `max_skipped_steps` times).
    pub on_nan: OnNan,
    pub max_skipped_steps: usize,
    /// When the training-health metrics say the run collapsed (at an evaluation): "warn" and
    /// go on, or "stop" (after that epoch's checkpoint).
    pub on_collapse: OnCollapse,
    /// "sgd" (momentum, weight decay on every parameter) or "lars" (SimCLR's, BYOL's and
    /// WCL's: trust ratio and weight decay on weights only, none on batch norm and biases).
    pub optimizer: OptimizerKind,
    /// LARS trust coefficient eta.
    pub lars_eta: f64,
    /// Epochs that use the `[augment_warmup]` views before `[augment]` takes over.
    pub augment_warmup_epochs: usize,
    /// On several devices: whether the rows a loss gathers from the other peers carry the
    /// gradient back to them ("grad", the one-device step on the joined batch) or not
    /// ("detached", as MoCo's and WCL's official code).
    pub gather: GatherKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatherKind {
    Grad,
    Detached,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Sgd,
    Lars,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnCollapse {
    Warn,
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnNan {
    Stop,
    SkipStep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrScheduleKind {
    Cosine,
    Step,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 100,
            batch_size: 256,
            lr: 0.3,
            momentum: 0.9,
            weight_decay: 1e-4,
            warmup_epochs: 10,
            precision: Precision::F32,
            schedule: LrScheduleKind::Cosine,
            step_milestones: vec![0.6, 0.8],
            on_nan: OnNan::Stop,
            max_skipped_steps: 10,
            gather: GatherKind::Grad,
            on_collapse: OnCollapse::Warn,
            optimizer: OptimizerKind::Sgd,
            lars_eta: 0.001,
            augment_warmup_epochs: 0,
        }
    }
}
