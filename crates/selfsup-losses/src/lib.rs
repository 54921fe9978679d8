//! Losses as pure functions of tensors: no modules, no state, generic over the backend.

mod common;
mod contrastive;
mod crops;
mod distillation;
mod instance;
mod multiview;
mod non_contrastive;
mod swav;

pub use common::l2_normalize;
pub use contrastive::{nt_xent, nt_xent_gathered, sup_con, sup_con_gathered, wcl_swap};
pub use crops::{crop_nce, crop_swap};
pub use distillation::distillation;
pub use instance::{
    NCE_EPS, info_nce, nce_loss, nce_normalizer, proximal, scores_against,
    softmax_with_positive_first,
};
pub use multiview::{ViewGraph, cmc_in_batch, view_pairs};
pub use non_contrastive::{barlow_twins, byol_loss, negative_cosine};
pub use swav::{
    OneDevice, SampleSpread, Sinkhorn, sinkhorn, sinkhorn_spread, swapped_prediction, swav_loss,
    swav_loss_with_queue,
};
