//! Counts of the GPU commands a thread records and submits: compute dispatches
//! ([`Dispatch::record`](crate::gpu::Dispatch::record)), compute passes
//! ([`record_all`](crate::gpu::record_all)), buffer copies ([`copy_buffer`]) and submissions
//! ([`GpuContext::submit`](crate::gpu::GpuContext::submit)). On a GPU each of them costs host
//! and driver time whatever its size, which is what bounds small batches.

use std::cell::Cell;

/// Commands recorded and submitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CommandCounts {
    /// Compute dispatches.
    pub dispatches: u64,
    /// Compute passes.
    pub passes: u64,
    /// Buffer-to-buffer copies.
    pub copies: u64,
    /// Queue submissions.
    pub submits: u64,
}

/// Commands per step of a loop: [`CommandCounts`] divided by the steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct CommandRates {
    /// Compute dispatches per step.
    pub dispatches: f64,
    /// Compute passes per step.
    pub passes: f64,
    /// Buffer-to-buffer copies per step.
    pub copies: f64,
    /// Queue submissions per step.
    pub submits: f64,
}

impl CommandCounts {
    /// Each count divided by `steps` (at least 1).
    pub fn per(&self, steps: usize) -> CommandRates {
        let n = steps.max(1) as f64;
        CommandRates {
            dispatches: self.dispatches as f64 / n,
            passes: self.passes as f64 / n,
            copies: self.copies as f64 / n,
            submits: self.submits as f64 / n,
        }
    }

    fn since(self, before: Self) -> Self {
        Self {
            dispatches: self.dispatches - before.dispatches,
            passes: self.passes - before.passes,
            copies: self.copies - before.copies,
            submits: self.submits - before.submits,
        }
    }
}

impl std::ops::AddAssign for CommandCounts {
    fn add_assign(&mut self, other: Self) {
        self.dispatches += other.dispatches;
        self.passes += other.passes;
        self.copies += other.copies;
        self.submits += other.submits;
    }
}

impl std::fmt::Display for CommandCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} dispatches, {} passes, {} copies, {} submits",
            self.dispatches, self.passes, self.copies, self.submits
        )
    }
}

thread_local! {
    static COUNTS: Cell<CommandCounts> = Cell::new(CommandCounts::default());
}

/// Adds one command, as `bump` says, to this thread's counts.
pub(crate) fn bump(bump: impl FnOnce(&mut CommandCounts)) {
    COUNTS.with(|c| {
        let mut counts = c.get();
        bump(&mut counts);
        c.set(counts);
    });
}

/// Runs `f` and returns its result with the commands it recorded and submitted on this thread.
pub fn count<T>(f: impl FnOnce() -> T) -> (T, CommandCounts) {
    let before = COUNTS.with(Cell::get);
    let result = f();
    (result, COUNTS.with(Cell::get).since(before))
}

/// Records a copy of `bytes` bytes from `src` at `src_offset` to `dst` at `dst_offset`.
pub fn copy_buffer(
    encoder: &mut wgpu::CommandEncoder,
    (src, src_offset): (&wgpu::Buffer, u64),
    (dst, dst_offset): (&wgpu::Buffer, u64),
    bytes: u64,
) {
    bump(|c| c.copies += 1);
    encoder.copy_buffer_to_buffer(src, src_offset, dst, dst_offset, bytes);
}
