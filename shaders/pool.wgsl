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

// A position in a stack of planes: the plane, its row and its column.
struct Position {
    plane: u32,
    y: u32,
    x: u32,
}

fn position(i: u32, h: u32, w: u32) -> Position {
    let plane = h * w;
    return Position(i / plane, (i % plane) / w, i % w);
}

// Rows [y0, y1) and columns [x0, x1) of the input that a window covers.
struct Window {
    y0: u32,
    y1: u32,
    x0: u32,
    x1: u32,
}

// The max pooling window of output (oy, ox), cut to the input.
fn max_window(oy: u32, ox: u32) -> Window {
    let y0 = i32(oy * STRIDE) - i32(params.pad);
    let x0 = i32(ox * STRIDE) - i32(params.pad);
    return Window(
        u32(max(y0, 0)),
        u32(min(y0 + i32(KERNEL), i32(params.in_h))),
        u32(max(x0, 0)),
        u32(min(x0 + i32(KERNEL), i32(params.in_w))),
    );
}

// PyTorch's adaptive pooling window along one axis: [floor(o*in/out), ceil((o+1)*in/out)).
fn window_start(o: u32, size_in: u32, size_out: u32) -> u32 {
    return (o * size_in) / size_out;
}

fn window_end(o: u32, size_in: u32, size_out: u32) -> u32 {
    return ((o + 1u) * size_in + size_out - 1u) / size_out;
}

// The adaptive average pooling window of output (oy, ox).
fn avg_window(oy: u32, ox: u32) -> Window {
    return Window(
        window_start(oy, params.in_h, params.out_h),
        window_end(oy, params.in_h, params.out_h),
        window_start(ox, params.in_w, params.out_w),
        window_end(ox, params.in_w, params.out_w),
    );
}

fn area(win: Window) -> f32 {
    return f32((win.y1 - win.y0) * (win.x1 - win.x0));
}

// `src` is x, `dst` is y; argmax records the winner of each window.
@compute @workgroup_size(256)
fn max_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = element(gid, nwg);
    if o >= params.planes * params.out_h * params.out_w {
        return;
    }
    let at = position(o, params.out_h, params.out_w);
    let win = max_window(at.y, at.x);
    let base = at.plane * params.in_h * params.in_w;
    var best = win.y0 * params.in_w + win.x0;
    var best_v = src[base + best];
    for (var h = win.y0; h < win.y1; h++) {
        for (var w = win.x0; w < win.x1; w++) {
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
    if i >= params.planes * params.in_h * params.in_w {
        return;
    }
    let at = position(i, params.in_h, params.in_w);
    let idx = at.y * params.in_w + at.x;
    let hp = i32(at.y) + i32(params.pad);
    let wp = i32(at.x) + i32(params.pad);
    let s = i32(STRIDE);
    let k = i32(KERNEL);
    // Windows oh with oh*s <= hp < oh*s + k.
    let oh_lo = u32(max((hp - k + s) / s, 0));
    let oh_hi = min(u32(hp / s) + 1u, params.out_h);
    let ow_lo = u32(max((wp - k + s) / s, 0));
    let ow_hi = min(u32(wp / s) + 1u, params.out_w);
    let out_base = at.plane * params.out_h * params.out_w;
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

// `src` is x, `dst` is y.
@compute @workgroup_size(256)
fn avg_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = element(gid, nwg);
    if o >= params.planes * params.out_h * params.out_w {
        return;
    }
    let at = position(o, params.out_h, params.out_w);
    let win = avg_window(at.y, at.x);
    let base = at.plane * params.in_h * params.in_w;
    var sum = 0.0;
    for (var h = win.y0; h < win.y1; h++) {
        for (var w = win.x0; w < win.x1; w++) {
            sum += src[base + h * params.in_w + w];
        }
    }
    dst[o] = sum / area(win);
}

// `src` is dy, `dst` is dx.
@compute @workgroup_size(256)
fn avg_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.planes * params.in_h * params.in_w {
        return;
    }
    let at = position(i, params.in_h, params.in_w);
    let out_base = at.plane * params.out_h * params.out_w;
    var acc = 0.0;
    for (var oh = 0u; oh < params.out_h; oh++) {
        // Rows first, once per row of windows: most miss the pixel's row, and their columns
        // need no look.
        let y0 = window_start(oh, params.in_h, params.out_h);
        let y1 = window_end(oh, params.in_h, params.out_h);
        if at.y < y0 || at.y >= y1 {
            continue;
        }
        for (var ow = 0u; ow < params.out_w; ow++) {
            let win = Window(y0, y1, window_start(ow, params.in_w, params.out_w), window_end(ow, params.in_w, params.out_w));
            if at.x >= win.x0 && at.x < win.x1 {
                acc += src[out_base + oh * params.out_w + ow] / area(win);
            }
        }
    }
    store_grad(i, acc);
}
