//! Image -> views. Seeded, composable transforms that produce normalised f32 CHW buffers; no
//! Burn here. Every view is a pure function of (seed, epoch, sample index, view number).

pub mod blur;
pub mod color;
pub mod crop;
pub mod lab;
mod neighbour_crops;
mod pipeline;
pub mod rotate;
mod seed;
mod simd;

pub use neighbour_crops::{NeighbourCrops, NeighbourCropsError};
pub use pipeline::{
    AugmentConfigError, ColorSpace, GLOBAL_VIEWS, Normalize, ViewConfig, ViewPipeline,
    hwc_to_unit_chw, normalized_batch,
};
pub use seed::view_rng;
