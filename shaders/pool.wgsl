// Pooling, forward and gradient with respect to the input: max pooling (with PyTorch's ceil_mode
// window placement and first-maximum tie breaking) and adaptive average pooling.
//
// Tensors are planes of [N * C] x H x W. Backward passes gather (one invocation per input element,
// summing over the windows that cover it), so overlapping windows need no atomics and the result
// is deterministic.

// `PoolParams`, the uniform block, is declared in src/ops/pool.rs (uniform_block!).

// Max pooling's window size and stride, fixed per pipeline: the backward's window search divides
// by the stride, which a constant turns into multiplications, and window loops unroll.
override KERNEL: u32 = 3u;
override STRIDE: u32 = 2u;

@group(0) @binding(0) var<uniform> params: PoolParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
// Max pooling: flat index inside its plane of the input element each output took.
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;

fn store_grad(i: u32, v: f32) {
    if params.accumulate != 0u {
        dst[i] += v;
    } else {
        dst[i] = v;
    }
}

// `src` is x, `dst` is y; argmax records the winner of each window.
@compute @workgroup_size(256)
fn max_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = element(gid, nwg);
    let out_plane = params.out_h * params.out_w;
    if o >= params.planes * out_plane {
        return;
    }
    let plane = o / out_plane;
    let oh = (o % out_plane) / params.out_w;
    let ow = o % params.out_w;
    let h0 = i32(oh * STRIDE) - i32(params.pad);
    let w0 = i32(ow * STRIDE) - i32(params.pad);
    let h_start = u32(max(h0, 0));
    let w_start = u32(max(w0, 0));
    let h_end = u32(min(h0 + i32(KERNEL), i32(params.in_h)));
    let w_end = u32(min(w0 + i32(KERNEL), i32(params.in_w)));
    let base = plane * params.in_h * params.in_w;
    var best = h_start * params.in_w + w_start;
    var best_v = src[base + best];
    for (var h = h_start; h < h_end; h++) {
        for (var w = w_start; w < w_end; w++) {
            let idx = h * params.in_w + w;
            let v = src[base + idx];
            if v > best_v {
                best_v = v;
                best = idx;
            }
        }
    }
    dst[o] = best_v;
    argmax[o] = best;
}

// `src` is dy, `dst` is dx.
@compute @workgroup_size(256)
fn max_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    let in_plane = params.in_h * params.in_w;
    if i >= params.planes * in_plane {
        return;
    }
    let plane = i / in_plane;
    let idx = i % in_plane;
    let hp = i32(idx / params.in_w) + i32(params.pad);
    let wp = i32(idx % params.in_w) + i32(params.pad);
    let s = i32(STRIDE);
    let k = i32(KERNEL);
    // Windows oh with oh*s <= hp < oh*s + k.
    let oh_lo = u32(max((hp - k + s) / s, 0));
    let oh_hi = min(u32(hp / s) + 1u, params.out_h);
    let ow_lo = u32(max((wp - k + s) / s, 0));
    let ow_hi = min(u32(wp / s) + 1u, params.out_w);
    let out_base = plane * params.out_h * params.out_w;
    var acc = 0.0;
    for (var oh = oh_lo; oh < oh_hi; oh++) {
        for (var ow = ow_lo; ow < ow_hi; ow++) {
            let o = out_base + oh * params.out_w + ow;
            if argmax[o] == idx {
                acc += src[o];
            }
        }
    }
    store_grad(i, acc);
}

// PyTorch's adaptive pooling window along one axis: [floor(o*in/out), ceil((o+1)*in/out)).
fn window_start(o: u32, size_in: u32, size_out: u32) -> u32 {
    return (o * size_in) / size_out;
}

fn window_end(o: u32, size_in: u32, size_out: u32) -> u32 {
    return ((o + 1u) * size_in + size_out - 1u) / size_out;
}

// `src` is x, `dst` is y.
@compute @workgroup_size(256)
fn avg_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = element(gid, nwg);
    let out_plane = params.out_h * params.out_w;
    if o >= params.planes * out_plane {
        return;
    }
    let plane = o / out_plane;
    let oh = (o % out_plane) / params.out_w;
    let ow = o % params.out_w;
    let h_start = window_start(oh, params.in_h, params.out_h);
    let h_end = window_end(oh, params.in_h, params.out_h);
    let w_start = window_start(ow, params.in_w, params.out_w);
    let w_end = window_end(ow, params.in_w, params.out_w);
    let base = plane * params.in_h * params.in_w;
    var sum = 0.0;
    for (var h = h_start; h < h_end; h++) {
        for (var w = w_start; w < w_end; w++) {
            sum += src[base + h * params.in_w + w];
        }
    }
    dst[o] = sum / f32((h_end - h_start) * (w_end - w_start));
}

// `src` is dy, `dst` is dx.
@compute @workgroup_size(256)
fn avg_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    let in_plane = params.in_h * params.in_w;
    if i >= params.planes * in_plane {
        return;
    }
    let plane = i / in_plane;
    let h = (i % in_plane) / params.in_w;
    let w = i % params.in_w;
    let out_base = plane * params.out_h * params.out_w;
    var acc = 0.0;
    for (var oh = 0u; oh < params.out_h; oh++) {
        let h_start = window_start(oh, params.in_h, params.out_h);
        let h_end = window_end(oh, params.in_h, params.out_h);
        if h < h_start || h >= h_end {
            continue;
        }
        for (var ow = 0u; ow < params.out_w; ow++) {
            let w_start = window_start(ow, params.in_w, params.out_w);
            let w_end = window_end(ow, params.in_w, params.out_w);
            if w < w_start || w >= w_end {
                continue;
            }
            let area = f32((h_end - h_start) * (w_end - w_start));
            acc += src[out_base + oh * params.out_w + ow] / area;
        }
    }
    store_grad(i, acc);
}
