//! `--device N` for WGPU: N indexes the adapters wgpu lists for the platform's graphics API
//! (Vulkan on Linux), and is translated to cubecl's per-type device numbering.

use anyhow::{Result, bail};
use burn::backend::wgpu::graphics::{AutoGraphicsApi, GraphicsApi};
use burn::backend::wgpu::{WgpuDevice, WgpuRuntime};
use cubecl::Runtime;
// wgpu's native futures complete without an executor; this polls one to the end.
use cubecl::future::block_on;
use wgpu::DeviceType;

pub fn select(index: Option<usize>) -> Result<(WgpuDevice, String)> {
    let api = AutoGraphicsApi::backend();
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: api.into(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapters: Vec<wgpu::AdapterInfo> = block_on(instance.enumerate_adapters(api.into()))
        .iter()
        .map(|adapter| adapter.get_info())
        .collect();
    if adapters.is_empty() {
        bail!(
            "backend wgpu: no {api:?} adapter found; install a driver (without a GPU on \
             Debian/Ubuntu: `apt-get install mesa-vulkan-drivers`, a CPU Vulkan)"
        );
    }
    let Some(index) = index else {
        let name = match block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
        })) {
            Ok(adapter) => describe(&adapter.get_info()),
            Err(_) => describe(&adapters[0]),
        };
        return Ok((WgpuDevice::DefaultDevice, format!("wgpu ({name})")));
    };
    let Some(info) = adapters.get(index) else {
        bail!(
            "--device {index}: wgpu sees {} adapter(s): {}",
            adapters.len(),
            listing(&adapters)
        );
    };
    let same_type_before = adapters[..index]
        .iter()
        .filter(|other| other.device_type == info.device_type)
        .count();
    let device = match info.device_type {
        DeviceType::DiscreteGpu => WgpuDevice::DiscreteGpu(same_type_before),
        DeviceType::IntegratedGpu => WgpuDevice::IntegratedGpu(same_type_before),
        DeviceType::VirtualGpu => WgpuDevice::VirtualGpu(same_type_before),
        DeviceType::Cpu if same_type_before == 0 => WgpuDevice::Cpu,
        _ => bail!(
            "--device {index}: adapter {} cannot be addressed by the WGPU backend; choose one \
             of: {}",
            describe(info),
            listing(&adapters)
        ),
    };
    Ok((device, format!("wgpu ({})", describe(info))))
}

pub fn memory_reserved(device: &WgpuDevice) -> Option<u64> {
    WgpuRuntime::client(device)
        .memory_usage()
        .ok()
        .map(|usage| usage.bytes_reserved)
}

fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{}, {:?}, {:?}", info.name, info.device_type, info.backend)
}

fn listing(adapters: &[wgpu::AdapterInfo]) -> String {
    adapters
        .iter()
        .enumerate()
        .map(|(i, info)| format!("{i} = {}", describe(info)))
        .collect::<Vec<_>>()
        .join("; ")
}
