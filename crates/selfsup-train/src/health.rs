//! The training-health metrics of a run (see `selfsup_eval::health`), measured at every
//! evaluation on a fixed probe: the same seeded images, the same two augmented views.

use std::time::Instant;

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use selfsup_augment::{Normalize, ViewPipeline};
use selfsup_data::Dataset;
use selfsup_eval::health::{Health, Rows, health};

use crate::features::{encode_batch_size, image_batch};
use crate::methods::Method;

/// Images in the probe batch (fewer when the set is smaller).
pub const PROBE_IMAGES: usize = 512;

/// The probe's views are drawn as if for this epoch, which training never reaches, so they
/// differ from every training view and are the same at every evaluation.
const PROBE_EPOCH: u64 = u64::MAX;

/// The fixed probe: which images, and their two views.
pub struct Probe {
    indices: Vec<usize>,
}

impl Probe {
    /// [`PROBE_IMAGES`] images drawn without replacement with `seed`, in index order.
    pub fn new(images: &Dataset, seed: u64) -> Self {
        let count = PROBE_IMAGES.min(images.len());
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut indices = rand::seq::index::sample(&mut rng, images.len(), count).into_vec();
        indices.sort_unstable();
        Self { indices }
    }

    /// The health of `model` on the probe, and the seconds it took.
    pub fn measure<B: AutodiffBackend, M: Method<B>>(
        &self,
        model: &M,
        images: &Dataset,
        pipeline: &ViewPipeline,
        normalize: &Normalize,
        seed: u64,
        device: &B::Device,
    ) -> (Health, f64) {
        let started = Instant::now();
        // In chunks of the encoding batch, each read back before the next: at 224 pixels the
        // probe's 512 images through a training-mode model at once would hold every
        // activation of all of them (tens of GB for ResNet-50).
        let square = images.channels * images.height * images.width;
        let features =
            HostMatrix::of_chunks(self.indices.chunks(encode_batch_size(square)).map(|chunk| {
                model
                    .encoder()
                    .forward(image_batch(images, chunk, normalize, device))
            }));
        let side = pipeline.view_side(0);
        let view_values = images.channels * side * side;
        let project = |view: Vec<f32>| {
            HostMatrix::of_chunks(
                view.chunks(encode_batch_size(view_values) * view_values)
                    .map(|part| {
                        let shape = [part.len() / view_values, images.channels, side, side];
                        let data = TensorData::new(part.to_vec(), shape);
                        model.project(Tensor::from_data(data, device))
                    }),
            )
        };
        let mut views = pipeline
            .batch_views(|i| images.image(i), &self.indices, seed, PROBE_EPOCH, 2)
            .into_iter()
            .map(project);
        let (first, second) = (
            views.next().expect("two views"),
            views.next().expect("two views"),
        );
        let result = health(features.rows(), [first.rows(), second.rows()]);
        (result, started.elapsed().as_secs_f64())
    }
}

/// A matrix read back from the device as f32.
struct HostMatrix {
    values: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl HostMatrix {
    fn of<B: Backend>(tensor: Tensor<B, 2>) -> Self {
        let [rows, cols] = tensor.dims();
        let values = tensor
            .into_data()
            .convert::<f32>()
            .to_vec()
            .expect("converted to f32 just before");
        Self { values, rows, cols }
    }

    /// The rows of every chunk in order, each read back before the next is computed.
    fn of_chunks<B: Backend>(chunks: impl Iterator<Item = Tensor<B, 2>>) -> Self {
        let mut all = Self {
            values: Vec::new(),
            rows: 0,
            cols: 0,
        };
        for chunk in chunks {
            let part = Self::of(chunk);
            all.values.extend(part.values);
            all.rows += part.rows;
            all.cols = part.cols;
        }
        all
    }

    fn rows(&self) -> Rows<'_> {
        Rows::new(&self.values, self.rows, self.cols)
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use selfsup_augment::ViewConfig;

    use super::*;
    use crate::config::Config;
    use crate::methods::{DataInfo, Simclr, init_portable};

    type B = Autodiff<Flex>;

    #[test]
    fn imagenet_sized_probes_go_in_chunks_and_keep_every_image() {
        let (count, side) = (40, 224);
        // 27 images of 3 x 224 x 224 per chunk: two chunks of features and of each view.
        assert!(encode_batch_size(3 * side * side) < count);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let images = Dataset {
            images: (0..count * side * side * 3)
                .map(|_| rand::Rng::random::<u8>(&mut rng))
                .collect(),
            labels: vec![0; count],
            height: side,
            width: side,
            channels: 3,
            num_classes: 1,
            ..Dataset::default()
        };
        let text = "method = \"simclr\"\n[model]\nstem = \"imagenet\"\nwidth = 8\n\
                    proj_output_dim = 8\n";
        let config = Config::from_toml(text, "test", &[]).unwrap();
        let data = DataInfo {
            channels: 3,
            train_len: count,
        };
        let model = init_portable::<B, Simclr<B>>(&config, &data, &Default::default()).unwrap();
        let normalize = Normalize::new(vec![0.5; 3], vec![0.25; 3]);
        let views = ViewConfig {
            crop_size: side,
            ..ViewConfig::default()
        };
        let pipeline = ViewPipeline::new(views, normalize.clone());
        let probe = Probe::new(&images, 1);
        let (health, _) = probe.measure(
            &model,
            &images,
            &pipeline,
            &normalize,
            1,
            &Default::default(),
        );
        // Features of 64 dimensions from all 40 images (both chunks), projections of both
        // views for each of them (`health` pairs them row by row).
        assert_eq!(health.rank_limit, count);
        assert!(health.effective_rank.is_finite() && health.effective_rank > 1.0);
        assert!(health.alignment.is_finite() && health.uniformity.is_finite());
    }
}
