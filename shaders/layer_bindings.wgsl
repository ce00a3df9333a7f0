// The bindings of the layer kernels (conv.wgsl, winograd.wgsl, linear.wgsl), after the uniform
// `params` at binding 0 that each declares with its own block: the tensor read (x forward, dy
// backward), the weights (as f32, or as vec4 for the vectorized kernels; an entry point uses one
// of the two), the auxiliary tensor (the bias forward; y or x backward) and the tensor written.
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(2) var<storage, read> weights4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> aux: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;
