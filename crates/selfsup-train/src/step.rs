//! One optimizer step with the checks that keep a run from going silently wrong: the loss and
//! every gradient must be finite before anything is updated.

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};

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

/// The loss of one step on `batch`, the optimizer's update, then the method's state changes
/// (bank, queue, EMA). Nothing changes when the loss or a gradient is not finite.
pub fn train_step<B: AutodiffBackend, M: Method<B>, O: Optimizer<M, B>>(
    model: M,
    optimizer: &mut O,
    batch: &StepBatch<B>,
    lr: f64,
) -> StepOutcome<M> {
    let loss = model.loss(batch);
    let value: f64 = loss.total.clone().into_scalar().elem();
    let terms = || {
        loss.terms
            .iter()
            .map(|(name, t)| format!("{name} = {}", t.clone().into_scalar().elem::<f64>()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !value.is_finite() {
        let reason = NonFinite {
            loss: value,
            terms: terms(),
            in_gradient: false,
        };
        return StepOutcome::Rejected { model, reason };
    }
    let grads = GradientsParams::from_grads(loss.total.clone().backward(), &model);
    if !gradients_are_finite::<B, M>(&model, &grads) {
        let reason = NonFinite {
            loss: value,
            terms: terms(),
            in_gradient: true,
        };
        return StepOutcome::Rejected { model, reason };
    }
    let model = optimizer.step(lr, model, grads);
    StepOutcome::Updated {
        model: model.after_step(loss.update),
        loss: value,
    }
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
