//! Bias + ReLU as a layer of its own: forward, and gradient with respect to the input.
//! Kernels in `shaders/relu.wgsl`. (Convolutions and linear layers fuse it instead.)

use crate::error::Result;
use crate::gpu::uniform::uniform_block;
use crate::gpu::{Dispatch, GpuContext, Kernel, Shader, grid_for};
use crate::ops::{BackwardMode, check_len};

uniform_block! {
    /// Uniform block of `relu.wgsl`.
    pub(crate) struct ReluParams {
        len: u32,
        channels: u32,
        plane: u32,
        has_bias: u32,
        accumulate: u32,
        guided: u32,
        _pad0: u32,
        _pad1: u32,
    }
}

/// A bias + ReLU over tensors [n, channels, plane].
#[derive(Debug)]
pub struct BiasRelu {
    channels: usize,
    bias: Option<wgpu::Buffer>,
}

impl BiasRelu {
    /// A plain ReLU (no bias) when `bias` is `None`, else one bias per channel.
    pub fn new(ctx: &GpuContext, channels: usize, bias: Option<&[f32]>) -> Result<Self> {
        if let Some(b) = bias {
            assert_eq!(b.len(), channels, "one bias per channel");
        }
        let bias = bias.map(|b| ctx.upload("relu bias", b)).transpose()?;
        Ok(Self { channels, bias })
    }

    fn params(&self, len: usize, plane: usize, mode: BackwardMode) -> ReluParams {
        ReluParams {
            len: len as u32,
            channels: self.channels as u32,
            plane: plane as u32,
            has_bias: self.bias.is_some() as u32,
            accumulate: mode.accumulate as u32,
            guided: mode.guided as u32,
            ..Default::default()
        }
    }

    /// y = max(x + b, 0) over `len` elements with `plane` elements per channel.
    pub fn forward(
        &self,
        ctx: &GpuContext,
        len: usize,
        plane: usize,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
    ) -> Dispatch {
        check_len(x, len, "relu input");
        check_len(y, len, "relu output");
        let bias = self.bias.as_ref().unwrap_or(x);
        ctx.dispatch_with(
            Kernel::new(Shader::Relu, "forward"),
            &self.params(len, plane, BackwardMode::default()),
            &[x, bias, y],
            grid_for(len),
        )
    }

    /// dx (+)= dy * (y > 0).
    pub fn backward(
        &self,
        ctx: &GpuContext,
        len: usize,
        dy: &wgpu::Buffer,
        y: &wgpu::Buffer,
        dx: &wgpu::Buffer,
        mode: BackwardMode,
    ) -> Dispatch {
        for (buffer, what) in [
            (dy, "relu output gradient"),
            (y, "relu output"),
            (dx, "relu input gradient"),
        ] {
            check_len(buffer, len, what);
        }
        ctx.dispatch_with(
            Kernel::new(Shader::Relu, "backward"),
            &self.params(len, 1, mode),
            &[dy, y, dx],
            grid_for(len),
        )
    }
}

/// Plain-Rust reference implementations.
pub mod cpu {
    /// `y = max(x + b[c], 0)` for x `[n, channels, plane]`; `bias` empty for a plain ReLU.
    pub fn forward(x: &[f32], channels: usize, plane: usize, bias: &[f32]) -> Vec<f32> {
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let b = if bias.is_empty() {
                    0.0
                } else {
                    bias[(i / plane) % channels]
                };
                (v + b).max(0.0)
            })
            .collect()
    }

    /// dx = dy where y > 0, else 0.
    pub fn backward(dy: &[f32], y: &[f32]) -> Vec<f32> {
        dy.iter()
            .zip(y)
            .map(|(&g, &v)| if v > 0.0 { g } else { 0.0 })
            .collect()
    }
}
