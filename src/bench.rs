//! Timing of forward and forward + input-gradient passes: wall-clock medians over repeated
//! submissions, achieved GFLOP/s, and GPU time per kernel from timestamp queries.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::gpu::counts::count;
use crate::gpu::{CommandCounts, CommandRates, Dispatch, GpuContext};
use crate::model::{Arch, GradientRule, Network, Plan};

/// Timings of one model at one batch size.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchResult {
    /// Model name.
    pub model: String,
    /// The convolution algorithm.
    pub conv: String,
    /// Images per pass.
    pub batch: usize,
    /// Input height and width.
    pub input: (usize, usize),
    /// Median wall-clock milliseconds of a forward pass (submit to completion).
    pub forward_ms: f64,
    /// Median wall-clock milliseconds of a forward + input-gradient pass, in one submission.
    pub forward_backward_ms: f64,
    /// GFLOP of one forward pass over the batch (2 per multiply-add).
    pub forward_gflop: f64,
    /// GFLOP of one forward + input-gradient pass over the batch.
    pub forward_backward_gflop: f64,
    /// Repetitions timed (after the warm-up).
    pub repetitions: usize,
    /// GPU commands of one forward pass, as recorded and submitted.
    pub forward_commands: CommandCounts,
    /// GPU commands of one forward + input-gradient pass, as recorded and submitted.
    pub forward_backward_commands: CommandCounts,
    /// GPU milliseconds per kernel over one forward + input-gradient pass, from timestamp
    /// queries (empty when the adapter has none).
    pub gpu_ms_per_kernel: BTreeMap<String, f64>,
}

impl BenchResult {
    /// Achieved GFLOP/s of the forward pass.
    pub fn forward_gflops(&self) -> f64 {
        self.forward_gflop / (self.forward_ms / 1e3)
    }

    /// Achieved GFLOP/s of the forward + input-gradient pass.
    pub fn forward_backward_gflops(&self) -> f64 {
        self.forward_backward_gflop / (self.forward_backward_ms / 1e3)
    }
}

/// The median of a list of times.
pub fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2.0
    }
}

/// Times `record` (recorded into one encoder and submitted) `reps` times after `warmup` runs;
/// returns the median in milliseconds and the commands one run recorded and submitted.
pub fn time_submissions(
    ctx: &GpuContext,
    warmup: usize,
    reps: usize,
    record: impl Fn(&mut wgpu::CommandEncoder),
) -> Result<(f64, CommandCounts)> {
    check_reps(reps)?;
    let mut times = Vec::with_capacity(reps);
    let mut commands = CommandCounts::default();
    for i in 0..warmup + reps {
        let mut encoder = ctx.encoder("bench");
        let (start, counted) = count(|| {
            record(&mut encoder);
            let start = Instant::now();
            ctx.submit(encoder);
            start
        });
        ctx.wait()?;
        commands = counted;
        if i >= warmup {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok((median(&mut times), commands))
}

/// Fails unless `reps` is at least 1: a median of no times is no measurement.
pub fn check_reps(reps: usize) -> Result<()> {
    if reps == 0 {
        return Err(Error::InvalidInput(
            "timing needs at least 1 repetition (got 0)".into(),
        ));
    }
    Ok(())
}

/// Fails, naming the limit, when `batch` images of `hw` cannot be planned for `arch` on this
/// device: a batch of zero, an input too small for the architecture, or a tensor over the
/// device's storage binding limit (the error says which batch fits, if any).
pub fn check_batch(ctx: &GpuContext, arch: &Arch, batch: usize, hw: (usize, usize)) -> Result<()> {
    if batch == 0 {
        return Err(Error::InvalidInput(
            "a batch needs at least one image".into(),
        ));
    }
    let per_image = arch.largest_buffer_per_image(hw)?;
    let fits = ctx.max_binding() / per_image;
    let what = format!(
        "{}'s largest tensor at batch {batch} of {}x{} (at most {fits} images fit)",
        arch.name, hw.0, hw.1
    );
    ctx.check_binding(&what, per_image.saturating_mul(batch as u64))
}

/// Benchmarks `net` at `batch` images of `hw`.
pub fn bench(
    net: &Network,
    batch: usize,
    hw: (usize, usize),
    warmup: usize,
    reps: usize,
) -> Result<BenchResult> {
    let ctx = net.context();
    let plan = net.plan(batch, hw)?;
    let input: Vec<f32> = (0..plan.input().len())
        .map(|i| ((i * 7919) % 255) as f32 / 127.0 - 1.0)
        .collect();
    plan.input().write(ctx, &input)?;
    let seed: Vec<f32> = (0..plan.logits_grad().len())
        .map(|i| if i % 1000 == 1 { 1.0 } else { 0.0 })
        .collect();
    plan.logits_grad().write(ctx, &seed)?;
    let (forward_ms, forward_commands) =
        time_submissions(ctx, warmup, reps, |e| plan.record_forward(e))?;
    let (forward_backward_ms, forward_backward_commands) =
        time_submissions(ctx, warmup, reps, |e| {
            plan.record_gradient(e, GradientRule::Plain)
        })?;
    let macs = net.arch().macs(hw)? as f64 * batch as f64;
    Ok(BenchResult {
        model: net.arch().name.clone(),
        conv: net.conv_algorithm().to_string(),
        batch,
        input: hw,
        forward_ms,
        forward_backward_ms,
        forward_gflop: 2.0 * macs / 1e9,
        forward_backward_gflop: 4.0 * macs / 1e9,
        repetitions: reps,
        forward_commands,
        forward_backward_commands,
        gpu_ms_per_kernel: profile(ctx, &plan)?,
    })
}

/// GPU time per kernel (shader/entry) of one forward + input-gradient pass, each dispatch in a
/// compute pass of its own with timestamps at both ends. Empty without TIMESTAMP_QUERY.
pub fn profile(ctx: &GpuContext, plan: &Plan) -> Result<BTreeMap<String, f64>> {
    let mut totals = BTreeMap::new();
    if !ctx
        .device()
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY)
    {
        return Ok(totals);
    }
    let dispatches: Vec<&Dispatch> = plan
        .forward_dispatches()
        .chain(plan.backward_dispatches(GradientRule::Plain))
        .collect();
    let count = (2 * dispatches.len()) as u32;
    let queries = ctx.device().create_query_set(&wgpu::QuerySetDescriptor {
        label: Some("profile"),
        ty: wgpu::QueryType::Timestamp,
        count,
    });
    let resolve = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("profile resolve"),
        size: count as u64 * 8,
        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let readable = ctx.storage("profile timestamps", 2 * count as usize)?;
    // Twice: the first run warms up pipelines and caches.
    for _ in 0..2 {
        let mut encoder = ctx.encoder("profile");
        for (i, d) in dispatches.iter().enumerate() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(d.kernel().entry),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &queries,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            d.record(&mut pass);
        }
        encoder.resolve_query_set(&queries, 0..count, &resolve, 0);
        encoder.copy_buffer_to_buffer(&resolve, 0, &readable, 0, count as u64 * 8);
        ctx.submit(encoder);
        ctx.wait()?;
    }
    let words: Vec<u32> = ctx.read_all(&readable)?;
    let period_ns = ctx.queue().get_timestamp_period() as f64;
    for (i, d) in dispatches.iter().enumerate() {
        let ticks = |q: usize| words[2 * q] as u64 | (words[2 * q + 1] as u64) << 32;
        let ms = ticks(2 * i + 1).saturating_sub(ticks(2 * i)) as f64 * period_ns / 1e6;
        let k = d.kernel();
        *totals
            .entry(format!("{}::{}", k.shader.name(), k.entry))
            .or_insert(0.0) += ms;
    }
    Ok(totals)
}

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

/// Relative L2 error ‖a − b‖ / ‖b‖, in f64.
pub fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum();
    let den: f64 = b.iter().map(|&y| (y as f64).powi(2)).sum();
    (num / den.max(1e-300)).sqrt()
}

/// A deterministic pseudo-random vector in [-scale, scale) (xorshift64 from `seed`).
pub fn pseudo_random(len: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Every convolution variant on every distinct convolution of `arch` (random weights): checked
/// against the CPU reference at a reduced input size (at most 8 x 8), then timed at `batch` x `hw`;
/// the backward from a gradient already masked by the ReLU, as network plans record it.
pub fn conv_variants(
    ctx: &GpuContext,
    arch: &crate::model::Arch,
    batch: usize,
    hw: (usize, usize),
    warmup: usize,
    reps: usize,
) -> Result<Vec<VariantResult>> {
    use crate::ops::BackwardMode;
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
                        layer.forward(ctx, 1, small, &xb, &yb),
                        layer.backward_input_masked_from(
                            ctx,
                            1,
                            small,
                            &dzb,
                            &dxb,
                            layer.whole(),
                            BackwardMode::default(),
                        ),
                    ],
                );
                ctx.submit(encoder);
                let forward_error = rel_l2(&ctx.read_all(&yb)?, &y_ref);
                let backward_error = rel_l2(&ctx.read_all(&dxb)?, &dx_ref);
                // Timing at the full size.
                let forward = layer.forward(ctx, batch, (h, w), &x, &y);
                let backward = layer.backward_input_masked_from(
                    ctx,
                    batch,
                    (h, w),
                    &y,
                    &dx,
                    layer.whole(),
                    BackwardMode::default(),
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
pub fn linear_variants(
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
            check.extend(layer.backward_input_masked(ctx, 1, &dzb, &dxb, BackwardMode::default()));
            let mut encoder = ctx.encoder("variant check");
            crate::gpu::record_all(&mut encoder, "variant check", &check);
            ctx.submit(encoder);
            let forward_error = rel_l2(&ctx.read_all(&yb)?, &y_ref);
            let backward_error = rel_l2(&ctx.read_all(&dxb)?, &dx_ref);
            // Timing at `batch`.
            let forward = layer.forward(ctx, batch, &x, &y);
            let backward =
                layer.backward_input_masked(ctx, batch, &dz, &dx, BackwardMode::default());
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

/// Timings of a class-visualization loop.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DreamBench {
    /// Model name.
    pub model: String,
    /// The convolution algorithm.
    pub conv: String,
    /// Steps per timed run.
    pub steps: usize,
    /// Steps recorded into one submission.
    pub steps_per_submit: usize,
    /// Median wall-clock milliseconds of the whole loop (all steps, without setup and the final
    /// snapshot).
    pub loop_ms: f64,
    /// Repetitions timed (after one short warm-up run).
    pub repetitions: usize,
    /// GPU commands of one timed loop (all steps), as recorded and submitted.
    pub commands: CommandCounts,
    /// The same per step.
    pub commands_per_step: CommandRates,
}

impl DreamBench {
    /// Milliseconds per step.
    pub fn ms_per_step(&self) -> f64 {
        self.loop_ms / self.steps as f64
    }
}

/// Times `steps` class-visualization steps of `net` at 224 × 224 from noise, batch 1, with
/// `settings` (jitter, penalty, normalized step, clamp and blur, all on the GPU), `reps` times
/// after one warm-up run; no snapshot is read back until the end.
pub fn dream_steps(
    net: &Network,
    settings: crate::dream::Settings,
    steps: usize,
    reps: usize,
) -> Result<DreamBench> {
    use crate::dream::{Objective, Request, Run, dream};
    check_reps(reps)?;
    let mut request = Request::new(vec![Run {
        objective: Objective::Class(1),
        settings,
        label: "bench".into(),
    }]);
    request.iterations = steps;
    request.steps_per_submit = steps;
    let hidden = indicatif::ProgressBar::hidden();
    let mut warmup = request.clone();
    warmup.iterations = steps.min(2);
    dream(net, &warmup, &hidden)?;
    let mut times = Vec::with_capacity(reps);
    let mut commands = CommandCounts::default();
    for _ in 0..reps {
        let timing = dream(net, &request, &hidden)?.timing;
        times.push(timing.loop_ms);
        commands = timing.commands;
    }
    Ok(DreamBench {
        model: net.arch().name.clone(),
        conv: net.conv_algorithm().to_string(),
        steps,
        steps_per_submit: request.steps_per_submit,
        loop_ms: median(&mut times),
        repetitions: reps,
        commands,
        commands_per_step: commands.per(steps),
    })
}
