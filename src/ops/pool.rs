//! Max pooling (kernel, stride, padding, ceil_mode) and adaptive average pooling: forward, and
//! gradient with respect to the input. Kernels in `shaders/pool.wgsl`.

use crate::error::{Error, Result};
use crate::gpu::uniform::uniform_block;
use crate::gpu::{Dispatch, GpuContext, Kernel, Shader, Tensor, grid_for};
use crate::ops::{BackwardMode, expect_shape};

uniform_block! {
    /// Uniform block of `pool.wgsl`.
    pub(crate) struct PoolParams {
        planes: u32,
        in_h: u32,
        in_w: u32,
        out_h: u32,
        out_w: u32,
        pad: u32,
        accumulate: u32,
        _pad0: u32,
    }
}

impl PoolParams {
    /// The block of a pooling from an input of shape `x` to an output of shape `y`, with
    /// `pad` implicit padding.
    fn new(
        [n, c, h, w]: [usize; 4],
        [_, _, oh, ow]: [usize; 4],
        pad: usize,
        accumulate: bool,
    ) -> Self {
        PoolParams {
            planes: (n * c) as u32,
            in_h: h as u32,
            in_w: w as u32,
            out_h: oh as u32,
            out_w: ow as u32,
            pad: pad as u32,
            accumulate: accumulate as u32,
            _pad0: 0,
        }
    }
}

/// A max-pooling layer's shape, as PyTorch's `MaxPool2d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPoolGeometry {
    /// Window edge.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Implicit padding (never selected).
    pub pad: usize,
    /// Round the output size up, as `ceil_mode=True`.
    pub ceil_mode: bool,
}

impl MaxPoolGeometry {
    /// Output length along an axis of length `n`, with PyTorch's rule that the last window must
    /// start inside the input or its left padding.
    fn output_len(&self, n: usize) -> Option<usize> {
        let span = (n + 2 * self.pad).checked_sub(self.kernel)?;
        let mut out = if self.ceil_mode {
            span.div_ceil(self.stride) + 1
        } else {
            span / self.stride + 1
        };
        if self.ceil_mode && (out - 1) * self.stride >= n + self.pad {
            out -= 1;
        }
        Some(out)
    }

    /// Output height and width, or `None` when the window does not fit.
    pub fn output_size(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        Some((self.output_len(h)?, self.output_len(w)?))
    }
}

/// A max-pooling layer on the GPU: its dispatches over any batch of [n, c, h, w] tensors.
#[derive(Clone, Copy, Debug)]
pub struct MaxPool {
    /// The layer's shape.
    pub geometry: MaxPoolGeometry,
}

impl MaxPool {
    /// The output's shape for an input of shape `x`, or an error when the window does not fit.
    pub fn output_shape(&self, [n, c, h, w]: [usize; 4]) -> Result<[usize; 4]> {
        let (oh, ow) = self.geometry.output_size(h, w).ok_or_else(|| {
            Error::InvalidInput(format!(
                "maxpool: a {0}x{0} window does not fit a {h}x{w} input",
                self.geometry.kernel
            ))
        })?;
        Ok([n, c, oh, ow])
    }

    /// The entry point `entry` compiled for this layer's window size and stride.
    fn kernel(&self, entry: &'static str) -> Kernel {
        Kernel::new(Shader::Pool, entry)
            .with("KERNEL", self.geometry.kernel as u32)
            .with("STRIDE", self.geometry.stride as u32)
    }

    /// y = max over each window; `argmax` (u32, one per output) records the winners.
    pub fn forward(
        &self,
        ctx: &GpuContext,
        x: &Tensor,
        y: &Tensor,
        argmax: &wgpu::Buffer,
    ) -> Result<Dispatch> {
        let out = self.output_shape(x.shape)?;
        x.check_capacity("maxpool input")?;
        expect_shape("maxpool output", y, out)?;
        check_winners(argmax, y.len())?;
        Ok(ctx.dispatch_with(
            self.kernel("max_forward"),
            &PoolParams::new(x.shape, out, self.geometry.pad, false),
            &[&x.buffer, &y.buffer, argmax],
            grid_for(y.len()),
        ))
    }

    /// dx (+)= dy routed to each window's winner.
    pub fn backward(
        &self,
        ctx: &GpuContext,
        dy: &Tensor,
        argmax: &wgpu::Buffer,
        dx: &Tensor,
        mode: BackwardMode,
    ) -> Result<Dispatch> {
        let out = self.output_shape(dx.shape)?;
        dx.check_capacity("maxpool input gradient")?;
        expect_shape("maxpool output gradient", dy, out)?;
        check_winners(argmax, dy.len())?;
        Ok(ctx.dispatch_with(
            self.kernel("max_backward"),
            &PoolParams::new(dx.shape, out, self.geometry.pad, mode.accumulate),
            &[&dy.buffer, &dx.buffer, argmax],
            grid_for(dx.len()),
        ))
    }
}

/// An error unless the winners' buffer holds one u32 per output.
fn check_winners(argmax: &wgpu::Buffer, outputs: usize) -> Result<()> {
    if argmax.size() < (outputs * 4) as u64 {
        return Err(Error::InvalidInput(format!(
            "maxpool winners: a buffer of {} bytes for {outputs} outputs",
            argmax.size()
        )));
    }
    Ok(())
}

/// An adaptive average pooling layer on the GPU (PyTorch's `AdaptiveAvgPool2d`; global pooling
/// is an output of 1 x 1).
#[derive(Clone, Copy, Debug)]
pub struct AdaptiveAvgPool {
    /// Output height and width.
    pub out_hw: (usize, usize),
}

impl AdaptiveAvgPool {
    /// The output's shape for an input of shape `x`.
    pub fn output_shape(&self, [n, c, _, _]: [usize; 4]) -> [usize; 4] {
        [n, c, self.out_hw.0, self.out_hw.1]
    }

    /// y = mean over each adaptive window.
    pub fn forward(&self, ctx: &GpuContext, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
        x.check_capacity("avgpool input")?;
        expect_shape("avgpool output", y, self.output_shape(x.shape))?;
        Ok(ctx.dispatch_with(
            Kernel::new(Shader::Pool, "avg_forward"),
            &PoolParams::new(x.shape, self.output_shape(x.shape), 0, false),
            &[&x.buffer, &y.buffer],
            grid_for(y.len()),
        ))
    }

    /// dx (+)= dy spread evenly over each window.
    pub fn backward(
        &self,
        ctx: &GpuContext,
        dy: &Tensor,
        dx: &Tensor,
        mode: BackwardMode,
    ) -> Result<Dispatch> {
        dx.check_capacity("avgpool input gradient")?;
        expect_shape("avgpool output gradient", dy, self.output_shape(dx.shape))?;
        Ok(ctx.dispatch_with(
            Kernel::new(Shader::Pool, "avg_backward"),
            &PoolParams::new(dx.shape, self.output_shape(dx.shape), 0, mode.accumulate),
            &[&dy.buffer, &dx.buffer],
            grid_for(dx.len()),
        ))
    }
}

/// Plain-Rust reference implementations.
pub mod cpu {
    use super::MaxPoolGeometry;

    /// Max pooling of `planes` planes of h x w; returns y and the winners' flat indices.
    pub fn max_forward(
        g: &MaxPoolGeometry,
        planes: usize,
        (h, w): (usize, usize),
        x: &[f32],
    ) -> (Vec<f32>, Vec<usize>) {
        let (oh, ow) = g.output_size(h, w).expect("window larger than input");
        let mut y = Vec::with_capacity(planes * oh * ow);
        let mut arg = Vec::with_capacity(planes * oh * ow);
        for p in 0..planes {
            for oy in 0..oh {
                for ox in 0..ow {
                    let y0 = (oy * g.stride) as isize - g.pad as isize;
                    let x0 = (ox * g.stride) as isize - g.pad as isize;
                    let mut best = (f32::NEG_INFINITY, usize::MAX);
                    for iy in y0.max(0)..(y0 + g.kernel as isize).min(h as isize) {
                        for ix in x0.max(0)..(x0 + g.kernel as isize).min(w as isize) {
                            let i = iy as usize * w + ix as usize;
                            let v = x[p * h * w + i];
                            if best.1 == usize::MAX || v > best.0 {
                                best = (v, i);
                            }
                        }
                    }
                    y.push(best.0);
                    arg.push(p * h * w + best.1);
                }
            }
        }
        (y, arg)
    }

    /// Max-pooling gradient: each dy goes to its window's winner (as returned by `max_forward`).
    pub fn max_backward(dy: &[f32], argmax: &[usize], input_len: usize) -> Vec<f32> {
        let mut dx = vec![0.0; input_len];
        for (&g, &i) in dy.iter().zip(argmax) {
            dx[i] += g;
        }
        dx
    }

    fn window(o: usize, n_in: usize, n_out: usize) -> std::ops::Range<usize> {
        (o * n_in) / n_out..((o + 1) * n_in).div_ceil(n_out)
    }

    /// Adaptive average pooling of `planes` planes from h x w to oh x ow.
    pub fn avg_forward(
        planes: usize,
        (h, w): (usize, usize),
        (oh, ow): (usize, usize),
        x: &[f32],
    ) -> Vec<f32> {
        let mut y = Vec::with_capacity(planes * oh * ow);
        for p in 0..planes {
            for oy in 0..oh {
                for ox in 0..ow {
                    let (ry, rx) = (window(oy, h, oh), window(ox, w, ow));
                    let area = (ry.len() * rx.len()) as f64;
                    let sum: f64 = ry
                        .flat_map(|iy| rx.clone().map(move |ix| (iy, ix)))
                        .map(|(iy, ix)| x[(p * h + iy) * w + ix] as f64)
                        .sum();
                    y.push((sum / area) as f32);
                }
            }
        }
        y
    }

    /// Adaptive average pooling gradient.
    pub fn avg_backward(
        planes: usize,
        (h, w): (usize, usize),
        (oh, ow): (usize, usize),
        dy: &[f32],
    ) -> Vec<f32> {
        let mut dx = vec![0.0; planes * h * w];
        for p in 0..planes {
            for oy in 0..oh {
                for ox in 0..ow {
                    let (ry, rx) = (window(oy, h, oh), window(ox, w, ow));
                    let share = dy[(p * oh + oy) * ow + ox] / (ry.len() * rx.len()) as f32;
                    for iy in ry {
                        for ix in rx.clone() {
                            dx[(p * h + iy) * w + ix] += share;
                        }
                    }
                }
            }
        }
        dx
    }
}
