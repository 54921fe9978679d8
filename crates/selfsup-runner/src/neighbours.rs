//! `selfsup neighbours --checkpoint RUN_DIR`: test images next to their nearest training images
//! by cosine similarity of the run's backbone features (the query framed blue); a green frame marks a neighbour of the
//! query's class, a red one another class.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use selfsup_data::Dataset;
use selfsup_losses::l2_normalize;

use crate::backend::{BackendJob, run_on};
use crate::config::Config;
use crate::features::encode;
use crate::grid::{Cell, cell_size, write_grid};
use crate::methods::normalization;
use crate::saved::{finished_run, load_encoder};

const QUERY_FRAME: [u8; 3] = [60, 110, 230];
const SAME_CLASS: [u8; 3] = [30, 170, 60];
const OTHER_CLASS: [u8; 3] = [220, 40, 40];

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
    let (train, test) = crate::cli::load_data(&config)?;
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

    fn run<B: AutodiffBackend>(
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
        let similarity = features(self.test)
            .select(0, queries)
            .matmul(features(self.train).transpose());
        let (_, nearest) = similarity.topk_with_indices(self.k, 1);
        let nearest: Vec<usize> = nearest
            .into_data()
            .iter::<i64>()
            .map(|i| i as usize)
            .collect();
        Ok(nearest.chunks(self.k).map(<[usize]>::to_vec).collect())
    }
}
