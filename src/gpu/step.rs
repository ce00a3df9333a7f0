//! The commands of a loop's step, built once when the loop is planned and recorded at every step.

use crate::gpu::{Dispatch, copy_buffer, record_all};

/// One piece of a recorded step: a compute pass of dispatches, or a copy of a whole buffer.
#[derive(Clone, Debug)]
pub enum StepOp {
    /// A compute pass, with its label, running the dispatches in order.
    Pass(&'static str, Vec<Dispatch>),
    /// A copy of the whole first buffer to the start of the second.
    Copy(wgpu::Buffer, wgpu::Buffer),
}

impl StepOp {
    /// Records this piece into `encoder`.
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder) {
        match self {
            StepOp::Pass(label, dispatches) => record_all(encoder, label, dispatches),
            StepOp::Copy(src, dst) => copy_buffer(encoder, (src, 0), (dst, 0), src.size()),
        }
    }
}

/// Records the pieces of a step in order.
pub fn record_ops(encoder: &mut wgpu::CommandEncoder, ops: &[StepOp]) {
    for op in ops {
        op.record(encoder);
    }
}
