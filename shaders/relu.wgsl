// Bias + ReLU, forward and gradient with respect to the input.
//
// Forward:   y[n, c, h, w] = max(x[n, c, h, w] + b[c], 0)     (b is all zeros when has_bias is 0)
// Backward:  dx = dy where y > 0, else 0                        (guided: also 0 where dy < 0)
//
// One invocation per element; workgroups laid out on x then y past the per-dimension limit.

// `ReluParams`, the uniform block, is declared in src/ops/relu.rs (uniform_block!).

@group(0) @binding(0) var<uniform> params: ReluParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> aux: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

// `src` is x, `aux` is the bias, `dst` is y.
@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.len {
        return;
    }
    var v = src[i];
    if params.has_bias != 0u {
        v += aux[(i / params.plane) % params.channels];
    }
    dst[i] = max(v, 0.0);
}

// `src` is dy, `aux` is y, `dst` is dx.
@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.len {
        return;
    }
    var v = relu_grad(src[i], aux[i], params.guided);
    if params.accumulate != 0u {
        v += dst[i];
    }
    dst[i] = v;
}
