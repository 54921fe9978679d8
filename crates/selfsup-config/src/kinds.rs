//! The names a config chooses among: backend, dataset, backbone, precision (the methods' names
//! are selfsup-train's registry).

use serde::{Deserialize, Serialize};

use crate::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Bottleneck blocks: features of 32 x `model.width` (2048 for the standard network).
    Resnet50,
}

/// The ResNet's first layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StemKind {
    /// 3x3 stride-1 convolution, no max-pool: for images of 28-96 pixels (CIFAR's ResNets).
    Small,
    /// ImageNet's 7x7 stride-2 convolution and 3x3 stride-2 max-pool: for 224-pixel images.
    Imagenet,
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
