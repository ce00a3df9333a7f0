//! Compute pipelines built once per (shader, entry point) and dispatches recorded from them.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::gpu::GpuContext;
use crate::gpu::shaders::Shader;

/// Override constants a kernel can set.
const MAX_CONSTANTS: usize = 6;

/// A kernel: one entry point of one WGSL file, with values for its override constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    /// The shader file.
    pub shader: Shader,
    /// The entry point.
    pub entry: &'static str,
    /// Override constants (name, value) set so far; the shader's defaults for the others.
    constants: [Option<(&'static str, u32)>; MAX_CONSTANTS],
}

impl Kernel {
    /// The kernel `entry` of `shader` with the shader's default constants.
    pub const fn new(shader: Shader, entry: &'static str) -> Self {
        Self {
            shader,
            entry,
            constants: [None; MAX_CONSTANTS],
        }
    }

    /// This kernel with the override constant `name` set to `value` (each kernel compiles
    /// once per distinct set of values).
    pub const fn with(mut self, name: &'static str, value: u32) -> Self {
        let mut i = 0;
        while i < MAX_CONSTANTS {
            if self.constants[i].is_none() {
                self.constants[i] = Some((name, value));
                return self;
            }
            i += 1;
        }
        panic!("too many override constants for one kernel");
    }

    /// The override constants set, in the order they were set.
    fn constants(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        self.constants.iter().flatten().copied()
    }
}

/// Whether `NETLENS_SHADER_CHECKS` asks for runtime bounds checks in every shader.
fn checks_forced() -> bool {
    std::env::var("NETLENS_SHADER_CHECKS").is_ok_and(|v| v != "0" && !v.is_empty())
}

/// Shader modules and pipelines of one device, compiled on first use.
#[derive(Default)]
pub(crate) struct KernelCache {
    modules: Mutex<HashMap<Shader, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<Kernel, wgpu::ComputePipeline>>,
}

impl GpuContext {
    /// The pipeline of a kernel, compiled once per context.
    pub fn pipeline(&self, kernel: Kernel) -> wgpu::ComputePipeline {
        if let Some(p) = self.kernels.pipelines.lock().unwrap().get(&kernel) {
            return p.clone();
        }
        let module = {
            let mut modules = self.kernels.modules.lock().unwrap();
            modules
                .entry(kernel.shader)
                .or_insert_with(|| {
                    let descriptor = wgpu::ShaderModuleDescriptor {
                        label: Some(kernel.shader.name()),
                        source: wgpu::ShaderSource::Wgsl(kernel.shader.source().into()),
                    };
                    if kernel.shader.trusted() && !checks_forced() {
                        // SAFETY: see `Shader::trusted`: every access is guarded in the shader
                        // and the buffers are checked to hold the sizes the guards use.
                        unsafe {
                            self.device().create_shader_module_trusted(
                                descriptor,
                                wgpu::ShaderRuntimeChecks::unchecked(),
                            )
                        }
                    } else {
                        self.device().create_shader_module(descriptor)
                    }
                })
                .clone()
        };
        let constants: Vec<(&str, f64)> = kernel
            .constants()
            .map(|(name, value)| (name, value as f64))
            .collect();
        let pipeline = self
            .device()
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(kernel.entry),
                layout: None,
                module: &module,
                entry_point: Some(kernel.entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    ..Default::default()
                },
                cache: None,
            });
        self.kernels
            .pipelines
            .lock()
            .unwrap()
            .insert(kernel, pipeline.clone());
        pipeline
    }

    /// A dispatch of `kernel` with a uniform holding `params` at binding 0 and `buffers` in
    /// order at bindings 1, 2, … (the layout of every netlens shader).
    pub fn dispatch_with<P: bytemuck::Pod>(
        &self,
        kernel: Kernel,
        params: &P,
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) -> Dispatch {
        let slots: Vec<_> = buffers.iter().map(|&b| Some(b)).collect();
        self.dispatch_slots(kernel, params, &slots, workgroups)
    }

    /// [`GpuContext::dispatch_with`] for a kernel that reads only some of the bindings 1, 2, …:
    /// `None` leaves one out (the layout derived from WGSL has no entry for a binding that no
    /// code of the entry point touches).
    pub fn dispatch_slots<P: bytemuck::Pod>(
        &self,
        kernel: Kernel,
        params: &P,
        buffers: &[Option<&wgpu::Buffer>],
        workgroups: [u32; 3],
    ) -> Dispatch {
        let uniform = self.uniform(kernel.entry, params);
        let mut bindings = vec![(0, uniform.as_entire_buffer_binding())];
        bindings.extend(
            buffers
                .iter()
                .enumerate()
                .filter_map(|(i, b)| b.map(|b| (i as u32 + 1, b.as_entire_buffer_binding()))),
        );
        self.bind(kernel, bindings, workgroups)
    }

    /// A dispatch of `kernel` with `buffers` bound in order at bindings 0, 1, …
    pub fn dispatch(
        &self,
        kernel: Kernel,
        buffers: &[wgpu::BufferBinding<'_>],
        workgroups: [u32; 3],
    ) -> Dispatch {
        let bindings = (0..).zip(buffers.iter().cloned()).collect();
        self.bind(kernel, bindings, workgroups)
    }

    /// A dispatch of `kernel` with each buffer at the binding it is paired with.
    fn bind(
        &self,
        kernel: Kernel,
        bindings: Vec<(u32, wgpu::BufferBinding<'_>)>,
        workgroups: [u32; 3],
    ) -> Dispatch {
        let pipeline = self.pipeline(kernel);
        let entries: Vec<_> = bindings
            .into_iter()
            .map(|(binding, b)| wgpu::BindGroupEntry {
                binding,
                resource: wgpu::BindingResource::Buffer(b),
            })
            .collect();
        let bind_group = self.device().create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.entry),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        Dispatch {
            kernel,
            pipeline,
            bind_group,
            workgroups,
        }
    }
}

/// A kernel with its bindings and grid, ready to be recorded any number of times.
#[derive(Clone, Debug)]
pub struct Dispatch {
    kernel: Kernel,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
}

impl Dispatch {
    /// The kernel this dispatch runs.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Records the dispatch into a compute pass.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        crate::gpu::counts::bump(|c| c.dispatches += 1);
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        let [x, y, z] = self.workgroups;
        pass.dispatch_workgroups(x, y, z);
    }
}

/// Records dispatches in order into one compute pass of `encoder`.
pub fn record_all<'a>(
    encoder: &mut wgpu::CommandEncoder,
    label: &str,
    dispatches: impl IntoIterator<Item = &'a Dispatch>,
) {
    crate::gpu::counts::bump(|c| c.passes += 1);
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some(label),
        timestamp_writes: None,
    });
    for d in dispatches {
        d.record(&mut pass);
    }
}

/// The most workgroups a grid may have along one dimension (WebGPU's guaranteed minimum).
pub const MAX_GROUPS_PER_DIM: u32 = 65535;

/// A grid of `groups` workgroups laid out on x, then y once x is full. Kernels recover the linear
/// index as `x + y * num_workgroups.x` and skip the excess.
pub fn grid(groups: u32) -> [u32; 3] {
    if groups <= MAX_GROUPS_PER_DIM {
        [groups.max(1), 1, 1]
    } else {
        [MAX_GROUPS_PER_DIM, groups.div_ceil(MAX_GROUPS_PER_DIM), 1]
    }
}

/// The grid for one invocation per element with 256-invocation workgroups.
pub fn grid_for(elements: usize) -> [u32; 3] {
    grid((elements as u32).div_ceil(256))
}
