//! Losses as pure functions of tensors: no modules, no state, generic over the backend.

mod common;
mod contrastive;

pub use common::l2_normalize;
pub use contrastive::{nt_xent, sup_con, wcl_swap};
