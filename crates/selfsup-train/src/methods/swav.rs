use burn::module::{AutodiffModule, Module, Param, RunningState};
use burn::nn::LinearConfig;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::linalg::vector_normalize;
use burn::tensor::{ElementConversion, Tensor};
use selfsup_augment::GLOBAL_VIEWS;
use selfsup_backbones::{Encoder, ResNet};
use selfsup_heads::ProjectionMlp;
use selfsup_distributed::StepPeers;
use selfsup_losses::{OneDevice, SampleSpread, Sinkhorn, l2_normalize, swav_loss_with_queue};
use selfsup_memory::KeyQueue;

use super::{
    MethodSettings,
    DataInfo, Method, StepBatch, StepLoss, backbone_config, embed_by_resolution, projection_config,
};
use crate::{HostBackend, TrainError};
use crate::config::Config;
use selfsup_config::{ConfigError, invalid, positive, positive_int};
use serde::{Deserialize, Serialize};

/// SwAV: multi-crop views (global views batched together, local crops together),
/// L2-normalised projections scored against K prototypes (kept unit-norm after every
/// step), Sinkhorn-Knopp codes of each global crop predicted from every other crop, prototypes
/// frozen for the first `swav.freeze_prototypes_epochs` epochs. With `swav.queue_length > 0`,
/// from `swav.queue_start_epoch` on the projections of each global crop are queued, and once a
/// queue is full its scores join that crop's Sinkhorn-Knopp problem (the official code's
/// `use_the_queue`).
#[derive(Module, Debug)]
pub struct Swav<B: Backend> {
    backbone: ResNet<B>,
    projector: ProjectionMlp<B>,
    /// `[projection dim, K]`: one unit-norm prototype per column.
    prototypes: Param<Tensor<B, 2>>,
    temperature: f64,
    epsilon: f64,
    iterations: usize,
    freeze_steps: usize,
    local_crops: usize,
    /// One queue of earlier unit projections per global crop (empty: no queue).
    queues: Vec<KeyQueue<B>>,
    /// Rows written into each queue so far, up to its capacity: a queue is used once full.
    queued_rows: RunningState<Tensor<B, 1>>,
    queue_start_step: usize,
}

/// The global crops' projections of a step, to be queued after it.
pub struct SwavUpdate<B: Backend> {
    projections: Vec<Tensor<B, 2>>,
}

/// The prototypes with unit-norm columns, as a fresh trainable leaf (the normalisation itself is
/// not part of any gradient, as in the paper's `with torch.no_grad()`).
fn renormalised<B: AutodiffBackend>(w: Tensor<B, 2>) -> Tensor<B, 2> {
    Tensor::from_inner(vector_normalize(w.inner(), 2.0, 0, 1e-12)).require_grad()
}

impl<B: AutodiffBackend> Method<B> for Swav<B> {
    const NAME: &'static str = "swav";
    const TAKES_LOCAL_CROPS: bool = true;
    type OnHost = Swav<HostBackend>;
    type Update = Option<SwavUpdate<B>>;

    fn new(config: &Config, data: &DataInfo, device: &B::Device) -> Self {
        let backbone = backbone_config(config, data.channels);
        let steps_per_epoch = data.steps_per_epoch(config.train.batch_size);
        let queue_length = config.swav.queue_length;
        let queues = (0..GLOBAL_VIEWS * usize::from(queue_length > 0))
            .map(|_| {
                let empty = Tensor::zeros([queue_length, config.model.proj_output_dim], device);
                KeyQueue::from_state(empty, 0)
            })
            .collect();
        let prototypes = LinearConfig::new(config.model.proj_output_dim, config.swav.prototypes)
            .with_bias(false)
            .init::<B>(device)
            .weight
            .map(renormalised);
        Self {
            projector: projection_config(config, &backbone).init(device),
            backbone: backbone.init(device),
            prototypes,
            temperature: config.swav.temperature,
            epsilon: config.swav.epsilon,
            iterations: config.swav.sinkhorn_iterations,
            freeze_steps: config.swav.freeze_prototypes_epochs * steps_per_epoch,
            local_crops: config.augment.local_crops,
            queues,
            queued_rows: RunningState::new(Tensor::zeros([1], device)),
            queue_start_step: config.swav.queue_start_epoch * steps_per_epoch,
        }
    }

    /// Two global views and `augment.local_crops` local ones.
    fn num_views(&self) -> usize {
        GLOBAL_VIEWS + self.local_crops
    }

    fn loss(&self, batch: &StepBatch<B>) -> StepLoss<B, Self::Update> {
        let prototypes = if batch.step < self.freeze_steps {
            self.prototypes.val().detach()
        } else {
            self.prototypes.val()
        };
        let projections = embed_by_resolution(&batch.views, |images| {
            l2_normalize(self.projector.forward(self.backbone.forward(images)))
        });
        // Every peer holds the whole queue; its share of the Sinkhorn-Knopp problem takes its
        // slice of it, beside its share of the batch.
        let (rank, peers) = (batch.peers.rank(), batch.peers.world());
        let queued: Vec<Tensor<B, 2>> = if self.queue_is_full() {
            let prototypes = prototypes.clone().detach();
            self.queues
                .iter()
                .map(|queue| {
                    let share = queue.capacity() / peers;
                    let keys = queue.keys();
                    let keys = if peers == 1 { keys } else { keys.narrow(0, rank * share, share) };
                    keys.matmul(prototypes.clone())
                })
                .collect()
        } else {
            Vec::new()
        };
        let update =
            (!self.queues.is_empty() && batch.step >= self.queue_start_step).then(|| SwavUpdate {
                projections: projections[..GLOBAL_VIEWS]
                    .iter()
                    .map(|z| batch.peers.gather_detached(z.clone()))
                    .collect(),
            });
        let scores: Vec<Tensor<B, 2>> = projections
            .into_iter()
            .map(|z| z.matmul(prototypes.clone()))
            .collect();
        let spread = PeerSamples(&batch.peers);
        let sinkhorn = Sinkhorn {
            epsilon: self.epsilon,
            iterations: self.iterations,
            spread: if peers == 1 { &OneDevice } else { &spread },
        };
        let loss = swav_loss_with_queue(
            &scores,
            &queued,
            GLOBAL_VIEWS, // the crops whose codes are predicted (SwAV's crops_for_assign)
            self.temperature,
            &sinkhorn,
        );
        StepLoss::single("swapped_prediction", loss, update)
    }

    fn after_step(mut self, update: Self::Update) -> Self {
        self.prototypes = self.prototypes.map(renormalised);
        if let Some(update) = update {
            let batch = update.projections[0].dims()[0];
            for (queue, projections) in self.queues.iter_mut().zip(update.projections) {
                queue.enqueue(projections);
            }
            let capacity = self.queues[0].capacity();
            let rows = self.queued_rows.value().add_scalar(batch as f64);
            self.queued_rows = RunningState::new(rows.clamp_max(capacity as f64));
        }
        self
    }

    /// Each peer takes an equal slice of the queue.
    fn check_devices(config: &Config, devices: usize) -> Result<(), TrainError> {
        let queue_length = config.swav.queue_length;
        if !queue_length.is_multiple_of(devices) {
            return Err(TrainError::NotSplittable {
                key: "swav.queue_length",
                value: queue_length.to_string(),
                devices,
                needs: format!("a multiple of {devices} (each device takes an equal slice)"),
            });
        }
        Ok(())
    }

    fn encoder(&self) -> Encoder<B::InnerBackend> {
        Encoder::single(self.backbone.valid())
    }

    fn project(&self, images: Tensor<B::InnerBackend, 4>) -> Tensor<B::InnerBackend, 2> {
        self.projector
            .valid()
            .forward(self.backbone.valid().forward(images))
    }
}

impl<B: Backend> Swav<B> {
    /// Whether the queues hold `queue_length` real projections (before that their zero rows
    /// would distort the codes).
    fn queue_is_full(&self) -> bool {
        let Some(queue) = self.queues.first() else {
            return false;
        };
        let rows: f64 = self.queued_rows.value().into_scalar().elem();
        rows as usize >= queue.capacity()
    }
}

/// The samples of a Sinkhorn-Knopp problem spread over the peers of a data-parallel step.
struct PeerSamples<'a, B: Backend>(&'a StepPeers<B>);

impl<B: Backend> SampleSpread<B> for PeerSamples<'_, B> {
    fn peers(&self) -> usize {
        self.0.world()
    }

    fn sum(&self, x: Tensor<B, 1>) -> Tensor<B, 1> {
        self.0.sum(x)
    }

    fn max(&self, x: Tensor<B, 1>) -> Tensor<B, 1> {
        self.0.gather_detached(x.reshape([1, 1])).max()
    }
}

// Its settings: the `[swav]` section of the config, with defaults and checks.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwavConfig {
    /// K prototypes (3000 in the paper; solo-learn's CIFAR recipe too).
    pub prototypes: usize,
    /// tau of the softmax over prototype scores.
    pub temperature: f64,
    /// epsilon of the Sinkhorn-Knopp codes.
    pub epsilon: f64,
    pub sinkhorn_iterations: usize,
    /// Epochs during which the prototypes get no update (the paper: the first).
    pub freeze_prototypes_epochs: usize,
    /// Feature queue: projections of this many earlier global crops (per global crop) join
    /// each batch's Sinkhorn-Knopp problem once full; 0 = off (the paper's small-batch option).
    pub queue_length: usize,
    /// Epoch (0-based) from which the queue is filled (official code: 15).
    pub queue_start_epoch: usize,
}

impl Default for SwavConfig {
    fn default() -> Self {
        Self {
            prototypes: 3000,
            temperature: 0.1,
            epsilon: 0.05,
            sinkhorn_iterations: 3,
            freeze_prototypes_epochs: 1,
            queue_length: 0,
            queue_start_epoch: 15,
        }
    }
}

impl MethodSettings for SwavConfig {
    fn validate(&self, config: &Config) -> Result<(), ConfigError> {
        positive_int("swav.prototypes", self.prototypes)?;
        positive("swav.temperature", self.temperature)?;
        positive("swav.epsilon", self.epsilon)?;
        positive_int("swav.sinkhorn_iterations", self.sinkhorn_iterations)?;
        let epochs = config.train.epochs;
        if self.queue_length > 0 && self.queue_start_epoch >= epochs {
            return Err(invalid(
                "swav.queue_start_epoch",
                self.queue_start_epoch,
                &format!(
                    "below train.epochs = {epochs} (or swav.queue_length = 0): the queue would never be used"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};

    use super::*;
    use crate::methods::init_portable;
    use crate::methods::test_support::Draws;

    type B = Autodiff<Flex>;

    fn tiny() -> Swav<B> {
        tiny_with("")
    }

    fn tiny_with(swav_keys: &str) -> Swav<B> {
        let text = format!(
            "method = \"swav\"\n[model]\nwidth = 2\nproj_output_dim = 8\n\
             [train]\nepochs = 3\nbatch_size = 4\nwarmup_epochs = 0\n\
             [swav]\nprototypes = 5\n{swav_keys}"
        );
        let config = Config::from_toml(&text, "test", &[]).unwrap();
        let data = DataInfo {
            channels: 1,
            train_len: 8,
        };
        init_portable::<B, Swav<B>>(&config, &data, &Default::default()).unwrap()
    }

    fn column_norms(swav: &Swav<B>) -> Vec<f32> {
        swav.prototypes
            .val()
            .powi_scalar(2)
            .sum_dim(0)
            .sqrt()
            .into_data()
            .into_vec::<f32>()
            .unwrap()
    }

    fn batch(step: usize) -> StepBatch<B> {
        let draws = Draws::new(step as u64);
        let view = || draws.uniform::<B, 4>([4, 1, 8, 8]);
        let mut batch = StepBatch::first(vec![view(), view()], 0);
        batch.step = step;
        batch
    }

    #[test]
    fn prototypes_are_frozen_for_the_first_epoch_and_unit_norm_after_each_step() {
        let swav = tiny();
        assert_eq!(
            swav.freeze_steps, 2,
            "one epoch of 8 images in batches of 4"
        );
        assert!(column_norms(&swav).iter().all(|n| (n - 1.0).abs() < 1e-5));
        let frozen = swav.loss(&batch(1)).total.backward();
        assert!(swav.prototypes.val().grad(&frozen).is_none());
        let learning = swav.loss(&batch(2)).total.backward();
        assert!(swav.prototypes.val().grad(&learning).is_some());

        // A step that moves the prototypes off the sphere is followed by renormalisation.
        let mut moved = swav;
        moved.prototypes = moved
            .prototypes
            .map(|w| Tensor::from_inner(w.inner() * 3.0).require_grad());
        let renormalised = moved.after_step(None);
        assert!(
            column_norms(&renormalised)
                .iter()
                .all(|n| (n - 1.0).abs() < 1e-5)
        );
        assert!(renormalised.prototypes.val().is_require_grad());
    }

    #[test]
    fn the_queue_fills_from_its_start_epoch_and_joins_the_codes_once_full() {
        // Two steps per epoch; queued from step 2; 8 rows = two batches of 4.
        let mut swav = tiny_with("queue_length = 8\nqueue_start_epoch = 1\n");
        assert_eq!(swav.queues.len(), 2);
        assert!(
            swav.loss(&batch(1)).update.is_none(),
            "not before its epoch"
        );
        for step in [2, 3] {
            assert!(!swav.queue_is_full());
            let update = swav.loss(&batch(step)).update;
            assert!(update.is_some());
            swav = swav.after_step(update);
        }
        assert!(swav.queue_is_full());
        let keys = swav.queues[0].keys();
        let norms = keys
            .powi_scalar(2)
            .sum_dim(1)
            .into_data()
            .into_vec::<f32>()
            .unwrap();
        assert!(
            norms.iter().all(|n| (n - 1.0).abs() < 1e-4),
            "unit projections: {norms:?}"
        );
        let fixed = batch(4);
        let with_queue = swav.loss(&fixed).total.into_scalar();
        let mut unused = swav.clone();
        unused.queued_rows = RunningState::new(Tensor::zeros([1], &Default::default()));
        let without_queue = unused.loss(&fixed).total.into_scalar();
        assert!(
            (with_queue - without_queue).abs() > 1e-4,
            "the queue changes the codes: {with_queue} vs {without_queue}"
        );
    }

    #[test]
    fn local_crops_go_through_the_backbone_with_their_own_resolution() {
        let mut swav = tiny();
        swav.local_crops = 2;
        assert_eq!(Method::<B>::num_views(&swav), 4);
        let draws = Draws::new(0);
        let view = |side| draws.uniform::<B, 4>([4, 1, side, side]);
        let views = vec![view(8), view(8), view(4), view(4)];
        let grouped = embed_by_resolution(&views, |x| {
            x.clone().sum_dim(3).sum_dim(2).reshape([x.dims()[0], 1])
        });
        assert_eq!(grouped.len(), 4);
        for (embedded, view) in grouped.iter().zip(&views) {
            let alone = view.clone().sum_dim(3).sum_dim(2).reshape([4, 1]);
            embedded
                .clone()
                .into_data()
                .assert_approx_eq::<f32>(&alone.into_data(), Default::default());
        }
        let loss = swav.loss(&StepBatch::first(views, 0)).total.into_scalar();
        assert!(loss.is_finite());
    }
}
