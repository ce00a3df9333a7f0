//! What one convolution dispatch is told: its uniform block, shared by the direct and the
//! Winograd kernels (which translate it into theirs).

use crate::gpu::uniform::uniform_block;

uniform_block! {
    /// Uniform block of `conv.wgsl`, and the description of one dispatch that the Winograd
    /// kernels translate into theirs.
    pub(crate) struct ConvParams {
        pub(crate) batch: u32,
        pub(crate) in_c: u32,
        pub(crate) in_h: u32,
        pub(crate) in_w: u32,
        pub(crate) out_c: u32,
        pub(crate) out_h: u32,
        pub(crate) out_w: u32,
        pub(crate) pad: u32,
        /// Forward: apply a ReLU after the bias (the backward reads a gradient already masked
        /// by it).
        pub(crate) relu: u32,
        /// Backward: add into dx instead of overwriting it (a tensor read by several layers).
        pub(crate) accumulate: u32,
        /// Backward with `MASK_DX`: guided backpropagation, also drop negative gradients at
        /// the ReLU of x.
        pub(crate) guided: u32,
        /// The output (forward) and its gradient (backward) are channels
        /// `out_offset..out_offset + out_c` of a tensor of `out_total` channels: a fire
        /// module's expand convolutions write and read their slices of the concatenation.
        pub(crate) out_total: u32,
        pub(crate) out_offset: u32,
    }
}
