//! One optimizer step with the checks that keep a run from going silently wrong: the loss and
//! every gradient must be finite before anything is updated.

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};

use selfsup_distributed::{Collective, CollectiveError, all_reduce_gradients};

use crate::methods::{Method, StepBatch};

/// A loss or gradient that is NaN or infinite: what was seen, for the error message.
#[derive(Debug, Clone)]
pub struct NonFinite {
    /// The step's total loss.
    pub loss: f64,
    /// `name = value` of every loss term.
    pub terms: String,
    /// The loss was finite but a gradient was not.
    pub in_gradient: bool,
}

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.in_gradient {
            write!(
                f,
                "non-finite gradient (loss {}: {})",
                self.loss, self.terms
            )
        } else {
            write!(f, "non-finite loss {} ({})", self.loss, self.terms)
        }
    }
}

/// What a step did: updated the model, or left it as it was because something was not finite.
pub enum StepOutcome<M> {
    Updated { model: M, loss: f64 },
    Rejected { model: M, reason: NonFinite },
}

/// A step's outcome, and whether any peer was asked to stop (a signal): in a data-parallel
/// run every peer learns it in the same step, from the gradient average, so that all of them
/// stop after the same step.
pub struct Stepped<M> {
    pub outcome: StepOutcome<M>,
    pub stop_requested: bool,
}

/// The loss of one step on `batch`, the gradient averaged over `peers`, the optimizer's
/// update, then the method's state changes (bank, queue, EMA). Nothing changes when the loss or
/// a gradient is not finite (on any peer). `stop_here` is this peer's stop request.
pub fn train_step<B: AutodiffBackend, M: Method<B>, O: Optimizer<M, B>>(
    model: M,
    optimizer: &mut O,
    batch: &StepBatch<B>,
    lr: f64,
    peers: &dyn Collective<B::InnerBackend>,
    stop_here: bool,
) -> Result<Stepped<M>, CollectiveError> {
    let loss = batch.peers.forward(|| model.loss(batch));
    let local: f64 = loss.total.clone().into_scalar().elem();
    let terms = || {
        loss.terms
            .iter()
            .map(|(name, t)| format!("{name} = {}", t.clone().into_scalar().elem::<f64>()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let world = peers.world();
    let rejected = |model, value, in_gradient| Stepped {
        outcome: StepOutcome::Rejected {
            model,
            reason: NonFinite {
                loss: value,
                terms: terms(),
                in_gradient,
            },
        },
        stop_requested: stop_here,
    };
    // With peers, every one of them must reach the gradient average, so a non-finite loss is
    // only acted on after it (where every peer learns of it).
    if world == 1 && !local.is_finite() {
        return Ok(rejected(model, local, false));
    }
    let grads = GradientsParams::from_grads(loss.total.clone().backward(), &model);
    let extras = [
        local as f32,
        f32::from(u8::from(!local.is_finite())),
        f32::from(u8::from(stop_here)),
    ];
    let (grads, summed) = all_reduce_gradients::<B, M>(&model, grads, peers, &extras)?;
    // One peer keeps the f64 loss, so that a one-device run logs what it always did; with
    // peers the logged loss is the mean of their f32 losses.
    let (value, loss_finite, stop_requested) = if world == 1 {
        (local, local.is_finite(), stop_here)
    } else {
        (
            f64::from(summed[0]) / world as f64,
            summed[1] == 0.0,
            summed[2] > 0.0,
        )
    };
    if !loss_finite {
        let mut stepped = rejected(model, value, false);
        stepped.stop_requested = stop_requested;
        return Ok(stepped);
    }
    if !gradients_are_finite::<B, M>(&model, &grads) {
        let mut stepped = rejected(model, value, true);
        stepped.stop_requested = stop_requested;
        return Ok(stepped);
    }
    let model = optimizer.step(lr, model, grads);
    Ok(Stepped {
        outcome: StepOutcome::Updated {
            model: model.after_step(loss.update),
            loss: value,
        },
        stop_requested,
    })
}

/// One reduction per parameter and one read-back per step: the sum of all squared gradient
/// entries is finite exactly when every entry is.
fn gradients_are_finite<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &GradientsParams,
) -> bool {
    let mut visitor = SquaredNorms::<B> {
        grads,
        sums: Vec::new(),
    };
    model.visit(&mut visitor);
    match visitor.sums.into_iter().reduce(|a, b| a + b) {
        Some(total) => total.into_scalar().elem::<f64>().is_finite(),
        None => true,
    }
}

struct SquaredNorms<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    sums: Vec<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorms<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.grads.get::<B::InnerBackend, D>(param.id) {
            // Squares overflow to inf only for entries above 1e19, which are a failure anyway.
            self.sums.push(grad.powi_scalar(2).sum());
        }
    }
}
