//! One evaluation on the backend the config names: kNN, linear probe or fine-tuning, scored
//! on the test set.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use selfsup_data::Dataset;
use selfsup_eval::{
    FinetuneConfig, FinetuneData, FinetuneError, LinearProbeConfig, argmax_rows, class_report,
    finetune, linear_probe, top_k_accuracy, tsne_2d,
};
use tracing::info;

use super::report::EvalReport;
use super::request::{EvalKind, EvalRequest};
use crate::backend::BackendJob;
use crate::config::{Config, config_name};
use crate::epoch_checkpoints::{Continuation, EpochCheckpoints, remove_old};
use crate::report::plots::embedding_png;
use crate::report::progress::EpochBar;
use crate::saved::{CLASSIFIER_FORMAT, load_encoder, load_head_layer};
use selfsup_distributed::TrackedCollective;
use selfsup_train::features::{CropFlipViews, encode, image_batch, labels};
use selfsup_train::methods::normalization;
use selfsup_train::run_dir::save_module;
use selfsup_train::run_inputs::knn_config;

pub(super) struct EvalJob<'a> {
    pub(super) config: &'a Config,
    pub(super) request: EvalRequest,
    pub(super) encoder_path: &'a Path,
    pub(super) train: &'a Dataset,
    pub(super) test: &'a Dataset,
    pub(super) subset: Option<&'a [usize]>,
    /// Fine-tuning from SimCLR v2's head layer: its file.
    pub(super) head_layer_path: Option<&'a Path>,
    /// Where the fine-tuned classifier goes.
    pub(super) model_path: PathBuf,
    /// Fine-tuning's checkpoint after each epoch (removed once the classifier is saved).
    pub(super) checkpoint_dir: PathBuf,
    pub(super) continuation: &'a Continuation,
    pub(super) embedding_path: PathBuf,
    pub(super) class_names: Vec<String>,
}

/// Test-set scores of one evaluation: top-1 / top-5 and the predicted classes.
struct Scored {
    top1: f64,
    top5: f64,
    predictions: Vec<u32>,
}

impl BackendJob for EvalJob<'_> {
    type Output = EvalReport;

    fn run<B: TrackedCollective>(
        self,
        device: B::Device,
        _device_name: &str,
    ) -> Result<EvalReport> {
        let config = self.config;
        let classes = self.train.num_classes.max(self.test.num_classes);
        let mut report = EvalReport {
            kind: self.request.kind,
            dataset: config_name(config.data.dataset)?,
            top1: 0.0,
            top5: 0.0,
            train_images: self.train.len(),
            test_images: self.test.len(),
            labels_fraction: self.request.labels,
            labelled_images: None,
            label_split: None,
            from_head_layer: None,
            model: None,
            train_top1: None,
            final_loss: None,
            epochs: None,
            class_names: self.class_names.clone(),
            per_class_top1: Vec::new(),
            confusion: Vec::new(),
            seconds: 0.0,
        };
        let scored = match self.request.kind {
            EvalKind::Knn | EvalKind::Linear => {
                let encoder = load_encoder::<B::InnerBackend>(
                    config,
                    self.train.channels,
                    self.encoder_path,
                    &device,
                )?;
                let normalize = normalization(config, self.train);
                let features =
                    |data: &Dataset| encode(|x| encoder.forward(x), data, &normalize, &device);
                let (train_features, test_features) = (features(self.train), features(self.test));
                self.embedding_plot(test_features.clone())?;
                if self.request.kind == EvalKind::Knn {
                    self.knn(train_features, test_features, classes)?
                } else {
                    self.linear::<B>(train_features, test_features, classes, &mut report)?
                }
            }
            EvalKind::Finetune => self.finetune::<B>(&device, classes, &mut report)?,
        };
        let classes_report = class_report(&scored.predictions, &self.test.labels, classes);
        report.top1 = scored.top1;
        report.top5 = scored.top5;
        report.per_class_top1 = classes_report.per_class_top1;
        report.confusion = classes_report.confusion;
        Ok(report)
    }
}

impl<'a> EvalJob<'a> {
    fn knn<B: Backend>(
        &self,
        train_features: Tensor<B, 2>,
        test_features: Tensor<B, 2>,
        classes: usize,
    ) -> Result<Scored> {
        let device = train_features.device();
        let index =
            selfsup_eval::KnnIndex::new(train_features, labels(self.train, &device), classes)?;
        let scores = index.class_scores(test_features, &knn_config(self.config))?;
        let accuracy = top_k_accuracy(scores.clone(), labels(self.test, &device));
        Ok(Scored {
            top1: accuracy.top1,
            top5: accuracy.top5,
            predictions: argmax_rows(scores),
        })
    }

    fn linear<B: AutodiffBackend>(
        &self,
        train_features: Tensor<B::InnerBackend, 2>,
        test_features: Tensor<B::InnerBackend, 2>,
        classes: usize,
        report: &mut EvalReport,
    ) -> Result<Scored> {
        let eval = &self.config.eval;
        info!("features computed once; training the linear classifier");
        let probe = LinearProbeConfig {
            epochs: eval.linear_epochs,
            batch_size: eval.linear_batch_size,
            lr: eval.linear_lr,
            momentum: 0.9,
            weight_decay: eval.linear_weight_decay,
            seed: self.config.seed,
        };
        let result = linear_probe::<B>(
            train_features,
            &self.train.labels,
            test_features,
            &self.test.labels,
            classes,
            &probe,
        )?;
        report.train_top1 = Some(result.train_top1);
        report.final_loss = Some(result.final_loss);
        report.epochs = Some(probe.epochs);
        Ok(Scored {
            top1: result.test.top1,
            top5: result.test.top5,
            predictions: result.test_predictions,
        })
    }

    fn finetune<B: AutodiffBackend>(
        &self,
        device: &B::Device,
        classes: usize,
        report: &mut EvalReport,
    ) -> Result<Scored> {
        let config = self.config;
        let eval = &config.eval;
        let subset = self.subset.context("fine-tuning without a label subset")?;
        let fraction = self.request.labels.unwrap_or(1.0);
        let epochs = match eval.finetune_epochs {
            0 if fraction <= 0.01 => 60,
            0 => 30,
            epochs => epochs,
        };
        let encoder = load_encoder::<B>(config, self.train.channels, self.encoder_path, device)?;
        let tail = match self.head_layer_path {
            Some(path) => Some(load_head_layer::<B>(
                config,
                self.train.channels,
                path,
                device,
            )?),
            None => None,
        };
        let normalize = normalization(config, self.train);
        let views = CropFlipViews::new(config, self.train, normalize.clone());
        let subset_labels: Vec<u32> = subset.iter().map(|&i| self.train.labels[i]).collect();
        let finetune_config = FinetuneConfig {
            epochs,
            batch_size: eval.finetune_batch_size,
            lr: eval.finetune_lr * eval.finetune_batch_size as f64 / 256.0,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.0,
            seed: config.seed,
        };
        info!(
            labelled = subset.len(),
            epochs,
            lr = finetune_config.lr,
            from_head_layer = tail.is_some(),
            "fine-tuning backbone and linear head"
        );
        let bar = EpochBar::new(
            "fine-tune",
            epochs,
            subset.len().div_ceil(eval.finetune_batch_size),
        );
        let train_batch = |positions: &[usize], epoch: usize| {
            let indices: Vec<usize> = positions.iter().map(|&p| subset[p]).collect();
            bar.batch(indices.len());
            views.batch::<B>(&indices, epoch, device)
        };
        let test = self.test;
        let test_batch = |range: std::ops::Range<usize>| {
            let indices: Vec<usize> = range.collect();
            image_batch::<B::InnerBackend>(test, &indices, &normalize, device)
        };
        let data = FinetuneData {
            train_labels: &subset_labels,
            train_batch,
            test_labels: &test.labels,
            test_batch,
            classes,
        };
        let mut hooks = self.checkpoints::<B>(&bar, &finetune_config, subset.len(), device);
        let result = match finetune(encoder, tail, data, &finetune_config, &mut hooks) {
            Ok(result) => result,
            Err(FinetuneError::Stopped { epoch }) => {
                bar.finish();
                return Err(hooks.stopped(epoch));
            }
            Err(other) => return Err(other.into()),
        };
        bar.finish();
        save_module(&self.model_path, CLASSIFIER_FORMAT, &result.model)?;
        remove_old(&self.checkpoint_dir).map_err(anyhow::Error::msg)?;
        info!(path = %self.model_path.display(), "fine-tuned classifier saved");
        report.final_loss = Some(result.final_loss);
        report.epochs = Some(epochs);
        report.from_head_layer = Some(self.head_layer_path.is_some());
        report.model = Some(self.model_path.clone());
        Ok(Scored {
            top1: result.test.top1,
            top5: result.test.top5,
            predictions: result.predictions,
        })
    }

    /// Fine-tuning's progress bar and checkpoints, with what a resume must match.
    fn checkpoints<B: AutodiffBackend>(
        &self,
        bar: &'a EpochBar,
        schedule: &FinetuneConfig,
        labelled: usize,
        device: &B::Device,
    ) -> EpochCheckpoints<'a, B> {
        EpochCheckpoints {
            bar,
            dir: self.checkpoint_dir.clone(),
            epochs: schedule.epochs,
            settings: serde_json::json!({
                "labelled_images": labelled,
                "from_head_layer": self.head_layer_path.is_some(),
                "epochs": schedule.epochs,
                "batch_size": schedule.batch_size,
                "lr": schedule.lr,
                "seed": schedule.seed,
            }),
            continuation: self.continuation,
            device: device.clone(),
        }
    }

    /// t-SNE of (up to `eval.embedding_points`, evenly spaced) test features, coloured by class.
    fn embedding_plot<B: Backend>(&self, test_features: Tensor<B, 2>) -> Result<()> {
        let wanted = self.config.eval.embedding_points.min(self.test.len());
        if wanted == 0 {
            return Ok(());
        }
        let [count, dim] = test_features.dims();
        let stride = count.div_ceil(wanted).max(1);
        let values: Vec<f32> = test_features
            .into_data()
            .convert::<f32>()
            .into_vec()
            .map_err(|e| anyhow::anyhow!("cannot read the test features: {e:?}"))?;
        let rows: Vec<Vec<f32>> = (0..count)
            .step_by(stride)
            .map(|i| values[i * dim..(i + 1) * dim].to_vec())
            .collect();
        let point_labels: Vec<u32> = (0..count)
            .step_by(stride)
            .map(|i| self.test.labels[i])
            .collect();
        let started = Instant::now();
        let points = match tsne_2d(&rows, 30.0, 1000, self.config.seed) {
            Ok(points) => points,
            Err(error) => {
                info!(%error, "no embedding plot");
                return Ok(());
            }
        };
        embedding_png(
            &self.embedding_path,
            &points,
            &point_labels,
            &self.class_names,
            &format!(
                "t-SNE of {} test features ({})",
                rows.len(),
                config_name(self.config.method)?
            ),
        )?;
        info!(path = %self.embedding_path.display(), seconds = started.elapsed().as_secs_f64(), "embedding plot written");
        Ok(())
    }
}
