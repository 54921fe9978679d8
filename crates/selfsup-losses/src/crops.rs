//! WCL's multi-crop terms: the paper's L_cNCE and L_cswap, "the same losses with the crops as
//! extra views". The two global views stay the anchors the crops are tied to: a crop is the
//! positive of its own image's global views (L_cNCE), and the weak labels built on the global
//! views supervise the crops (L_cswap), so a low-resolution crop never labels anything.

use std::ops::Range;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::contrastive::{nt_xent_gathered, sup_con_gathered};

/// L_cNCE: the mean over local crops c and global views g of NT-Xent(z_c, z_g), where crop c
/// of image i and view g of image i are the positive pair. Every tensor holds every peer's
/// rows; the anchors are this peer's rows `own` (`0..n` on one device).
pub fn crop_nce<B: Backend>(
    crops: &[Tensor<B, 2>],
    globals: [&Tensor<B, 2>; 2],
    own: Range<usize>,
    temperature: f64,
) -> Tensor<B, 1> {
    mean_over(crops.iter().flat_map(|crop| {
        let own = own.clone();
        globals.iter().map(move |global| {
            nt_xent_gathered(crop.clone(), (*global).clone(), own.clone(), temperature)
        })
    }))
}

/// L_cswap: the mean over local crops c of `1/2 [L_sup(v_c, y^1) + L_sup(v_c, y^2)]`, each
/// crop's embeddings contrasted among themselves under the weak labels `mask1`, `mask2` of
/// the two global views. As in [`crop_nce`], the crops hold every peer's rows, the anchors
/// are rows `own`, and the masks are the anchors' rows.
pub fn crop_swap<B: Backend>(
    crops: &[Tensor<B, 2>],
    mask1: Tensor<B, 2>,
    mask2: Tensor<B, 2>,
    own: Range<usize>,
    temperature: f64,
) -> Tensor<B, 1> {
    mean_over(crops.iter().flat_map(|crop| {
        [&mask1, &mask2]
            .map(|mask| sup_con_gathered(crop.clone(), mask.clone(), own.clone(), temperature))
            .into_iter()
    }))
}

fn mean_over<B: Backend>(terms: impl Iterator<Item = Tensor<B, 1>>) -> Tensor<B, 1> {
    let (sum, count) = terms.fold((None, 0usize), |(sum, count), term| {
        let sum = match sum {
            Some(sum) => sum + term,
            None => term,
        };
        (Some(sum), count + 1)
    });
    sum.expect("multi-crop terms need at least one local crop")
        .div_scalar(count as f64)
}
