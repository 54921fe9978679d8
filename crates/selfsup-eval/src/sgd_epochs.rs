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

/// An epoch's mean loss was not finite (1-based epoch).
pub(crate) struct NonFiniteEpoch {
    pub loss: f64,
    pub epoch: usize,
}

/// Trains `model` for `config.epochs` over positions `0..n`: `loss_of(model, positions,
/// epoch)` is one batch's mean loss. `on_epoch(epoch, mean loss)` after each epoch. Returns
/// the model and the last epoch's mean loss.
pub(crate) fn sgd_epochs<B, M>(
    mut model: M,
    n: usize,
    config: &FinetuneConfig,
    rng: &mut ChaCha8Rng,
    mut loss_of: impl FnMut(&M, &[usize], usize) -> Tensor<B, 1>,
    mut on_epoch: impl FnMut(usize, f64),
) -> Result<(M, f64), NonFiniteEpoch>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let mut optimizer =
        momentum_sgd(config.momentum, config.nesterov, config.weight_decay).init::<B, M>();
    let mut schedule =
        LrSchedule::warmup_cosine(config.lr, 0, n.div_ceil(config.batch_size) * config.epochs);
    let mut order: Vec<usize> = (0..n).collect();
    let mut final_loss = 0.0;
    for epoch in 0..config.epochs {
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
            return Err(NonFiniteEpoch {
                loss: final_loss,
                epoch: epoch + 1,
            });
        }
        on_epoch(epoch + 1, final_loss);
    }
    Ok((model, final_loss))
}
