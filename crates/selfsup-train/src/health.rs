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

use crate::features::image_batch;
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
        let n = self.indices.len();
        let features =
            model
                .encoder()
                .forward(image_batch(images, &self.indices, normalize, device));
        let side = pipeline.view_side(0);
        let project = |view: Vec<f32>| {
            let shape = [n, images.channels, side, side];
            HostMatrix::of(model.project(Tensor::from_data(TensorData::new(view, shape), device)))
        };
        let mut views = pipeline
            .batch_views(|i| images.image(i), &self.indices, seed, PROBE_EPOCH, 2)
            .into_iter()
            .map(project);
        let (first, second) = (
            views.next().expect("two views"),
            views.next().expect("two views"),
        );
        let result = health(
            HostMatrix::of(features).rows(),
            [first.rows(), second.rows()],
        );
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

    fn rows(&self) -> Rows<'_> {
        Rows::new(&self.values, self.rows, self.cols)
    }
}
