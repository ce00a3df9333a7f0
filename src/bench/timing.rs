//! Wall-clock timing of GPU submissions: the median over repeated runs and the commands one
//! run records.

use web_time::Instant;

use crate::error::{Error, Result};
use crate::gpu::counts::count;
use crate::gpu::{CommandCounts, GpuContext};

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
