//! Parsers for the names a config uses (methods, backends) on the command line, with each
//! name's line in `--help`: the config crates stay free of clap.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use serde::de::DeserializeOwned;

use crate::config::{BackendKind, MethodKind};

/// `--methods simclr,wcl`: the registry's names.
pub fn method_parser() -> impl TypedValueParser<Value = MethodKind> {
    let names = MethodKind::ALL
        .iter()
        .map(|kind| PossibleValue::new(kind.name()).help(kind.about()));
    PossibleValuesParser::new(names).map(|name| name.parse().expect("a listed method name"))
}

/// `--backend cpu|wgpu|cuda`.
pub fn backend_parser() -> impl TypedValueParser<Value = BackendKind> {
    let names = [
        (
            "cpu",
            "Burn's flex CPU backend, multithreaded (always built)",
        ),
        (
            "wgpu",
            "WGPU: Vulkan, Metal or DX12 (build with `--features wgpu`)",
        ),
        ("cuda", "NVIDIA CUDA (build with `--features cuda`)"),
    ]
    .map(|(name, help)| PossibleValue::new(name).help(help));
    PossibleValuesParser::new(names).map(|name| by_config_name(&name))
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
    fn every_method_name_parses_back_to_its_method() {
        for &kind in MethodKind::ALL {
            assert_eq!(kind.name().parse::<MethodKind>(), Ok(kind));
            assert_eq!(config_name(kind).unwrap(), kind.name());
        }
    }
}
