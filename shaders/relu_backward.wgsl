// The gradient store of the convolution kernels' backward passes (conv.wgsl, winograd.wgsl),
// compiled after the prelude and layer_bindings.wgsl (`aux` the layer's input x, `dst` the
// gradient written). The module has a `params` with `guided` and `accumulate`, and declares the
// override MASK_DX. The gradient they read (`src`) went through the layer's own ReLU already:
// the backward of relu.wgsl, the one pass that masks a gradient by a ReLU's output.

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
