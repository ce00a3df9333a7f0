//! Timing of whole forward and forward + input-gradient passes: wall-clock medians over
//! repeated submissions, achieved GFLOP/s, and GPU time per kernel from timestamp queries.

use std::collections::BTreeMap;

use super::timing::time_submissions;
use crate::error::{Error, Result};
use crate::gpu::{CommandCounts, Dispatch, GpuContext};
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
pub async fn bench(
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
        gpu_ms_per_kernel: profile(ctx, &plan).await?,
    })
}

/// GPU time per kernel (shader/entry) of one forward + input-gradient pass, each dispatch in a
/// compute pass of its own with timestamps at both ends. Empty without TIMESTAMP_QUERY.
pub async fn profile(ctx: &GpuContext, plan: &Plan) -> Result<BTreeMap<String, f64>> {
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
    let words: Vec<u32> = ctx.read_all(&readable).await?;
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
