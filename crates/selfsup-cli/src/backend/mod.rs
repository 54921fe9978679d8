//! The one place where a Burn backend is chosen. Everything below is generic over
//! `B: AutodiffBackend`; GPU backends exist only when their cargo feature is built.

#[cfg(feature = "cuda")]
mod cuda;
mod probe;
#[cfg(feature = "wgpu")]
mod wgpu;

use anyhow::{Result, bail};

use burn::tensor::backend::AutodiffBackend;
use selfsup_distributed::TrackedCollective;

use crate::config::BackendKind;

pub use selfsup_train::HostBackend;

/// Work that runs on whichever backend the config names. The backend is an autodiff one whose
/// collectives can sit in the autodiff graph (every `Autodiff<_>` is), for data-parallel runs.
pub trait BackendJob {
    type Output;

    /// `device_name` says what runs it, for logs and results (e.g. the GPU adapter).
    fn run<B: TrackedCollective>(
        self,
        device: B::Device,
        device_name: &str,
    ) -> Result<Self::Output>;
}

/// Runs `job` on `backend` (device `device`, or the backend's default), after checking that the
/// backend was compiled in and the device exists and answers.
pub fn run_on<J: BackendJob>(
    backend: BackendKind,
    device: Option<usize>,
    job: J,
) -> Result<J::Output> {
    match backend {
        BackendKind::Cpu => {
            if let Some(index) = device.filter(|&i| i != 0) {
                bail!("--device {index}: the cpu backend has one device (0)");
            }
            let threads = rayon::current_num_threads();
            let kernels = if selfsup_kernels::enabled() {
                ""
            } else {
                ", kernels off"
            };
            start::<HostBackend, J>(
                Default::default(),
                &format!("cpu (flex, {threads} threads{kernels})"),
                job,
            )
        }
        #[cfg(feature = "wgpu")]
        BackendKind::Wgpu => {
            let (selected, name) = wgpu::select(device)?;
            start::<burn::backend::Autodiff<burn::backend::Wgpu>, J>(selected, &name, job)
        }
        #[cfg(feature = "cuda")]
        BackendKind::Cuda => {
            let (selected, name) = cuda::select(device)?;
            start::<burn::backend::Autodiff<burn::backend::Cuda>, J>(selected, &name, job)
        }
        #[allow(unreachable_patterns)]
        missing => Err(not_compiled(missing)),
    }
}

fn start<B: TrackedCollective, J: BackendJob>(
    device: B::Device,
    name: &str,
    job: J,
) -> Result<J::Output> {
    probe::check::<B>(&device, name)?;
    job.run::<B>(device, name)
}

fn not_compiled(backend: BackendKind) -> anyhow::Error {
    let feature = match backend {
        BackendKind::Cpu => "cpu",
        BackendKind::Wgpu => "wgpu",
        BackendKind::Cuda => "cuda",
    };
    anyhow::anyhow!(
        "backend {feature} is not in this build: rebuild with `cargo build --release --features \
         {feature}` (or run `cargo xtask pretrain --backend {feature} ...`, which does)"
    )
}

/// The backends this build can run, for `--help`-style listings and the benchmarks.
pub fn compiled_backends() -> Vec<BackendKind> {
    let mut backends = vec![BackendKind::Cpu];
    if cfg!(feature = "wgpu") {
        backends.push(BackendKind::Wgpu);
    }
    if cfg!(feature = "cuda") {
        backends.push(BackendKind::Cuda);
    }
    backends
}

/// Bytes the backend's allocator holds on `device`, where it can say (GPU backends).
pub fn device_memory_reserved<B: AutodiffBackend>(device: &B::Device) -> Option<u64> {
    let any: &dyn std::any::Any = device;
    #[cfg(feature = "wgpu")]
    if let Some(device) = any.downcast_ref::<burn::backend::wgpu::WgpuDevice>() {
        return wgpu::memory_reserved(device);
    }
    #[cfg(feature = "cuda")]
    if let Some(device) = any.downcast_ref::<burn::backend::cuda::CudaDevice>() {
        return cuda::memory_reserved(device);
    }
    let _ = any;
    None
}
