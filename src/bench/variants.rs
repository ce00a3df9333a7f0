//! The variants harnesses: every convolution algorithm and every linear-layer kernel on each
//! distinct layer of an architecture, checked against the CPU reference and timed.

use super::numerics::{pseudo_random, rel_l2};
use super::timing::time_submissions;
use crate::error::Result;
use crate::gpu::{GpuContext, Tensor};

/// One kernel variant (of a convolution or a linear layer) measured on one layer shape.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VariantResult {
    /// The layer (state-dict prefix).
    pub layer: String,
    /// Input channels, output channels, kernel, stride, padding (a convolution), or input and
    /// output features (a linear layer).
    pub shape: String,
    /// Input height and width at which it was timed (1 x 1 for a linear layer).
    pub input: (usize, usize),
    /// The algorithm or kernel, as `Display` prints it.
    pub algorithm: String,
    /// Median milliseconds of the forward kernel.
    pub forward_ms: f64,
    /// Median milliseconds of the input-gradient kernel.
    pub backward_ms: f64,
    /// GFLOP of one forward (equal to one input gradient) at the timed size.
    pub gflop: f64,
    /// Relative L2 error of the forward against the CPU reference (checked at a reduced size
    /// for a convolution, at batch 1 for a linear layer).
    pub forward_error: f64,
    /// Relative L2 error of the input gradient against the CPU reference.
    pub backward_error: f64,
}

/// Every convolution variant on every distinct convolution of `arch` (random weights): checked
/// against the CPU reference at a reduced input size (at most 8 x 8), then timed at `batch` x `hw`;
/// the backward from a gradient already masked by the ReLU, as network plans record it.
pub async fn conv_variants(
    ctx: &GpuContext,
    arch: &crate::model::Arch,
    batch: usize,
    hw: (usize, usize),
    warmup: usize,
    reps: usize,
) -> Result<Vec<VariantResult>> {
    use crate::ops::conv::{self, Conv2d, ConvAlgorithm};

    let shapes = arch.shapes(hw)?;
    let mut seen = Vec::new();
    let mut results = Vec::new();
    for (layer, &[_, h, w]) in arch.layers.iter().zip(&shapes) {
        for (name, g) in layer.convolutions() {
            if seen.contains(&(g, h, w)) {
                continue;
            }
            seen.push((g, h, w));
            let weight = pseudo_random(g.weight_shape().iter().product(), 1, 0.1);
            let bias = pseudo_random(g.out_channels, 2, 0.1);
            // Inputs, buffers and CPU references at the reduced size, and buffers at the full
            // size, shared by every variant.
            let small = (h.min(8).max(g.kernel_h), w.min(8).max(g.kernel_w));
            let x_small = pseudo_random(g.in_channels * small.0 * small.1, 3, 1.0);
            let y_ref = conv::cpu::forward(&g, 1, small, &x_small, &weight, &bias, true);
            // The backward is checked and timed as network plans record it: from a gradient
            // already masked by the layer's ReLU.
            let dz_small =
                crate::ops::relu::cpu::backward(&pseudo_random(y_ref.len(), 4, 1.0), &y_ref);
            let dx_ref = conv::cpu::backward_input(&g, 1, small, &dz_small, None, &weight);
            let in_c = g.in_channels;
            let xb = Tensor::upload(ctx, "x", [1, in_c, small.0, small.1], &x_small)?;
            let yb = Tensor::zeros(ctx, "y", g.output_shape(xb.shape)?)?;
            let dzb = Tensor::upload(ctx, "dz", yb.shape, &dz_small)?;
            let dxb = Tensor::zeros(ctx, "dx", xb.shape)?;
            let x = Tensor::zeros(ctx, "x", [batch, in_c, h, w])?;
            let y_shape = g.output_shape(x.shape)?;
            let y = Tensor::upload(
                ctx,
                "y",
                y_shape,
                &pseudo_random(y_shape.iter().product(), 5, 1.0),
            )?;
            let dx = Tensor::zeros(ctx, "dx", x.shape)?;
            for algorithm in ConvAlgorithm::ALL {
                let layer = Conv2d::with_algorithm(ctx, &name, g, &weight, &bias, true, algorithm)?;
                // Correctness at the reduced size.
                let mut encoder = ctx.encoder("variant check");
                crate::gpu::record_all(
                    &mut encoder,
                    "variant check",
                    &[
                        layer.forward(ctx, &xb, &yb)?,
                        layer.backward_input(ctx, backward_io(&dzb, &dxb))?,
                    ],
                );
                ctx.submit(encoder);
                let forward_error = rel_l2(&yb.read(ctx).await?, &y_ref);
                let backward_error = rel_l2(&dxb.read(ctx).await?, &dx_ref);
                // Timing at the full size.
                let forward = layer.forward(ctx, &x, &y)?;
                let backward = layer.backward_input(ctx, backward_io(&y, &dx))?;
                let (forward_ms, _) = time_submissions(ctx, warmup, reps, |e| {
                    crate::gpu::record_all(e, "forward", [&forward])
                })?;
                let (backward_ms, _) = time_submissions(ctx, warmup, reps, |e| {
                    crate::gpu::record_all(e, "backward", [&backward])
                })?;
                results.push(VariantResult {
                    layer: name.clone(),
                    shape: format!(
                        "{}->{} k{}x{} s{} p{}",
                        g.in_channels, g.out_channels, g.kernel_h, g.kernel_w, g.stride, g.pad
                    ),
                    input: (h, w),
                    algorithm: algorithm.to_string(),
                    forward_ms,
                    backward_ms,
                    gflop: 2.0 * (g.macs(h, w) * batch as u64) as f64 / 1e9,
                    forward_error,
                    backward_error,
                });
            }
        }
    }
    Ok(results)
}

/// A convolution's input-gradient dispatch from dz (already masked by its ReLU) into dx.
fn backward_io<'a>(dz: &'a Tensor, dx: &'a Tensor) -> crate::ops::conv::BackwardIo<'a> {
    crate::ops::conv::BackwardIo {
        dy: dz.into(),
        dx,
        mask: crate::ops::conv::ReluMask::None,
        mode: crate::ops::BackwardMode::default(),
    }
}

/// Every linear-layer kernel on every distinct linear layer of `arch` (random weights, with the
/// layer's ReLU): checked against the CPU reference at batch 1, then timed at `batch`; the
/// backward from a gradient already masked by the ReLU, as network plans record it.
pub async fn linear_variants(
    ctx: &GpuContext,
    arch: &crate::model::Arch,
    batch: usize,
    warmup: usize,
    reps: usize,
) -> Result<Vec<VariantResult>> {
    use crate::model::Layer;
    use crate::ops::BackwardMode;
    use crate::ops::linear::{self, Linear, LinearKernel};

    let mut seen = Vec::new();
    let mut results = Vec::new();
    for layer in &arch.layers {
        let &Layer::Linear {
            ref name,
            in_features,
            out_features,
            relu,
        } = layer
        else {
            continue;
        };
        if seen.contains(&(in_features, out_features, relu)) {
            continue;
        }
        seen.push((in_features, out_features, relu));
        let weight = pseudo_random(in_features * out_features, 1, 0.01);
        let bias = pseudo_random(out_features, 2, 0.1);
        let x_one = pseudo_random(in_features, 3, 1.0);
        let y_ref = linear::cpu::forward(1, &x_one, &weight, &bias, relu);
        let mut dz_one = pseudo_random(out_features, 4, 1.0);
        if relu {
            dz_one = crate::ops::relu::cpu::backward(&dz_one, &y_ref);
        }
        let dx_ref = linear::cpu::backward_input(1, &dz_one, None, &weight, in_features);
        let rows = |n: usize, features: usize| [n, features, 1, 1];
        let xb = Tensor::upload(ctx, "x", rows(1, in_features), &x_one)?;
        let dzb = Tensor::upload(ctx, "dz", rows(1, out_features), &dz_one)?;
        let x_values = pseudo_random(batch * in_features, 5, 1.0);
        let x = Tensor::upload(ctx, "x", rows(batch, in_features), &x_values)?;
        let y = Tensor::zeros(ctx, "y", rows(batch, out_features))?;
        let dz_values = pseudo_random(batch * out_features, 6, 1.0);
        let dz = Tensor::upload(ctx, "dz", rows(batch, out_features), &dz_values)?;
        let dx = Tensor::zeros(ctx, "dx", x.shape)?;
        // Kernels the width or the device rule out are skipped, not uploaded.
        for kernel in LinearKernel::ALL {
            if kernel.resolve(ctx, in_features) != kernel {
                continue;
            }
            let layer = Linear::with_kernel(ctx, name, &weight, &bias, relu, kernel)?;
            // Correctness at batch 1, into fresh outputs.
            let yb = Tensor::zeros(ctx, "y", dzb.shape)?;
            let dxb = Tensor::zeros(ctx, "dx", xb.shape)?;
            let mut check = layer.forward(ctx, &xb, &yb)?;
            check.extend(layer.backward_input(ctx, &dzb, &dxb, BackwardMode::default())?);
            let mut encoder = ctx.encoder("variant check");
            crate::gpu::record_all(&mut encoder, "variant check", &check);
            ctx.submit(encoder);
            let forward_error = rel_l2(&yb.read(ctx).await?, &y_ref);
            let backward_error = rel_l2(&dxb.read(ctx).await?, &dx_ref);
            // Timing at `batch`.
            let forward = layer.forward(ctx, &x, &y)?;
            let backward = layer.backward_input(ctx, &dz, &dx, BackwardMode::default())?;
            let (forward_ms, _) = time_submissions(ctx, warmup, reps, |e| {
                crate::gpu::record_all(e, "forward", &forward)
            })?;
            let (backward_ms, _) = time_submissions(ctx, warmup, reps, |e| {
                crate::gpu::record_all(e, "backward", &backward)
            })?;
            results.push(VariantResult {
                layer: name.clone(),
                shape: format!("{in_features}->{out_features}"),
                input: (1, 1),
                algorithm: kernel.to_string(),
                forward_ms,
                backward_ms,
                gflop: 2.0 * (in_features * out_features * batch) as f64 / 1e9,
                forward_error,
                backward_error,
            });
        }
    }
    Ok(results)
}
