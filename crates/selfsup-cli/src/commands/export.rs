//! `selfsup export --checkpoint RUN_DIR --format safetensors`: the backbone under torchvision's
//! ResNet parameter names and layout, so PyTorch users load it into
//! `torchvision.models.resnet18` (small stem swapped in, `fc` replaced by `Identity`) with
//! `strict=True`. Written with the `safetensors` crate rather than Burn's store because
//! torchvision's state dict also holds each batch norm's `num_batches_tracked` (an int64
//! scalar) that no Burn module has.

use clap::Args;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::backend::Flex;
use burn::store::ModuleSnapshot;
use safetensors::tensor::{Dtype, TensorView};

use crate::config::config_name;
use crate::saved::{finished_run, load_encoder};
use crate::torchvision::torchvision_name;
use selfsup_train::methods::backbone_config;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The run directory (its config.toml and encoder.safetensors are read).
    #[arg(long, value_name = "RUN_DIR")]
    pub checkpoint: PathBuf,
    #[arg(long, value_enum, default_value = "safetensors")]
    pub format: ExportFormat,
    /// Output file [default: RUN_DIR/export/<backbone>.safetensors].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `selfsup export`: the encoder under torchvision's names.
pub(crate) fn export_command(args: ExportArgs) -> Result<()> {
    let (path, tensors) = export(&args.checkpoint, args.format, args.out)?;
    println!(
        "{tensors} tensors with torchvision ResNet names written to {}",
        path.display()
    );
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// torchvision-named safetensors (load with safetensors.torch.load_file).
    Safetensors,
}

/// One tensor of the export: name, shape and little-endian bytes.
struct Exported {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// Writes the run's backbone as torchvision-named safetensors to `out` (default
/// `RUN_DIR/export/<backbone>.safetensors`); returns the path and the tensor count.
pub fn export(run: &Path, format: ExportFormat, out: Option<PathBuf>) -> Result<(PathBuf, usize)> {
    let ExportFormat::Safetensors = format;
    let (config, encoder_path) = finished_run(run, &[])?;
    let channels = config.image_channels();
    let encoder = load_encoder::<Flex>(&config, channels, &encoder_path, &Default::default())?;
    if encoder.parts().len() != 1 {
        bail!(
            "method = \"{}\" has {} backbones (one per colour channel group); torchvision's ResNet holds one",
            config_name(config.method)?,
            encoder.parts().len()
        );
    }
    let backbone = &encoder.parts()[0];
    let tensors = torchvision_tensors(
        backbone,
        backbone_config(&config, backbone.in_channels()).blocks,
    )?;
    let backbone = config_name(config.model.backbone)?;
    let path = out.unwrap_or_else(|| run.join("export").join(format!("{backbone}.safetensors")));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("{}: cannot create", parent.display()))?;
    }
    let views = tensors
        .iter()
        .map(|t| {
            TensorView::new(t.dtype, t.shape.clone(), &t.bytes)
                .map(|view| (t.name.clone(), view))
                .with_context(|| format!("tensor {}", t.name))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = [
        ("format".to_string(), "pt".to_string()),
        ("selfsup_method".to_string(), config_name(config.method)?),
        ("selfsup_width".to_string(), config.model.width.to_string()),
    ]
    .into_iter()
    .collect();
    safetensors::serialize_to_file(views, Some(metadata), &path)
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok((path, tensors.len()))
}

/// Every backbone tensor under its torchvision name, plus the `num_batches_tracked` counters
/// torchvision keeps per batch norm (0: PyTorch reads them only with momentum=None).
fn torchvision_tensors(
    backbone: &selfsup_backbones::ResNet<Flex>,
    blocks: [usize; 4],
) -> Result<Vec<Exported>> {
    let mut tensors = Vec::new();
    for snapshot in backbone.collect(None, None, true) {
        let path = snapshot.full_path();
        let name = torchvision_name(&path, blocks)
            .with_context(|| format!("{path}: no torchvision name for this tensor"))?;
        let data = snapshot
            .to_data()
            .map_err(|e| anyhow::anyhow!("{path}: cannot read: {e:?}"))?
            .convert::<f32>();
        let values: Vec<f32> = data
            .to_vec()
            .map_err(|e| anyhow::anyhow!("{path}: cannot read: {e:?}"))?;
        if name.ends_with(".running_var") {
            let counter = name.replace(".running_var", ".num_batches_tracked");
            tensors.push(Exported {
                name: counter,
                dtype: Dtype::I64,
                shape: Vec::new(),
                bytes: 0i64.to_le_bytes().to_vec(),
            });
        }
        tensors.push(Exported {
            name,
            dtype: Dtype::F32,
            shape: data.shape.to_vec(),
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
    }
    Ok(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The manifests are torchvision's own state dicts (tests/fixtures/make_torchvision_manifest.py):
    /// every key with its shape and dtype, `fc = Identity`.
    #[test]
    fn resnet18_with_the_small_stem_exports_torchvision_state_dict_keys_and_shapes() {
        let backbone = selfsup_backbones::ResNetConfig::resnet18()
            .with_width(64)
            .with_in_channels(3)
            .with_stem(selfsup_backbones::Stem::Small)
            .init::<Flex>(&Default::default());
        assert_matches_manifest(
            &backbone,
            [2, 2, 2, 2],
            include_str!("../../tests/fixtures/torchvision_resnet18_small_stem.json"),
        );
    }

    #[test]
    fn resnet50_exports_torchvision_state_dict_keys_and_shapes() {
        let backbone = selfsup_backbones::ResNetConfig::resnet50()
            .with_width(64)
            .with_in_channels(3)
            .with_stem(selfsup_backbones::Stem::ImageNet)
            .init::<Flex>(&Default::default());
        assert_matches_manifest(
            &backbone,
            [3, 4, 6, 3],
            include_str!("../../tests/fixtures/torchvision_resnet50.json"),
        );
    }

    fn assert_matches_manifest(
        backbone: &selfsup_backbones::ResNet<Flex>,
        blocks: [usize; 4],
        manifest: &str,
    ) {
        let manifest: serde_json::Value = serde_json::from_str(manifest).unwrap();
        let expected = manifest["tensors"].as_object().unwrap();
        let exported = torchvision_tensors(backbone, blocks).unwrap();
        assert_eq!(exported.len(), expected.len(), "tensor count");
        for tensor in &exported {
            let entry = expected
                .get(&tensor.name)
                .unwrap_or_else(|| panic!("{} is not in torchvision's state dict", tensor.name));
            let shape: Vec<usize> = entry["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(tensor.shape, shape, "{}", tensor.name);
            let dtype = match tensor.dtype {
                Dtype::F32 => "float32",
                Dtype::I64 => "int64",
                other => panic!("unexpected dtype {other:?}"),
            };
            assert_eq!(entry["dtype"], dtype, "{}", tensor.name);
            let elements: usize = shape.iter().product();
            assert_eq!(
                tensor.bytes.len(),
                elements * 8 / if dtype == "int64" { 1 } else { 2 }
            );
        }
    }
}
