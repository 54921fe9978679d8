//! The training loop every method shares: views from the loader, the method's loss, SGD with
//! momentum and weight decay under warm-up + cosine, kNN evaluation, outputs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor, TensorData};
use selfsup_augment::{ColorSpace, Normalize, ViewPipeline};
use selfsup_data::Dataset;
use selfsup_eval::KnnConfig;
use tracing::info;

use crate::backend::{BackendJob, kth_value_for, run_on};
use crate::checkpoint::{self, CheckpointState};
use crate::config::KnnFeatures;
use crate::config::{Config, LrScheduleKind, TrainConfig};
use crate::features::{knn_accuracy, knn_accuracy_on_bank};
use crate::loader::{self, steps_per_epoch};
use crate::methods::{
    DataInfo, Method, MethodJob, StepBatch, check_data, init_portable, with_method,
};
use crate::output::{EvalRecord, RunDir, StepRecord, Summary};
use crate::progress::training_bar;
use crate::schedule::WarmupCosine;

/// Steps excluded from the images/s figure: the first ones pay for allocation and caches.
const THROUGHPUT_WARMUP_STEPS: usize = 3;

pub struct RunInputs {
    pub config: Config,
    pub backend_name: String,
    pub dataset_name: String,
    pub train: Arc<Dataset>,
    pub test: Arc<Dataset>,
    /// Continue from this checkpoint directory instead of starting afresh.
    pub resume: Option<PathBuf>,
    /// Stop (with a checkpoint) once this many epochs of the schedule are done.
    pub stop_after_epoch: Option<usize>,
}

/// The kNN evaluation's settings; the k-th value search suits the backend.
pub fn knn_config(config: &Config) -> KnnConfig {
    KnnConfig {
        k: config.eval.knn_k,
        temperature: config.eval.knn_temperature,
        chunk_size: config.eval.knn_chunk_size,
        kth: kth_value_for(config.backend),
    }
}

/// Pretrains on the backend and device the config names.
pub fn run_pretrain(inputs: &RunInputs, run_dir: &mut RunDir) -> Result<Summary> {
    let config = &inputs.config;
    run_on(
        config.backend,
        config.device,
        PretrainJob { inputs, run_dir },
    )
}

struct PretrainJob<'a> {
    inputs: &'a RunInputs,
    run_dir: &'a mut RunDir,
}

impl BackendJob for PretrainJob<'_> {
    type Output = Summary;

    fn run<B: AutodiffBackend>(self, device: B::Device, device_name: &str) -> Result<Summary> {
        info!(device = device_name, "backend");
        let Self { inputs, run_dir } = self;
        with_method(
            inputs.config.method,
            MethodPretrain::<B> {
                inputs,
                run_dir,
                device: &device,
                device_name,
            },
        )
    }
}

struct MethodPretrain<'a, B: AutodiffBackend> {
    inputs: &'a RunInputs,
    run_dir: &'a mut RunDir,
    device: &'a B::Device,
    device_name: &'a str,
}

impl<B: AutodiffBackend> MethodJob<B> for MethodPretrain<'_, B> {
    type Output = Result<Summary>;

    fn run<M: Method<B>>(self) -> Result<Summary> {
        pretrain::<B, M>(self.inputs, self.run_dir, self.device, self.device_name)
    }
}

/// SGD with momentum and weight decay on every parameter.
pub fn sgd(train: &TrainConfig) -> SgdConfig {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig {
            momentum: train.momentum,
            // PyTorch's SGD (which the papers use) has no dampening; Burn defaults to 0.1.
            dampening: 0.0,
            nesterov: false,
        }))
        .with_weight_decay(Some(WeightDecayConfig::new(train.weight_decay as f32)))
}

/// Source images per second over the timed steps (all but the first few).
#[derive(Default)]
struct Throughput {
    images: usize,
    seconds: f64,
}

impl Throughput {
    fn record(&mut self, step: usize, total_steps: usize, images: usize, seconds: f64) {
        if step > THROUGHPUT_WARMUP_STEPS || total_steps <= THROUGHPUT_WARMUP_STEPS {
            self.images += images;
            self.seconds += seconds;
        }
    }

    fn images_per_sec(&self) -> f64 {
        self.images as f64 / self.seconds.max(1e-9)
    }

    fn describe(&self) -> String {
        if self.images > 0 {
            format!("{:.0} img/s", self.images_per_sec())
        } else {
            "measuring img/s".to_string()
        }
    }
}

/// The loss of one step on `batch`, the optimizer's update, then the method's state changes
/// (bank, queue, EMA). Returns the loss value, or the error naming every loss term when it is
/// not finite (nothing is updated then).
pub fn train_step<B: AutodiffBackend, M: Method<B>, O: Optimizer<M, B>>(
    model: M,
    optimizer: &mut O,
    batch: &StepBatch<B>,
    lr: f64,
) -> Result<(M, f64), NonFiniteLoss> {
    let loss = model.loss(batch);
    let value: f64 = loss.total.clone().into_scalar().elem();
    if !value.is_finite() {
        let terms = loss
            .terms
            .iter()
            .map(|(name, t)| format!("{name} = {}", t.clone().into_scalar().elem::<f64>()))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(NonFiniteLoss { value, terms });
    }
    let grads = GradientsParams::from_grads(loss.total.backward(), &model);
    let model = optimizer.step(lr, model, grads);
    Ok((model.after_step(loss.update), value))
}

#[derive(Debug)]
pub struct NonFiniteLoss {
    pub value: f64,
    pub terms: String,
}

pub fn pretrain<B: AutodiffBackend, M: Method<B>>(
    inputs: &RunInputs,
    run_dir: &mut RunDir,
    device: &B::Device,
    device_name: &str,
) -> Result<Summary> {
    let started = Instant::now();
    let config = &inputs.config;
    let train_cfg = &config.train;
    let data = DataInfo {
        channels: inputs.train.channels,
        train_len: inputs.train.len(),
    };
    check_data(config, &inputs.dataset_name, &data)?;

    let normalize = match M::COLOR_SPACE {
        ColorSpace::Native => {
            let (mean, std) = inputs.train.channel_stats();
            info!(?mean, ?std, "normalisation from the training images");
            Normalize::new(mean, std)
        }
        ColorSpace::Lab => Normalize::lab(),
    };
    let pipeline = Arc::new(ViewPipeline::new(config.augment.clone(), normalize.clone()));

    let mut model = init_portable::<B, M>(config, &data, device)?;
    let mut optimizer = sgd(&config.train).init::<B, M>();
    let mut first_epoch = 0;
    let mut step = 0;
    if let Some(from) = &inputs.resume {
        let (state, restored, restored_optimizer) =
            checkpoint::restore(from, M::NAME, model, optimizer, device)?;
        model = restored;
        optimizer = restored_optimizer;
        first_epoch = state.epoch;
        step = state.step;
        info!(checkpoint = %from.display(), epoch = state.epoch, step, "resumed");
    }
    let end_epoch = inputs
        .stop_after_epoch
        .map_or(train_cfg.epochs, |stop| stop.min(train_cfg.epochs));
    if first_epoch >= end_epoch {
        bail!(
            "{}: nothing to train, {first_epoch} of {} epochs are done",
            run_dir.path.display(),
            train_cfg.epochs
        );
    }

    let steps_per_epoch = steps_per_epoch(inputs.train.len(), train_cfg.batch_size);
    let total_steps = steps_per_epoch * train_cfg.epochs;
    let warmup_steps = train_cfg.warmup_epochs * steps_per_epoch;
    let mut schedule = match train_cfg.schedule {
        LrScheduleKind::Cosine => WarmupCosine::new(train_cfg.lr, warmup_steps, total_steps),
        LrScheduleKind::Step => WarmupCosine::multistep(
            train_cfg.lr,
            warmup_steps,
            total_steps,
            &train_cfg.step_milestones,
            0.1,
        ),
    };
    for _ in 0..step {
        schedule.next_lr();
    }
    let knn = knn_config(config);
    info!(
        method = M::NAME,
        params = model.num_params(),
        steps_per_epoch,
        total_steps,
        "training"
    );

    let loader = loader::spawn(
        inputs.train.clone(),
        pipeline.clone(),
        config.seed,
        first_epoch..end_epoch,
        train_cfg.batch_size,
        model.num_views(),
    );
    let steps_this_run = steps_per_epoch * (end_epoch - first_epoch);
    let bar = training_bar(steps_this_run);
    let view_shape = [
        train_cfg.batch_size,
        inputs.train.channels,
        config.augment.crop_size,
        config.augment.crop_size,
    ];

    let mut lr = 0.0;
    let mut last = None;
    let mut throughput = Throughput::default();
    let mut steps_done_here = 0;
    for epoch in first_epoch..end_epoch {
        bar.set_prefix(format!("epoch {}/{}", epoch + 1, train_cfg.epochs));
        let mut loss_sum = 0f64;
        for _ in 0..steps_per_epoch {
            // Timed from before the wait for data, so a loader that cannot keep up shows.
            let step_started = Instant::now();
            let batch = loader.batches.recv().context("the view loader stopped")?;
            debug_assert_eq!(batch.epoch, epoch);
            let images = batch.images;
            let step_batch = StepBatch {
                views: batch
                    .views
                    .into_iter()
                    .map(|v| Tensor::<B, 4>::from_data(TensorData::new(v, view_shape), device))
                    .collect(),
                indices: batch.indices,
                seed: config.seed,
                step,
            };
            lr = schedule.next_lr();
            let (updated, loss_value) = match train_step(model, &mut optimizer, &step_batch, lr) {
                Ok(result) => result,
                Err(NonFiniteLoss { value, terms }) => {
                    bar.abandon();
                    bail!(
                        "non-finite loss {value} at epoch {} step {} ({terms}); lower train.lr or check the data",
                        epoch + 1,
                        step + 1
                    );
                }
            };
            model = updated;
            step += 1;
            steps_done_here += 1;
            run_dir.append_step(&StepRecord {
                epoch: epoch + 1,
                step,
                loss: loss_value,
                lr,
            })?;
            loss_sum += loss_value;

            throughput.record(
                steps_done_here,
                steps_this_run,
                images,
                step_started.elapsed().as_secs_f64(),
            );
            bar.set_message(format!(
                "loss {loss_value:.4} lr {lr:.4} {}",
                throughput.describe()
            ));
            bar.inc(1);
        }
        let epoch_loss = loss_sum / steps_per_epoch as f64;
        let images_per_sec = throughput.images_per_sec();
        let epochs_done = epoch + 1;
        let is_last = epochs_done == end_epoch;
        let eval_due = config.eval.every > 0 && epochs_done % config.eval.every == 0;
        if eval_due || is_last {
            let accuracy = match config.eval.knn_features {
                KnnFeatures::Backbone => knn_accuracy(
                    &model.encoder(),
                    &inputs.train,
                    &inputs.test,
                    &normalize,
                    &knn,
                    device,
                ),
                KnnFeatures::MemoryBank => {
                    let bank = model
                        .bank_view()
                        .with_context(|| format!("method {} keeps no memory bank", M::NAME))?;
                    knn_accuracy_on_bank(
                        &bank,
                        &inputs.train,
                        &inputs.test,
                        &normalize,
                        &knn,
                        device,
                    )
                }
            }
            .context("kNN evaluation")?;
            let record = EvalRecord {
                epoch: epochs_done,
                step,
                loss: epoch_loss,
                lr,
                knn_top1: accuracy.top1,
                knn_top5: accuracy.top5,
                images_per_sec,
                seconds: started.elapsed().as_secs_f64(),
            };
            bar.suspend(|| {
                info!(
                    epoch = epochs_done,
                    loss = epoch_loss,
                    knn_top1 = accuracy.top1,
                    knn_top5 = accuracy.top5,
                    images_per_sec,
                    "evaluated"
                )
            });
            run_dir.append_metrics(&record)?;
            last = Some(record);
        } else {
            bar.suspend(|| {
                info!(
                    epoch = epochs_done,
                    loss = epoch_loss,
                    lr,
                    images_per_sec,
                    "epoch done"
                )
            });
        }
        let every = config.checkpoint.every;
        if is_last || (every > 0 && epochs_done % every == 0) {
            let state = CheckpointState {
                method: M::NAME.to_string(),
                epoch: epochs_done,
                step,
            };
            let path = checkpoint::save(
                &run_dir.path,
                &state,
                &model,
                &optimizer,
                config.checkpoint.keep,
            )?;
            bar.suspend(|| info!(path = %path.display(), "checkpoint written"));
        }
    }
    bar.finish_and_clear();

    let encoder_path = run_dir.save_encoder(&model.encoder())?;
    info!(path = %encoder_path.display(), "encoder saved");
    let last = last.expect("the last epoch of a run always evaluates");
    let summary = Summary {
        method: M::NAME.to_string(),
        backend: inputs.backend_name.clone(),
        device: device_name.to_string(),
        dataset: inputs.dataset_name.clone(),
        epochs: train_cfg.epochs,
        completed_epochs: end_epoch,
        steps: step,
        batch_size: train_cfg.batch_size,
        train_images: inputs.train.len(),
        test_images: inputs.test.len(),
        width: config.model.width,
        seed: config.seed,
        images_per_sec: last.images_per_sec,
        final_loss: last.loss,
        knn_top1: last.knn_top1,
        knn_top5: last.knn_top5,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    run_dir.write_summary(&summary)?;
    Ok(summary)
}
