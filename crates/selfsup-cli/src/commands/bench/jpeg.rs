//! `--sections augment-jpeg`: the ImageNet loader's work, JPEG files to 224-pixel views. A
//! folder of ImageNet-like JPEGs (sizes around 500x375, quality 90, smooth fields with edges
//! and grain rather than flat colours) is generated once, in `$TMPDIR/selfsup-bench-jpeg`; each file is read and decoded once
//! and gives two SimCLR / WCL ImageNet views (RandomResizedCrop 224 at scale 0.08-1, flip,
//! colour jitter 0.8/0.8/0.8/0.2 with p 0.8, grayscale 0.2, blur p 0.5, normalisation), on one
//! core and on every core of rayon's pool. With `--compare-torchvision`,
//! bench/pytorch/augment_jpeg.py draws the same recipe from the same files with torchvision v2
//! and PIL, one process per core, right after ours, with torchvision's GaussianBlur and with
//! PIL's, and the ratios go to the JSON.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use image::codecs::jpeg::JpegEncoder;
use image::{ImageFormat, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use selfsup_augment::{Normalize, ViewConfig, ViewPipeline};
use selfsup_data::ImageRef;
use serde::{Deserialize, Serialize};

use super::args::BenchArgs;

/// Files in the generated folder, and images per call of the view pipeline (a training batch).
const FILES: usize = 256;
const BATCH: usize = 64;

/// One thread count's figures: ours, torchvision's with each blur, and ours / theirs.
#[derive(Debug, Clone, Serialize)]
pub struct JpegResult {
    pub threads: usize,
    pub files: usize,
    pub views: usize,
    pub seconds: f64,
    /// Views normalised to f32, as torchvision's are.
    pub views_per_sec: f64,
    /// Views as bytes, normalised later on the device (`data.batch_dtype = "u8"`), the same
    /// files and recipe measured right after.
    pub u8_views_per_sec: f64,
    /// With --compare-torchvision: torchvision's runs (GaussianBlur, then PIL's blur, both
    /// normalised to f32; then PIL's blur ending at uint8 tensors).
    pub torchvision: Vec<TorchvisionRun>,
    /// Our views/s over torchvision's in the same output type, in the order of `torchvision`.
    pub ratios: Vec<f64>,
}

/// What bench/pytorch/augment_jpeg.py reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TorchvisionRun {
    pub threads: usize,
    pub blur: String,
    /// "f32" (normalised) or "u8".
    #[serde(default)]
    pub output: String,
    pub files: usize,
    pub views: usize,
    pub seconds: f64,
    pub views_per_sec: f64,
    pub torch_version: String,
    pub torchvision_version: String,
    pub pil_version: String,
}

/// The SimCLR / WCL ImageNet views (torchvision's recipe, as bench/pytorch/augment_jpeg.py).
pub fn imagenet_views() -> ViewPipeline {
    let config = ViewConfig {
        crop_size: 224,
        crop_scale: [0.08, 1.0],
        brightness: 0.8,
        contrast: 0.8,
        saturation: 0.8,
        hue: 0.2,
        grayscale_prob: 0.2,
        blur_prob: 0.5,
        ..ViewConfig::default()
    };
    let normalize = Normalize::new(vec![0.485, 0.456, 0.406], vec![0.229, 0.224, 0.225]);
    ViewPipeline::new(config, normalize)
}

pub fn measure(args: &BenchArgs) -> Result<Vec<JpegResult>> {
    // Generated once per machine and kept: the same files for every run and for torchvision.
    let dir = std::env::temp_dir().join("selfsup-bench-jpeg");
    let files = jpeg_folder(&dir)?;
    let pipeline = imagenet_views();
    let all = rayon::current_num_threads();
    let mut results = Vec::new();
    for threads in if all > 1 { vec![1, all] } else { vec![1] } {
        let mut result = measure_ours(&pipeline, &files, threads, args.jpeg_rounds as usize)?;
        if args.compare_torchvision {
            for (blur, output) in [("torchvision", "f32"), ("pil", "f32"), ("pil", "u8")] {
                let run = run_torchvision(args, &dir, threads, blur, output)?;
                let ours = match output {
                    "u8" => result.u8_views_per_sec,
                    _ => result.views_per_sec,
                };
                result.ratios.push(ours / run.views_per_sec);
                result.torchvision.push(run);
            }
        }
        results.push(result);
    }
    Ok(results)
}

/// Two views of every file, `rounds` times, in batches as training makes them: as f32, then
/// as bytes.
fn measure_ours(
    pipeline: &ViewPipeline,
    files: &[PathBuf],
    threads: usize,
    rounds: usize,
) -> Result<JpegResult> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("building a thread pool")?;
    let image = |i: usize| decode(&files[i]).expect("checked when the folder was made");
    let indices: Vec<usize> = (0..files.len()).collect();
    let timed = |batch: &(dyn Fn(&[usize], u64) + Sync)| {
        // One untimed batch: pool started, files in the page cache.
        pool.install(|| batch(&indices[..BATCH], 0));
        let started = Instant::now();
        pool.install(|| {
            for round in 0..rounds {
                for chunk in indices.chunks(BATCH) {
                    batch(chunk, round as u64 + 1);
                }
            }
        });
        started.elapsed().as_secs_f64()
    };
    let seconds = timed(&|batch, epoch| {
        std::hint::black_box(pipeline.batch_views(image, batch, 0, epoch, 2));
    });
    let u8_seconds = timed(&|batch, epoch| {
        let bytes = pipeline.batch_bytes_with_crops(image, batch, 0, epoch, 2, None);
        std::hint::black_box(bytes);
    });
    let views = 2 * files.len() * rounds;
    Ok(JpegResult {
        threads,
        files: files.len(),
        views,
        seconds,
        views_per_sec: views as f64 / seconds,
        u8_views_per_sec: views as f64 / u8_seconds,
        torchvision: Vec::new(),
        ratios: Vec::new(),
    })
}

/// A file read and decoded to RGB, as an image folder on disk gives it.
fn decode(path: &Path) -> Result<ImageRef<'static>> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let image = image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg)
        .with_context(|| format!("{}: cannot decode", path.display()))?
        .into_rgb8();
    let (width, height) = (image.width() as usize, image.height() as usize);
    Ok(ImageRef {
        pixels: image.into_raw().into(),
        height,
        width,
        channels: 3,
    })
}

/// The folder's JPEGs, generated (seeded) when it has none yet.
fn jpeg_folder(dir: &Path) -> Result<Vec<PathBuf>> {
    let files: Vec<PathBuf> = (0..FILES)
        .map(|i| dir.join(format!("{i:04}.jpg")))
        .collect();
    if !files.iter().all(|f| f.exists()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
        for (i, file) in files.iter().enumerate() {
            let image = photo_like(&mut ChaCha8Rng::seed_from_u64(i as u64));
            let mut bytes = Vec::new();
            JpegEncoder::new_with_quality(&mut bytes, 90)
                .encode_image(&image)
                .context("encoding a JPEG")?;
            std::fs::write(file, bytes)
                .with_context(|| format!("{}: cannot write", file.display()))?;
        }
    }
    for file in &files {
        decode(file)?;
    }
    Ok(files)
}

/// An image with what makes photographs costly to code and cheap to tell apart from noise:
/// smooth colour fields at a few scales, objects with sharp edges, and fine grain. Its size is
/// drawn around ImageNet's typical 500x375.
fn photo_like(rng: &mut ChaCha8Rng) -> RgbImage {
    let width = rng.random_range(400..=600u32);
    let height = rng.random_range(300..=450u32);
    let fields: Vec<[f32; 6]> = (0..4)
        .map(|_| {
            let scale = rng.random_range(0.005..0.05f32);
            let angle = rng.random_range(0.0..std::f32::consts::TAU);
            [
                scale * angle.cos(),
                scale * angle.sin(),
                rng.random_range(0.0..std::f32::consts::TAU),
                rng.random_range(20.0..60.0),
                rng.random_range(0.0..3.0),
                0.0,
            ]
        })
        .collect();
    let objects: Vec<[f32; 7]> = (0..6)
        .map(|_| {
            [
                rng.random_range(0.0..width as f32),
                rng.random_range(0.0..height as f32),
                rng.random_range(20.0..120.0),
                rng.random_range(20.0..120.0),
                rng.random_range(0.0..255.0),
                rng.random_range(0.0..255.0),
                rng.random_range(0.0..255.0),
            ]
        })
        .collect();
    let base = [
        rng.random_range(40.0..200.0f32),
        rng.random_range(40.0..200.0f32),
        rng.random_range(40.0..200.0f32),
    ];
    RgbImage::from_fn(width, height, |x, y| {
        let (x, y) = (x as f32, y as f32);
        let mut rgb = base;
        for [fx, fy, phase, amplitude, channel, _] in &fields {
            let wave = amplitude * (fx * x + fy * y + phase).sin();
            rgb[*channel as usize % 3] += wave;
            rgb[(*channel as usize + 1) % 3] += 0.5 * wave;
        }
        for [cx, cy, rx, ry, r, g, b] in &objects {
            if ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) < 1.0 {
                rgb = [
                    0.3 * rgb[0] + 0.7 * r,
                    0.3 * rgb[1] + 0.7 * g,
                    0.3 * rgb[2] + 0.7 * b,
                ];
            }
        }
        let grain = rng.random_range(-6.0..6.0f32);
        image::Rgb(rgb.map(|v| (v + grain).clamp(0.0, 255.0) as u8))
    })
}

/// bench/pytorch/augment_jpeg.py on the same folder with `threads` worker processes.
fn run_torchvision(
    args: &BenchArgs,
    dir: &Path,
    threads: usize,
    blur: &str,
    output: &str,
) -> Result<TorchvisionRun> {
    let script = &args.torchvision_script;
    if !script.exists() {
        bail!(
            "{}: the torchvision benchmark script is missing (run from the repository root, or \
             pass --torchvision-script)",
            script.display()
        );
    }
    let output = Command::new(&args.python)
        .arg(script)
        .arg("--dir")
        .arg(dir)
        .args(["--threads", &threads.to_string()])
        .args(["--rounds", &args.jpeg_rounds.to_string()])
        .args(["--blur", blur])
        .args(["--output", output])
        .output()
        .with_context(|| format!("running {} {}", args.python, script.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .with_context(|| format!("{}: unexpected output {last}", script.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_photos_are_seeded_jpegs_of_imagenet_size_that_give_224_pixel_views() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photo.jpg");
        let photo = photo_like(&mut ChaCha8Rng::seed_from_u64(3));
        assert_eq!(photo, photo_like(&mut ChaCha8Rng::seed_from_u64(3)));
        assert!((400..=600).contains(&photo.width()) && (300..=450).contains(&photo.height()));
        let mut bytes = Vec::new();
        JpegEncoder::new_with_quality(&mut bytes, 90)
            .encode_image(&photo)
            .unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let image = decode(&path).unwrap();
        assert_eq!(
            (image.width, image.height),
            (photo.width() as usize, photo.height() as usize)
        );
        // Not a flat image: its values spread.
        let (low, high) = image
            .pixels
            .iter()
            .fold((255, 0), |(l, h), &p| (p.min(l), p.max(h)));
        assert!(high - low > 100, "{low}..{high}");

        let views = imagenet_views().batch_views(|_| decode(&path).unwrap(), &[0, 1], 0, 0, 2);
        assert_eq!(views.len(), 2);
        assert!(views.iter().all(|v| v.len() == 2 * 3 * 224 * 224));
        assert_ne!(views[0], views[1]);
    }
}
