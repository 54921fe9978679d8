//! The gradient average of a data-parallel step: every gradient in one flat all-reduce, in the
//! order the model visits its parameters.
//!
//! Why not `GradientsParams::all_reduce` (burn-optim's `collective` feature): it reduces one
//! parameter at a time in `ParamId` order, and `ParamId`s are random per process, so two
//! processes pair different parameters (a shape error, or silently wrong sums when shapes
//! agree). The visit order is the model's structure, the same on every peer. One flat tensor
//! is also one round trip per step instead of one per parameter.

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};

use crate::collective::{Collective, CollectiveError, Reduce, read_back};

/// Values appended to the flat gradients so that peers with different parameter sets fail
/// loudly: the count of gradients and their total length (in two parts, each small enough to
/// stay exact in f32 when summed over the peers).
const LAYOUT_VALUES: usize = 3;

/// `grads` averaged over the peers (the mean of every peer's gradient of each parameter that
/// has one), and the sums over the peers of `extras` (a step's loss, its flags), which travel
/// in the same all-reduce. Every peer must call it after its backward pass with the same
/// model structure and as many extras.
pub fn all_reduce_gradients<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: GradientsParams,
    collective: &dyn Collective<B::InnerBackend>,
    extras: &[f32],
) -> Result<(GradientsParams, Vec<f32>), CollectiveError> {
    if let Some(error) = collective.failure() {
        return Err(error);
    }
    let world = collective.world();
    if world == 1 {
        return Ok((grads, extras.to_vec()));
    }
    let mut flatten = Flatten::<B> {
        grads: &grads,
        parts: Vec::new(),
        len: 0,
    };
    model.visit(&mut flatten);
    let Flatten { parts, len, .. } = flatten;
    let device = match parts.first() {
        Some(first) => first.device(),
        None => Default::default(),
    };
    let count = parts.len();
    let layout = [count as f32, (len % 4096) as f32, (len / 4096) as f32];
    let mut tail = layout.to_vec();
    tail.extend_from_slice(extras);
    let mut all = parts;
    all.push(Tensor::from_data(
        TensorData::new(tail.clone(), [tail.len()]),
        &device,
    ));
    let summed = collective.all_reduce(Tensor::cat(all, 0), Reduce::Sum)?;
    let tail = read_back(
        summed.clone().narrow(0, len, tail.len()),
        collective.rank(),
        "the gradients' layout",
    )?;
    check_layout(
        &tail[..LAYOUT_VALUES],
        len,
        layout,
        world,
        collective.rank(),
    )?;
    let extras = tail[LAYOUT_VALUES..].to_vec();
    if count == 0 {
        return Ok((grads, extras));
    }
    let mean = summed.narrow(0, 0, len).div_scalar(world as f64);
    let mut unflatten = Unflatten::<B> {
        grads: &grads,
        flat: mean,
        offset: 0,
        averaged: GradientsParams::new(),
    };
    model.visit(&mut unflatten);
    Ok((unflatten.averaged, extras))
}

/// Every peer appended the same layout values, so their sum is `world` times this peer's.
fn check_layout(
    seen: &[f32],
    len: usize,
    layout: [f32; LAYOUT_VALUES],
    world: usize,
    rank: usize,
) -> Result<(), CollectiveError> {
    let expected: Vec<f32> = layout.iter().map(|v| v * world as f32).collect();
    if seen != expected.as_slice() {
        return Err(CollectiveError::Layout {
            rank,
            message: format!(
                "the peers have different gradients to average ({} gradients of {len} values \
                 here; the sums over the peers were {seen:?}, not {expected:?})",
                layout[0]
            ),
        });
    }
    Ok(())
}

/// Collects every gradient, flattened, in visit order.
struct Flatten<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    parts: Vec<Tensor<B::InnerBackend, 1>>,
    len: usize,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Flatten<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let numel = grad.shape().num_elements();
            self.len += numel;
            self.parts.push(grad.reshape([numel]));
        }
    }
}

/// Hands each parameter that had a gradient its slice of the averaged flat tensor, in the same
/// visit order as [`Flatten`].
struct Unflatten<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    flat: Tensor<B::InnerBackend, 1>,
    offset: usize,
    averaged: GradientsParams,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Unflatten<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let dims = grad.dims();
            let numel = grad.shape().num_elements();
            let values = self
                .flat
                .clone()
                .narrow(0, self.offset, numel)
                .reshape(dims);
            self.offset += numel;
            self.averaged
                .register::<B::InnerBackend, D>(param.id, values);
        }
    }
}
