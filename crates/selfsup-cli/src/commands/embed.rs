//! `selfsup embed --checkpoint RUN --images DIR`: the features of every image under a folder,
//! by a finished run's encoder (the backbone's pooled output) or, with `--head`, by its
//! projection head, written as one `[N, d]` f32 tensor in a safetensors file with the file
//! list beside it: the way out to retrieval, clustering and deduplication in any tool.

use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use safetensors::tensor::{Dtype, TensorView};
use selfsup_data::{Dataset, load_images};
use serde::Serialize;
use tracing::{info, warn};

use crate::backend::{BackendJob, run_on};
use crate::config::Config;
use crate::report::progress::training_bar;
use crate::saved::{finished_run, load_encoder};
use selfsup_distributed::TrackedCollective;
use selfsup_train::checkpoint;
use selfsup_train::features::{encode_batch_size, image_batch};
use selfsup_train::methods::{DataInfo, Method, MethodJob, normalization, with_method};
use selfsup_train::run_dir::SUMMARY_FILE;

#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// The run directory (its config.toml and encoder.safetensors are read; --head also reads
    /// its last checkpoint).
    #[arg(long, value_name = "RUN_DIR")]
    pub checkpoint: PathBuf,
    /// The folder of images to embed, read at any depth like `data.dataset = "images"`,
    /// resized and normalised as the run's images were.
    #[arg(long, value_name = "DIR")]
    pub images: PathBuf,
    /// Output file [default: RUN_DIR/embeddings.safetensors]; the file list goes beside it
    /// with the extension .json.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The projection head's output (what the loss compared) instead of the backbone's
    /// pooled features (what kNN and linear probes use).
    #[arg(long)]
    pub head: bool,
    /// Override a config key, e.g. --set data.skip_bad=true or --set backend=wgpu.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// `selfsup embed`: writes the features of every image under a folder.
pub(crate) fn embed_command(args: EmbedArgs) -> Result<()> {
    let report = embed(&EmbedRequest {
        run: &args.checkpoint,
        images: &args.images,
        out: args.out,
        head: args.head,
        overrides: &args.overrides,
    })?;
    println!(
        "{} images -> [{}, {}] {} features ({:.0} images/s) | {} | file list {}",
        report.index.images,
        report.index.images,
        report.index.dim,
        report.index.features,
        report.index.images_per_sec,
        report.tensor_path.display(),
        report.index_path.display()
    );
    Ok(())
}

/// The name of the tensor in the output file.
pub const EMBEDDINGS_TENSOR: &str = "embeddings";

/// What `selfsup embed` was asked.
pub struct EmbedRequest<'a> {
    pub run: &'a Path,
    pub images: &'a Path,
    /// Output file; default `RUN/embeddings.safetensors`.
    pub out: Option<PathBuf>,
    /// The projection head's output instead of the backbone's.
    pub head: bool,
    pub overrides: &'a [String],
}

/// The file list written beside the embeddings (`<out stem>.json`).
#[derive(Debug, Serialize)]
pub struct EmbedIndex {
    /// The folder that was read.
    pub root: PathBuf,
    /// Row i of the tensor is the image `root/files[i]`.
    pub files: Vec<PathBuf>,
    /// "backbone" or "head".
    pub features: &'static str,
    pub images: usize,
    pub dim: usize,
    pub run: PathBuf,
    /// Files that did not decode and were skipped (`--set data.skip_bad=true`).
    pub skipped: Vec<PathBuf>,
    pub images_per_sec: f64,
}

pub struct EmbedReport {
    pub tensor_path: PathBuf,
    pub index_path: PathBuf,
    pub index: EmbedIndex,
}

pub fn embed(request: &EmbedRequest<'_>) -> Result<EmbedReport> {
    let (config, encoder_path) = finished_run(request.run, request.overrides)?;
    // Decoded as the run's own images: their channels and side, whatever the dataset was.
    let mut options = crate::storage::image_options(&config.data);
    options.channels = config.image_channels();
    options.image_size = config.image_side();
    let loaded = load_images(request.images, &options)
        .with_context(|| format!("reading the images under {}", request.images.display()))?;
    if !loaded.skipped.is_empty() {
        warn!(
            skipped = loaded.skipped.len(),
            "undecodable image files skipped (data.skip_bad = true)"
        );
    }
    if config.data.mean.is_none() {
        warn!(
            "the run's config has no data.mean / data.std (a run from before they were kept): \
             normalising with this folder's own statistics"
        );
    }
    let images = loaded.dataset;
    info!(images = images.len(), dir = %request.images.display(), "images to embed");
    let started = Instant::now();
    let job = EmbedJob {
        config: &config,
        run: request.run,
        encoder_path: &encoder_path,
        images: &images,
        head: request.head,
    };
    let (values, dim) = run_on(config.backend, config.device, job)?;
    let images_per_sec = images.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);

    let tensor_path = request
        .out
        .clone()
        .unwrap_or_else(|| request.run.join("embeddings.safetensors"));
    if let Some(parent) = tensor_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("{}: cannot create", parent.display()))?;
    }
    let features = if request.head { "head" } else { "backbone" };
    let index = EmbedIndex {
        root: request.images.to_path_buf(),
        files: loaded
            .paths
            .iter()
            .map(|path| {
                path.strip_prefix(request.images)
                    .unwrap_or(path)
                    .to_path_buf()
            })
            .collect(),
        features,
        images: images.len(),
        dim,
        run: request.run.to_path_buf(),
        skipped: loaded.skipped.into_iter().map(|(path, _)| path).collect(),
        images_per_sec,
    };
    write_tensor(&tensor_path, &values, images.len(), dim, features)?;
    let index_path = tensor_path.with_extension("json");
    std::fs::write(&index_path, serde_json::to_string_pretty(&index)? + "\n")
        .with_context(|| format!("{}: cannot write", index_path.display()))?;
    Ok(EmbedReport {
        tensor_path,
        index_path,
        index,
    })
}

/// `values` as the `[rows, cols]` f32 tensor [`EMBEDDINGS_TENSOR`] of a safetensors file.
fn write_tensor(
    path: &Path,
    values: &[f32],
    rows: usize,
    cols: usize,
    features: &str,
) -> Result<()> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = TensorView::new(Dtype::F32, vec![rows, cols], &bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let metadata = [
        ("format".to_string(), "selfsup-embeddings".to_string()),
        ("features".to_string(), features.to_string()),
    ]
    .into_iter()
    .collect();
    safetensors::serialize_to_file([(EMBEDDINGS_TENSOR, view)], Some(metadata), path)
        .with_context(|| format!("{}: cannot write", path.display()))
}

struct EmbedJob<'a> {
    config: &'a Config,
    run: &'a Path,
    encoder_path: &'a Path,
    images: &'a Dataset,
    head: bool,
}

impl BackendJob for EmbedJob<'_> {
    /// The features, row-major, and their dimension.
    type Output = (Vec<f32>, usize);

    fn run<B: TrackedCollective>(
        self,
        device: B::Device,
        _device_name: &str,
    ) -> Result<Self::Output> {
        if self.head {
            return with_method(
                self.config.method,
                HeadJob::<B> {
                    job: &self,
                    device: &device,
                },
            );
        }
        let encoder = load_encoder::<B::InnerBackend>(
            self.config,
            self.images.channels,
            self.encoder_path,
            &device,
        )?;
        Ok(embed_batches::<B::InnerBackend>(
            self.images,
            self.config,
            &device,
            |x| encoder.forward(x),
        ))
    }
}

/// `--head`: the method's model from the run's last checkpoint, for its projection.
struct HeadJob<'a, B: AutodiffBackend> {
    job: &'a EmbedJob<'a>,
    device: &'a B::Device,
}

impl<B: AutodiffBackend> MethodJob<B> for HeadJob<'_, B> {
    type Output = Result<(Vec<f32>, usize)>;

    fn run<M: Method<B>>(self) -> Self::Output {
        let job = self.job;
        let Some(last) = checkpoint::latest(job.run)? else {
            bail!(
                "{}: no checkpoint to read the head from (--head needs the run's \
                 {}/step-N/; without --head the encoder alone is used)",
                job.run.display(),
                checkpoint::CHECKPOINT_DIR
            );
        };
        // The model's shape depends on the pretraining set's size (memory banks).
        let summary_path = job.run.join(SUMMARY_FILE);
        let summary: serde_json::Value = std::fs::read_to_string(&summary_path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .with_context(|| {
                format!("{}: cannot read the run's summary", summary_path.display())
            })?;
        let train_len = summary["train_images"]
            .as_u64()
            .with_context(|| format!("{}: no train_images", summary_path.display()))?
            as usize;
        let data = DataInfo {
            channels: job.images.channels,
            train_len,
        };
        let model = checkpoint::load_model(
            &last,
            M::NAME,
            M::new(job.config, &data, self.device),
            self.device,
        )?;
        Ok(embed_batches::<B::InnerBackend>(
            job.images,
            job.config,
            self.device,
            |x| model.project(x),
        ))
    }
}

/// `features` of every image in batches, with a progress bar (images/s, ETA).
fn embed_batches<B: burn::tensor::backend::Backend>(
    images: &Dataset,
    config: &Config,
    device: &B::Device,
    features: impl Fn(Tensor<B, 4>) -> Tensor<B, 2>,
) -> (Vec<f32>, usize) {
    let normalize = normalization(config, images);
    let indices: Vec<usize> = (0..images.len()).collect();
    let bar = training_bar(images.len());
    bar.set_prefix("embedding");
    let started = Instant::now();
    let mut values = Vec::new();
    let mut dim = 0;
    // As encoding for the kNN: 256 images per pass, fewer for large ones.
    let image_values = images.channels * images.height * images.width;
    let batch_size = encode_batch_size(image_values).min(256);
    for chunk in indices.chunks(batch_size) {
        let batch = features(image_batch(images, chunk, &normalize, device));
        dim = batch.dims()[1];
        values.extend(
            batch
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .expect("converted to f32 just before"),
        );
        bar.inc(chunk.len() as u64);
        let rate = bar.position() as f64 / started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("{rate:.0} img/s"));
    }
    bar.finish_and_clear();
    (values, dim)
}
