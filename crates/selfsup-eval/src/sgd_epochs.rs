//! The loop fine-tuning and distillation share: epochs over shuffled batches of a set's
//! positions, PyTorch's momentum SGD, cosine learning rate from the peak to 0, no warm-up.

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use selfsup_optim::{LrSchedule, momentum_sgd};

/// The settings of fine-tuning (and of distillation, which trains the same way).
#[derive(Debug, Clone, PartialEq)]
pub struct FinetuneConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate (cosine decay to 0 over all steps, no warm-up).
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    /// Fixes the head's initial weights and the order of every epoch.
    pub seed: u64,
}

/// Whether training goes on after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterEpoch {
    Continue,
    /// Stop here (the state was saved, or the caller does not mind losing it).
    Stop,
}

/// Where [`sgd_epochs`]-based training (fine-tuning, distillation) starts, and what happens
/// after each epoch: progress shown, the state saved, an early stop. The trainer's state at an
/// epoch's end is the model and the optimiser; the order of the next epochs and the learning
/// rate follow from the seed and the epochs done, so they need no saving.
pub trait EpochHooks<B: AutodiffBackend, M: AutodiffModule<B>> {
    /// The epochs already done, with the model and optimiser after them restored into `model`
    /// and `optimizer`; 0 and the two unchanged to start afresh.
    fn restore<O: Optimizer<M, B> + 'static>(
        &mut self,
        model: M,
        optimizer: O,
    ) -> Result<(usize, M, O), String> {
        Ok((0, model, optimizer))
    }

    /// After epoch `epoch` (1-based), whose mean loss was `loss`.
    fn epoch_done<O: Optimizer<M, B> + 'static>(
        &mut self,
        epoch: usize,
        loss: f64,
        model: &M,
        optimizer: &O,
    ) -> Result<AfterEpoch, String>;
}

/// Hooks that only report each epoch's mean loss: `Progress(|epoch, loss| ...)`.
pub struct Progress<F: FnMut(usize, f64)>(pub F);

impl<B: AutodiffBackend, M: AutodiffModule<B>, F: FnMut(usize, f64)> EpochHooks<B, M>
    for Progress<F>
{
    fn epoch_done<O: Optimizer<M, B> + 'static>(
        &mut self,
        epoch: usize,
        loss: f64,
        _model: &M,
        _optimizer: &O,
    ) -> Result<AfterEpoch, String> {
        (self.0)(epoch, loss);
        Ok(AfterEpoch::Continue)
    }
}

/// Why [`sgd_epochs`] returned early.
pub(crate) enum EpochsStopped {
    /// An epoch's mean loss was not finite (1-based epoch).
    NonFinite { loss: f64, epoch: usize },
    /// The hooks asked to stop after `epoch`.
    Asked { epoch: usize },
    /// The hooks could not restore or save the state.
    Hooks(String),
}

/// Trains `model` for `config.epochs` over positions `0..n`: `loss_of(model, positions,
/// epoch)` is one batch's mean loss; `hooks` may continue an earlier run and see every epoch's
/// end. Returns the model and the last epoch's mean loss.
pub(crate) fn sgd_epochs<B, M>(
    model: M,
    n: usize,
    config: &FinetuneConfig,
    rng: &mut ChaCha8Rng,
    mut loss_of: impl FnMut(&M, &[usize], usize) -> Tensor<B, 1>,
    hooks: &mut impl EpochHooks<B, M>,
) -> Result<(M, f64), EpochsStopped>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + 'static,
{
    let optimizer =
        momentum_sgd(config.momentum, config.nesterov, config.weight_decay).init::<B, M>();
    let steps_per_epoch = n.div_ceil(config.batch_size);
    let mut schedule = LrSchedule::warmup_cosine(config.lr, 0, steps_per_epoch * config.epochs);
    let mut order: Vec<usize> = (0..n).collect();
    let (done, mut model, mut optimizer) = hooks
        .restore(model, optimizer)
        .map_err(EpochsStopped::Hooks)?;
    // The epochs done drew their orders and took their steps: the same draws and rates again.
    for _ in 0..done.min(config.epochs) {
        order.shuffle(rng);
        for _ in 0..steps_per_epoch {
            schedule.next_lr();
        }
    }
    let mut final_loss = 0.0;
    for epoch in done..config.epochs {
        order.shuffle(rng);
        // Summed on the device and read once per epoch: no wait for the device at every step.
        let mut epoch_loss: Option<Tensor<B::InnerBackend, 1>> = None;
        for chunk in order.chunks(config.batch_size) {
            let loss = loss_of(&model, chunk, epoch);
            let weighted = loss.clone().inner().mul_scalar(chunk.len() as f64);
            epoch_loss = Some(match epoch_loss {
                Some(sum) => sum + weighted,
                None => weighted,
            });
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(schedule.next_lr(), model, grads);
        }
        final_loss = epoch_loss.map_or(0.0, |sum| sum.into_scalar().elem::<f64>()) / n as f64;
        if !final_loss.is_finite() {
            return Err(EpochsStopped::NonFinite {
                loss: final_loss,
                epoch: epoch + 1,
            });
        }
        let after = hooks
            .epoch_done(epoch + 1, final_loss, &model, &optimizer)
            .map_err(EpochsStopped::Hooks)?;
        if after == AfterEpoch::Stop && epoch + 1 < config.epochs {
            return Err(EpochsStopped::Asked { epoch: epoch + 1 });
        }
    }
    Ok((model, final_loss))
}
