//! Initial weights that are a pure function of a seed, whatever other threads do.
//!
//! Burn's initialisers draw from the backend's generator, and Flex's is one process-wide
//! static: `Backend::seed` replaces it and every `float_random` advances it. Two threads that
//! each seed and draw therefore interleave: one thread's seed lands between another's draws and
//! the "same" seed gives different weights (issue 15: the float64 gradient tests built their
//! f32 and f64 models from different weights when two tests initialised at once).
//!
//! The fix chosen here is one lock held over every seed-and-draw selfsup makes. The other way,
//! drawing every tensor from a generator of our own and loading the values, would need a second
//! table of every layer's distribution beside Burn's initialisers, and would change every
//! initial weight (so every published figure's run) for the same seed. With the lock the
//! weights stay exactly those a lone thread draws. The lock is held only while modules are
//! built, and nothing in training draws from a backend generator afterwards (steps draw from
//! `ChaCha8Rng` streams of their own).
//!
//! Burn's parameters are lazy: `init` records how to draw a tensor, and the draw happens at the
//! first read. [`seeded_module`] therefore reads every parameter before it lets go of the lock.

use std::sync::{Mutex, MutexGuard};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor};

static GENERATOR: Mutex<()> = Mutex::new(());

/// The lock every seed of, and draw from, a backend's generator in this process is made under.
/// Not re-entrant: code holding it must not call [`seeded_module`].
pub fn generator_lock() -> MutexGuard<'static, ()> {
    // A panic while holding it leaves no state behind worth refusing: the next holder seeds.
    GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `build(device)` with `B`'s generator seeded from `seed` and every parameter drawn, under
/// [`generator_lock`]: the same seed gives bit-identical weights in every thread.
pub fn seeded_module<B: Backend, M: Module<B>>(
    device: &B::Device,
    seed: u64,
    build: impl FnOnce(&B::Device) -> M,
) -> M {
    let _guard = generator_lock();
    B::seed(device, seed);
    let module = build(device);
    draw_lazy_parameters(&module);
    module
}

/// Reads every parameter of `module`, so the draws a lazy parameter defers happen now, in the
/// module's own field order.
fn draw_lazy_parameters<B: Backend, M: Module<B>>(module: &M) {
    module.visit(&mut ReadEveryParameter);
}

struct ReadEveryParameter;

impl<B: Backend> ModuleVisitor<B> for ReadEveryParameter {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        param.val();
    }

    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<B, D, Int>>) {
        param.val();
    }

    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<B, D, Bool>>) {
        param.val();
    }
}
