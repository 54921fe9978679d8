//! The training loop every method shares: views from the loader, the method's loss, SGD with
//! momentum and weight decay under the LR schedule, kNN evaluation, checkpoints, outputs; and
//! the ways a run stops early (a signal, a non-finite loss or gradient, `--stop-after-epoch`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::optim::Optimizer;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use selfsup_augment::{NeighbourCrops, Normalize, ViewPipeline};
use selfsup_eval::{KnnAccuracy, KnnConfig};
use tracing::{info, warn};

use crate::checkpoint::{self, CheckpointState};
use crate::config::{KnnFeatures, LrScheduleKind, OnCollapse, OnNan, TrainConfig};
use crate::features::{knn_accuracy, knn_accuracy_on_bank};
use crate::health::Probe;
use crate::interrupt::Interrupted;
use crate::knn_crops::{self, KnnCropPlan};
use crate::loader::{self, EpochViews, steps_per_epoch};
use crate::methods::{DataInfo, Method, StepBatch, check_data, init_portable, normalization};
use crate::output::{EvalRecord, RunDir, StepRecord, Summary};
use crate::progress::training_bar;
use crate::run_inputs::{RunInputs, knn_config};
use crate::schedule::WarmupCosine;
use crate::step::{StepOutcome, train_step};
use crate::throughput::Throughput;
use selfsup_eval::health::{Health, collapse};

pub fn pretrain<B: AutodiffBackend, M: Method<B>, O: Optimizer<M, B>>(
    inputs: &RunInputs,
    run_dir: &mut RunDir,
    device: &B::Device,
    device_name: &str,
    mut optimizer: O,
) -> Result<Summary> {
    let started = Instant::now();
    let config = &inputs.config;
    let train_cfg = &config.train;
    let images = &inputs.pretrain_set;
    let data = DataInfo {
        channels: images.channels,
        train_len: images.len(),
    };
    check_data(config, &inputs.dataset_name, &data)?;

    let normalize = normalization(config, images);
    info!(mean = ?normalize.mean, std = ?normalize.std, color = ?normalize.color, "normalisation");
    let pipeline = Arc::new(ViewPipeline::new(config.augment.clone(), normalize.clone()));
    let warmup_pipeline = config
        .augment_warmup
        .as_ref()
        .map(|views| Arc::new(ViewPipeline::new(views.clone(), normalize.clone())));
    let pipeline_for = |epoch: usize| match &warmup_pipeline {
        Some(warmup) if epoch < train_cfg.augment_warmup_epochs => warmup.clone(),
        _ => pipeline.clone(),
    };
    let knn_plan = KnnCropPlan::of(config);
    let probe = Probe::new(images, config.seed);
    let mut neighbours: Option<Arc<NeighbourCrops>> = None;

    let mut model = init_portable::<B, M>(config, &data, device)?;
    let mut state = CheckpointState {
        method: M::NAME.to_string(),
        epoch: 0,
        step: 0,
        epoch_loss_sum: 0.0,
        skipped_steps: 0,
    };
    let mut last_checkpoint = None;
    if let Some(from) = &inputs.resume {
        let (restored_state, restored, restored_optimizer) =
            checkpoint::restore(from, M::NAME, model, optimizer, device)?;
        model = restored;
        optimizer = restored_optimizer;
        state = restored_state;
        neighbours = knn_crops::load(from, images.len())?.map(Arc::new);
        last_checkpoint = Some(from.clone());
        info!(checkpoint = %from.display(), epoch = state.epoch, step = state.step, "resumed");
    }

    let steps_per_epoch = steps_per_epoch(images.len(), train_cfg.batch_size);
    let total_steps = steps_per_epoch * train_cfg.epochs;
    let first_epoch = state.step / steps_per_epoch;
    let skip = state.step % steps_per_epoch;
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
    let mut schedule = lr_schedule(train_cfg, steps_per_epoch, total_steps, state.step);
    let knn = knn_config(config);
    if inputs.eval_sets.is_none() {
        info!(
            "no labelled evaluation set, so no kNN is measured (set eval.dataset and eval.dir to \
             name one)"
        );
    }
    info!(
        method = M::NAME,
        params = model.num_params(),
        steps_per_epoch,
        total_steps,
        "training"
    );

    let steps_this_run = steps_per_epoch * (end_epoch - first_epoch) - skip;
    let bar = training_bar(steps_this_run);
    let view_shape = |view: usize| {
        let side = pipeline.view_side(view);
        [train_cfg.batch_size, images.channels, side, side]
    };
    let run_path = run_dir.path.clone();
    let save = |model: &M,
                optimizer: &_,
                state: &CheckpointState,
                neighbours: &Option<Arc<NeighbourCrops>>|
     -> Result<PathBuf> {
        let path = checkpoint::save(
            &run_path,
            state,
            model,
            optimizer,
            neighbours.as_deref(),
            config.checkpoint.keep,
        )?;
        bar.suspend(|| info!(path = %path.display(), "checkpoint written"));
        Ok(path)
    };

    let mut lr = 0.0;
    let mut last = None;
    let mut throughput = Throughput::default();
    let mut steps_done_here = 0;
    let mut collapse_seen: Option<(usize, String)> = None;
    // What a collapse is judged against: the highest values of this run's evaluations.
    let mut highest_health: Option<Health> = None;
    for epoch in first_epoch..end_epoch {
        bar.set_prefix(format!("epoch {}/{}", epoch + 1, train_cfg.epochs));
        let first_step = if epoch == first_epoch { skip } else { 0 };
        let crops_from = match knn_plan {
            Some(plan) if plan.active(epoch) => Some(neighbours.clone().with_context(|| {
                format!(
                    "epoch {} cuts its local crops from each image's neighbours (wcl.knn_crops), \
                     but the checkpoint it resumes from has no neighbour table",
                    epoch + 1
                )
            })?),
            _ => None,
        };
        let views = EpochViews {
            pipeline: pipeline_for(epoch),
            neighbours: crops_from,
        };
        let loader = loader::spawn(
            images.clone(),
            views,
            config.seed,
            epoch,
            first_step,
            train_cfg.batch_size,
            model.num_views(),
        );
        for _ in first_step..steps_per_epoch {
            // Timed from before the wait for data, so a loader that cannot keep up shows.
            let step_started = Instant::now();
            let batch = loader.batches.recv().context("the view loader stopped")?;
            debug_assert_eq!(batch.epoch, epoch);
            let images = batch.images;
            let step_batch = StepBatch {
                views: batch
                    .views
                    .into_iter()
                    .enumerate()
                    .map(|(view, v)| {
                        Tensor::<B, 4>::from_data(TensorData::new(v, view_shape(view)), device)
                    })
                    .collect(),
                indices: batch.indices,
                seed: config.seed,
                step: state.step,
            };
            lr = schedule.next_lr();
            let (loss_value, skipped) = match train_step(model, &mut optimizer, &step_batch, lr) {
                StepOutcome::Updated {
                    model: updated,
                    loss,
                } => {
                    model = updated;
                    (loss, false)
                }
                StepOutcome::Rejected {
                    model: unchanged,
                    reason,
                } => {
                    model = unchanged;
                    if train_cfg.on_nan == OnNan::SkipStep
                        && state.skipped_steps < train_cfg.max_skipped_steps
                    {
                        state.skipped_steps += 1;
                        bar.suspend(|| {
                            warn!(
                                step = state.step + 1,
                                skipped = state.skipped_steps,
                                "{reason}: step skipped"
                            )
                        });
                        (f64::NAN, true)
                    } else {
                        bar.abandon();
                        return Err(non_finite_stop(
                            &reason,
                            epoch + 1,
                            state.step + 1,
                            train_cfg,
                            &last_checkpoint,
                            &run_dir.path,
                        ));
                    }
                }
            };
            state.step += 1;
            steps_done_here += 1;
            run_dir.append_step(&StepRecord {
                epoch: epoch + 1,
                step: state.step,
                loss: loss_value,
                lr,
                skipped,
            })?;
            if !skipped {
                state.epoch_loss_sum += loss_value;
            }
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

            let epoch_ends = state.step.is_multiple_of(steps_per_epoch);
            let every_steps = config.checkpoint.every_steps;
            let step_checkpoint_due =
                every_steps > 0 && state.step.is_multiple_of(every_steps) && !epoch_ends;
            let signal = inputs.stop.requested();
            if step_checkpoint_due || (signal.is_some() && !epoch_ends) {
                last_checkpoint = Some(save(&model, &optimizer, &state, &neighbours)?);
            }
            if let (Some(signal), false) = (signal, epoch_ends) {
                bar.abandon();
                return Err(interrupted(
                    signal,
                    &state,
                    epoch + 1,
                    &last_checkpoint,
                    &run_dir.path,
                )
                .into());
            }
        }

        let epochs_done = epoch + 1;
        if let Some(plan) = &knn_plan
            && plan.active(epochs_done)
            && epochs_done < train_cfg.epochs
        {
            let table = bar.suspend(|| {
                knn_crops::neighbour_table(&model.encoder(), images, &normalize, plan, device)
            })?;
            neighbours = Some(Arc::new(table));
        }
        let epoch_loss = state.epoch_loss_sum / steps_per_epoch as f64;
        state.epoch = epochs_done;
        state.epoch_loss_sum = 0.0;
        let images_per_sec = throughput.images_per_sec();
        let is_last = epochs_done == end_epoch;
        let eval_due = config.eval.every > 0 && epochs_done % config.eval.every == 0;
        if eval_due || is_last {
            let accuracy = run_knn(&model, inputs, &normalize, &knn, device)?;
            let (health, health_seconds) = bar.suspend(|| {
                probe.measure(&model, images, &pipeline, &normalize, config.seed, device)
            });
            let highest = highest_health.map_or(health, |h| h.highest(&health));
            let collapsed = collapse(&health, &highest);
            highest_health = Some(highest);
            let record = EvalRecord {
                epoch: epochs_done,
                step: state.step,
                loss: epoch_loss,
                lr,
                knn_top1: accuracy.as_ref().map(|a| a.top1),
                knn_top5: accuracy.as_ref().map(|a| a.top5),
                images_per_sec,
                seconds: started.elapsed().as_secs_f64(),
                projection_std: health.projection_std,
                projection_std_spread: health.projection_std_spread,
                effective_rank: health.effective_rank,
                rank_limit: health.rank_limit,
                alignment: health.alignment,
                uniformity: health.uniformity,
                collapse: collapsed.clone(),
                health_seconds,
            };
            bar.suspend(|| {
                info!(
                    epoch = epochs_done,
                    loss = epoch_loss,
                    knn_top1 = accuracy.as_ref().map(|a| a.top1),
                    knn_top5 = accuracy.as_ref().map(|a| a.top5),
                    projection_std = health.projection_std,
                    effective_rank = health.effective_rank,
                    alignment = health.alignment,
                    uniformity = health.uniformity,
                    health_seconds,
                    images_per_sec,
                    "evaluated"
                )
            });
            if let Some(why) = &collapsed {
                bar.suspend(|| {
                    warn!(
                        epoch = epochs_done,
                        "the run looks collapsed: {why}. Try a lower train.lr, a longer \
                         train.warmup_epochs or stronger augmentation; for SimSiam and BYOL \
                         check the predictor and the stop-gradient. train.on_collapse = \"stop\" \
                         stops such a run"
                    )
                });
                collapse_seen = Some((epochs_done, why.clone()));
            }
            run_dir.append_metrics(&record)?;
            write_curves(run_dir);
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
        let signal = inputs.stop.requested();
        let stop_for_collapse =
            collapse_seen.is_some() && config.train.on_collapse == OnCollapse::Stop && !is_last;
        if is_last
            || (every > 0 && epochs_done % every == 0)
            || signal.is_some()
            || stop_for_collapse
        {
            last_checkpoint = Some(save(&model, &optimizer, &state, &neighbours)?);
        }
        if let (Some((at, why)), true) = (&collapse_seen, stop_for_collapse) {
            bar.abandon();
            bail!(
                "stopped at epoch {at} (train.on_collapse = \"stop\"): the run collapsed: {why}; \
                 the checkpoint of that epoch is {}",
                last_checkpoint
                    .as_ref()
                    .map_or("not written".to_string(), |p| p.display().to_string())
            );
        }
        if let Some(signal) = signal
            && !is_last
        {
            bar.abandon();
            return Err(
                interrupted(signal, &state, epochs_done, &last_checkpoint, &run_dir.path).into(),
            );
        }
    }
    bar.finish_and_clear();

    let encoder_path = run_dir.save_encoder(&model.encoder())?;
    info!(path = %encoder_path.display(), "encoder saved");
    if let Some(layer) = model.head_layer() {
        let path = run_dir.save_head_layer(&layer)?;
        info!(path = %path.display(), "head layer for fine-tuning saved");
    }
    let last = last.expect("the last epoch of a run always evaluates");
    let summary = run_summary::<B, M>(inputs, device_name, end_epoch, state.step, &last, started);
    run_dir.write_summary(&summary)?;
    write_curves(run_dir);
    Ok(summary)
}

/// The learning-rate schedule of the run, advanced past the `done_steps` a resumed run has
/// already taken.
fn lr_schedule(
    train: &TrainConfig,
    steps_per_epoch: usize,
    total_steps: usize,
    done_steps: usize,
) -> WarmupCosine {
    let warmup_steps = train.warmup_epochs * steps_per_epoch;
    let mut schedule = match train.schedule {
        LrScheduleKind::Cosine => WarmupCosine::new(train.lr, warmup_steps, total_steps),
        LrScheduleKind::Step => WarmupCosine::multistep(
            train.lr,
            warmup_steps,
            total_steps,
            &train.step_milestones,
            0.1,
        ),
    };
    for _ in 0..done_steps {
        schedule.next_lr();
    }
    schedule
}

/// The kNN accuracy of the model's features (`eval.knn_features`: the backbone's, or the
/// memory bank's rows) on the run's labelled sets; `None` without them.
fn run_knn<B: AutodiffBackend, M: Method<B>>(
    model: &M,
    inputs: &RunInputs,
    normalize: &Normalize,
    knn: &KnnConfig,
    device: &B::Device,
) -> Result<Option<KnnAccuracy>> {
    let Some(sets) = &inputs.eval_sets else {
        return Ok(None);
    };
    let accuracy = match inputs.config.eval.knn_features {
        KnnFeatures::Backbone => knn_accuracy(
            &model.encoder(),
            &sets.train,
            &sets.test,
            normalize,
            knn,
            device,
        ),
        KnnFeatures::MemoryBank => {
            let bank = model
                .bank_view()
                .with_context(|| format!("method {} keeps no memory bank", M::NAME))?;
            knn_accuracy_on_bank(&bank, &sets.train, &sets.test, normalize, knn, device)
        }
    };
    Ok(Some(accuracy.context("kNN evaluation")?))
}

/// What `summary.json` says of a finished (or stopped) run: `last` is its last evaluation.
fn run_summary<B: AutodiffBackend, M: Method<B>>(
    inputs: &RunInputs,
    device_name: &str,
    completed_epochs: usize,
    steps: usize,
    last: &EvalRecord,
    started: Instant,
) -> Summary {
    let config = &inputs.config;
    Summary {
        method: M::NAME.to_string(),
        backend: inputs.backend_name.clone(),
        device: device_name.to_string(),
        dataset: inputs.dataset_name.clone(),
        epochs: config.train.epochs,
        completed_epochs,
        steps,
        batch_size: config.train.batch_size,
        train_images: inputs.pretrain_set.len(),
        test_images: inputs.eval_sets.as_ref().map_or(0, |sets| sets.test.len()),
        width: config.model.width,
        seed: config.seed,
        images_per_sec: last.images_per_sec,
        final_loss: last.loss,
        knn_top1: last.knn_top1,
        knn_top5: last.knn_top5,
        wall_seconds: started.elapsed().as_secs_f64(),
    }
}

/// The error a run stopped by `signal` returns, once its checkpoint is written.
fn interrupted(
    signal: i32,
    state: &CheckpointState,
    epoch: usize,
    checkpoint: &Option<PathBuf>,
    run: &std::path::Path,
) -> Interrupted {
    Interrupted {
        signal,
        step: state.step,
        epoch,
        checkpoint: checkpoint.clone().expect("written before stopping"),
        run: run.to_path_buf(),
    }
}

/// The error a run stops with on a non-finite loss or gradient: where, what, and the last
/// checkpoint to resume from.
fn non_finite_stop(
    reason: &crate::step::NonFinite,
    epoch: usize,
    step: usize,
    train: &crate::config::TrainConfig,
    last_checkpoint: &Option<PathBuf>,
    run: &std::path::Path,
) -> anyhow::Error {
    let resume = match last_checkpoint {
        Some(path) => format!(
            "the last good checkpoint is {} (selfsup pretrain --resume {})",
            path.display(),
            run.display()
        ),
        None => "no checkpoint was written before it".to_string(),
    };
    let skipping = if train.on_nan == OnNan::SkipStep {
        format!(
            " after skipping train.max_skipped_steps = {} steps",
            train.max_skipped_steps
        )
    } else {
        String::new()
    };
    anyhow::anyhow!(
        "{reason} at epoch {epoch} step {step}{skipping}; {resume}; lower train.lr or check the data"
    )
}

/// A picture is not worth stopping a run for: a failure to draw is logged.
fn write_curves(run_dir: &RunDir) {
    if let Err(error) = run_dir.write_curves() {
        warn!("{error:#}");
    }
}
