//! 2-D convolution (any kernel, stride and padding) with bias and an optional fused ReLU:
//! forward, and gradient with respect to the input. Kernels in `shaders/conv.wgsl`.

use crate::error::Result;
use crate::gpu::uniform::uniform_block;
use crate::gpu::{Dispatch, GpuContext, Kernel, Shader, grid};
use crate::ops::winograd;
use crate::ops::{BackwardMode, check_len};

/// Which ReLU mask an input-gradient kernel applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GradMask {
    /// dy by this layer's own ReLU, reading y per tap.
    Dy,
    /// None: the kernel reads a dz already masked.
    None,
    /// dz already masked; dx, once complete, by the ReLU whose output is this layer's input.
    Dx,
}

/// The shape of a convolution layer, independent of batch and image size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Stride, both axes.
    pub stride: usize,
    /// Zero padding, both axes.
    pub pad: usize,
}

impl ConvGeometry {
    /// A square kernel.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> Self {
        Self {
            in_channels,
            out_channels,
            kernel_h: kernel,
            kernel_w: kernel,
            stride,
            pad,
        }
    }

    /// Output height and width for an input of `h` x `w`, or `None` when the kernel does not fit.
    pub fn output_size(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let hp = h + 2 * self.pad;
        let wp = w + 2 * self.pad;
        if hp < self.kernel_h || wp < self.kernel_w || self.stride == 0 {
            return None;
        }
        Some((
            (hp - self.kernel_h) / self.stride + 1,
            (wp - self.kernel_w) / self.stride + 1,
        ))
    }

    /// The weight tensor's shape in PyTorch's layout: [out, in, kh, kw].
    pub fn weight_shape(&self) -> [usize; 4] {
        [
            self.out_channels,
            self.in_channels,
            self.kernel_h,
            self.kernel_w,
        ]
    }

    fn taps(&self) -> usize {
        self.kernel_h * self.kernel_w
    }

    /// Multiply-adds of one forward pass over an `h` x `w` input, per image.
    pub fn macs(&self, h: usize, w: usize) -> u64 {
        let (oh, ow) = self.output_size(h, w).unwrap_or((0, 0));
        (oh * ow * self.out_channels * self.in_channels * self.taps()) as u64
    }
}

uniform_block! {
    /// Uniform block of `conv.wgsl`, and the description of one dispatch that the Winograd
    /// kernels translate into theirs.
    pub(crate) struct ConvParams {
        pub(crate) batch: u32,
        pub(crate) in_c: u32,
        pub(crate) in_h: u32,
        pub(crate) in_w: u32,
        pub(crate) out_c: u32,
        pub(crate) out_h: u32,
        pub(crate) out_w: u32,
        pub(crate) pad: u32,
        /// Forward: apply a ReLU after the bias (the backward's mask is the `MASK_RELU`
        /// constant).
        pub(crate) relu: u32,
        /// Backward: add into dx instead of overwriting it (a tensor read by several layers).
        pub(crate) accumulate: u32,
        /// Backward: guided backpropagation, also drop negative gradients at the ReLU.
        pub(crate) guided: u32,
        /// The output (forward) and its gradient (backward) are channels
        /// `out_offset..out_offset + out_c` of a tensor of `out_total` channels: a fire
        /// module's expand convolutions write and read their slices of the concatenation.
        pub(crate) out_total: u32,
        pub(crate) out_offset: u32,
    }
}

/// Input channels up to which the backward pass uses the per-pixel kernel.
const NARROW_MAX_CHANNELS: usize = 4;
/// Output tile edge of the tiled kernels.
const TILE: usize = 64;

/// Channel counts are padded to a multiple of this in packed weight rows (two vec4 loads).
const CHANNEL_PAD: usize = 8;

fn padded(channels: usize) -> usize {
    channels.div_ceil(CHANNEL_PAD) * CHANNEL_PAD
}

/// Weight layout for the forward kernels: `A[k][co]` with k = (ci, kh, kw), rows padded to a
/// multiple of 8 output channels.
pub fn pack_forward(g: &ConvGeometry, weight: &[f32]) -> Vec<f32> {
    let k_total = g.in_channels * g.taps();
    let stride = padded(g.out_channels);
    let mut out = vec![0.0; k_total * stride];
    for co in 0..g.out_channels {
        for k in 0..k_total {
            out[k * stride + co] = weight[co * k_total + k];
        }
    }
    out
}

/// Weight layout for the backward kernels: `A[k][ci]` with k = (co, kh, kw), rows padded to a
/// multiple of 8 input channels.
pub fn pack_backward(g: &ConvGeometry, weight: &[f32]) -> Vec<f32> {
    let taps = g.taps();
    let stride = padded(g.in_channels);
    let mut out = vec![0.0; g.out_channels * taps * stride];
    for co in 0..g.out_channels {
        for ci in 0..g.in_channels {
            for t in 0..taps {
                out[(co * taps + t) * stride + ci] = weight[(co * g.in_channels + ci) * taps + t];
            }
        }
    }
    out
}

/// The ReLU mask an input-gradient dispatch applies, and the tensor it reads for it.
#[derive(Clone, Copy, Debug)]
pub enum ReluMask<'a> {
    /// dy masked by this layer's own ReLU, if it has one: the buffer is the layer's forward
    /// output y (laid out as dy is), read per tap.
    Own(&'a wgpu::Buffer),
    /// No mask: dy already went through this layer's ReLU (the backward of
    /// [`crate::ops::relu::BiasRelu`], applied once per tensor), or the layer has none; the
    /// kernel then reads one tensor per tap instead of two.
    None,
    /// dy as for `None`; dx, once complete, masked by the ReLU whose output is the buffer (this
    /// layer's input x): that ReLU's backward fused into this kernel. Of several layers adding
    /// into one dx ([`BackwardMode::accumulate`]), the last one masks.
    Input(&'a wgpu::Buffer),
}

/// What one input-gradient dispatch of a convolution reads and writes.
#[derive(Clone, Copy, Debug)]
pub struct BackwardIo<'a> {
    /// The output's gradient; channels `slice` of it are this layer's.
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

/// Which kernels compute a convolution (each is checked against the CPU reference by the tests
/// and timed by `netlens bench --conv-variants`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvAlgorithm {
    /// Implicit GEMM over 64 x 64 tiles staged in workgroup memory, 4 x 4 outputs per invocation.
    Tiled,
    /// Implicit GEMM without workgroup memory: 8 channels x `pixels` (1, 2 or 4) pixels per
    /// invocation from vec4 weight loads.
    RegisterBlocked {
        /// Consecutive output pixels per invocation.
        pixels: u32,
    },
    /// Winograd F(2×2, 3×3) for 3×3 stride-1 layers ([`crate::ops::winograd`]); other layers,
    /// and the input gradient of layers with at most 4 input channels, as `Auto` computes them.
    Winograd,
    /// Register-blocked, with the pixels per invocation chosen per layer: as many as keep the
    /// device busy (see [`GpuContext::target_invocations`]).
    #[default]
    Auto,
}

impl ConvAlgorithm {
    /// Every concrete algorithm.
    pub const ALL: [ConvAlgorithm; 5] = [
        ConvAlgorithm::Tiled,
        ConvAlgorithm::RegisterBlocked { pixels: 1 },
        ConvAlgorithm::RegisterBlocked { pixels: 2 },
        ConvAlgorithm::RegisterBlocked { pixels: 4 },
        ConvAlgorithm::Winograd,
    ];

    /// The concrete algorithm for an output of `pixels` x `channels` on `ctx`.
    fn resolve(self, ctx: &GpuContext, pixels: usize, channels: usize) -> ConvAlgorithm {
        match self {
            ConvAlgorithm::Auto | ConvAlgorithm::Winograd => {
                let blocks = channels.div_ceil(CHANNEL_PAD);
                let pixels_per_invocation = [4, 2]
                    .into_iter()
                    .find(|&ppi| pixels.div_ceil(ppi) * blocks >= ctx.target_invocations())
                    .unwrap_or(1);
                ConvAlgorithm::RegisterBlocked {
                    pixels: pixels_per_invocation as u32,
                }
            }
            other => other,
        }
    }

    /// The blocked kernel `kernel` with `ppi` (1 to 4) pixels per invocation, and its grid.
    fn blocked(kernel: Kernel, ppi: u32, pixels: usize, channels: usize) -> (Kernel, [u32; 3]) {
        let ppi = ppi.clamp(1, 4);
        let [x, z, _] = grid(pixels.div_ceil(64 * ppi as usize) as u32);
        (
            kernel.with("BLOCK_PIXELS", ppi),
            [x, channels.div_ceil(CHANNEL_PAD) as u32, z],
        )
    }
}

impl std::fmt::Display for ConvAlgorithm {
    /// The name [`ConvAlgorithm::from_str`](std::str::FromStr) reads: `tiled`, `blocked1`,
    /// `blocked2`, `blocked4`, `winograd` or `auto`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvAlgorithm::Tiled => write!(f, "tiled"),
            ConvAlgorithm::RegisterBlocked { pixels } => write!(f, "blocked{pixels}"),
            ConvAlgorithm::Winograd => write!(f, "winograd"),
            ConvAlgorithm::Auto => write!(f, "auto"),
        }
    }
}

impl std::str::FromStr for ConvAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let names = std::iter::once(ConvAlgorithm::Auto).chain(ConvAlgorithm::ALL);
        names.clone().find(|a| a.to_string() == s).ok_or_else(|| {
            let known: Vec<String> = names.map(|a| a.to_string()).collect();
            format!(
                "unknown convolution algorithm {s:?}: expected one of {}",
                known.join(", ")
            )
        })
    }
}

/// One direction's weights on the GPU, packed for the kernels that compute it.
#[derive(Debug)]
enum Packed {
    /// For the direct kernels (tiled, register-blocked, narrow).
    Direct(wgpu::Buffer),
    /// Transformed for Winograd F(2×2, 3×3) ([`crate::ops::winograd`]).
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

    /// y = act(conv(x) + b) for `batch` images of `in_hw`; y is [batch, out, oh, ow].
    pub fn forward(
        &self,
        ctx: &GpuContext,
        batch: usize,
        in_hw: (usize, usize),
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
    ) -> Dispatch {
        self.forward_into(ctx, batch, in_hw, x, y, self.whole())
    }

    /// The forward pass writing its output into channels `slice` of `y` (a channel
    /// concatenation, as in a fire module).
    pub fn forward_into(
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

    /// The input gradient, dx (+)= conv_backward(dy), with the ReLU mask `io.mask` names.
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
        let (mask, aux) = match mask {
            ReluMask::Own(y) if self.relu => (GradMask::Dy, y),
            ReluMask::Own(_) | ReluMask::None => (GradMask::None, dy),
            ReluMask::Input(x) => (GradMask::Dx, x),
        };
        let p = self.params(batch, in_hw, slice, mode);
        let pixels = batch * in_hw.0 * in_hw.1;
        let inputs = pixels * self.geometry.in_channels;
        let outputs = batch * slice.total * (p.out_h * p.out_w) as usize;
        check_len(dy, outputs, "conv output gradient");
        match mask {
            GradMask::Dy => check_len(aux, outputs, "conv output"),
            GradMask::Dx => check_len(aux, inputs, "conv input"),
            GradMask::None => {}
        }
        check_len(dx, inputs, "conv input gradient");
        let w = match &self.backward_weights {
            Packed::Winograd(w) => return winograd::backward_input(ctx, &p, dy, w, aux, dx, mask),
            Packed::Direct(w) => w,
        };
        let buffers = [dy, w, aux, dx];
        let masked = |kernel: Kernel| {
            kernel
                .with("MASK_RELU", (mask == GradMask::Dy) as u32)
                .with("MASK_DX", (mask == GradMask::Dx) as u32)
        };
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

/// Grid of the tiled kernels: pixel tiles on x (then z), channel tiles on y.
fn tile_grid(pixels: usize, channels: usize) -> [u32; 3] {
    let [x, z, _] = grid(pixels.div_ceil(TILE) as u32);
    [x, channels.div_ceil(TILE) as u32, z]
}

/// Plain-Rust reference implementations, for tests and kernel checks.
pub mod cpu {
    use super::ConvGeometry;

    /// What output pixel (`n`, `co`, `oy`, `ox`) reads: the (input index, weight index) of every
    /// tap inside the image, over input channels, then kernel rows, then columns.
    fn taps(
        g: &ConvGeometry,
        (h, w): (usize, usize),
        n: usize,
        co: usize,
        (oy, ox): (usize, usize),
    ) -> impl Iterator<Item = (usize, usize)> {
        let g = *g;
        (0..g.in_channels).flat_map(move |ci| {
            (0..g.kernel_h).flat_map(move |ky| {
                (0..g.kernel_w).filter_map(move |kx| {
                    let iy = (oy * g.stride + ky).checked_sub(g.pad).filter(|&i| i < h)?;
                    let ix = (ox * g.stride + kx).checked_sub(g.pad).filter(|&i| i < w)?;
                    Some((
                        ((n * g.in_channels + ci) * h + iy) * w + ix,
                        ((co * g.in_channels + ci) * g.kernel_h + ky) * g.kernel_w + kx,
                    ))
                })
            })
        })
    }

    /// Forward: x [n, in, h, w] -> y [n, out, oh, ow], with bias and optional ReLU.
    pub fn forward(
        g: &ConvGeometry,
        batch: usize,
        (h, w): (usize, usize),
        x: &[f32],
        weight: &[f32],
        bias: &[f32],
        relu: bool,
    ) -> Vec<f32> {
        let (oh, ow) = g.output_size(h, w).expect("kernel larger than input");
        let mut y = vec![0.0f32; batch * g.out_channels * oh * ow];
        for n in 0..batch {
            for co in 0..g.out_channels {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let acc = taps(g, (h, w), n, co, (oy, ox))
                            .fold(bias[co] as f64, |acc, (i, k)| {
                                acc + x[i] as f64 * weight[k] as f64
                            });
                        let v = acc as f32;
                        y[((n * g.out_channels + co) * oh + oy) * ow + ox] =
                            if relu { v.max(0.0) } else { v };
                    }
                }
            }
        }
        y
    }

    /// Input gradient: dy [n, out, oh, ow] -> dx [n, in, h, w]. With `relu_output`, dy is first
    /// masked by (y > 0).
    pub fn backward_input(
        g: &ConvGeometry,
        batch: usize,
        (h, w): (usize, usize),
        dy: &[f32],
        relu_output: Option<&[f32]>,
        weight: &[f32],
    ) -> Vec<f32> {
        let (oh, ow) = g.output_size(h, w).expect("kernel larger than input");
        let mut dx = vec![0.0f64; batch * g.in_channels * h * w];
        for n in 0..batch {
            for co in 0..g.out_channels {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let o = ((n * g.out_channels + co) * oh + oy) * ow + ox;
                        let gv = match relu_output {
                            Some(y) if y[o] <= 0.0 => continue,
                            _ => dy[o] as f64,
                        };
                        for (i, k) in taps(g, (h, w), n, co, (oy, ox)) {
                            dx[i] += gv * weight[k] as f64;
                        }
                    }
                }
            }
        }
        dx.into_iter().map(|v| v as f32).collect()
    }
}
