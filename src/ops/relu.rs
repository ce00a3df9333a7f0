//! Bias + ReLU as a layer of its own: forward, and gradient with respect to the input.
//! Kernels in `shaders/relu.wgsl`. (Convolutions and linear layers fuse it instead.)

use crate::error::{Error, Result};
use crate::gpu::uniform::uniform_block;
use crate::gpu::{Dispatch, GpuContext, Kernel, Shader, Tensor, grid_for};
use crate::ops::{BackwardMode, expect_shape};

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

/// A bias + ReLU over tensors [n, channels, h, w] (a plain ReLU over any shape).
#[derive(Debug)]
pub struct BiasRelu {
    channels: usize,
    bias: Option<wgpu::Buffer>,
}

impl BiasRelu {
    /// A plain ReLU (no bias) when `bias` is `None`, else one bias per channel.
    pub fn new(ctx: &GpuContext, channels: usize, bias: Option<&[f32]>) -> Result<Self> {
        if let Some(b) = bias.filter(|b| b.len() != channels) {
            return Err(Error::InvalidInput(format!(
                "relu bias: {} values for {channels} channels",
                b.len()
            )));
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

    /// y = max(x + b, 0), y shaped as x (with a bias, of its channels).
    pub fn forward(&self, ctx: &GpuContext, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
        if self.bias.is_some() && x.channels() != self.channels {
            return Err(Error::InvalidInput(format!(
                "relu input: {} channels for a bias of {}",
                x.channels(),
                self.channels
            )));
        }
        x.check_capacity("relu input")?;
        expect_shape("relu output", y, x.shape)?;
        let (h, w) = x.hw();
        let bias = self.bias.as_ref().unwrap_or(&x.buffer);
        Ok(ctx.dispatch_with(
            Kernel::new(Shader::Relu, "forward"),
            &self.params(x.len(), h * w, BackwardMode::default()),
            &[&x.buffer, bias, &y.buffer],
            grid_for(x.len()),
        ))
    }

    /// dx (+)= dy * (y > 0), all three of one shape.
    pub fn backward(
        &self,
        ctx: &GpuContext,
        dy: &Tensor,
        y: &Tensor,
        dx: &Tensor,
        mode: BackwardMode,
    ) -> Result<Dispatch> {
        y.check_capacity("relu output")?;
        expect_shape("relu output gradient", dy, y.shape)?;
        expect_shape("relu input gradient", dx, y.shape)?;
        Ok(ctx.dispatch_with(
            Kernel::new(Shader::Relu, "backward"),
            &self.params(y.len(), 1, mode),
            &[&dy.buffer, &y.buffer, &dx.buffer],
            grid_for(y.len()),
        ))
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
