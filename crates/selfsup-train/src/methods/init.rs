//! Initial weights that depend on the seed alone: drawn on the host backend, copied to the
//! device.

use burn::module::Module;
use burn::store::ModuleSnapshot;
use burn::tensor::backend::{AutodiffBackend, Backend};
use selfsup_backbones::generator_lock;

use super::Method;
use super::method::DataInfo;
use crate::config::Config;
use crate::{HostBackend, TrainError};

/// The method with weights drawn on the host backend from `config.seed` and copied to `device`:
/// the same seed starts from the same weights on cpu, wgpu and cuda, which makes their runs
/// comparable step by step, and in every thread of the process at once.
pub fn init_portable<B: AutodiffBackend, M: Method<B>>(
    config: &Config,
    data: &DataInfo,
    device: &B::Device,
) -> Result<M, TrainError> {
    init_portable_module(
        config.seed,
        |host| M::OnHost::new(config, data, host),
        || M::new(config, data, device),
    )
    .map_err(|source| TrainError::Initialising {
        method: M::NAME,
        source: Box::new(source),
    })
}

/// `on_host(host device)` drawn from `seed` on the host backend, its values applied to
/// `on_device()`, the same module built for the target device.
///
/// Everything runs under [`generator_lock`]: the host draw (Flex's generator is one static
/// for the process), and the device build too, because a module may draw eagerly there
/// (memory banks, queues) and on the CPU backend that advances the same static. Parameters
/// the device build leaves lazy are replaced without ever being drawn. The device's own
/// generator is not seeded: nothing drawn from it after this point reaches the weights.
pub fn init_portable_module<B: Backend, H: Module<HostBackend>, M: Module<B>>(
    seed: u64,
    on_host: impl FnOnce(&burn::tensor::Device<HostBackend>) -> H,
    on_device: impl FnOnce() -> M,
) -> Result<M, TrainError> {
    let _guard = generator_lock();
    let host_device = Default::default();
    HostBackend::seed(&host_device, seed);
    let snapshots = on_host(&host_device).collect(None, None, false);
    let mut model = on_device();
    let applied = model.apply(snapshots, None, None, false);
    if !applied.errors.is_empty() || !applied.missing.is_empty() || !applied.unused.is_empty() {
        return Err(TrainError::WeightCopy(format!("{applied:?}")));
    }
    Ok(model)
}
