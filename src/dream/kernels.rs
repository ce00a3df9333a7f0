//! The pixel-space kernels of a dreaming step (`shaders/dream.wgsl`): the jitter roll, the random
//! scale and rotation with its adjoint, the L2 and total-variation penalty gradients, the
//! separable Gaussian blur, and the bilinear resize between octaves (the resample op); with their
//! CPU references in [`cpu`].

use crate::error::Result;
use crate::gpu::uniform::uniform_block;
use crate::gpu::{Dispatch, GpuContext, ImageBatch, Kernel, Shader, Tensor, grid_for};

/// One row of the step schedule per image: roll offsets (x, y), blur flag, padding; the layout of
/// `vec4<i32>` in the shader.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepRow {
    /// Horizontal roll offset of this step.
    pub ox: i32,
    /// Vertical roll offset of this step.
    pub oy: i32,
    /// 1 to blur after this step's update, 0 not to.
    pub blur: i32,
    /// Padding to 16 bytes.
    pub pad: i32,
}

uniform_block! {
    /// Uniform block shared by the pixel-space kernels.
    pub(crate) struct PixelParams {
        batch: u32,
        channels: u32,
        h: u32,
        w: u32,
        /// roll: +1 shifts by the step row's offsets, -1 shifts back.
        sign: i32,
        /// blur: the filter radius; the weights are [batch][2 * radius + 1].
        radius: u32,
        _pad0: u32,
        _pad1: u32,
    }
}

/// Which way [`ImageBatch::roll`] shifts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollDirection {
    /// By the step row's offsets.
    Forward,
    /// Back by them.
    Back,
}

/// Which way [`ImageBatch::transform`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransformPass {
    /// Sample each image through its transform.
    Forward,
    /// The forward pass's transpose: brings a gradient on the transformed images back.
    Adjoint,
}

/// The per-image row of [`ImageBatch::transform`] for a scale by `scale` and a rotation by
/// `degrees` about the image's centre: the 2 × 2 matrix (m00, m01, m10, m11), row-major, that
/// maps an output pixel's offset from the centre (x, y) to its source point's, R(−θ) / scale.
pub fn transform_row(scale: f32, degrees: f32) -> [f32; 4] {
    let (sin, cos) = (degrees as f64).to_radians().sin_cos();
    let k = 1.0 / scale as f64;
    [cos * k, sin * k, -sin * k, cos * k].map(|v| v as f32)
}

/// The dreaming kernels on a batch of images.
impl ImageBatch {
    fn pixel_params(&self, sign: i32, radius: usize) -> PixelParams {
        PixelParams {
            batch: self.batch as u32,
            channels: self.channels as u32,
            h: self.h as u32,
            w: self.w as u32,
            sign,
            radius: radius as u32,
            ..PixelParams::default()
        }
    }

    fn pixel_dispatch(
        &self,
        ctx: &GpuContext,
        entry: &'static str,
        params: PixelParams,
        buffers: &[&wgpu::Buffer],
    ) -> Dispatch {
        ctx.dispatch_with(
            Kernel::new(Shader::Dream, entry),
            &params,
            buffers,
            grid_for(self.values()),
        )
    }

    /// dst = src rolled by the offsets of `step` (one [`StepRow`] per image), or back.
    pub fn roll(
        &self,
        ctx: &GpuContext,
        direction: RollDirection,
        step: &wgpu::Buffer,
        src: &wgpu::Buffer,
        dst: &wgpu::Buffer,
    ) -> Dispatch {
        let sign = match direction {
            RollDirection::Forward => 1,
            RollDirection::Back => -1,
        };
        self.pixel_dispatch(ctx, "roll", self.pixel_params(sign, 0), &[step, src, dst])
    }

    /// dst = src scaled and rotated about each image's centre by its row of `rows` (see
    /// [`transform_row`]; bilinear sampling, zero outside), or that map's transpose.
    pub fn transform(
        &self,
        ctx: &GpuContext,
        pass: TransformPass,
        rows: &wgpu::Buffer,
        src: &wgpu::Buffer,
        dst: &wgpu::Buffer,
    ) -> Dispatch {
        let entry = match pass {
            TransformPass::Forward => "transform",
            TransformPass::Adjoint => "transform_adjoint",
        };
        self.pixel_dispatch(ctx, entry, self.pixel_params(0, 0), &[rows, src, dst])
    }

    /// g -= 2 `l2[n]` (x - target) + `tv[n]` dTV/dx, with `weights` holding (l2, tv, 0, 0) per image.
    pub fn regularize(
        &self,
        ctx: &GpuContext,
        weights: &wgpu::Buffer,
        x: &wgpu::Buffer,
        target: &wgpu::Buffer,
        g: &wgpu::Buffer,
    ) -> Dispatch {
        self.pixel_dispatch(
            ctx,
            "regularize",
            self.pixel_params(0, 0),
            &[weights, x, target, g],
        )
    }

    /// The Gaussian blur of `x` in place (through `tmp`), for the images whose row of `step` has
    /// its blur flag set; `weights` holds `2 radius + 1` taps per image (see [`blur_weights`]).
    pub fn blur(
        &self,
        ctx: &GpuContext,
        radius: usize,
        step: &wgpu::Buffer,
        weights: &wgpu::Buffer,
        x: &wgpu::Buffer,
        tmp: &wgpu::Buffer,
    ) -> [Dispatch; 2] {
        let params = self.pixel_params(0, radius);
        [
            self.pixel_dispatch(ctx, "blur_rows", params, &[step, weights, x, tmp]),
            self.pixel_dispatch(ctx, "blur_cols", params, &[step, weights, tmp, x]),
        ]
    }

    /// dst (the same batch at `to` = (h, w)) = src resized bilinearly.
    pub fn resize(
        &self,
        ctx: &GpuContext,
        to: (usize, usize),
        src: &wgpu::Buffer,
        dst: &wgpu::Buffer,
    ) -> Result<Dispatch> {
        let (n, c) = (self.batch, self.channels);
        let src = Tensor::over(src.clone(), [n, c, self.h, self.w])?;
        let dst = Tensor::over(dst.clone(), [n, c, to.0, to.1])?;
        crate::ops::resample::resize_bilinear(ctx, &src, &dst)
    }
}

/// The radius of a Gaussian filter of standard deviation `sigma`, as scipy's `gaussian_filter1d`
/// chooses it (truncated at 4 sigma); 0 for `sigma` = 0.
pub fn blur_radius(sigma: f32) -> usize {
    (4.0 * sigma + 0.5) as usize
}

/// The taps of a Gaussian filter of standard deviation `sigma`, normalized to sum 1, centred in
/// `2 radius + 1` values (zeros beyond the filter's own radius; a single 1 for `sigma` = 0).
pub fn blur_weights(sigma: f32, radius: usize) -> Vec<f32> {
    let own = blur_radius(sigma).min(radius);
    let mut taps = vec![0.0f64; 2 * radius + 1];
    for d in -(own as i64)..=own as i64 {
        taps[(radius as i64 + d) as usize] = if sigma > 0.0 {
            (-0.5 * (d as f64 / sigma as f64).powi(2)).exp()
        } else {
            1.0
        };
    }
    let sum: f64 = taps.iter().sum();
    taps.iter().map(|t| (t / sum) as f32).collect()
}

/// Plain-Rust references of the kernels, on [`ImageBatch`]-shaped slices.
pub mod cpu {
    use super::{ImageBatch, StepRow};

    fn wrap(v: i64, n: usize) -> usize {
        v.rem_euclid(n as i64) as usize
    }

    fn reflect(v: i64, n: usize) -> usize {
        let m = wrap(v, 2 * n);
        if m >= n { 2 * n - 1 - m } else { m }
    }

    /// numpy's `roll` of each plane by (oy, ox) of its image's row, times `sign`.
    pub fn roll(shape: &ImageBatch, rows: &[StepRow], sign: i64, src: &[f32]) -> Vec<f32> {
        let (h, w) = (shape.h, shape.w);
        let mut dst = vec![0.0; src.len()];
        for (i, v) in dst.iter_mut().enumerate() {
            let n = i / shape.per_image();
            let p = i % (h * w);
            let (y, x) = ((p / w) as i64, (p % w) as i64);
            let sy = wrap(y - sign * rows[n].oy as i64, h);
            let sx = wrap(x - sign * rows[n].ox as i64, w);
            *v = src[i - p + sy * w + sx];
        }
        dst
    }

    /// The source point of output pixel `q` = (x, y) under `m` (see [`super::transform_row`]),
    /// in f32 as the kernels compute it.
    fn source_point(shape: &ImageBatch, m: &[f32; 4], q: (f32, f32)) -> (f32, f32) {
        let c = ((shape.w - 1) as f32 * 0.5, (shape.h - 1) as f32 * 0.5);
        let d = (q.0 - c.0, q.1 - c.1);
        (m[0] * d.0 + m[1] * d.1 + c.0, m[2] * d.0 + m[3] * d.1 + c.1)
    }

    /// The bilinear weight of pixel `j` for source point `p`.
    fn tent(p: (f32, f32), j: (usize, usize)) -> f32 {
        (1.0 - (p.0 - j.0 as f32).abs()).max(0.0) * (1.0 - (p.1 - j.1 as f32).abs()).max(0.0)
    }

    /// The pixels output `i` samples and their weights: the up to 4 in-image pixels around its
    /// source point.
    fn footprint(shape: &ImageBatch, rows: &[[f32; 4]], i: usize) -> Vec<(usize, f32)> {
        let (h, w) = (shape.h, shape.w);
        let q = i % (h * w);
        let m = &rows[i / shape.per_image()];
        let p = source_point(shape, m, ((q % w) as f32, (q / w) as f32));
        let (x0, y0) = (p.0.floor() as i64, p.1.floor() as i64);
        [(x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)]
            .into_iter()
            .filter(|&(x, y)| (0..w as i64).contains(&x) && (0..h as i64).contains(&y))
            .map(|(x, y)| {
                let j = (x as usize, y as usize);
                (i - q + j.1 * w + j.0, tent(p, j))
            })
            .collect()
    }

    /// Each plane sampled bilinearly through its image's row of `rows` (zero outside): the
    /// forward pass of [`super::ImageBatch::transform`].
    pub fn transform(shape: &ImageBatch, rows: &[[f32; 4]], src: &[f32]) -> Vec<f32> {
        (0..src.len())
            .map(|i| {
                footprint(shape, rows, i)
                    .iter()
                    .map(|&(j, weight)| weight * src[j])
                    .sum()
            })
            .collect()
    }

    /// The transpose of [`transform`], by scattering each output's weights onto its source
    /// pixels (the kernel gathers instead).
    pub fn transform_adjoint(shape: &ImageBatch, rows: &[[f32; 4]], src: &[f32]) -> Vec<f32> {
        let mut dst = vec![0.0; src.len()];
        for (i, &g) in src.iter().enumerate() {
            for (j, weight) in footprint(shape, rows, i) {
                dst[j] += weight * g;
            }
        }
        dst
    }

    /// g - 2 `l2[n]` (x - target) - `tv[n]` dTV/dx; `weights[n]` = (l2, tv).
    pub fn regularize(
        shape: &ImageBatch,
        weights: &[(f32, f32)],
        x: &[f32],
        target: &[f32],
        g: &[f32],
    ) -> Vec<f32> {
        let (h, w) = (shape.h, shape.w);
        g.iter()
            .enumerate()
            .map(|(i, &gi)| {
                let (l2, tv) = weights[i / shape.per_image()];
                let p = i % (h * w);
                let (y, xx) = (p / w, p % w);
                let v = x[i];
                let mut d = 0.0;
                if y > 0 {
                    d += v - x[i - w];
                }
                if y + 1 < h {
                    d += v - x[i + w];
                }
                if xx > 0 {
                    d += v - x[i - 1];
                }
                if xx + 1 < w {
                    d += v - x[i + 1];
                }
                gi - 2.0 * l2 * (v - target[i]) - 2.0 * tv * d
            })
            .collect()
    }

    /// The Gaussian blur along y then x (scipy's `reflect` border) of the images whose row has
    /// its blur flag set; `weights` holds `2 radius + 1` taps per image.
    pub fn blur(
        shape: &ImageBatch,
        rows: &[StepRow],
        weights: &[f32],
        radius: usize,
        x: &[f32],
    ) -> Vec<f32> {
        let (h, w) = (shape.h, shape.w);
        let taps = 2 * radius + 1;
        let pass = |src: &[f32], along_y: bool| -> Vec<f32> {
            (0..src.len())
                .map(|i| {
                    let n = i / shape.per_image();
                    if rows[n].blur == 0 {
                        return src[i];
                    }
                    let p = i % (h * w);
                    let (y, xx) = (p / w, p % w);
                    let base = i - p;
                    (0..taps)
                        .map(|k| {
                            let d = k as i64 - radius as i64;
                            let j = if along_y {
                                reflect(y as i64 + d, h) * w + xx
                            } else {
                                y * w + reflect(xx as i64 + d, w)
                            };
                            weights[n * taps + k] * src[base + j]
                        })
                        .sum()
                })
                .collect()
        };
        pass(&pass(x, true), false)
    }

    /// Every plane resized bilinearly to `to` (PyTorch's `interpolate(mode="bilinear",
    /// align_corners=False)`).
    pub fn resize(shape: &ImageBatch, to: (usize, usize), src: &[f32]) -> Vec<f32> {
        let planes = shape.batch * shape.channels;
        crate::ops::resample::cpu::resize_bilinear(planes, (shape.h, shape.w), to, src)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_weights_are_a_normalized_gaussian() {
        assert_eq!(blur_radius(0.5), 2);
        assert_eq!(blur_radius(1.0), 4);
        let w = blur_weights(0.5, 3);
        assert_eq!(w.len(), 7);
        assert_eq!(w[0], 0.0);
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        // exp(-2) relative to the centre for one step at sigma 0.5.
        assert!((w[4] / w[3] - (-2.0f32).exp()).abs() < 1e-6);
        assert_eq!(blur_weights(0.0, 1), vec![0.0, 1.0, 0.0]);
    }

    #[test]
    fn roll_then_roll_back_is_the_identity() {
        let shape = ImageBatch {
            batch: 2,
            channels: 1,
            h: 3,
            w: 4,
        };
        let rows = [
            StepRow {
                ox: 1,
                oy: -5,
                ..Default::default()
            },
            StepRow {
                ox: -2,
                oy: 1,
                ..Default::default()
            },
        ];
        let x: Vec<f32> = (0..24).map(|v| v as f32).collect();
        let rolled = cpu::roll(&shape, &rows, 1, &x);
        // Image 0 shifted right by 1 and up by 5 = down by 1 (mod 3): out[0][1] = in[2][0].
        assert_eq!(rolled[1], x[8]);
        assert_eq!(cpu::roll(&shape, &rows, -1, &rolled), x);
    }
}
