//! Resampling of image planes: bilinear resizing at pixel centres with clamped edges, as
//! PyTorch's `interpolate(mode="bilinear", align_corners=False)` (Grad-CAM maps brought to the
//! input size, dream's octaves). Kernel in `shaders/resample.wgsl`, the sampling itself in
//! `shaders/bilinear.wgsl`, shared with the saliency kernels that sample activations.

use crate::error::Result;
use crate::gpu::uniform::uniform_block;
use crate::gpu::{Dispatch, GpuContext, Kernel, Shader, Tensor, grid_for};
use crate::ops::expect_shape;

uniform_block! {
    /// Uniform block of `resample.wgsl`.
    pub(crate) struct ResampleParams {
        planes: u32,
        in_h: u32,
        in_w: u32,
        out_h: u32,
        out_w: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

/// `dst` = `src` resized bilinearly, plane by plane, to dst's height and width (dst has src's
/// batch and channels).
pub fn resize_bilinear(ctx: &GpuContext, src: &Tensor, dst: &Tensor) -> Result<Dispatch> {
    let [n, c, from_h, from_w] = src.shape;
    let [_, _, to_h, to_w] = dst.shape;
    src.check_capacity("resize input")?;
    expect_shape("resize output", dst, [n, c, to_h, to_w])?;
    let params = ResampleParams {
        planes: (n * c) as u32,
        in_h: from_h as u32,
        in_w: from_w as u32,
        out_h: to_h as u32,
        out_w: to_w as u32,
        ..ResampleParams::default()
    };
    Ok(ctx.dispatch_with(
        Kernel::new(Shader::Resample, "resize_bilinear"),
        &params,
        &[&src.buffer, &dst.buffer],
        grid_for(dst.len()),
    ))
}

/// Plain-Rust reference implementations.
pub mod cpu {
    /// One axis of bilinear sampling at pixel centres: (lower index, upper index, weight of the
    /// upper), clamped to the edges.
    fn source_coord(x: usize, in_size: usize, out_size: usize) -> (usize, usize, f32) {
        let s = ((x as f32 + 0.5) * in_size as f32 / out_size as f32 - 0.5).max(0.0);
        let x0 = (s.floor() as usize).min(in_size - 1);
        let x1 = (x0 + 1).min(in_size - 1);
        (x0, x1, s - x0 as f32)
    }

    /// src [planes, from.0, from.1] resized bilinearly to `to` (align_corners=False).
    pub fn resize_bilinear(
        planes: usize,
        from: (usize, usize),
        to: (usize, usize),
        src: &[f32],
    ) -> Vec<f32> {
        let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
        let mut out = Vec::with_capacity(planes * to.0 * to.1);
        for image in src.chunks(from.0 * from.1).take(planes) {
            for y in 0..to.0 {
                let (y0, y1, ty) = source_coord(y, from.0, to.0);
                for x in 0..to.1 {
                    let (x0, x1, tx) = source_coord(x, from.1, to.1);
                    let at = |r: usize, c: usize| image[r * from.1 + c];
                    let top = lerp(at(y0, x0), at(y0, x1), tx);
                    let bottom = lerp(at(y1, x0), at(y1, x1), tx);
                    out.push(lerp(top, bottom, ty));
                }
            }
        }
        out
    }
}
