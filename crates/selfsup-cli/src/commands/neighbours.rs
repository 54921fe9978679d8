//! `selfsup neighbours --checkpoint RUN_DIR`: test images next to their nearest training images
//! by cosine similarity of the run's backbone features (the query framed blue); a green frame marks a neighbour of the
//! query's class, a red one another class. With `--images DIR`, an unlabeled folder instead:
//! images drawn with a seed, each next to its nearest other images of the same folder (gray
//! frames), to see what the encoder groups together without any labels.

use clap::Args;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use selfsup_data::Dataset;
use selfsup_losses::l2_normalize;

use crate::backend::{BackendJob, run_on};
use crate::config::Config;
use crate::report::grid::{Cell, cell_size, write_grid};
use crate::saved::{finished_run, load_encoder};
use selfsup_distributed::TrackedCollective;
use selfsup_train::features::encode;
use selfsup_train::methods::normalization;

#[derive(Args, Debug)]
pub struct NeighboursArgs {
    /// The run directory (its config.toml and encoder.safetensors are read).
    #[arg(long, value_name = "RUN_DIR")]
    pub checkpoint: PathBuf,
    /// Test images shown (one row each, evenly spaced through the test set).
    #[arg(long, default_value_t = 10)]
    pub queries: usize,
    /// Nearest training images per test image.
    #[arg(long, default_value_t = 8)]
    pub k: usize,
    /// An unlabeled folder instead of the labelled sets: images drawn from it (with --seed),
    /// each next to its nearest other images of the folder; written to
    /// RUN_DIR/eval/neighbours_<folder>.png.
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Seed of the images drawn from --images.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Override a config key, e.g. --set backend=wgpu.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// `selfsup neighbours --images DIR`: nearest neighbours among a folder's images.
pub(crate) fn folder_neighbours_command(args: NeighboursArgs) -> Result<()> {
    let path = folder_neighbours(
        &args.checkpoint,
        args.images.as_deref().expect("matched"),
        args.queries,
        args.k,
        args.seed,
        &args.overrides,
    )?;
    println!("{}", path.display());
    Ok(())
}

/// `selfsup neighbours`: nearest training images of test queries, and how often they share the class.
pub(crate) fn neighbours_command(args: NeighboursArgs) -> Result<()> {
    let (path, same) = neighbours(&args.checkpoint, args.queries, args.k, &args.overrides)?;
    println!(
        "{:.1}% of the neighbours shown share the query's class | {}",
        same * 100.0,
        path.display()
    );
    Ok(())
}

const QUERY_FRAME: [u8; 3] = [60, 110, 230];
const SAME_CLASS: [u8; 3] = [30, 170, 60];
const OTHER_CLASS: [u8; 3] = [220, 40, 40];
const UNLABELED: [u8; 3] = [150, 150, 150];

/// `queries` images of an unlabeled folder (drawn with `seed`), each followed by its `k`
/// nearest other images of the folder, into `RUN_DIR/eval/neighbours_<folder>.png`.
pub fn folder_neighbours(
    run: &Path,
    images_dir: &Path,
    queries: usize,
    k: usize,
    seed: u64,
    overrides: &[String],
) -> Result<PathBuf> {
    let (config, encoder_path) = finished_run(run, overrides)?;
    let loaded =
        selfsup_data::load_images(images_dir, &crate::storage::image_options(&config.data))
            .with_context(|| format!("reading the images under {}", images_dir.display()))?;
    let images = loaded.dataset;
    if k == 0 || k >= images.len() {
        bail!(
            "--k {k}: must be between 1 and the {} other images of the folder",
            images.len().saturating_sub(1)
        );
    }
    let count = queries.clamp(1, images.len());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut picked = rand::seq::index::sample(&mut rng, images.len(), count).into_vec();
    picked.sort_unstable();
    // k + 1 nearest: the query itself is among them (similarity 1) and is dropped.
    let job = NeighbourJob {
        config: &config,
        encoder_path: &encoder_path,
        train: &images,
        test: &images,
        queries: &picked,
        k: k + 1,
    };
    let found = run_on(config.backend, config.device, job)?;
    let rows: Vec<Vec<Cell>> = picked
        .iter()
        .zip(&found)
        .map(|(&query, nearest)| {
            let mut row = vec![image_cell(&images, query, QUERY_FRAME)];
            let others = nearest.iter().filter(|&&i| i != query).take(k);
            row.extend(others.map(|&i| image_cell(&images, i, UNLABELED)));
            row
        })
        .collect();
    let name = images_dir
        .file_name()
        .map_or("images".to_string(), |n| n.to_string_lossy().into_owned());
    let path = run.join("eval").join(format!("neighbours_{name}.png"));
    write_grid(&path, &rows, cell_size(images.height))?;
    Ok(path)
}

/// Writes `RUN_DIR/eval/neighbours.png`: `queries` test images (evenly spaced), each followed
/// by its `k` nearest training images. Returns the path and the share of neighbours that
/// have the query's class.
pub fn neighbours(
    run: &Path,
    queries: usize,
    k: usize,
    overrides: &[String],
) -> Result<(PathBuf, f64)> {
    let (config, encoder_path) = finished_run(run, overrides)?;
    let (train, test) = crate::data::load_data(&config)?;
    if k == 0 || k > train.len() {
        bail!(
            "--k {k}: must be between 1 and the {} training images",
            train.len()
        );
    }
    let queries: Vec<usize> = {
        let count = queries.clamp(1, test.len().max(1));
        (0..count).map(|q| q * test.len() / count).collect()
    };
    let job = NeighbourJob {
        config: &config,
        encoder_path: &encoder_path,
        train: &train,
        test: &test,
        queries: &queries,
        k,
    };
    let found = run_on(config.backend, config.device, job)?;
    let side = train.height.max(test.height);
    let mut same = 0usize;
    let rows: Vec<Vec<Cell>> = queries
        .iter()
        .zip(&found)
        .map(|(&query, nearest)| {
            let mut row = vec![image_cell(&test, query, QUERY_FRAME)];
            for &index in nearest {
                let matches = train.labels[index] == test.labels[query];
                same += usize::from(matches);
                let frame = if matches { SAME_CLASS } else { OTHER_CLASS };
                row.push(image_cell(&train, index, frame));
            }
            row
        })
        .collect();
    let path = run.join("eval").join("neighbours.png");
    write_grid(&path, &rows, cell_size(side))?;
    Ok((path, same as f64 / (queries.len() * k).max(1) as f64))
}

fn image_cell(data: &Dataset, index: usize, frame: [u8; 3]) -> Cell {
    let image = data.image(index);
    let mut cell = Cell::from_hwc(&image.pixels, image.height, image.channels);
    cell.frame = Some(frame);
    cell
}

struct NeighbourJob<'a> {
    config: &'a Config,
    encoder_path: &'a Path,
    train: &'a Dataset,
    test: &'a Dataset,
    queries: &'a [usize],
    k: usize,
}

impl BackendJob for NeighbourJob<'_> {
    /// For each query, the indices of its k nearest training images, nearest first.
    type Output = Vec<Vec<usize>>;

    fn run<B: TrackedCollective>(
        self,
        device: B::Device,
        _device_name: &str,
    ) -> Result<Self::Output> {
        let encoder = load_encoder::<B::InnerBackend>(
            self.config,
            self.train.channels,
            self.encoder_path,
            &device,
        )?;
        let normalize = normalization(self.config, self.train);
        let features = |data: &Dataset| {
            l2_normalize(encode(|x| encoder.forward(x), data, &normalize, &device))
        };
        let queries = Tensor::<B::InnerBackend, 1, Int>::from_data(
            TensorData::new(
                self.queries.iter().map(|&q| q as i64).collect::<Vec<_>>(),
                [self.queries.len()],
            ),
            &device,
        );
        let stored = features(self.train);
        // An unlabeled folder is both the stored set and the queries: encoded once.
        let queried = if std::ptr::eq(self.test, self.train) {
            stored.clone()
        } else {
            features(self.test)
        };
        let similarity = queried.select(0, queries).matmul(stored.transpose());
        let (_, nearest) = similarity.topk_with_indices(self.k, 1);
        let nearest: Vec<usize> = nearest
            .into_data()
            .iter::<i64>()
            .map(|i| i as usize)
            .collect();
        Ok(nearest.chunks(self.k).map(<[usize]>::to_vec).collect())
    }
}
