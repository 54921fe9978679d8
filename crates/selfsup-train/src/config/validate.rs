//! The checks of the general sections and of every method's keys.

use crate::methods;

use super::{
    BackendKind, BatchDtype, CHANNELS_EXPECTED, Config, ConfigError, CropFrom, DatasetKind,
    KnnFeatures, MethodKind, Precision, StorageKind, channels_of, invalid, non_negative, positive,
    positive_int,
};

impl Config {
    /// Every check, in the order their errors are reported: the general sections first, then
    /// the methods' and the views'.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_train()?;
        self.validate_device()?;
        self.validate_model_and_data()?;
        self.validate_eval_set()?;
        self.validate_normalisation()?;
        self.validate_evaluation()?;
        self.validate_augment_warmup()?;
        positive("train.lars_eta", self.train.lars_eta)?;
        self.validate_method_sections()?;
        self.validate_method_rules()?;
        positive_int("checkpoint.keep", self.checkpoint.keep)?;
        self.augment.validate().map_err(|e| ConfigError::Invalid {
            key: format!("augment.{}", e.field),
            value: e.value,
            expected: e.expected.trim_start_matches("expected ").to_string(),
        })?;
        Ok(())
    }

    fn validate_train(&self) -> Result<(), ConfigError> {
        let t = &self.train;
        positive_int("train.epochs", t.epochs)?;
        if t.batch_size < 2 {
            return Err(invalid(
                "train.batch_size",
                t.batch_size,
                "at least 2 (a contrastive loss needs negatives in the batch)",
            ));
        }
        positive("train.lr", t.lr)?;
        if !(0.0..1.0).contains(&t.momentum) {
            return Err(invalid("train.momentum", t.momentum, "a value in [0, 1)"));
        }
        non_negative("train.weight_decay", t.weight_decay)?;
        if t.warmup_epochs >= t.epochs && t.warmup_epochs > 0 {
            return Err(invalid(
                "train.warmup_epochs",
                t.warmup_epochs,
                &format!("fewer than train.epochs = {}", t.epochs),
            ));
        }
        if t.precision != Precision::F32 {
            return Err(invalid(
                "train.precision",
                format!("{:?}", t.precision).to_lowercase(),
                "\"f32\" (half precision is not offered: Burn 0.21 has no mixed precision and no \
                 half-precision run has been shown to reach f32's kNN accuracy; see docs/benchmarks.md)",
            ));
        }
        let mut previous = 0.0;
        for &milestone in &t.step_milestones {
            if !(milestone > previous && milestone < 1.0) {
                return Err(invalid(
                    "train.step_milestones",
                    format!("{:?}", t.step_milestones),
                    "increasing fractions of training in (0, 1), e.g. [0.6, 0.8]",
                ));
            }
            previous = milestone;
        }
        Ok(())
    }

    fn validate_device(&self) -> Result<(), ConfigError> {
        if self.backend == BackendKind::Cpu
            && let Some(device) = self.device
            && device != 0
        {
            return Err(invalid(
                "device",
                device,
                "0 or unset with backend = \"cpu\" (the CPU backend has one device)",
            ));
        }
        Ok(())
    }

    fn validate_model_and_data(&self) -> Result<(), ConfigError> {
        let t = &self.train;
        positive_int("model.width", self.model.width)?;
        positive_int("model.proj_output_dim", self.model.proj_output_dim)?;
        if let Some(hidden) = self.model.proj_hidden_dim {
            positive_int("model.proj_hidden_dim", hidden)?;
        }
        if let Some(limit) = self.data.train_limit
            && limit < t.batch_size
        {
            return Err(invalid(
                "data.train_limit",
                limit,
                &format!("at least train.batch_size = {} images", t.batch_size),
            ));
        }
        if let Some(limit) = self.data.test_limit {
            positive_int("data.test_limit", limit)?;
        }
        positive_int("data.image_size", self.data.image_size)?;
        if self.data.classes.is_some() && self.data.dataset != DatasetKind::Imagefolder {
            return Err(invalid(
                "data.classes",
                "a class list",
                "unset unless data.dataset = \"imagefolder\"",
            ));
        }
        if self.data.crop_from == CropFrom::Original
            && !(matches!(
                self.data.dataset,
                DatasetKind::Imagefolder | DatasetKind::Images
            ) && self.data.storage == StorageKind::Disk)
        {
            return Err(invalid(
                "data.crop_from",
                "\"original\"",
                "\"resized\" unless data.dataset is \"imagefolder\" or \"images\" with \
                 data.storage = \"disk\" (the photos are decoded whole as the views need them)",
            ));
        }
        if self.data.batch_dtype == BatchDtype::U8 && self.method == MethodKind::Cmc {
            return Err(invalid(
                "data.batch_dtype",
                "\"u8\"",
                "\"f32\" with method = \"cmc\" (its Lab views are converted from the unrounded \
                 RGB on the CPU)",
            ));
        }
        if !(1..=4).contains(&self.data.channels) {
            return Err(invalid(
                "data.channels",
                self.data.channels,
                CHANNELS_EXPECTED,
            ));
        }
        Ok(())
    }

    /// `[eval]`'s and `[distill]`'s numbers.
    fn validate_evaluation(&self) -> Result<(), ConfigError> {
        positive_int("eval.knn_k", self.eval.knn_k)?;
        positive("eval.knn_temperature", self.eval.knn_temperature)?;
        positive_int("eval.knn_chunk_size", self.eval.knn_chunk_size)?;
        positive_int("eval.linear_epochs", self.eval.linear_epochs)?;
        positive_int("eval.linear_batch_size", self.eval.linear_batch_size)?;
        positive("eval.linear_lr", self.eval.linear_lr)?;
        positive_int("eval.finetune_batch_size", self.eval.finetune_batch_size)?;
        positive("eval.finetune_lr", self.eval.finetune_lr)?;
        non_negative("eval.linear_weight_decay", self.eval.linear_weight_decay)?;
        positive_int("distill.epochs", self.distill.epochs)?;
        positive_int("distill.batch_size", self.distill.batch_size)?;
        positive("distill.lr", self.distill.lr)?;
        positive("distill.temperature", self.distill.temperature)?;
        non_negative("distill.weight_decay", self.distill.weight_decay)?;
        Ok(())
    }
}

impl Config {
    fn validate_normalisation(&self) -> Result<(), ConfigError> {
        let channels = self.image_channels();
        for (key, values) in [("data.mean", &self.data.mean), ("data.std", &self.data.std)] {
            let Some(values) = values else { continue };
            let positive = key == "data.std";
            let fits = values.len() == channels
                && values
                    .iter()
                    .all(|v| v.is_finite() && (!positive || *v > 0.0));
            if !fits {
                let what = if positive { "positive" } else { "finite" };
                return Err(invalid(
                    key,
                    format!("{values:?}"),
                    &format!("{channels} {what} value(s), one per image channel"),
                ));
            }
        }
        if self.data.mean.is_some() != self.data.std.is_some() {
            return Err(invalid(
                "data.std",
                format!("{:?}", self.data.std),
                "set together with data.mean (or neither)",
            ));
        }
        Ok(())
    }

    fn validate_eval_set(&self) -> Result<(), ConfigError> {
        let eval = &self.eval;
        if let Some(size) = eval.image_size {
            positive_int("eval.image_size", size)?;
        }
        if let Some(channels) = eval.channels
            && !(1..=4).contains(&channels)
        {
            return Err(invalid("eval.channels", channels, CHANNELS_EXPECTED));
        }
        let Some(kind) = eval.dataset else {
            if let Some(dir) = &eval.dir {
                return Err(invalid(
                    "eval.dir",
                    dir.display(),
                    "set together with eval.dataset (the kind of labelled set it holds)",
                ));
            }
            return Ok(());
        };
        if kind == DatasetKind::Images {
            return Err(invalid(
                "eval.dataset",
                "images",
                "a labelled kind: fashion_mnist, mnist, cifar10, cifar100, stl10 or imagefolder",
            ));
        }
        let labelled = self.labelled_data().expect("eval.dataset is set");
        let (trained, evaluated) = (self.image_channels(), channels_of(&labelled));
        if trained != evaluated {
            return Err(invalid(
                "eval.dataset",
                format!("{kind:?} ({evaluated} channels)").to_lowercase(),
                &format!(
                    "images with the {trained} channel(s) the encoder is trained on (set \
                     eval.channels for an image folder, or data.channels)"
                ),
            ));
        }
        if eval.knn_features == KnnFeatures::MemoryBank {
            return Err(invalid(
                "eval.knn_features",
                "memory_bank",
                "\"backbone\" with a separate evaluation set (the memory bank holds the \
                 pretraining images, not the evaluation set's)",
            ));
        }
        Ok(())
    }

    /// What the running method allows of the general sections.
    fn validate_method_rules(&self) -> Result<(), ConfigError> {
        let hooks = methods::hooks(self.method);
        if self.augment.local_crops > 0 && !hooks.takes_local_crops {
            return Err(invalid(
                "augment.local_crops",
                self.augment.local_crops,
                &format!(
                    "0 for this method (multi-crop is used by {})",
                    names_where(|hooks| hooks.takes_local_crops)
                ),
            ));
        }
        if self.eval.knn_features == KnnFeatures::MemoryBank && !hooks.knn_on_bank {
            return Err(invalid(
                "eval.knn_features",
                "\"memory_bank\"",
                &format!(
                    "\"backbone\" (only {} keeps one bank entry per training image in the backbone's head space)",
                    names_where(|hooks| hooks.knn_on_bank)
                ),
            ));
        }
        Ok(())
    }
}

/// The names of the methods whose hooks pass `test`, as "swav and wcl".
fn names_where(test: impl Fn(&methods::MethodHooks) -> bool) -> String {
    let names: Vec<&str> = MethodKind::ALL
        .iter()
        .filter(|&&kind| test(&methods::hooks(kind)))
        .map(|kind| kind.name())
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.concat(),
    }
}
