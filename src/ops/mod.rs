//! The layers, each a forward and a backward (gradient with respect to the input; weights stay
//! frozen) on the GPU, with a plain-Rust reference in its `cpu` module. The update steps the
//! gradient loops share are in [`crate::update`].

pub mod concat;
pub mod conv;
pub mod fire;
pub mod linear;
pub mod pool;
pub mod relu;
pub mod resample;

use crate::error::{Error, Result};
use crate::gpu::Tensor;

/// How a backward kernel writes its result and treats ReLUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackwardMode {
    /// Add into the gradient buffer instead of overwriting it (a tensor read by several layers).
    pub accumulate: bool,
    /// Guided backpropagation: ReLUs also drop negative incoming gradients.
    pub guided: bool,
}

/// An error naming `what` unless `tensor` has shape `want` and its buffer holds it.
pub(crate) fn expect_shape(what: &str, tensor: &Tensor, want: [usize; 4]) -> Result<()> {
    if tensor.shape != want {
        return Err(Error::InvalidInput(format!(
            "{what}: a tensor of shape {:?} where {want:?} is expected",
            tensor.shape
        )));
    }
    tensor.check_capacity(what)
}
