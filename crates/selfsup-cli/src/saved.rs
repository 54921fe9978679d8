//! Reading back what runs and evaluations saved: a finished run's config and encoder, SimCLR
//! v2's head layer, a fine-tuned classifier.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::backend::Backend;
use selfsup_backbones::Encoder;
use selfsup_heads::MlpLayer;

use crate::config::Config;
use selfsup_train::methods::{encoder_parts, head_layer_shape};
use selfsup_train::run_dir::{CONFIG_FILE, ENCODER_FILE};

/// A finished run's config (with `overrides`) and the path of its encoder, which must exist.
pub(crate) fn finished_run(run: &Path, overrides: &[String]) -> Result<(Config, PathBuf)> {
    let config = Config::load(&run.join(CONFIG_FILE), overrides)?;
    let encoder_path = run.join(ENCODER_FILE);
    if !encoder_path.exists() {
        bail!(
            "{}: no encoder (a run writes it when it finishes; resume an unfinished run first)",
            encoder_path.display()
        );
    }
    Ok((config, encoder_path))
}

/// The `format` metadata of a fine-tuned classifier's file.
pub(crate) const CLASSIFIER_FORMAT: &str = "selfsup-classifier";

/// SimCLR v2's first head layer of the run, as saved in `path`.
pub(crate) fn load_head_layer<B: Backend>(
    config: &Config,
    channels: usize,
    path: &Path,
    device: &B::Device,
) -> Result<MlpLayer<B>> {
    let (input, output) = head_layer_shape(config, channels);
    load_into(
        MlpLayer::hidden(input, output, device),
        path,
        "the head layer",
    )
}

/// `module` with every tensor of the safetensors file `path` applied; `what` names it in errors.
pub(crate) fn load_into<B: Backend, M: ModuleSnapshot<B>>(
    mut module: M,
    path: &Path,
    what: &str,
) -> Result<M> {
    apply_store(
        &mut module,
        SafetensorsStore::from_file(path),
        path,
        what,
        "",
    )?;
    Ok(module)
}

/// Applies every tensor `store` reads from `path` to `module`. `what` names the module in
/// errors, `hint` the config keys its shape follows.
fn apply_store<B: Backend, M: ModuleSnapshot<B>>(
    module: &mut M,
    mut store: SafetensorsStore,
    path: &Path,
    what: &str,
    hint: &str,
) -> Result<()> {
    let applied = module.load_from(&mut store).map_err(|e| {
        let summary = e.to_string();
        anyhow::anyhow!(
            "{}: does not hold {what} of this run's config{hint}: {}",
            path.display(),
            summary.lines().next().unwrap_or_default().trim()
        )
    })?;
    if !applied.errors.is_empty() {
        bail!(
            "{}: cannot load {what}: {:?}",
            path.display(),
            applied.errors
        );
    }
    Ok(())
}

/// A new encoder of the run's architecture (weights to be loaded).
pub(crate) fn init_encoder<B: Backend>(
    config: &Config,
    channels: usize,
    device: &B::Device,
) -> Encoder<B> {
    let parts = encoder_parts(config, channels)
        .iter()
        .map(|part| part.init(device))
        .collect();
    Encoder::channel_groups(parts)
}

/// The run's encoder, with every tensor of the saved file applied (`valid()` it for inference
/// on an autodiff backend).
pub(crate) fn load_encoder<B: Backend>(
    config: &Config,
    channels: usize,
    path: &Path,
    device: &B::Device,
) -> Result<Encoder<B>> {
    let mut encoder = init_encoder(config, channels, device);
    let (what, hint) = ("the encoder", " (method, model.width, channels)");
    let loaded = apply_store(
        &mut encoder,
        SafetensorsStore::from_file(path),
        path,
        what,
        hint,
    );
    if loaded.is_err() && encoder.parts().len() == 1 {
        // Runs from before CMC saved their single ResNet without the `parts.0.` prefix.
        let legacy = SafetensorsStore::from_file(path).with_key_remapping("^", "parts.0.");
        if apply_store(&mut encoder, legacy, path, what, hint).is_ok() {
            return Ok(encoder);
        }
    }
    loaded.map(|()| encoder)
}
