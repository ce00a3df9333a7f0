//! PyTorch's numbers for every op, in `reference/ops_reference.safetensors`, and the tolerance
//! the op tests hold the kernels and CPU references to.

/// Relative L2 error allowed against PyTorch and the CPU references.
pub const TOL: f64 = 1e-4;

/// A reference file's tensors, by name, with shapes.
pub type Tensors = std::collections::HashMap<String, (Vec<usize>, Vec<f32>)>;

/// The shape and values of `{op}.{part}`.
pub fn tensor<'a>(refs: &'a Tensors, op: &str, part: &str) -> (&'a [usize], &'a [f32]) {
    let (shape, data) = &refs[&format!("{op}.{part}")];
    (shape, data)
}
