//! Timing of forward and forward + input-gradient passes: wall-clock medians over repeated
//! submissions, achieved GFLOP/s, and GPU time per kernel from timestamp queries.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::error::Result;
use crate::gpu::{Dispatch, GpuContext};
use crate::model::{GradientRule, Network, Plan};

/// Timings of one model at one batch size.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchResult {
    /// Model name.
    pub model: String,
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
/// returns the median in milliseconds.
pub fn time_submissions(
    ctx: &GpuContext,
    warmup: usize,
    reps: usize,
    record: impl Fn(&mut wgpu::CommandEncoder),
) -> Result<f64> {
    let mut times = Vec::with_capacity(reps);
    for i in 0..warmup + reps {
        let mut encoder = ctx.encoder("bench");
        record(&mut encoder);
        let start = Instant::now();
        ctx.submit(encoder);
        ctx.wait()?;
        if i >= warmup {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(median(&mut times))
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
    let forward_ms = time_submissions(ctx, warmup, reps, |e| plan.record_forward(e))?;
    let forward_backward_ms = time_submissions(ctx, warmup, reps, |e| {
        plan.record_forward(e);
        plan.record_backward(e, GradientRule::Plain);
    })?;
    let macs = net.arch().macs(hw)? as f64 * batch as f64;
    Ok(BenchResult {
        model: net.arch().name.clone(),
        batch,
        input: hw,
        forward_ms,
        forward_backward_ms,
        forward_gflop: 2.0 * macs / 1e9,
        forward_backward_gflop: 4.0 * macs / 1e9,
        repetitions: reps,
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
