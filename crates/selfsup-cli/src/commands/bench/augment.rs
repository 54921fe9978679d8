//! Augmentation throughput: the default config's view pipeline on synthetic 28x28 images, two
//! views per image, on one core and on every core of rayon's pool.

use std::time::Instant;

use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use selfsup_augment::{Normalize, ViewPipeline};
use selfsup_data::ImageRef;
use serde::Serialize;

use crate::config::Config;

#[derive(Debug, Clone, Serialize)]
pub struct AugmentResult {
    pub threads: usize,
    pub images: usize,
    pub views: usize,
    pub seconds: f64,
    pub views_per_sec: f64,
}

pub fn measure(base: &Config, images: usize) -> Result<Vec<AugmentResult>> {
    let side = 28;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let pixels: Vec<u8> = (0..images * side * side).map(|_| rng.random()).collect();
    let image = |i: usize| ImageRef {
        pixels: (&pixels[i * side * side..][..side * side]).into(),
        height: side,
        width: side,
        channels: 1,
    };
    let pipeline = ViewPipeline::new(base.augment.clone(), Normalize::new(vec![0.5], vec![0.25]));
    let indices: Vec<usize> = (0..images).collect();
    let all = rayon::current_num_threads();
    let mut results = Vec::new();
    for threads in [1, all] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .context("building a thread pool")?;
        // One untimed pass warms caches and the pool.
        pool.install(|| pipeline.batch_views(image, &indices[..images.min(256)], 0, 0, 2));
        let started = Instant::now();
        pool.install(|| {
            for chunk in indices.chunks(256) {
                std::hint::black_box(pipeline.batch_views(image, chunk, 0, 1, 2));
            }
        });
        let seconds = started.elapsed().as_secs_f64();
        results.push(AugmentResult {
            threads,
            images,
            views: 2 * images,
            seconds,
            views_per_sec: (2 * images) as f64 / seconds,
        });
        if all == 1 {
            break;
        }
    }
    Ok(results)
}
