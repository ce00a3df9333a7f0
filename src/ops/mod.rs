//! The layers, each a forward and a backward (gradient with respect to the input; weights stay
//! frozen) on the GPU, with a plain-Rust reference in its `cpu` module; and the update steps of
//! the gradient loops (`step`).

pub mod concat;
pub mod conv;
pub mod fire;
pub mod linear;
pub mod pool;
pub mod relu;
pub mod resample;
pub mod step;

/// How a backward kernel writes its result and treats ReLUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackwardMode {
    /// Add into the gradient buffer instead of overwriting it (a tensor read by several layers).
    pub accumulate: bool,
    /// Guided backpropagation: ReLUs also drop negative incoming gradients.
    pub guided: bool,
}

/// Panics unless `buffer` holds at least `elements` 4-byte values: the kernels index their
/// buffers without runtime bounds checks, so a dispatch is only built over buffers that fit.
#[track_caller]
pub(crate) fn check_len(buffer: &wgpu::Buffer, elements: usize, what: &str) {
    assert!(
        buffer.size() >= (elements * 4) as u64,
        "{what}: buffer of {} bytes is smaller than the {elements} values the dispatch covers",
        buffer.size()
    );
}
