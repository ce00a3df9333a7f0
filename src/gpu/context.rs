//! Adapter selection and the device/queue pair every GPU object is made on.

use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::gpu::kernel::KernelCache;

/// How to choose the GPU adapter.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// Backends to search; `None` means every backend compiled in.
    pub backends: Option<wgpu::Backends>,
    /// Adapter to use: its index in [`list_adapters`] order or a case-insensitive part of its name.
    pub adapter: Option<String>,
}

impl GpuOptions {
    /// Options from the environment: `NETLENS_BACKEND` (or wgpu's `WGPU_BACKEND`), a comma list of
    /// `vulkan`, `metal`, `dx12`, `gl`; and `NETLENS_ADAPTER`, an index or a part of a name.
    pub fn from_env() -> Self {
        let backends = std::env::var("NETLENS_BACKEND")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .map(|s| wgpu::Backends::from_comma_list(&s))
            .or_else(wgpu::Backends::from_env);
        let adapter = std::env::var("NETLENS_ADAPTER")
            .ok()
            .filter(|s| !s.trim().is_empty());
        Self { backends, adapter }
    }

    /// These options with the given values replacing the ones that are set.
    pub fn overridden(mut self, backend: Option<&str>, adapter: Option<&str>) -> Self {
        if let Some(b) = backend {
            self.backends = Some(wgpu::Backends::from_comma_list(b));
        }
        if let Some(a) = adapter {
            self.adapter = Some(a.to_string());
        }
        self
    }

    /// The backend sets to search, in order: the ones asked for, else the native APIs (Vulkan,
    /// Metal, DX12) first and GL only when they find nothing.
    fn search_order(&self) -> Vec<wgpu::Backends> {
        match self.backends {
            Some(b) => vec![b],
            None => vec![wgpu::Backends::PRIMARY, wgpu::Backends::SECONDARY],
        }
    }
}

fn new_instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

/// The adapters of the first backend set (in [`GpuOptions`]' search order) that has any.
async fn find_adapters(options: &GpuOptions) -> (wgpu::Backends, Vec<wgpu::Adapter>) {
    let order = options.search_order();
    for &backends in &order {
        let instance = new_instance(backends);
        let adapters = instance.enumerate_adapters(backends).await;
        if !adapters.is_empty() {
            return (backends, adapters);
        }
    }
    (
        order.iter().fold(wgpu::Backends::empty(), |a, &b| a | b),
        Vec::new(),
    )
}

/// Every adapter the given options can see, in the order used for indices.
pub async fn list_adapters(options: &GpuOptions) -> Vec<wgpu::AdapterInfo> {
    find_adapters(options)
        .await
        .1
        .iter()
        .map(|a| a.get_info())
        .collect()
}

/// Preference when no adapter is named: discrete, integrated, virtual, then software; Vulkan,
/// Metal and DX12 before GL at equal kind.
fn preference(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    let backend = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    };
    (kind, backend)
}

/// One line describing an adapter.
pub fn describe_adapter(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} ({:?}, {:?}, driver {} {})",
        info.name, info.backend, info.device_type, info.driver, info.driver_info
    )
}

/// The limits netlens needs at the least; more is requested where the adapter has it.
const MIN_STORAGE_BUFFERS: u32 = 6;
const MIN_INVOCATIONS: u32 = 256;
const MIN_WORKGROUP_STORAGE: u32 = 8192;

/// Fails when `offered` (an adapter's or a device's limits) is below what the kernels need.
fn check_limits(name: &str, offered: &wgpu::Limits) -> Result<()> {
    let check = |limit: &'static str, have: u32, need: u32| {
        if have < need {
            Err(Error::AdapterLimit {
                adapter: name.to_string(),
                limit,
                offered: have.into(),
                needed: need.into(),
            })
        } else {
            Ok(())
        }
    };
    check(
        "max_storage_buffers_per_shader_stage",
        offered.max_storage_buffers_per_shader_stage,
        MIN_STORAGE_BUFFERS,
    )?;
    check(
        "max_compute_invocations_per_workgroup",
        offered.max_compute_invocations_per_workgroup,
        MIN_INVOCATIONS,
    )?;
    check(
        "max_compute_workgroup_size_x",
        offered.max_compute_workgroup_size_x,
        MIN_INVOCATIONS,
    )?;
    check(
        "max_compute_workgroup_storage_size",
        offered.max_compute_workgroup_storage_size,
        MIN_WORKGROUP_STORAGE,
    )
}

/// The limits to request: wgpu's downlevel defaults raised to what the adapter offers for the
/// resources compute work uses (storage bindings and buffers, workgroup sizes and memory).
fn required_limits(adapter: &wgpu::Adapter) -> Result<wgpu::Limits> {
    let offered = adapter.limits();
    check_limits(&adapter.get_info().name, &offered)?;
    Ok(wgpu::Limits {
        max_storage_buffer_binding_size: offered.max_storage_buffer_binding_size,
        max_buffer_size: offered.max_buffer_size,
        max_storage_buffers_per_shader_stage: offered.max_storage_buffers_per_shader_stage,
        max_compute_workgroup_storage_size: offered.max_compute_workgroup_storage_size,
        max_compute_invocations_per_workgroup: offered.max_compute_invocations_per_workgroup,
        max_compute_workgroup_size_x: offered.max_compute_workgroup_size_x,
        max_compute_workgroup_size_y: offered.max_compute_workgroup_size_y,
        max_compute_workgroups_per_dimension: offered.max_compute_workgroups_per_dimension,
        ..wgpu::Limits::downlevel_defaults()
    })
}

/// "vulkan, gl", or "none".
fn backend_names(backends: wgpu::Backends) -> String {
    let names: Vec<String> = backends
        .iter_names()
        .map(|(name, _)| name.to_lowercase())
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// `  [i] adapter` lines, or `  (none)`.
fn adapter_list(infos: &[wgpu::AdapterInfo]) -> String {
    if infos.is_empty() {
        return "  (none)".to_string();
    }
    infos
        .iter()
        .enumerate()
        .map(|(i, info)| format!("  [{i}] {}", describe_adapter(info)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `found` part of [`Error::NoAdapter`] when the backends searched have no adapter: what the
/// other backends have, so that the user can pick one.
async fn found_elsewhere(options: &GpuOptions) -> String {
    let Some(asked) = options.backends else {
        return String::new();
    };
    let unknown = if asked.is_empty() {
        "; --backend / NETLENS_BACKEND names no known backend (vulkan, metal, dx12, gl)"
    } else {
        ""
    };
    // Boxed: this search runs inside the search of `GpuContext::new`, whose future holds it.
    let others = Box::pin(list_adapters(&GpuOptions {
        backends: Some(wgpu::Backends::all() - asked),
        adapter: None,
    }))
    .await;
    let hint = match others.first() {
        Some(first) => {
            let backend = format!("{:?}", first.backend).to_lowercase();
            format!("\n(choose one with --backend {backend} or NETLENS_BACKEND={backend})")
        }
        None => String::new(),
    };
    format!(
        "{unknown}; on the other backends: \n{}{hint}",
        adapter_list(&others)
    )
}

/// A device and queue with what netlens knows about them: limits, adapter, compiled kernels and
/// the first asynchronous GPU error, if any.
#[derive(Clone)]
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: Option<wgpu::AdapterInfo>,
    error: Arc<Mutex<Option<String>>>,
    pub(crate) kernels: Arc<KernelCache>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.adapter_name())
            .finish_non_exhaustive()
    }
}

impl GpuContext {
    /// Opens a headless device on the adapter the options choose.
    pub async fn new(options: &GpuOptions) -> Result<Self> {
        let (backends, adapters) = find_adapters(options).await;
        let infos: Vec<_> = adapters.iter().map(|a| a.get_info()).collect();
        let no_adapter = |found: String| Error::NoAdapter {
            backends: backend_names(backends),
            found,
        };
        if infos.is_empty() {
            return Err(no_adapter(found_elsewhere(options).await));
        }
        let index = match &options.adapter {
            Some(wanted) => {
                let by_index = wanted.parse::<usize>().ok().filter(|&i| i < infos.len());
                let wanted_lower = wanted.to_lowercase();
                by_index
                    .or_else(|| {
                        infos
                            .iter()
                            .position(|i| i.name.to_lowercase().contains(&wanted_lower))
                    })
                    .ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "no GPU adapter chosen (--adapter / NETLENS_ADAPTER): none matches \
                             `{wanted}` (an index below {} or part of a name); the adapters \
                             (backends tried: {}):\n{}",
                            infos.len(),
                            backend_names(backends),
                            adapter_list(&infos)
                        ))
                    })?
            }
            None => (0..infos.len())
                .min_by_key(|&i| preference(&infos[i]))
                .expect("at least one adapter"),
        };
        let adapter = &adapters[index];
        let info = infos[index].clone();
        let limits = required_limits(adapter)?;
        let wanted_features = wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS
            | wgpu::Features::SUBGROUP;
        let features = adapter.features() & wanted_features;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("netlens"),
                required_features: features,
                required_limits: limits,
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::Device {
                adapter: info.name.clone(),
                reason: e.to_string(),
            })?;
        log::info!("adapter: {}", describe_adapter(&info));
        Ok(Self::wrap(device, queue, Some(info)))
    }

    /// Wraps a device and queue the caller already has (an application that renders, say):
    /// netlens then creates no instance, adapter or device of its own, and everything it makes
    /// (buffers, pipelines, the tensors of a [`Plan`](crate::model::Plan)) lives on that device,
    /// usable with the caller's own encoders.
    ///
    /// The device's limits are used as they are (what the application requested); an error
    /// names a limit below what the kernels need. netlens installs no error handler or
    /// device-lost callback on a device it did not create, so GPU errors reach the
    /// application's handlers; a failed readback still returns [`Error::Gpu`].
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Result<Self> {
        check_limits("external device", &device.limits())?;
        Ok(Self::bare(device, queue, None))
    }

    /// Names the adapter of a device given to [`GpuContext::from_device`], for
    /// [`GpuContext::adapter_name`] and so for run manifests.
    pub fn with_adapter_info(mut self, info: wgpu::AdapterInfo) -> Self {
        self.adapter = Some(info);
        self
    }

    fn bare(device: wgpu::Device, queue: wgpu::Queue, adapter: Option<wgpu::AdapterInfo>) -> Self {
        Self {
            device,
            queue,
            adapter,
            error: Arc::new(Mutex::new(None)),
            kernels: Arc::new(KernelCache::default()),
        }
    }

    fn wrap(device: wgpu::Device, queue: wgpu::Queue, adapter: Option<wgpu::AdapterInfo>) -> Self {
        let ctx = Self::bare(device, queue, adapter);
        let slot = ctx.error.clone();
        ctx.device
            .on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                log::error!("GPU error: {e}");
                slot.lock().unwrap().get_or_insert_with(|| e.to_string());
            }));
        // The loss is the root cause of whatever failed just before it was reported (calls on a
        // destroyed device fail validation before the callback runs), so it goes first.
        let slot = ctx.error.clone();
        ctx.device.set_device_lost_callback(move |reason, message| {
            let lost = format!("device lost ({reason:?}): {message}");
            log::error!("GPU {lost}");
            let mut slot = slot.lock().unwrap();
            *slot = Some(match slot.take() {
                Some(first) => format!("{lost}; the first error before it: {first}"),
                None => lost,
            });
        });
        ctx
    }

    /// The device.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// The device's limits.
    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }

    /// The adapter's description, when netlens opened the device itself.
    pub fn adapter_info(&self) -> Option<&wgpu::AdapterInfo> {
        self.adapter.as_ref()
    }

    /// The adapter's name, or "external device" for a device handed in by the caller.
    pub fn adapter_name(&self) -> String {
        self.adapter
            .as_ref()
            .map(describe_adapter)
            .unwrap_or_else(|| "external device".to_string())
    }

    /// The largest storage binding the device allows, in bytes.
    pub fn max_binding(&self) -> u64 {
        let l = self.limits();
        l.max_storage_buffer_binding_size.min(l.max_buffer_size)
    }

    /// How many invocations a dispatch should have to keep the device busy: none for a CPU
    /// adapter (fewer, larger invocations are faster there), 64k for a GPU or a device handed in.
    pub fn target_invocations(&self) -> usize {
        match self.adapter.as_ref().map(|a| a.device_type) {
            Some(wgpu::DeviceType::Cpu) => 0,
            _ => 1 << 16,
        }
    }

    /// Fails with the first GPU error (validation, out of memory, device lost) seen so far.
    pub fn check(&self) -> Result<()> {
        match self.error.lock().unwrap().clone() {
            Some(e) => Err(Error::Gpu(e)),
            None => Ok(()),
        }
    }

    /// Records an error as if the GPU had reported it (used when a wait fails).
    pub(crate) fn fail(&self, message: String) -> Error {
        self.error.lock().unwrap().get_or_insert(message.clone());
        Error::Gpu(message)
    }
}
