//! Timing of class-visualization steps.

use super::timing::{check_reps, median};
use crate::error::Result;
use crate::gpu::{CommandCounts, CommandRates};
use crate::model::Network;

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
pub async fn dream_steps(
    net: &Network,
    settings: crate::dream::DreamSettings,
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
    let hidden = crate::progress::Silent;
    let mut warmup = request.clone();
    warmup.iterations = steps.min(2);
    dream(net, &warmup, &hidden).await?;
    let mut times = Vec::with_capacity(reps);
    let mut commands = CommandCounts::default();
    for _ in 0..reps {
        let timing = dream(net, &request, &hidden).await?.timing;
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
