//! Channel concatenation (the fire modules' expand outputs): forward, and gradient with respect
//! to each input. Kernels in `shaders/concat.wgsl`.

use crate::gpu::{Dispatch, GpuContext, Kernel, Shader, grid_for};
use crate::ops::{BackwardMode, check_len};

/// Uniform block of `concat.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct ConcatParams {
    batch: u32,
    part_channels: u32,
    total_channels: u32,
    offset: u32,
    plane: u32,
    accumulate: u32,
    _pad: [u32; 2],
}

/// Where one input ("part") sits inside a channel concatenation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConcatPart {
    /// Images in the batch.
    pub batch: usize,
    /// Channels of this part.
    pub channels: usize,
    /// Channels of the concatenation.
    pub total_channels: usize,
    /// First channel of this part in the concatenation.
    pub offset: usize,
    /// Elements per channel (h * w).
    pub plane: usize,
}

impl ConcatPart {
    fn params(&self, accumulate: bool) -> ConcatParams {
        ConcatParams {
            batch: self.batch as u32,
            part_channels: self.channels as u32,
            total_channels: self.total_channels as u32,
            offset: self.offset as u32,
            plane: self.plane as u32,
            accumulate: accumulate as u32,
            _pad: [0; 2],
        }
    }

    fn len(&self) -> usize {
        self.batch * self.channels * self.plane
    }

    fn whole_len(&self) -> usize {
        self.batch * self.total_channels * self.plane
    }

    /// Copies the part into its channels of the concatenation.
    pub fn forward(&self, ctx: &GpuContext, part: &wgpu::Buffer, whole: &wgpu::Buffer) -> Dispatch {
        check_len(part, self.len(), "concat part");
        check_len(whole, self.whole_len(), "concatenation");
        let params = ctx.uniform("concat params", &self.params(false));
        ctx.dispatch(
            Kernel::new(Shader::Concat, "forward"),
            &[
                params.as_entire_buffer_binding(),
                part.as_entire_buffer_binding(),
                whole.as_entire_buffer_binding(),
            ],
            grid_for(self.len()),
        )
    }

    /// Copies (or adds) the part's channels of the concatenation's gradient into the part's gradient.
    pub fn backward(
        &self,
        ctx: &GpuContext,
        d_whole: &wgpu::Buffer,
        d_part: &wgpu::Buffer,
        mode: BackwardMode,
    ) -> Dispatch {
        check_len(d_whole, self.whole_len(), "concatenation gradient");
        check_len(d_part, self.len(), "concat part gradient");
        let params = ctx.uniform("concat params", &self.params(mode.accumulate));
        ctx.dispatch(
            Kernel::new(Shader::Concat, "backward"),
            &[
                params.as_entire_buffer_binding(),
                d_whole.as_entire_buffer_binding(),
                d_part.as_entire_buffer_binding(),
            ],
            grid_for(self.len()),
        )
    }
}

/// Plain-Rust reference implementations.
pub mod cpu {
    /// Concatenates tensors [n, c_i, plane] along channels.
    pub fn forward(parts: &[(&[f32], usize)], batch: usize, plane: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for n in 0..batch {
            for &(data, c) in parts {
                out.extend_from_slice(&data[n * c * plane..(n + 1) * c * plane]);
            }
        }
        out
    }

    /// Splits the concatenation's gradient back into one gradient per part.
    pub fn backward(
        d_whole: &[f32],
        channels: &[usize],
        batch: usize,
        plane: usize,
    ) -> Vec<Vec<f32>> {
        let total: usize = channels.iter().sum();
        let mut offset = 0;
        channels
            .iter()
            .map(|&c| {
                let mut part = Vec::with_capacity(batch * c * plane);
                for n in 0..batch {
                    let start = (n * total + offset) * plane;
                    part.extend_from_slice(&d_whole[start..start + c * plane]);
                }
                offset += c;
                part
            })
            .collect()
    }
}
