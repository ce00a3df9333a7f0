//! The update steps the gradient loops share (attacks, attribution, class visualization):
//! per-image squared norms, normalized gradient steps, axpy and per-channel clamping, as methods
//! on [`ImageBatch`]. Kernels in `shaders/update.wgsl`.

use crate::error::Result;
use crate::gpu::uniform::uniform_block;
use crate::gpu::{Dispatch, GpuContext, ImageBatch, Kernel, Shader, grid, grid_for};

uniform_block! {
    /// Uniform block of `update.wgsl`.
    pub(crate) struct UpdateParams {
        batch: u32,
        len: u32,
        /// Elements per channel (h * w), for per-channel bounds.
        plane: u32,
        /// Step size, and the constant guarding the division by a norm.
        rate: f32,
        eps: f32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

/// Guards the division by a gradient norm that may be zero.
pub const NORM_EPS: f32 = 1e-12;

/// The update steps on a batch of images.
impl ImageBatch {
    fn update_params(&self, rate: f32) -> UpdateParams {
        UpdateParams {
            batch: self.batch as u32,
            len: self.per_image() as u32,
            plane: self.plane() as u32,
            rate,
            eps: NORM_EPS,
            ..Default::default()
        }
    }

    fn step_elementwise(
        &self,
        ctx: &GpuContext,
        entry: &'static str,
        rate: f32,
        buffers: &[&wgpu::Buffer],
    ) -> Dispatch {
        ctx.dispatch_with(
            Kernel::new(Shader::Update, entry),
            &self.update_params(rate),
            buffers,
            grid_for(self.values()),
        )
    }

    /// `sums[n] = ||x[n]||^2`.
    pub fn sum_squares(&self, ctx: &GpuContext, x: &wgpu::Buffer, sums: &wgpu::Buffer) -> Dispatch {
        ctx.dispatch_with(
            Kernel::new(Shader::Update, "sum_squares"),
            &self.update_params(0.0),
            &[x, sums],
            grid(self.batch as u32),
        )
    }

    /// `x[n] += rate * scale[n] * g[n] / ||g[n]||`, given the squared norms from [`Self::sum_squares`].
    pub fn normalized_step(
        &self,
        ctx: &GpuContext,
        rate: f32,
        g: &wgpu::Buffer,
        norms2: &wgpu::Buffer,
        scale: &wgpu::Buffer,
        x: &wgpu::Buffer,
    ) -> Dispatch {
        self.step_elementwise(ctx, "normalized_step", rate, &[g, norms2, scale, x])
    }

    /// y += rate * x.
    pub fn axpy(
        &self,
        ctx: &GpuContext,
        rate: f32,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
    ) -> Dispatch {
        self.step_elementwise(ctx, "axpy", rate, &[x, y])
    }

    /// Clamps channel c of every image to `[bounds[2c], bounds[2c + 1]]`.
    pub fn clamp_channels(
        &self,
        ctx: &GpuContext,
        bounds: &wgpu::Buffer,
        x: &wgpu::Buffer,
    ) -> Dispatch {
        self.step_elementwise(ctx, "clamp_channels", 0.0, &[bounds, x])
    }
}

/// The valid range of every channel of a normalized image
/// ([`image_bounds`](crate::preprocess::image_bounds)) as [`ImageBatch::clamp_channels`] reads it.
pub fn upload_image_bounds(ctx: &GpuContext) -> Result<wgpu::Buffer> {
    let bounds: Vec<f32> = crate::preprocess::image_bounds()
        .iter()
        .flat_map(|&(lo, hi)| [lo, hi])
        .collect();
    ctx.upload("image bounds", &bounds)
}

/// Clamps channel c of every image to `bounds[c]` on the host, as
/// [`ImageBatch::clamp_channels`] does on the GPU.
pub fn clamp_channels(x: &mut [f32], bounds: &[(f32, f32)], plane: usize) {
    let len = bounds.len() * plane;
    for (i, v) in x.iter_mut().enumerate() {
        let (lo, hi) = bounds[(i % len) / plane];
        *v = v.clamp(lo, hi);
    }
}

/// Plain-Rust reference implementations.
pub mod cpu {
    pub use super::clamp_channels;

    /// `||x[n]||^2` for each image of `len` values.
    pub fn sum_squares(x: &[f32], len: usize) -> Vec<f32> {
        x.chunks(len)
            .map(|v| v.iter().map(|&a| a as f64 * a as f64).sum::<f64>() as f32)
            .collect()
    }

    /// `x[n] += rate * scale[n] * g[n] / (||g[n]|| + eps)`.
    pub fn normalized_step(x: &mut [f32], g: &[f32], scale: &[f32], rate: f32, len: usize) {
        let norms = sum_squares(g, len);
        for (n, (xs, gs)) in x.chunks_mut(len).zip(g.chunks(len)).enumerate() {
            let s = rate * scale[n] / (norms[n].sqrt() + super::NORM_EPS);
            for (a, &b) in xs.iter_mut().zip(gs) {
                *a += s * b;
            }
        }
    }
}
