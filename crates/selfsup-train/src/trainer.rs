//! The training loop every method shares: views from the loader, the method's loss, SGD with
//! momentum and weight decay under the LR schedule, kNN evaluation, checkpoints, outputs; and
//! the ways a run stops early (a signal, a non-finite loss or gradient, `--stop-after-epoch`).

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use burn::optim::Optimizer;
use burn::tensor::backend::AutodiffBackend;
use selfsup_augment::{NeighbourCrops, Normalize, ViewPipeline};
use selfsup_eval::{KnnAccuracy, KnnConfig};
use tracing::{info, warn};

use crate::TrainError;
use crate::checkpoint::{self, CheckpointState};
use crate::config::{
    Config, CropFrom, GatherKind, KnnFeatures, LrScheduleKind, OnCollapse, OnNan, TrainConfig,
};
use crate::knn_crops::{self, KnnCropPlan};
use crate::observer::{TrainObserver, aside};
use crate::run_dir::{EvalRecord, RunDir, StepRecord, Summary};
use crate::run_inputs::{RunInputs, knn_config};
use crate::stop::Interrupted;
use crate::throughput::Throughput;
use selfsup_eval::health::{Health, collapse};
use selfsup_optim::LrSchedule;

type Result<T> = std::result::Result<T, TrainError>;
use crate::features::{knn_accuracy, knn_accuracy_on_bank};
use crate::health::Probe;
use crate::loader::{self, EpochBatches, EpochViews, Shard, steps_per_epoch};
use crate::methods::{DataInfo, Method, StepBatch, init_portable, normalization};
use crate::same_start::check_same_start;
use crate::step::{NonFinite, StepOutcome, train_step};
use selfsup_distributed::{Collective, GatherGradient, Peers};

/// The signal a peer stops with when another peer was the one asked to stop.
const SIGTERM: i32 = 15;

/// Pretrains `M` on `inputs` with `optimizer`, writing into `run_dir`: the epochs the run has
/// left (all of them, or from its checkpoint), each followed by its evaluation and checkpoint,
/// then the encoder and the summary. `observer` hears of every step, evaluation and stop.
/// `peers` are the run's data-parallel peers (`Solo` on one device): each takes its share of
/// every batch, and the gradients are averaged over all of them.
pub fn pretrain<B: AutodiffBackend, M: Method<B>, O: Optimizer<M, B>>(
    inputs: &RunInputs,
    run_dir: &mut RunDir,
    device: &B::Device,
    device_name: &str,
    optimizer: O,
    observer: &mut dyn TrainObserver,
    peers: Peers<B>,
) -> Result<Summary> {
    let (mut trainer, mut model) =
        Trainer::new(inputs, run_dir, device, optimizer, observer, peers)?;
    for epoch in trainer.span.first_epoch..trainer.span.end_epoch {
        model = trainer.run_epoch(model, epoch)?;
        trainer.end_epoch(&model, epoch)?;
    }
    trainer.finish(&model, device_name)
}

/// One pretraining run in progress: what is fixed for the run, and what its steps change
/// (everything but the model, which each step takes and gives back).
struct Trainer<'a, B: AutodiffBackend, M: Method<B>, O: Optimizer<M, B>> {
    inputs: &'a RunInputs,
    run_dir: &'a mut RunDir,
    device: &'a B::Device,
    started: Instant,
    normalize: Normalize,
    pipeline: Arc<ViewPipeline>,
    warmup_pipeline: Option<Arc<ViewPipeline>>,
    knn_plan: Option<KnnCropPlan>,
    probe: Probe,
    knn: KnnConfig,
    span: RunSpan,
    observer: &'a mut dyn TrainObserver,
    optimizer: O,
    schedule: LrSchedule,
    state: CheckpointState,
    neighbours: Option<Arc<NeighbourCrops>>,
    last_checkpoint: Option<PathBuf>,
    lr: f64,
    last: Option<EvalRecord>,
    throughput: Throughput,
    steps_done_here: usize,
    collapse_seen: Option<(usize, String)>,
    /// What a collapse is judged against: the highest values of this run's evaluations.
    highest_health: Option<Health>,
    peers: Peers<B>,
    /// With peers: the stop request the last step's gradient average carried (a signal on
    /// any peer), so that every peer stops after the same step.
    peers_stop: Option<i32>,
    _model: PhantomData<(B, M)>,
}

impl<'a, B: AutodiffBackend, M: Method<B>, O: Optimizer<M, B>> Trainer<'a, B, M, O> {
    /// The run's data checks, views, initial (or restored) model, optimiser and schedule.
    fn new(
        inputs: &'a RunInputs,
        run_dir: &'a mut RunDir,
        device: &'a B::Device,
        optimizer: O,
        observer: &'a mut dyn TrainObserver,
        peers: Peers<B>,
    ) -> Result<(Self, M)> {
        let started = Instant::now();
        let config = &inputs.config;
        let train_cfg = &config.train;
        let images = &inputs.pretrain_set;
        let data = DataInfo {
            channels: images.channels,
            train_len: images.len(),
        };
        M::check_data(config, &inputs.dataset_name, &data)?;
        check_peers::<B, M>(peers.collective.as_ref(), config)?;
        let peers = Peers {
            step: peers
                .step
                .with_gather(match train_cfg.gather {
                    GatherKind::Grad => GatherGradient::Tracked,
                    GatherKind::Detached => GatherGradient::Detached,
                })
                .with_synced_batch_norm(config.model.sync_bn),
            ..peers
        };

        let normalize = normalization(config, images);
        info!(mean = ?normalize.mean, std = ?normalize.std, color = ?normalize.color, "normalisation");
        let (pipeline, warmup_pipeline) = view_pipelines(config, &normalize);
        let knn_plan = M::knn_crop_plan(config);
        let probe = Probe::new(images, config.seed);
        let model = init_portable::<B, M>(config, &data, device)?;
        let Resumed {
            model,
            optimizer,
            state,
            neighbours,
            last_checkpoint,
        } = match &inputs.resume {
            Some(from) => resume_from(from, model, optimizer, images.len(), device)?,
            None => Resumed::start(model, optimizer),
        };

        check_same_start::<B, M>(
            &model,
            state.step,
            peers.collective.as_ref(),
            device,
            "at the start",
        )?;
        let span = RunSpan::of(inputs, run_dir, state.step)?;
        let schedule = span.lr_schedule(train_cfg, state.step);
        let knn = knn_config(config);
        if inputs.eval_sets.is_none() {
            info!(
                "no labelled evaluation set, so no kNN is measured (set eval.dataset and eval.dir \
                 to name one)"
            );
        }
        info!(
            method = M::NAME,
            params = model.num_params(),
            steps_per_epoch = span.steps_per_epoch,
            total_steps = span.total_steps,
            "training"
        );
        observer.run_started(span.steps_this_run);
        let trainer = Self {
            inputs,
            run_dir,
            device,
            started,
            normalize,
            pipeline,
            warmup_pipeline,
            knn_plan,
            probe,
            knn,
            span,
            observer,
            optimizer,
            schedule,
            state,
            neighbours,
            last_checkpoint,
            lr: 0.0,
            last: None,
            throughput: Throughput::default(),
            steps_done_here: 0,
            collapse_seen: None,
            highest_health: None,
            peers,
            peers_stop: None,
            _model: PhantomData,
        };
        Ok((trainer, model))
    }

    /// The views of `epoch`: the warm-up ones during `train.augment_warmup_epochs`, and the
    /// neighbours' crops once `wcl.knn_crops` is active.
    fn epoch_views(&self, epoch: usize) -> Result<EpochViews> {
        let config = &self.inputs.config;
        let pipeline = match &self.warmup_pipeline {
            Some(warmup) if epoch < config.train.augment_warmup_epochs => warmup.clone(),
            _ => self.pipeline.clone(),
        };
        let neighbours = match self.knn_plan {
            Some(plan) if plan.active(epoch) => Some(
                self.neighbours
                    .clone()
                    .ok_or(TrainError::NoNeighbourTable { epoch: epoch + 1 })?,
            ),
            _ => None,
        };
        Ok(EpochViews {
            pipeline,
            neighbours,
        })
    }

    /// The steps of `epoch` (those a resumed run has left of it).
    fn run_epoch(&mut self, mut model: M, epoch: usize) -> Result<M> {
        let config = &self.inputs.config;
        self.observer.epoch_started(epoch + 1, config.train.epochs);
        let first_step = if epoch == self.span.first_epoch {
            self.span.skip
        } else {
            0
        };
        let plan = EpochBatches {
            seed: config.seed,
            epoch,
            skip: first_step,
            batch_size: config.train.batch_size,
            num_views: model.num_views(),
            shard: Shard {
                rank: self.peers.collective.rank(),
                world: self.peers.collective.world(),
            },
            from_original: config.data.crop_from == CropFrom::Original,
            batch_dtype: config.data.batch_dtype,
        };
        let loader = loader::spawn::<B>(
            self.inputs.pretrain_set.clone(),
            self.epoch_views(epoch)?,
            plan,
            self.device.clone(),
        );
        for _ in first_step..self.span.steps_per_epoch {
            // Timed from before the wait for data, so a loader that cannot keep up shows.
            let step_started = Instant::now();
            let batch = loader
                .batches
                .recv()
                .map_err(|_| TrainError::LoaderStopped)?;
            debug_assert_eq!(batch.step, self.state.step);
            model = self.step(model, batch, epoch, step_started)?;
        }
        Ok(model)
    }

    /// One optimiser step on `batch`, its record and progress, and a checkpoint and stop when
    /// one is due or a signal asks for it.
    fn step(
        &mut self,
        model: M,
        mut batch: StepBatch<B>,
        epoch: usize,
        step_started: Instant,
    ) -> Result<M> {
        batch.peers = self.peers.step.clone();
        let config = &self.inputs.config;
        let world = self.peers.collective.world();
        let images = batch.indices.len() * world;
        self.lr = self.schedule.next_lr();
        let stop_here = self.inputs.stop.requested();
        let stepped = train_step(
            model,
            &mut self.optimizer,
            &batch,
            self.lr,
            self.peers.collective.as_ref(),
            stop_here.is_some(),
        )?;
        // A peer that saw no signal itself stops as if asked with SIGTERM.
        self.peers_stop = stepped.stop_requested.then(|| stop_here.unwrap_or(SIGTERM));
        let (model, loss_value, skipped) = match stepped.outcome {
            StepOutcome::Updated { model, loss } => (model, loss, false),
            StepOutcome::Rejected { model, reason } => {
                self.reject_step(&reason, epoch)?;
                (model, f64::NAN, true)
            }
        };
        if self.steps_done_here == 0 {
            check_same_start::<B, M>(
                &model,
                self.state.step + 1,
                self.peers.collective.as_ref(),
                self.device,
                "after the first step",
            )?;
        }
        self.state.step += 1;
        self.steps_done_here += 1;
        let record = StepRecord {
            epoch: epoch + 1,
            step: self.state.step,
            loss: loss_value,
            lr: self.lr,
            skipped,
        };
        self.run_dir.append_step(&record)?;
        if !skipped {
            self.state.epoch_loss_sum += loss_value;
        }
        self.throughput.record(
            self.steps_done_here,
            self.span.steps_this_run,
            images,
            step_started.elapsed().as_secs_f64(),
        );
        self.observer
            .step_done(&record, &self.throughput.describe());

        let epoch_ends = self.state.step.is_multiple_of(self.span.steps_per_epoch);
        let every_steps = config.checkpoint.every_steps;
        let step_checkpoint_due =
            every_steps > 0 && self.state.step.is_multiple_of(every_steps) && !epoch_ends;
        let signal = self.stop_signal();
        if step_checkpoint_due || (signal.is_some() && !epoch_ends) {
            self.save(&model)?;
        }
        if let (Some(signal), false) = (signal, epoch_ends) {
            self.observer.stopped();
            return Err(TrainError::Interrupted(interrupted(
                signal,
                &self.state,
                epoch + 1,
                &self.last_checkpoint,
                &self.run_dir.path,
            )));
        }
        Ok(model)
    }

    /// A step whose loss or gradient was not finite: skipped (`train.on_nan = "skip_step"`,
    /// up to `train.max_skipped_steps`), or the run stops with where and what.
    fn reject_step(&mut self, reason: &NonFinite, epoch: usize) -> Result<()> {
        let train_cfg = &self.inputs.config.train;
        if train_cfg.on_nan == OnNan::SkipStep
            && self.state.skipped_steps < train_cfg.max_skipped_steps
        {
            self.state.skipped_steps += 1;
            let (step, skipped) = (self.state.step + 1, self.state.skipped_steps);
            aside(self.observer, || {
                warn!(step, skipped, "{reason}: step skipped")
            });
            return Ok(());
        }
        self.observer.stopped();
        Err(non_finite_stop(
            reason,
            epoch + 1,
            self.state.step + 1,
            train_cfg,
            &self.last_checkpoint,
            &self.run_dir.path,
        ))
    }

    /// What follows the last step of `epoch`: the neighbour table for the next epoch's crops,
    /// the evaluation when due, the checkpoint, and a stop on collapse or signal.
    fn end_epoch(&mut self, model: &M, epoch: usize) -> Result<()> {
        let config = &self.inputs.config;
        let epochs_done = epoch + 1;
        if let Some(plan) = &self.knn_plan
            && plan.active(epochs_done)
            && epochs_done < config.train.epochs
        {
            let images = &self.inputs.pretrain_set;
            let peers = self.peers.collective.as_ref();
            // With peers, the first computes the table and the others take it.
            let table = (peers.rank() == 0)
                .then(|| {
                    aside(self.observer, || {
                        knn_crops::neighbour_table(
                            &model.encoder(),
                            images,
                            &self.normalize,
                            plan,
                            self.device,
                        )
                    })
                })
                .transpose()?;
            let table = match table {
                Some(table) if peers.world() == 1 => table,
                table => {
                    knn_crops::from_first_peer(table, plan.k, images.len(), peers, self.device)?
                }
            };
            self.neighbours = Some(Arc::new(table));
        }
        let epoch_loss = self.state.epoch_loss_sum / self.span.steps_per_epoch as f64;
        self.state.epoch = epochs_done;
        self.state.epoch_loss_sum = 0.0;
        let is_last = epochs_done == self.span.end_epoch;
        let eval_due = config.eval.every > 0 && epochs_done.is_multiple_of(config.eval.every);
        if eval_due || is_last {
            self.evaluate(model, epochs_done, epoch_loss)?;
        } else {
            let (lr, images_per_sec) = (self.lr, self.throughput.images_per_sec());
            aside(self.observer, || {
                info!(
                    epoch = epochs_done,
                    loss = epoch_loss,
                    lr,
                    images_per_sec,
                    "epoch done"
                )
            });
        }
        self.checkpoint_and_stop(model, epochs_done, is_last)
    }

    /// The epoch's evaluation: kNN, training health and the collapse rule; logged, appended
    /// to metrics.jsonl and drawn.
    fn evaluate(&mut self, model: &M, epochs_done: usize, epoch_loss: f64) -> Result<()> {
        let config = &self.inputs.config;
        let images_per_sec = self.throughput.images_per_sec();
        let accuracy = run_knn(model, self.inputs, &self.normalize, &self.knn, self.device)?;
        let (health, health_seconds) = aside(self.observer, || {
            self.probe.measure(
                model,
                &self.inputs.pretrain_set,
                &self.pipeline,
                &self.normalize,
                config.seed,
                self.device,
            )
        });
        let highest = self.highest_health.map_or(health, |h| h.highest(&health));
        let collapsed = collapse(&health, &highest);
        self.highest_health = Some(highest);
        let record = EvalRecord {
            epoch: epochs_done,
            step: self.state.step,
            loss: epoch_loss,
            lr: self.lr,
            knn_top1: accuracy.as_ref().map(|a| a.top1),
            knn_top5: accuracy.as_ref().map(|a| a.top5),
            images_per_sec,
            seconds: self.started.elapsed().as_secs_f64(),
            projection_std: health.projection_std,
            projection_std_spread: health.projection_std_spread,
            effective_rank: health.effective_rank,
            rank_limit: health.rank_limit,
            alignment: health.alignment,
            uniformity: health.uniformity,
            collapse: collapsed.clone(),
            health_seconds,
        };
        aside(self.observer, || {
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
            aside(self.observer, || {
                warn!(
                    epoch = epochs_done,
                    "the run looks collapsed: {why}. Try a lower train.lr, a longer \
                     train.warmup_epochs or stronger augmentation; for SimSiam and BYOL \
                     check the predictor and the stop-gradient. train.on_collapse = \"stop\" \
                     stops such a run"
                )
            });
            self.collapse_seen = Some((epochs_done, why.clone()));
        }
        self.run_dir.append_metrics(&record)?;
        self.observer.evaluated(&self.run_dir.path, &record);
        self.last = Some(record);
        Ok(())
    }

    /// The epoch's checkpoint when one is due (the last epoch, `checkpoint.every`, a signal, a
    /// collapse under `train.on_collapse = "stop"`), then the stop those last two ask for.
    fn checkpoint_and_stop(&mut self, model: &M, epochs_done: usize, is_last: bool) -> Result<()> {
        let config = &self.inputs.config;
        let every = config.checkpoint.every;
        let signal = self.stop_signal();
        let stop_for_collapse = self.collapse_seen.is_some()
            && config.train.on_collapse == OnCollapse::Stop
            && !is_last;
        if is_last
            || (every > 0 && epochs_done.is_multiple_of(every))
            || signal.is_some()
            || stop_for_collapse
        {
            self.save(model)?;
        }
        if let (Some((at, why)), true) = (&self.collapse_seen, stop_for_collapse) {
            self.observer.stopped();
            return Err(TrainError::Collapsed {
                epoch: *at,
                why: why.clone(),
                checkpoint: self
                    .last_checkpoint
                    .as_ref()
                    .map_or("not written".to_string(), |p| p.display().to_string()),
            });
        }
        if let Some(signal) = signal
            && !is_last
        {
            self.observer.stopped();
            return Err(TrainError::Interrupted(interrupted(
                signal,
                &self.state,
                epochs_done,
                &self.last_checkpoint,
                &self.run_dir.path,
            )));
        }
        Ok(())
    }

    /// The signal this run stops for: on one device the flag as it is now; with peers the
    /// request every peer learnt from the last step, so that they all stop together.
    fn stop_signal(&self) -> Option<i32> {
        if self.peers.collective.world() == 1 {
            self.inputs.stop.requested()
        } else {
            self.peers_stop
        }
    }

    /// Writes a checkpoint of the model, the optimiser, the run's state and the neighbour
    /// table.
    fn save(&mut self, model: &M) -> Result<()> {
        let path = checkpoint::save(
            &self.run_dir.path,
            &self.state,
            model,
            &self.optimizer,
            self.neighbours.as_deref(),
            self.inputs.config.checkpoint.keep,
        )?;
        aside(
            self.observer,
            || info!(path = %path.display(), "checkpoint written"),
        );
        self.last_checkpoint = Some(path);
        Ok(())
    }

    /// The encoder (and a head layer for fine-tuning) saved, the summary written.
    fn finish(self, model: &M, device_name: &str) -> Result<Summary> {
        let encoder_path = self.run_dir.save_encoder(&model.encoder())?;
        aside(
            self.observer,
            || info!(path = %encoder_path.display(), "encoder saved"),
        );
        if let Some(layer) = model.head_layer() {
            let path = self.run_dir.save_head_layer(&layer)?;
            aside(
                self.observer,
                || info!(path = %path.display(), "head layer for fine-tuning saved"),
            );
        }
        let last = self.last.expect("the last epoch of a run always evaluates");
        let summary = run_summary::<B, M>(
            self.inputs,
            device_name,
            self.span.end_epoch,
            self.state.step,
            &last,
            self.started,
        );
        self.run_dir.write_summary(&summary)?;
        self.observer.finished(&self.run_dir.path);
        Ok(summary)
    }
}

/// Whether `M` can train split between `peers`, and logs (on the first peer) what a
/// data-parallel run computes.
fn check_peers<B: AutodiffBackend, M: Method<B>>(
    peers: &dyn Collective<B::InnerBackend>,
    config: &Config,
) -> Result<()> {
    let world = peers.world();
    if world == 1 {
        return Ok(());
    }
    M::check_devices(config, world)?;
    if peers.rank() == 0 {
        let batch_norm = if config.model.sync_bn {
            "every peer's batch (model.sync_bn = true)"
        } else {
            "each peer's own share (model.sync_bn = false)"
        };
        info!(
            world,
            per_peer_batch = config.train.batch_size / world,
            gather = ?config.train.gather,
            "data-parallel: gradients averaged over the peers; the losses' negatives, weak \
             labels, Sinkhorn-Knopp codes, queues and memory banks come from every peer's \
             embeddings; batch norm normalises over {batch_norm}"
        );
    }
    Ok(())
}

/// The run's views, and those of its warm-up epochs when `[augment_warmup]` sets them.
fn view_pipelines(
    config: &Config,
    normalize: &Normalize,
) -> (Arc<ViewPipeline>, Option<Arc<ViewPipeline>>) {
    let pipeline = Arc::new(ViewPipeline::new(config.augment.clone(), normalize.clone()));
    let warmup = config
        .augment_warmup
        .as_ref()
        .map(|views| Arc::new(ViewPipeline::new(views.clone(), normalize.clone())));
    (pipeline, warmup)
}

/// Where a run starts: afresh, or from a checkpoint's model, optimiser, state and neighbour
/// table.
/// Where this run starts and ends, in epochs and steps.
struct RunSpan {
    steps_per_epoch: usize,
    /// Of the whole schedule (`train.epochs`), whatever part this run takes.
    total_steps: usize,
    /// 0-based: the epoch a resumed run continues, 0 for a new one.
    first_epoch: usize,
    /// Steps of the first epoch a resumed run has already taken.
    skip: usize,
    /// The epoch after the last this run takes (`--stop-after-epoch` may end it early).
    end_epoch: usize,
    steps_this_run: usize,
}

impl RunSpan {
    /// The span of a run whose checkpoint (if any) is at step `step`; refused when nothing is
    /// left to train.
    fn of(inputs: &RunInputs, run_dir: &RunDir, step: usize) -> Result<Self> {
        let train = &inputs.config.train;
        let steps_per_epoch = steps_per_epoch(inputs.pretrain_set.len(), train.batch_size);
        let first_epoch = step / steps_per_epoch;
        let skip = step % steps_per_epoch;
        let end_epoch = inputs
            .stop_after_epoch
            .map_or(train.epochs, |stop| stop.min(train.epochs));
        if first_epoch >= end_epoch {
            return Err(TrainError::NothingToTrain {
                run: run_dir.path.clone(),
                done: first_epoch,
                epochs: train.epochs,
            });
        }
        Ok(Self {
            steps_per_epoch,
            total_steps: steps_per_epoch * train.epochs,
            first_epoch,
            skip,
            end_epoch,
            steps_this_run: steps_per_epoch * (end_epoch - first_epoch) - skip,
        })
    }

    /// The learning rates of the schedule (`train.lr`, `train.schedule`, warm-up), from step
    /// `done_steps` on.
    fn lr_schedule(&self, train: &TrainConfig, done_steps: usize) -> LrSchedule {
        let warmup_steps = train.warmup_epochs * self.steps_per_epoch;
        let total_steps = self.total_steps;
        let mut schedule = match train.schedule {
            LrScheduleKind::Cosine => {
                LrSchedule::warmup_cosine(train.lr, warmup_steps, total_steps)
            }
            LrScheduleKind::Step => LrSchedule::warmup_multistep(
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
}

struct Resumed<M, O> {
    model: M,
    optimizer: O,
    state: CheckpointState,
    neighbours: Option<Arc<NeighbourCrops>>,
    last_checkpoint: Option<PathBuf>,
}

impl<M, O> Resumed<M, O> {
    fn start<B: AutodiffBackend>(model: M, optimizer: O) -> Self
    where
        M: Method<B>,
    {
        Self {
            model,
            optimizer,
            state: CheckpointState {
                method: M::NAME.to_string(),
                epoch: 0,
                step: 0,
                epoch_loss_sum: 0.0,
                skipped_steps: 0,
            },
            neighbours: None,
            last_checkpoint: None,
        }
    }
}

/// The run continued from the checkpoint `from`.
fn resume_from<B: AutodiffBackend, M: Method<B>, O: Optimizer<M, B>>(
    from: &std::path::Path,
    model: M,
    optimizer: O,
    images: usize,
    device: &B::Device,
) -> Result<Resumed<M, O>> {
    let (state, model, optimizer) = checkpoint::restore(from, M::NAME, model, optimizer, device)?;
    let neighbours = knn_crops::load(from, images)?.map(Arc::new);
    info!(checkpoint = %from.display(), epoch = state.epoch, step = state.step, "resumed");
    Ok(Resumed {
        model,
        optimizer,
        state,
        neighbours,
        last_checkpoint: Some(from.to_path_buf()),
    })
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
                .ok_or(TrainError::NoMemoryBank { method: M::NAME })?;
            knn_accuracy_on_bank(&bank, &sets.train, &sets.test, normalize, knn, device)
        }
    };
    Ok(Some(accuracy.map_err(TrainError::Knn)?))
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
        progress: format!("step {} (epoch {epoch})", state.step),
        checkpoint: checkpoint.clone().expect("written before stopping"),
        resume: format!("selfsup pretrain --resume {}", run.display()),
    }
}

/// The error a run stops with on a non-finite loss or gradient: where, what, and the last
/// checkpoint to resume from.
fn non_finite_stop(
    reason: &NonFinite,
    epoch: usize,
    step: usize,
    train: &TrainConfig,
    last_checkpoint: &Option<PathBuf>,
    run: &std::path::Path,
) -> TrainError {
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
    TrainError::NonFinite {
        reason: reason.clone(),
        epoch,
        step,
        skipping,
        resume,
    }
}
