// Per-image reductions and update steps on a batch of images, for the gradient loops (fooling,
// class visualization, attribution sampling). A batch is `batch` vectors of `len` values each.
// Each entry point binds its buffers at 0, 1, 2, ... in the order declared for it.

// `UpdateParams`, the uniform block, is declared in src/update.rs (uniform_block!).

@group(0) @binding(0) var<uniform> params: UpdateParams;

// sum_squares: sums[n] = sum_i src[n, i]^2, one workgroup per image (`image_sum`,
// `batch_values` and `channel`: image_batch.wgsl).
@compute @workgroup_size(256)
fn sum_squares(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    image_sum(wid.x, tid, true);
}

// normalized_step: x[n] += rate * scale[n] * g[n] / (||g[n]|| + eps), with ||g[n]||^2 given.
// A scale of 0 freezes an image (one already fooled, say); per-image scales run sweeps.
@group(0) @binding(1) var<storage, read> ns_g: array<f32>;
@group(0) @binding(2) var<storage, read> ns_norm2: array<f32>;
@group(0) @binding(3) var<storage, read> ns_scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> ns_x: array<f32>;

@compute @workgroup_size(256)
fn normalized_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= batch_values() {
        return;
    }
    let n = i / params.len;
    let s = params.rate * ns_scale[n] / (sqrt(ns_norm2[n]) + params.eps);
    ns_x[i] = fma(s, ns_g[i], ns_x[i]);
}

// axpy: y += rate * x.
@group(0) @binding(1) var<storage, read> axpy_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> axpy_y: array<f32>;

@compute @workgroup_size(256)
fn axpy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= batch_values() {
        return;
    }
    axpy_y[i] = fma(params.rate, axpy_x[i], axpy_y[i]);
}

// clamp_channels: x[n, c, :] = clamp(x[n, c, :], bounds[c].x, bounds[c].y).
@group(0) @binding(1) var<storage, read> cl_bounds: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> cl_x: array<f32>;

@compute @workgroup_size(256)
fn clamp_channels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= batch_values() {
        return;
    }
    let b = cl_bounds[channel(i)];
    cl_x[i] = clamp(cl_x[i], b.x, b.y);
}
