//! Parsers for the names a config uses (methods, backends, backbones, stems) on the command line, with each
//! name's line in `--help`: the config crates stay free of clap.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use serde::de::DeserializeOwned;

use crate::config::{BackboneKind, BackendKind, MethodKind, StemKind};

/// `--methods simclr,wcl`: the registry's names.
pub fn method_parser() -> impl TypedValueParser<Value = MethodKind> {
    let names = MethodKind::ALL
        .iter()
        .map(|kind| PossibleValue::new(kind.name()).help(kind.about()));
    PossibleValuesParser::new(names).map(|name| name.parse().expect("a listed method name"))
}

/// `--backend cpu|wgpu|cuda`.
pub fn backend_parser() -> impl TypedValueParser<Value = BackendKind> {
    config_names([
        (
            "cpu",
            "Burn's flex CPU backend, multithreaded (always built)",
        ),
        (
            "wgpu",
            "WGPU: Vulkan, Metal or DX12 (build with `--features wgpu`)",
        ),
        ("cuda", "NVIDIA CUDA (build with `--features cuda`)"),
    ])
}

/// `--arch resnet18|resnet34|resnet50`.
pub fn backbone_parser() -> impl TypedValueParser<Value = BackboneKind> {
    config_names([
        (
            "resnet18",
            "basic blocks [2, 2, 2, 2], features of 8 x width",
        ),
        (
            "resnet34",
            "basic blocks [3, 4, 6, 3], features of 8 x width",
        ),
        (
            "resnet50",
            "bottleneck blocks [3, 4, 6, 3], features of 32 x width",
        ),
    ])
}

/// `--stem small|imagenet`.
pub fn stem_parser() -> impl TypedValueParser<Value = StemKind> {
    config_names([
        ("small", "3x3 convolution, stride 1, no max-pool"),
        (
            "imagenet",
            "7x7 convolution, stride 2, and a 3x3 stride-2 max-pool",
        ),
    ])
}

/// A parser of the config names `names` lists, each with its line of help.
fn config_names<T: DeserializeOwned + Clone + Send + Sync + 'static, const N: usize>(
    names: [(&'static str, &'static str); N],
) -> impl TypedValueParser<Value = T> {
    let values = names.map(|(name, help)| PossibleValue::new(name).help(help));
    PossibleValuesParser::new(values).map(|name| by_config_name(&name))
}

/// The value a config names `name` (`"fashion_mnist"` -> `DatasetKind::FashionMnist`).
fn by_config_name<T: DeserializeOwned>(name: &str) -> T {
    toml::Value::String(name.to_string())
        .try_into()
        .expect("a listed name")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::config_name;

    #[test]
    fn every_backend_name_parses_to_the_backend_of_that_name() {
        for kind in [BackendKind::Cpu, BackendKind::Wgpu, BackendKind::Cuda] {
            let name = config_name(kind).unwrap();
            assert_eq!(by_config_name::<BackendKind>(&name), kind);
        }
    }

    #[test]
    fn every_backbone_and_stem_name_parses_to_its_value() {
        for kind in [
            BackboneKind::Resnet18,
            BackboneKind::Resnet34,
            BackboneKind::Resnet50,
        ] {
            assert_eq!(
                by_config_name::<BackboneKind>(&config_name(kind).unwrap()),
                kind
            );
        }
        for kind in [StemKind::Small, StemKind::Imagenet] {
            assert_eq!(
                by_config_name::<StemKind>(&config_name(kind).unwrap()),
                kind
            );
        }
    }

    #[test]
    fn every_method_name_parses_back_to_its_method() {
        for &kind in MethodKind::ALL {
            assert_eq!(kind.name().parse::<MethodKind>(), Ok(kind));
            assert_eq!(config_name(kind).unwrap(), kind.name());
        }
    }
}
