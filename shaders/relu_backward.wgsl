// Gradient reads and stores through a ReLU, for the convolution kernels' backward passes
// (conv.wgsl, winograd.wgsl), compiled after the prelude and layer_bindings.wgsl (`src` the
// gradient read, `aux` y or x, `dst` the gradient written). The module has a `params` with
// `guided` and `accumulate`, and declares the overrides MASK_RELU and MASK_DX.

// The gradient read at `index`, masked by the ReLU of the forward output y (`aux`) when
// MASK_RELU is set.
fn masked_grad(index: u32) -> f32 {
    let g = src[index];
    if MASK_RELU == 0u {
        return g;
    }
    return relu_grad(g, aux[index], params.guided);
}

// Stores `value` as the gradient at `index`, added to it when accumulating, then masked by the
// ReLU whose output is this layer's input x (`aux`) when MASK_DX.
fn store_grad(index: u32, value: f32) {
    var v = value;
    if params.accumulate != 0u {
        v += dst[index];
    }
    if MASK_DX != 0u {
        v = relu_grad(v, aux[index], params.guided);
    }
    dst[index] = v;
}
