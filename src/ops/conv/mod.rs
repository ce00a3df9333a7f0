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

use crate::error::Result;
use crate::gpu::{Dispatch, GpuContext, Kernel, Shader, grid};
use crate::ops::{BackwardMode, check_len};
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
    Input(&'a wgpu::Buffer),
}

/// What one input-gradient dispatch of a convolution reads and writes.
#[derive(Clone, Copy, Debug)]
pub struct BackwardIo<'a> {
    /// The output's gradient, masked by this layer's ReLU if it has one; channels `slice` of it
    /// are this layer's.
    pub dy: &'a wgpu::Buffer,
    /// The input's gradient, written, or added to with [`BackwardMode::accumulate`].
    pub dx: &'a wgpu::Buffer,
    /// The ReLU mask applied.
    pub mask: ReluMask<'a>,
    /// Where this layer's channels sit in dy (and y): [`Conv2d::whole`] unless the output is
    /// a channel concatenation.
    pub slice: ChannelSlice,
    /// Overwrite or accumulate; plain or guided.
    pub mode: BackwardMode,
}

/// Where a convolution's output sits in its tensor: channels `offset..offset + out` of a tensor
/// of `total` channels (a channel concatenation when smaller than the tensor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelSlice {
    /// First channel.
    pub offset: usize,
    /// Channels of the whole tensor.
    pub total: usize,
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

    fn params(
        &self,
        batch: usize,
        in_hw: (usize, usize),
        slice: ChannelSlice,
        mode: BackwardMode,
    ) -> ConvParams {
        assert!(
            slice.offset + self.geometry.out_channels <= slice.total,
            "output channels {}..{} outside a tensor of {} channels",
            slice.offset,
            slice.offset + self.geometry.out_channels,
            slice.total
        );
        let g = &self.geometry;
        let (oh, ow) = g
            .output_size(in_hw.0, in_hw.1)
            .expect("convolution kernel larger than its padded input");
        ConvParams {
            batch: batch as u32,
            in_c: g.in_channels as u32,
            in_h: in_hw.0 as u32,
            in_w: in_hw.1 as u32,
            out_c: g.out_channels as u32,
            out_h: oh as u32,
            out_w: ow as u32,
            pad: g.pad as u32,
            relu: self.relu as u32,
            accumulate: mode.accumulate as u32,
            guided: mode.guided as u32,
            out_total: slice.total as u32,
            out_offset: slice.offset as u32,
        }
    }

    /// The whole output tensor: channels 0..out of a tensor of `out` channels.
    pub fn whole(&self) -> ChannelSlice {
        ChannelSlice {
            offset: 0,
            total: self.geometry.out_channels,
        }
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

    /// y = act(conv(x) + b) for `batch` images of `in_hw`, written into channels `slice` of y
    /// ([`Conv2d::whole`] for all of a [batch, out, oh, ow] tensor; a fire module's expand
    /// convolutions each write their part of the concatenation).
    pub fn forward(
        &self,
        ctx: &GpuContext,
        batch: usize,
        in_hw: (usize, usize),
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        slice: ChannelSlice,
    ) -> Dispatch {
        let p = self.params(batch, in_hw, slice, BackwardMode::default());
        let pixels = batch * (p.out_h * p.out_w) as usize;
        check_len(
            x,
            batch * self.geometry.in_channels * in_hw.0 * in_hw.1,
            "conv input",
        );
        check_len(y, pixels * slice.total, "conv output");
        match &self.forward_weights {
            Packed::Winograd(w) => winograd::forward(ctx, &p, x, w, &self.bias, y),
            Packed::Direct(w) => {
                let buffers = [x, w, &self.bias, y];
                let channels = self.geometry.out_channels;
                let (kernel, groups) =
                    self.kernel(ctx, ["forward", "forward_blocked"], pixels, channels);
                ctx.dispatch_with(kernel, &p, &buffers, groups)
            }
        }
    }

    /// The input gradient, dx (+)= conv_backward(dy), dy already masked by this layer's ReLU,
    /// dx masked as `io.mask` says.
    pub fn backward_input(
        &self,
        ctx: &GpuContext,
        batch: usize,
        in_hw: (usize, usize),
        io: BackwardIo<'_>,
    ) -> Dispatch {
        let BackwardIo {
            dy,
            dx,
            mask,
            slice,
            mode,
        } = io;
        // Without a mask the kernels do not read `aux`: dy stands in for the binding.
        let (mask_dx, aux) = match mask {
            ReluMask::None => (false, dy),
            ReluMask::Input(x) => (true, x),
        };
        let p = self.params(batch, in_hw, slice, mode);
        let pixels = batch * in_hw.0 * in_hw.1;
        let inputs = pixels * self.geometry.in_channels;
        let outputs = batch * slice.total * (p.out_h * p.out_w) as usize;
        check_len(dy, outputs, "conv output gradient");
        if mask_dx {
            check_len(aux, inputs, "conv input");
        }
        check_len(dx, inputs, "conv input gradient");
        let w = match &self.backward_weights {
            Packed::Winograd(w) => {
                return winograd::backward_input(ctx, &p, dy, w, aux, dx, mask_dx);
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
            ctx.dispatch_with(
                masked(self.specialized("backward_input_narrow")),
                &p,
                &buffers,
                grid(groups),
            )
        } else {
            let entries = ["backward_input", "backward_input_blocked"];
            let channels = self.geometry.in_channels;
            let (kernel, groups) = self.kernel(ctx, entries, pixels, channels);
            ctx.dispatch_with(masked(kernel), &p, &buffers, groups)
        }
    }
}
