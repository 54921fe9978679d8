//! `selfsup import --format torchvision --arch resnet50 FILE --out RUN_DIR`: a PyTorch ResNet's
//! state dict, saved with safetensors, becomes a run directory (config.toml and
//! encoder.safetensors) that `selfsup eval`, `neighbours`, `embed`, `export` and `distill`
//! accept, so any PyTorch-pretrained encoder is measured with the same evaluation suite. Every
//! tensor of the architecture must be in the file with its torchvision name and shape; the
//! classifier (`fc.*`) and the batch norms' `num_batches_tracked` counters are left out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::backend::Flex;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use clap::Args;
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};
use selfsup_backbones::Encoder;
use selfsup_train::methods::backbone_config;
use selfsup_train::run_dir::{CONFIG_FILE, ENCODER_FILE, save_module};
use tracing::info;

use crate::config::{BackboneKind, Config, StemKind, config_name};
use crate::names::{backbone_parser, stem_parser};
use crate::saved::init_encoder;
use crate::torchvision::torchvision_name;

/// What torchvision's `transforms.Normalize` uses for its ImageNet weights: the normalisation
/// an imported 3-channel encoder gets unless the config names its own.
const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The state dict, saved with safetensors: `safetensors.torch.save_file(model.state_dict(),
    /// FILE)` (docs/export.md shows the conversion of a MoCo or SimCLR checkpoint).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[arg(long, value_enum, default_value = "torchvision")]
    pub format: ImportFormat,
    /// The architecture the state dict belongs to.
    #[arg(long, value_parser = backbone_parser())]
    pub arch: BackboneKind,
    /// The network's first layers [default: from conv1's kernel: 7x7 imagenet, 3x3 small].
    #[arg(long, value_parser = stem_parser())]
    pub stem: Option<StemKind>,
    /// The run directory to write (config.toml, encoder.safetensors).
    #[arg(long, value_name = "RUN_DIR")]
    pub out: PathBuf,
    /// A config for the data and evaluation keys of the run (its `model` keys come from the
    /// file) [default: the built-in defaults, with ImageNet's normalisation for 3 channels].
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override a config key, e.g. --set data.dataset="imagefolder" --set 'data.dir="/data/x"'.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    /// A torchvision ResNet state dict in safetensors (`conv1.weight`, `layer1.0.bn1.bias`, ...).
    Torchvision,
}

/// `selfsup import`: writes the run directory and says how to evaluate it.
pub(crate) fn import_command(args: ImportArgs) -> Result<()> {
    let ImportFormat::Torchvision = args.format;
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("{}: cannot read", args.file.display()))?;
    let file = SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{}: not a safetensors file", args.file.display()))?;
    let config = imported_config(&args, &file)?;
    let mut encoder = init_encoder::<Flex>(&config, config.image_channels(), &Default::default());
    let encoder_bytes =
        renamed_encoder(&config, &encoder, &file).map_err(|e| in_file(&args.file, e))?;
    let applied = encoder
        .load_from(&mut SafetensorsStore::from_bytes(Some(encoder_bytes)))
        .map_err(|e| anyhow::anyhow!("{}: cannot load: {e}", args.file.display()))?;
    if !applied.errors.is_empty() || !applied.missing.is_empty() {
        bail!(
            "{}: cannot load: {:?} {:?}",
            args.file.display(),
            applied.errors,
            applied.missing
        );
    }
    write_run(&args.out, &config, &encoder)?;
    println!(
        "{} tensors of a {} (width {}, {} channels, {} stem) -> {} | evaluate with: selfsup eval \
         knn --checkpoint {}",
        applied.applied.len(),
        config_name(config.model.backbone)?,
        config.model.width,
        config.image_channels(),
        config_name(config.model.stem)?,
        args.out.display(),
        args.out.display()
    );
    Ok(())
}

fn in_file(path: &Path, message: String) -> anyhow::Error {
    anyhow::anyhow!("{}: {message}", path.display())
}

/// The run's config: the given one (or the defaults) with the model keys the file implies.
fn imported_config(args: &ImportArgs, file: &SafeTensors) -> Result<Config> {
    let stem_weight = file.tensor("conv1.weight").map_err(|_| {
        in_file(
            &args.file,
            "no conv1.weight: not a torchvision ResNet state dict".into(),
        )
    })?;
    let &[width, channels, kernel, _] = stem_weight.shape() else {
        bail!(
            "{}: conv1.weight has shape {:?}, a convolution's is [out, in, k, k]",
            args.file.display(),
            stem_weight.shape()
        );
    };
    let stem = match (kernel, args.stem) {
        (7, None | Some(StemKind::Imagenet)) => StemKind::Imagenet,
        (3, None | Some(StemKind::Small)) => StemKind::Small,
        (_, stem) => bail!(
            "{}: conv1.weight is {kernel}x{kernel}; the {} stem's is {}",
            args.file.display(),
            stem.map_or(Ok("small or imagenet".to_string()), config_name)?,
            if stem == Some(StemKind::Small) {
                "3x3"
            } else {
                "7x7"
            }
        ),
    };
    let mut config = match &args.config {
        Some(path) => Config::load(path, &args.overrides)?,
        None => Config::from_toml("method = \"simclr\"", "import", &args.overrides)?,
    };
    if config.image_channels() != channels {
        bail!(
            "{}: conv1.weight takes {channels} input channels, the config's data has {} (set \
             data.channels, or name the data with --config / --set)",
            args.file.display(),
            config.image_channels()
        );
    }
    config.model.backbone = args.arch;
    config.model.width = width;
    config.model.stem = stem;
    if channels == 3 && config.data.mean.is_none() && config.data.std.is_none() {
        config.data.mean = Some(IMAGENET_MEAN.to_vec());
        config.data.std = Some(IMAGENET_STD.to_vec());
    }
    config.validate()?;
    Ok(config)
}

/// The file's tensors under `encoder`'s names, as safetensors bytes; an error names the first
/// tensor that is missing, of another shape or type, or has no place in the architecture.
fn renamed_encoder(
    config: &Config,
    encoder: &Encoder<Flex>,
    file: &SafeTensors,
) -> Result<Vec<u8>, String> {
    let channels = config.image_channels();
    let blocks = backbone_config(config, channels).blocks;
    let arch = config_name(config.model.backbone).map_err(|e| e.to_string())?;
    let mut renamed = HashMap::new();
    for snapshot in encoder.collect(None, None, true) {
        let ours = snapshot.full_path();
        let within_part = ours.strip_prefix("parts.0.").unwrap_or(&ours);
        let name = torchvision_name(within_part, blocks)
            .ok_or_else(|| format!("{ours}: our {arch} has a tensor torchvision's has not"))?;
        let tensor = file.tensor(&name).map_err(|_| {
            format!(
                "no {name} (shape {:?}): not a {arch} of width {} with {channels} input channels",
                snapshot.shape, config.model.width
            )
        })?;
        if tensor.shape() != snapshot.shape.as_slice() {
            return Err(format!(
                "{name} has shape {:?}, a {arch} of width {} takes {:?}",
                tensor.shape(),
                config.model.width,
                snapshot.shape
            ));
        }
        if tensor.dtype() != Dtype::F32 {
            return Err(format!(
                "{name} is {:?}; save the state dict as float32 (model.float())",
                tensor.dtype()
            ));
        }
        renamed.insert(name, ours);
    }
    refuse_unknown(file, &renamed, &arch)?;
    let views = renamed.iter().map(|(name, ours)| {
        let tensor = file.tensor(name).expect("checked above");
        let view = TensorView::new(Dtype::F32, tensor.shape().to_vec(), tensor.data())
            .expect("a tensor of the file");
        (ours.clone(), view)
    });
    safetensors::serialize(views, None).map_err(|e| e.to_string())
}

/// Refuses a tensor of the file that has no place in the architecture; the classifier and the
/// batch norms' counters are left out on purpose.
fn refuse_unknown(
    file: &SafeTensors,
    used: &HashMap<String, String>,
    arch: &str,
) -> Result<(), String> {
    let mut left_out = 0;
    for name in file.names() {
        if used.contains_key(name) {
            continue;
        }
        if name.starts_with("fc.") || name.ends_with(".num_batches_tracked") {
            left_out += 1;
            continue;
        }
        return Err(format!("{name} has no place in a torchvision {arch}"));
    }
    info!(
        left_out,
        "the classifier (fc.*) and num_batches_tracked are not imported"
    );
    Ok(())
}

/// Writes config.toml and encoder.safetensors into `out`, refusing a directory that holds a run.
fn write_run(out: &Path, config: &Config, encoder: &Encoder<Flex>) -> Result<()> {
    for existing in [CONFIG_FILE, ENCODER_FILE] {
        if out.join(existing).exists() {
            bail!(
                "{}: already holds a run ({existing}); choose another --out",
                out.display()
            );
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let config_path = out.join(CONFIG_FILE);
    std::fs::write(&config_path, toml::to_string(config)?)
        .with_context(|| format!("{}: cannot write", config_path.display()))?;
    save_module(&out.join(ENCODER_FILE), "selfsup-encoder", encoder)?;
    Ok(())
}
