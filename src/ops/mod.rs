//! The layers, each a forward and a backward (gradient with respect to the input; weights stay
//! frozen) on the GPU, with a plain-Rust reference in its `cpu` module; and the update steps of
//! the gradient loops (`step`).

pub mod concat;
pub mod conv;
pub mod linear;
pub mod pool;
pub mod relu;
pub mod step;

/// How a backward kernel writes its result and treats ReLUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackwardMode {
    /// Add into the gradient buffer instead of overwriting it (a tensor read by several layers).
    pub accumulate: bool,
    /// Guided backpropagation: ReLUs also drop negative incoming gradients.
    pub guided: bool,
}
