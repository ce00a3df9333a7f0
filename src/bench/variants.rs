//! The variants harnesses: every convolution algorithm and every linear-layer kernel on each
//! distinct layer of an architecture, checked against the CPU reference and timed.

use super::numerics::{pseudo_random, rel_l2};
use super::timing::time_submissions;
use crate::error::Result;
use crate::gpu::GpuContext;

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
    use crate::ops::BackwardMode;
    use crate::ops::conv::{self, BackwardIo, Conv2d, ConvAlgorithm, ReluMask};

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
            let xb = ctx.upload("x", &x_small)?;
            let yb = ctx.storage("y", y_ref.len())?;
            let dzb = ctx.upload("dz", &dz_small)?;
            let dxb = ctx.storage("dx", x_small.len())?;
            let (oh, ow) = g.output_size(h, w).unwrap_or((0, 0));
            let x = ctx.storage("x", batch * g.in_channels * h * w)?;
            let y = ctx.upload(
                "y",
                &pseudo_random(batch * g.out_channels * oh * ow, 5, 1.0),
            )?;
            let dx = ctx.storage("dx", batch * g.in_channels * h * w)?;
            for algorithm in ConvAlgorithm::ALL {
                let layer = Conv2d::with_algorithm(ctx, &name, g, &weight, &bias, true, algorithm)?;
                // Correctness at the reduced size.
                let mut encoder = ctx.encoder("variant check");
                crate::gpu::record_all(
                    &mut encoder,
                    "variant check",
                    &[
                        layer.forward(ctx, 1, small, &xb, &yb, layer.whole()),
                        layer.backward_input(
                            ctx,
                            1,
                            small,
                            BackwardIo {
                                dy: &dzb,
                                dx: &dxb,
                                mask: ReluMask::None,
                                slice: layer.whole(),
                                mode: BackwardMode::default(),
                            },
                        ),
                    ],
                );
                ctx.submit(encoder);
                let forward_error = rel_l2(&ctx.read_all(&yb).await?, &y_ref);
                let backward_error = rel_l2(&ctx.read_all(&dxb).await?, &dx_ref);
                // Timing at the full size.
                let forward = layer.forward(ctx, batch, (h, w), &x, &y, layer.whole());
                let backward = layer.backward_input(
                    ctx,
                    batch,
                    (h, w),
                    BackwardIo {
                        dy: &y,
                        dx: &dx,
                        mask: ReluMask::None,
                        slice: layer.whole(),
                        mode: BackwardMode::default(),
                    },
                );
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
        let xb = ctx.upload("x", &x_one)?;
        let dzb = ctx.upload("dz", &dz_one)?;
        let x = ctx.upload("x", &pseudo_random(batch * in_features, 5, 1.0))?;
        let y = ctx.storage("y", batch * out_features)?;
        let dz = ctx.upload("dz", &pseudo_random(batch * out_features, 6, 1.0))?;
        let dx = ctx.storage("dx", batch * in_features)?;
        // Kernels the width or the device rule out are skipped, not uploaded.
        for kernel in LinearKernel::ALL {
            if kernel.resolve(ctx, in_features) != kernel {
                continue;
            }
            let layer = Linear::with_kernel(ctx, name, &weight, &bias, relu, kernel)?;
            // Correctness at batch 1, into fresh outputs.
            let yb = ctx.storage("y", out_features)?;
            let dxb = ctx.storage("dx", in_features)?;
            let mut check = layer.forward(ctx, 1, &xb, &yb);
            check.extend(layer.backward_input(ctx, 1, &dzb, &dxb, BackwardMode::default()));
            let mut encoder = ctx.encoder("variant check");
            crate::gpu::record_all(&mut encoder, "variant check", &check);
            ctx.submit(encoder);
            let forward_error = rel_l2(&ctx.read_all(&yb).await?, &y_ref);
            let backward_error = rel_l2(&ctx.read_all(&dxb).await?, &dx_ref);
            // Timing at `batch`.
            let forward = layer.forward(ctx, batch, &x, &y);
            let backward = layer.backward_input(ctx, batch, &dz, &dx, BackwardMode::default());
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
