//! The names a config chooses among: method, backend, dataset, backbone, precision.

use serde::{Deserialize, Serialize};

use crate::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    Simclr,
    Wcl,
    /// InstDisc: memory bank + NCE (Wu et al. 2018).
    #[cfg_attr(feature = "clap", value(name = "instdisc"))]
    #[serde(rename = "instdisc")]
    InstDisc,
    /// CMC: one encoder per Lab view (L, ab), contrasted across views (RGB data only).
    Cmc,
    /// MoCo v1/v2: key encoder by EMA, queue of negatives.
    Moco,
    /// BYOL: predictor on the online network, EMA target, no negatives.
    Byol,
    /// SimSiam: predictor, stop-gradient, no EMA and no negatives.
    Simsiam,
    /// Barlow Twins: cross-correlation of the two views' embeddings towards the identity.
    Barlow,
    /// SwAV: swapped prediction of Sinkhorn-Knopp codes over learned prototypes.
    Swav,
    /// Exemplar-CNN: each of N seed images is its own class, learned from its transformations.
    Exemplar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// Burn's flex CPU backend, multithreaded (always built).
    Cpu,
    /// WGPU: Vulkan, Metal or DX12 (build with `--features wgpu`).
    Wgpu,
    /// NVIDIA CUDA (build with `--features cuda`).
    Cuda,
}

/// Floating-point format of the training arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    F32,
    Bf16,
    F16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    FashionMnist,
    Mnist,
    Cifar10,
    Cifar100,
    /// `data.dir/train/<class>/<image>` and `data.dir/test/<class>/<image>`.
    Imagefolder,
    /// STL-10 binary version: 96x96 RGB, 5000 labelled training, 8000 test, 100000 unlabeled.
    Stl10,
    /// Every image file under `data.dir`, at any depth, unlabeled and unsplit; the kNN monitor
    /// and `selfsup eval` use the labelled set `[eval] dataset` names, if any.
    Images,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cifar100LabelKind {
    Fine,
    Coarse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackboneKind {
    Resnet18,
    Resnet34,
}

/// The name a config enum has in TOML (`DatasetKind::FashionMnist` -> `fashion_mnist`).
pub fn config_name(value: impl Serialize) -> Result<String, ConfigError> {
    match toml::Value::try_from(value) {
        Ok(toml::Value::String(name)) => Ok(name),
        other => Err(ConfigError::Parse {
            origin: "config".to_string(),
            message: format!("expected a name, got {other:?}"),
        }),
    }
}
