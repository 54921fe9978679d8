//! `--device N` for CUDA: checks the driver and the device count before Burn touches them.

use anyhow::{Result, bail};
use burn::backend::cuda::CudaDevice;
use cubecl::Runtime;
use cubecl::cuda::CudaRuntime;
use cudarc::driver::CudaContext;

pub fn select(index: Option<usize>) -> Result<(CudaDevice, String)> {
    // cudarc loads libcuda on first use and panics when it is missing.
    let count = match super::probe::catch_quietly(CudaContext::device_count) {
        Ok(Ok(count)) => count.max(0) as usize,
        Ok(Err(error)) => bail!("backend cuda: the CUDA driver reports {error}"),
        Err(_) => bail!(
            "backend cuda: no CUDA driver (libcuda.so) found; install the NVIDIA driver, or use \
             --backend wgpu or cpu"
        ),
    };
    if count == 0 {
        bail!("backend cuda: the CUDA driver sees no device");
    }
    let index = index.unwrap_or(0);
    if index >= count {
        bail!(
            "--device {index}: there are {count} CUDA device(s), numbered 0 to {}",
            count - 1
        );
    }
    let name = CudaContext::new(index)
        .and_then(|context| context.name())
        .unwrap_or_else(|_| "unnamed".to_string());
    Ok((CudaDevice::new(index), format!("cuda:{index} ({name})")))
}

pub fn memory_reserved(device: &CudaDevice) -> Option<u64> {
    CudaRuntime::client(device)
        .memory_usage()
        .ok()
        .map(|usage| usage.bytes_reserved)
}
