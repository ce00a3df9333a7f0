//! 2-D convolution (any kernel, stride and padding) with bias and an optional fused ReLU:
//! forward, and gradient with respect to the input. Kernels in `shaders/conv.wgsl`.

use crate::error::Result;
use crate::gpu::{Dispatch, GpuContext, Kernel, Shader, grid};
use crate::ops::BackwardMode;

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

/// Uniform block of `conv.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct ConvParams {
    batch: u32,
    in_c: u32,
    in_h: u32,
    in_w: u32,
    out_c: u32,
    out_h: u32,
    out_w: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride: u32,
    pad: u32,
    relu: u32,
    accumulate: u32,
    guided: u32,
    _pad: [u32; 2],
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

/// Which kernels compute a convolution (each is checked against the CPU reference by the tests
/// and timed by `netlens bench --conv-variants`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvAlgorithm {
    /// Implicit GEMM over 64 x 64 tiles staged in workgroup memory, 4 x 4 outputs per invocation.
    Tiled,
    /// Implicit GEMM without workgroup memory: 8 channels x 4 pixels per invocation from vec4
    /// weight loads.
    #[default]
    RegisterBlocked,
}

impl ConvAlgorithm {
    /// Both algorithms.
    pub const ALL: [ConvAlgorithm; 2] = [ConvAlgorithm::Tiled, ConvAlgorithm::RegisterBlocked];
}

/// A convolution's weights on the GPU, packed once for the forward and backward kernels.
#[derive(Debug)]
pub struct Conv2d {
    geometry: ConvGeometry,
    relu: bool,
    algorithm: ConvAlgorithm,
    forward_weights: wgpu::Buffer,
    backward_weights: wgpu::Buffer,
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
        assert_eq!(
            weight.len(),
            geometry.weight_shape().iter().product::<usize>()
        );
        assert_eq!(bias.len(), geometry.out_channels);
        Ok(Self {
            geometry,
            relu,
            algorithm: ConvAlgorithm::default(),
            forward_weights: ctx.upload(name, &pack_forward(&geometry, weight))?,
            backward_weights: ctx.upload(name, &pack_backward(&geometry, weight))?,
            bias: ctx.upload(name, bias)?,
        })
    }

    /// Replaces the weights in place; dispatches made earlier see the new values.
    pub fn set_weights(&self, ctx: &GpuContext, weight: &[f32], bias: &[f32]) {
        ctx.write(&self.forward_weights, &pack_forward(&self.geometry, weight));
        ctx.write(
            &self.backward_weights,
            &pack_backward(&self.geometry, weight),
        );
        ctx.write(&self.bias, bias);
    }

    /// This layer with its kernels chosen by `algorithm`.
    pub fn with_algorithm(self, algorithm: ConvAlgorithm) -> Self {
        Self { algorithm, ..self }
    }

    /// The layer's shape.
    pub fn geometry(&self) -> ConvGeometry {
        self.geometry
    }

    fn params(&self, batch: usize, in_hw: (usize, usize), mode: BackwardMode) -> ConvParams {
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
            kernel_h: g.kernel_h as u32,
            kernel_w: g.kernel_w as u32,
            stride: g.stride as u32,
            pad: g.pad as u32,
            relu: self.relu as u32,
            accumulate: mode.accumulate as u32,
            guided: mode.guided as u32,
            _pad: [0; 2],
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
        let p = self.params(batch, in_hw, BackwardMode::default());
        let pixels = batch * (p.out_h * p.out_w) as usize;
        let params = ctx.uniform("conv params", &p);
        let bindings = [
            params.as_entire_buffer_binding(),
            x.as_entire_buffer_binding(),
            self.forward_weights.as_entire_buffer_binding(),
            self.bias.as_entire_buffer_binding(),
            y.as_entire_buffer_binding(),
        ];
        match self.algorithm {
            ConvAlgorithm::Tiled => ctx.dispatch(
                Kernel::new(Shader::Conv, "forward"),
                &bindings,
                tile_grid(pixels, self.geometry.out_channels),
            ),
            ConvAlgorithm::RegisterBlocked => ctx.dispatch(
                Kernel::new(Shader::Conv, "forward_blocked"),
                &bindings,
                block_grid(pixels, self.geometry.out_channels),
            ),
        }
    }

    /// dx (+)= conv_backward(dy masked by the ReLU of y). `y` is this layer's forward output;
    /// without a ReLU it is not read (pass any buffer, dy for instance).
    #[allow(clippy::too_many_arguments)]
    pub fn backward_input(
        &self,
        ctx: &GpuContext,
        batch: usize,
        in_hw: (usize, usize),
        dy: &wgpu::Buffer,
        y: &wgpu::Buffer,
        dx: &wgpu::Buffer,
        mode: BackwardMode,
    ) -> Dispatch {
        let p = self.params(batch, in_hw, mode);
        let pixels = batch * in_hw.0 * in_hw.1;
        let params = ctx.uniform("conv params", &p);
        let bindings = [
            params.as_entire_buffer_binding(),
            dy.as_entire_buffer_binding(),
            self.backward_weights.as_entire_buffer_binding(),
            y.as_entire_buffer_binding(),
            dx.as_entire_buffer_binding(),
        ];
        if self.geometry.in_channels <= NARROW_MAX_CHANNELS {
            let groups = pixels.div_ceil(256) as u32;
            ctx.dispatch(
                Kernel::new(Shader::Conv, "backward_input_narrow"),
                &bindings,
                grid(groups),
            )
        } else {
            match self.algorithm {
                ConvAlgorithm::Tiled => ctx.dispatch(
                    Kernel::new(Shader::Conv, "backward_input"),
                    &bindings,
                    tile_grid(pixels, self.geometry.in_channels),
                ),
                ConvAlgorithm::RegisterBlocked => ctx.dispatch(
                    Kernel::new(Shader::Conv, "backward_input_blocked"),
                    &bindings,
                    block_grid(pixels, self.geometry.in_channels),
                ),
            }
        }
    }
}

/// Grid of the tiled kernels: pixel tiles on x (then z), channel tiles on y.
fn tile_grid(pixels: usize, channels: usize) -> [u32; 3] {
    let [x, z, _] = grid(pixels.div_ceil(TILE) as u32);
    [x, channels.div_ceil(TILE) as u32, z]
}

/// Grid of the register-blocked kernels: 64 invocations of 4 pixels on x (then z), 8-channel
/// blocks on y.
fn block_grid(pixels: usize, channels: usize) -> [u32; 3] {
    let [x, z, _] = grid(pixels.div_ceil(64 * 4) as u32);
    [x, channels.div_ceil(CHANNEL_PAD) as u32, z]
}

/// Plain-Rust reference implementations, for tests and kernel checks.
pub mod cpu {
    use super::ConvGeometry;

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
                        let mut acc = bias[co] as f64;
                        for ci in 0..g.in_channels {
                            for ky in 0..g.kernel_h {
                                let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                                if iy < 0 || iy >= h as isize {
                                    continue;
                                }
                                for kx in 0..g.kernel_w {
                                    let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                                    if ix < 0 || ix >= w as isize {
                                        continue;
                                    }
                                    let xv = x[((n * g.in_channels + ci) * h + iy as usize) * w
                                        + ix as usize];
                                    let wv = weight[((co * g.in_channels + ci) * g.kernel_h + ky)
                                        * g.kernel_w
                                        + kx];
                                    acc += xv as f64 * wv as f64;
                                }
                            }
                        }
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
                        for ci in 0..g.in_channels {
                            for ky in 0..g.kernel_h {
                                let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                                if iy < 0 || iy >= h as isize {
                                    continue;
                                }
                                for kx in 0..g.kernel_w {
                                    let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                                    if ix < 0 || ix >= w as isize {
                                        continue;
                                    }
                                    let wv = weight[((co * g.in_channels + ci) * g.kernel_h + ky)
                                        * g.kernel_w
                                        + kx];
                                    dx[((n * g.in_channels + ci) * h + iy as usize) * w
                                        + ix as usize] += gv * wv as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        dx.into_iter().map(|v| v as f32).collect()
    }
}
