//! 2-D convolution (any kernel, stride and padding) with bias and an optional fused ReLU:
//! forward, and gradient with respect to the input. The layer ([`Conv2d`]) packs its weights
//! once and records the kernels its [`ConvAlgorithm`] picks: the direct ones ([`direct`],
//! `shaders/conv.wgsl`) or Winograd's ([`winograd`], `shaders/winograd.wgsl`); [`cpu`] is the
//! plain-Rust reference of both.

mod algorithm;
pub mod cpu;
pub mod direct;
mod geometry;
pub(crate) mod params;
pub mod winograd;

pub use algorithm::ConvAlgorithm;
pub use direct::{pack_backward, pack_forward};
pub use geometry::ConvGeometry;
pub(crate) use params::ConvParams;

use crate::error::{Error, Result};
use crate::gpu::{ChannelView, Dispatch, GpuContext, Kernel, Shader, Tensor, grid};
use crate::ops::{BackwardMode, expect_shape};
use direct::{NARROW_MAX_CHANNELS, tile_grid};

/// The ReLU mask an input-gradient dispatch applies to dx. The gradient it reads always went
/// through this layer's own ReLU already (the backward of [`crate::ops::relu::BiasRelu`],
/// applied once per tensor), or the layer has none.
#[derive(Clone, Copy, Debug)]
pub enum ReluMask<'a> {
    /// No mask.
    None,
    /// dx, once complete, masked by the ReLU whose output is the buffer (this layer's input x):
    /// that ReLU's backward fused into this kernel. Of several layers adding into one dx
    /// ([`BackwardMode::accumulate`]), the last one masks.
    Input(&'a Tensor),
}

/// What one input-gradient dispatch of a convolution reads and writes.
#[derive(Clone, Copy, Debug)]
pub struct BackwardIo<'a> {
    /// The output's gradient, masked by this layer's ReLU if it has one: this layer's channels
    /// of it (all of a tensor of the layer's output channels, unless the output is a channel
    /// concatenation).
    pub dy: ChannelView<'a>,
    /// The input's gradient, written, or added to with [`BackwardMode::accumulate`].
    pub dx: &'a Tensor,
    /// The ReLU mask applied.
    pub mask: ReluMask<'a>,
    /// Overwrite or accumulate; plain or guided.
    pub mode: BackwardMode,
}

/// One direction's weights on the GPU, packed for the kernels that compute it.
#[derive(Debug)]
enum Packed {
    /// For the direct kernels (tiled, register-blocked, narrow).
    Direct(wgpu::Buffer),
    /// Transformed for Winograd F(2×2, 3×3) ([`winograd`](crate::ops::conv::winograd)).
    Winograd(wgpu::Buffer),
}

/// A convolution's weights on the GPU, packed once for the forward and backward kernels (only
/// the packs its algorithm reads).
#[derive(Debug)]
pub struct Conv2d {
    geometry: ConvGeometry,
    relu: bool,
    algorithm: ConvAlgorithm,
    forward_weights: Packed,
    backward_weights: Packed,
    bias: wgpu::Buffer,
}

impl Conv2d {
    /// Uploads a layer's weights (`[out, in, kh, kw]`, PyTorch layout) and bias (`[out]`).
    /// With `relu`, the forward applies a ReLU and the backward masks by it.
    pub fn new(
        ctx: &GpuContext,
        name: &str,
        geometry: ConvGeometry,
        weight: &[f32],
        bias: &[f32],
        relu: bool,
    ) -> Result<Self> {
        Self::with_algorithm(
            ctx,
            name,
            geometry,
            weight,
            bias,
            relu,
            ConvAlgorithm::default(),
        )
    }

    /// [`Conv2d::new`] with its kernels chosen by `algorithm`.
    pub fn with_algorithm(
        ctx: &GpuContext,
        name: &str,
        geometry: ConvGeometry,
        weight: &[f32],
        bias: &[f32],
        relu: bool,
        algorithm: ConvAlgorithm,
    ) -> Result<Self> {
        assert_eq!(
            weight.len(),
            geometry.weight_shape().iter().product::<usize>()
        );
        assert_eq!(bias.len(), geometry.out_channels);
        let (forward_winograd, backward_winograd) = Self::winograd_directions(&geometry, algorithm);
        let forward = if forward_winograd {
            Packed::Winograd(ctx.upload(name, &winograd::pack_forward(&geometry, weight))?)
        } else {
            Packed::Direct(ctx.upload(name, &pack_forward(&geometry, weight))?)
        };
        let backward = if backward_winograd {
            Packed::Winograd(ctx.upload(name, &winograd::pack_backward(&geometry, weight))?)
        } else {
            Packed::Direct(ctx.upload(name, &pack_backward(&geometry, weight))?)
        };
        Ok(Self {
            geometry,
            relu,
            algorithm,
            forward_weights: forward,
            backward_weights: backward,
            bias: ctx.upload(name, bias)?,
        })
    }

    /// Whether Winograd computes the forward and the input gradient: with that algorithm, for
    /// the shapes it supports, except the input gradient of layers narrow enough for the narrow
    /// kernel.
    fn winograd_directions(g: &ConvGeometry, algorithm: ConvAlgorithm) -> (bool, bool) {
        let forward = algorithm == ConvAlgorithm::Winograd && winograd::supports(g);
        (forward, forward && g.in_channels > NARROW_MAX_CHANNELS)
    }

    /// Replaces the weights in place; dispatches made earlier see the new values.
    pub fn set_weights(&self, ctx: &GpuContext, weight: &[f32], bias: &[f32]) {
        let g = &self.geometry;
        match &self.forward_weights {
            Packed::Direct(b) => ctx.write(b, &pack_forward(g, weight)),
            Packed::Winograd(b) => ctx.write(b, &winograd::pack_forward(g, weight)),
        }
        match &self.backward_weights {
            Packed::Direct(b) => ctx.write(b, &pack_backward(g, weight)),
            Packed::Winograd(b) => ctx.write(b, &winograd::pack_backward(g, weight)),
        }
        ctx.write(&self.bias, bias);
    }

    /// The layer's shape.
    pub fn geometry(&self) -> ConvGeometry {
        self.geometry
    }

    /// Whether the layer ends in a ReLU.
    pub fn relu(&self) -> bool {
        self.relu
    }

    /// The uniform block for input shape `x` and output (gradient) view `y`, after checking
    /// that the view has the output's batch and plane and room for the layer's channels.
    fn params(&self, x: [usize; 4], y: ChannelView<'_>, mode: BackwardMode) -> Result<ConvParams> {
        let [n, out_c, oh, ow] = self.geometry.output_shape(x)?;
        let total = y.tensor.channels();
        if y.offset + out_c > total {
            return Err(Error::InvalidInput(format!(
                "conv output: channels {}..{} outside a tensor of {total} channels",
                y.offset,
                y.offset + out_c
            )));
        }
        expect_shape("conv output", y.tensor, [n, total, oh, ow])?;
        let g = &self.geometry;
        Ok(ConvParams {
            batch: n as u32,
            in_c: g.in_channels as u32,
            in_h: x[2] as u32,
            in_w: x[3] as u32,
            out_c: out_c as u32,
            out_h: oh as u32,
            out_w: ow as u32,
            pad: g.pad as u32,
            relu: self.relu as u32,
            accumulate: mode.accumulate as u32,
            guided: mode.guided as u32,
            out_total: total as u32,
            out_offset: y.offset as u32,
        })
    }

    /// The entry point `entry` compiled for this layer's kernel size and stride.
    fn specialized(&self, entry: &'static str) -> Kernel {
        let g = &self.geometry;
        Kernel::new(Shader::Conv, entry)
            .with("KERNEL_H", g.kernel_h as u32)
            .with("KERNEL_W", g.kernel_w as u32)
            .with("STRIDE", g.stride as u32)
    }

    /// The kernel computing `pixels` × `channels` outputs as this layer's algorithm resolves:
    /// entry `tiled` or `blocked` of `[tiled, blocked]`, with its grid.
    fn kernel(
        &self,
        ctx: &GpuContext,
        [tiled, blocked]: [&'static str; 2],
        pixels: usize,
        channels: usize,
    ) -> (Kernel, [u32; 3]) {
        match self.algorithm.resolve(ctx, pixels, channels) {
            ConvAlgorithm::RegisterBlocked { pixels: ppi } => {
                ConvAlgorithm::blocked(self.specialized(blocked), ppi, pixels, channels)
            }
            _ => (self.specialized(tiled), tile_grid(pixels, channels)),
        }
    }

    /// y = act(conv(x) + b), written into the channels of `y` from its offset (all of a
    /// [n, out, oh, ow] tensor given as `&y`; a fire module's expand convolutions each write
    /// their part of the concatenation).
    pub fn forward<'y>(
        &self,
        ctx: &GpuContext,
        x: &Tensor,
        y: impl Into<ChannelView<'y>>,
    ) -> Result<Dispatch> {
        let y = y.into();
        let p = self.params(x.shape, y, BackwardMode::default())?;
        x.check_capacity("conv input")?;
        let pixels = x.batch() * (p.out_h * p.out_w) as usize;
        let (x, y) = (&x.buffer, &y.tensor.buffer);
        Ok(match &self.forward_weights {
            Packed::Winograd(w) => winograd::forward(ctx, &p, x, w, &self.bias, y),
            Packed::Direct(w) => {
                let buffers = [x, w, &self.bias, y];
                let channels = self.geometry.out_channels;
                let (kernel, groups) =
                    self.kernel(ctx, ["forward", "forward_blocked"], pixels, channels);
                ctx.dispatch_with(kernel, &p, &buffers, groups)
            }
        })
    }

    /// The input gradient, dx (+)= conv_backward(dy), dy already masked by this layer's ReLU,
    /// dx masked as `io.mask` says.
    pub fn backward_input(&self, ctx: &GpuContext, io: BackwardIo<'_>) -> Result<Dispatch> {
        let BackwardIo { dy, dx, mask, mode } = io;
        let p = self.params(dx.shape, dy, mode)?;
        dx.check_capacity("conv input gradient")?;
        // Without a mask the kernels do not read `aux`: dy stands in for the binding.
        let (mask_dx, aux) = match mask {
            ReluMask::None => (false, &dy.tensor.buffer),
            ReluMask::Input(x) => {
                expect_shape("conv input (the ReLU mask)", x, dx.shape)?;
                (true, &x.buffer)
            }
        };
        let (batch, in_hw) = (dx.batch(), dx.hw());
        let pixels = batch * in_hw.0 * in_hw.1;
        let (dy, dx) = (&dy.tensor.buffer, &dx.buffer);
        let w = match &self.backward_weights {
            Packed::Winograd(w) => {
                return Ok(winograd::backward_input(ctx, &p, dy, w, aux, dx, mask_dx));
            }
            Packed::Direct(w) => w,
        };
        let buffers = [dy, w, aux, dx];
        let masked = |kernel: Kernel| kernel.with("MASK_DX", mask_dx as u32);
        if self.geometry.in_channels <= NARROW_MAX_CHANNELS {
            // One invocation per slot of each phase (see the kernel).
            let s = self.geometry.stride;
            let slots = batch * s * s * in_hw.0.div_ceil(s) * in_hw.1.div_ceil(s);
            let groups = slots.div_ceil(256) as u32;
            Ok(ctx.dispatch_with(
                masked(self.specialized("backward_input_narrow")),
                &p,
                &buffers,
                grid(groups),
            ))
        } else {
            let entries = ["backward_input", "backward_input_blocked"];
            let channels = self.geometry.in_channels;
            let (kernel, groups) = self.kernel(ctx, entries, pixels, channels);
            Ok(ctx.dispatch_with(masked(kernel), &p, &buffers, groups))
        }
    }
}
