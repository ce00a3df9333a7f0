// 2-D convolution, forward and gradient with respect to the input, as tiled implicit GEMMs.
//
// Forward:   y[n, co, oh, ow] = act(b[co] + sum_{ci, kh, kw} W[co, ci, kh, kw] * x[n, ci, oh*s - p + kh, ow*s - p + kw])
// Backward:  dx[n, ci, ih, iw] = sum_{co, kh, kw} W[co, ci, kh, kw] * dz[n, co, oh, ow]
//            where ih = oh*s - p + kh, and dz = dy masked by the ReLU (y > 0) when the layer has one.
//
// Workgroups: x (and z, past the per-dimension limit) over pixel tiles, y over channel tiles.
// Both are C[M][P] = sum_k A[k][M] * B[k][P]; a workgroup computes a 64 x 64 tile of C, each of its
// 256 invocations a 4 x 4 block. A is the weight matrix packed at load time ([K][Cout] forward,
// [K][Cin] backward), B is gathered from the activations on the fly (im2col without the copy).

// `ConvParams`, the uniform block, is declared in src/ops/conv.rs (uniform_block!).

// The kernel size and stride are fixed per pipeline: loops over the taps get constant trip counts
// and index arithmetic divides by constants (stride 1 needs no division at all), where runtime
// divisors cost integer divisions in the innermost loops.
override KERNEL_H: u32 = 3u;
override KERNEL_W: u32 = 3u;
override STRIDE: u32 = 1u;
// Backward: read dz, dy already masked by this layer's ReLU (relu.wgsl's backward). With
// MASK_DX 1, mask dx, once complete (after accumulating), by (x > 0), aux holding this layer's
// input x, the output of a ReLU: that ReLU's backward fused into the last kernel writing dx (a
// fire module's squeeze gradient). A constant, so that an unmasked kernel never reads x: a
// runtime flag still costs the read where both sides of a branch run under a lane mask (CPU
// adapters).
override MASK_DX: u32 = 0u;

const TILE: u32 = 64u;
const TILE_K: u32 = 16u;

@group(0) @binding(0) var<uniform> params: ConvParams;
// src, weights (weights4 for the register-blocked kernels), aux and dst: layer_bindings.wgsl.

var<workgroup> tile_a: array<f32, 1024>; // [TILE_K][TILE]
var<workgroup> tile_b: array<f32, 1024>; // [TILE_K][TILE]

// Weight rows are padded to a multiple of 8 channels (the register-blocked kernels' vec4 pairs).
fn padded(channels: u32) -> u32 {
    return (channels + 7u) / 8u * 8u;
}

// Backward: the output coordinate whose window reaches an input at `offset` (padded input
// coordinate minus the tap), or -1 when none does. Stride 1, the common case, needs no division.
fn output_coord(offset: i32, limit: u32) -> i32 {
    var o = offset;
    if STRIDE != 1u {
        let s = i32(STRIDE);
        if offset < 0 || offset % s != 0 {
            return -1;
        }
        o = offset / s;
    }
    return select(-1, o, o >= 0 && o < i32(limit));
}

// store_grad (writing dx) is in relu_backward.wgsl.

// Forward: writes output channel `co` at `offset` in the plane of image n: the sum plus the bias
// (`aux`), through the ReLU when the layer has one, into the channel slice of dst.
fn store_output(n: u32, co: u32, offset: u32, out_hw: u32, sum: f32) {
    var v = sum + aux[co];
    if params.relu != 0u {
        v = max(v, 0.0);
    }
    dst[(n * params.out_total + params.out_offset + co) * out_hw + offset] = v;
}

// The value tap (kh, kw) of channel c multiplies for the pixel at (row, col), the channel's plane
// of `plane` values starting at base + c * plane. Forward: the input at (row + kh, col + kw).
// Backward: dz at the output position whose tap (kh, kw) reaches the padded input position
// (row, col). Zero outside.
fn tap_value(base: u32, plane: u32, c: u32, row: i32, col: i32, kh: u32, kw: u32, backward: bool) -> f32 {
    var v = 0.0;
    if backward {
        let oh = output_coord(row - i32(kh), params.out_h);
        let ow = output_coord(col - i32(kw), params.out_w);
        if oh >= 0 && ow >= 0 {
            v = src[base + c * plane + u32(oh) * params.out_w + u32(ow)];
        }
    } else {
        let ih = row + i32(kh);
        let iw = col + i32(kw);
        if ih >= 0 && ih < i32(params.in_h) && iw >= 0 && iw < i32(params.in_w) {
            v = src[base + c * plane + u32(ih) * params.in_w + u32(iw)];
        }
    }
    return v;
}

// The K loop of `tiled`: this invocation's 4 x 4 block (rows ty + 16 i,
// columns tx + 16 j of the workgroup's 64 x 64 tile) of C = A^T B. A is the weights packed
// [K][padded(channels)], the tile's rows from channel m0; B is `tap_value` at this invocation's
// load pixel (row, col; planes of `plane` values from base), zero where load_valid is false.
fn tile_product(
    tid: u32,
    m0: u32,
    channels: u32,
    k_total: u32,
    load_valid: bool,
    row: i32,
    col: i32,
    base: u32,
    plane: u32,
    backward: bool,
) -> array<array<f32, 4>, 4> {
    let taps = KERNEL_H * KERNEL_W;
    let tx = tid % 16u;
    let ty = tid / 16u;
    var acc: array<array<f32, 4>, 4>;
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            acc[i][j] = 0.0;
        }
    }

    for (var k0 = 0u; k0 < k_total; k0 += TILE_K) {
        for (var r = 0u; r < 4u; r++) {
            let e = tid + 256u * r;
            let kl = e / TILE;
            let k = k0 + kl;
            let m = m0 + e % TILE;
            var a = 0.0;
            if k < k_total && m < channels {
                a = weights[k * padded(channels) + m];
            }
            tile_a[e] = a;
            var b = 0.0;
            if k < k_total && load_valid {
                let t = k % taps;
                b = tap_value(base, plane, k / taps, row, col, t / KERNEL_W, t % KERNEL_W, backward);
            }
            tile_b[e] = b;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TILE_K; kk++) {
            var a: array<f32, 4>;
            var b: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                a[i] = tile_a[kk * TILE + ty + 16u * i];
                b[i] = tile_b[kk * TILE + tx + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i][j] = fma(a[i], b[j], acc[i][j]);
                }
            }
        }
        workgroupBarrier();
    }
    return acc;
}

// The tiled pass: forward, one 64 (output channels) x 64 (output pixels) tile of y, `aux` the
// bias; backward, one 64 (input channels) x 64 (input pixels) tile of dx, `src` dy, `aux` y.
fn tiled(ids: WorkgroupIds, backward: bool) {
    let in_hw = params.in_h * params.in_w;
    let out_hw = params.out_h * params.out_w;
    // The pixels and the channels this pass writes, and the length of its sums.
    let hw = select(out_hw, in_hw, backward);
    let width = select(params.out_w, params.in_w, backward);
    let pixels = params.batch * hw;
    let channels = select(params.out_c, params.in_c, backward);
    let k_total = select(params.in_c, params.out_c, backward) * KERNEL_H * KERNEL_W;
    let m0 = ids.wid.y * TILE;
    let p0 = (ids.wid.x + ids.wid.z * ids.nwg.x) * TILE;

    // The pixel this invocation gathers for tile_b, fixed over the whole K loop: forward, the
    // corner of its window in the input; backward, its padded position, read from dy's slice.
    let load_p = p0 + ids.lid % TILE;
    let n = load_p / hw;
    let row = (load_p % hw) / width;
    let col = load_p % width;
    var row0 = i32(row) + i32(params.pad);
    var col0 = i32(col) + i32(params.pad);
    var base = (n * params.out_total + params.out_offset) * out_hw;
    var plane = out_hw;
    if !backward {
        row0 = i32(row * STRIDE) - i32(params.pad);
        col0 = i32(col * STRIDE) - i32(params.pad);
        base = n * params.in_c * in_hw;
        plane = in_hw;
    }
    let acc = tile_product(ids.lid, m0, channels, k_total, load_p < pixels, row0, col0, base, plane, backward);

    let tx = ids.lid % 16u;
    let ty = ids.lid / 16u;
    for (var i = 0u; i < 4u; i++) {
        let m = m0 + ty + 16u * i;
        if m >= channels {
            continue;
        }
        for (var j = 0u; j < 4u; j++) {
            let p = p0 + tx + 16u * j;
            if p >= pixels {
                continue;
            }
            if backward {
                store_grad((p / hw * params.in_c + m) * hw + p % hw, acc[i][j]);
            } else {
                store_output(p / hw, m, p % hw, hw, acc[i][j]);
            }
        }
    }
}

@compute @workgroup_size(256)
fn forward(ids: WorkgroupIds) {
    tiled(ids, false);
}

@compute @workgroup_size(256)
fn backward_input(ids: WorkgroupIds) {
    tiled(ids, true);
}

// Backward for layers with few input channels (the image layer, Cin <= 4): one invocation per input
// pixel, all its channels at once, looping over the output channels and the taps that reach it.
// Invocations are ordered by phase first (padded input coordinate mod STRIDE, per axis), then row
// by row within the phase: neighbouring invocations reach the same taps, where a plain row-major
// order would alternate phases and, at stride 2, leave three lanes in four idle in each tap's
// loop. Each image has STRIDE^2 phases of ceil(in_h / STRIDE) x ceil(in_w / STRIDE) slots; slots
// past the edge do nothing. Stride 1 is the plain row-major order.
@compute @workgroup_size(256)
fn backward_input_narrow(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let in_hw = params.in_h * params.in_w;
    let phase_w = (params.in_w + STRIDE - 1u) / STRIDE;
    let phase_size = (params.in_h + STRIDE - 1u) / STRIDE * phase_w;
    let per_image = STRIDE * STRIDE * phase_size;
    let p = element(gid, nwg);
    if p >= params.batch * per_image {
        return;
    }
    let n = p / per_image;
    let phase = (p % per_image) / phase_size;
    let slot = p % phase_size;
    // The first input row (column) whose padded coordinate is in the phase, then every STRIDE-th.
    let first = STRIDE - params.pad % STRIDE;
    let ih = (phase / STRIDE + first) % STRIDE + STRIDE * (slot / phase_w);
    let iw = (phase % STRIDE + first) % STRIDE + STRIDE * (slot % phase_w);
    if ih >= params.in_h || iw >= params.in_w {
        return;
    }
    let rem = ih * params.in_w + iw;
    let ih_p = i32(ih + params.pad);
    let iw_p = i32(iw + params.pad);
    let out_hw = params.out_h * params.out_w;
    let dy_base = (n * params.out_total + params.out_offset) * out_hw;
    let taps = KERNEL_H * KERNEL_W;

    var acc = vec4<f32>(0.0);
    for (var kh = 0u; kh < KERNEL_H; kh++) {
        let oh_c = output_coord(ih_p - i32(kh), params.out_h);
        if oh_c < 0 {
            continue;
        }
        let oh = u32(oh_c);
        for (var kw = 0u; kw < KERNEL_W; kw++) {
            let ow_c = output_coord(iw_p - i32(kw), params.out_w);
            if ow_c < 0 {
                continue;
            }
            let ow = u32(ow_c);
            let t = kh * KERNEL_W + kw;
            // Weight rows hold 8 channels (zero past in_c): one vec4 load covers all of them.
            for (var co = 0u; co < params.out_c; co++) {
                let g = src[dy_base + co * out_hw + oh * params.out_w + ow];
                acc = fma(weights4[(co * taps + t) * 2u], vec4<f32>(g), acc);
            }
        }
    }
    for (var ci = 0u; ci < params.in_c; ci++) {
        let index = (n * params.in_c + ci) * in_hw + rem;
        store_grad(index, acc[ci]);
    }
}

// ---------------------------------------------------------------------------------------------
// Register-blocked variants: no workgroup memory; each invocation computes 8 channels x
// BLOCK_PIXELS consecutive pixels from vec4 weight loads (weights packed with the channel axis
// padded to a multiple of 8). Workgroups of 64 along the pixel axis (x, then z), channel blocks on
// y. Fewer pixels per invocation give more invocations: the host picks BLOCK_PIXELS per layer so
// that small layers still fill a large GPU.

const MAX_BLOCK_PIXELS: u32 = 4u;

// Pixels per invocation, 1 to MAX_BLOCK_PIXELS.
override BLOCK_PIXELS: u32 = 4u;

struct PixelBlock {
    // Image index and top-left input coordinate (forward) or padded input coordinate (backward)
    // of each pixel; valid is false past the end.
    n: array<u32, MAX_BLOCK_PIXELS>,
    row: array<i32, MAX_BLOCK_PIXELS>,
    col: array<i32, MAX_BLOCK_PIXELS>,
    valid: array<bool, MAX_BLOCK_PIXELS>,
    // The pixel's offset inside its image plane, for the store.
    plane_offset: array<u32, MAX_BLOCK_PIXELS>,
}

fn block_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return ((wid.x + wid.z * nwg.x) * 64u + lid) * BLOCK_PIXELS;
}

// The pixels p0.. of an invocation, of `pixels` in all: output pixels (forward) or input pixels
// (backward), planes of out_h x out_w or in_h x in_w.
fn pixel_block(p0: u32, pixels: u32, backward: bool) -> PixelBlock {
    let h = select(params.out_h, params.in_h, backward);
    let w = select(params.out_w, params.in_w, backward);
    var px: PixelBlock;
    for (var j = 0u; j < BLOCK_PIXELS; j++) {
        let p = p0 + j;
        px.valid[j] = p < pixels;
        let q = min(p, pixels - 1u);
        px.n[j] = q / (h * w);
        px.plane_offset[j] = q % (h * w);
        let y = px.plane_offset[j] / w;
        let x = px.plane_offset[j] % w;
        if backward {
            px.row[j] = i32(y) + i32(params.pad);
            px.col[j] = i32(x) + i32(params.pad);
        } else {
            px.row[j] = i32(y * STRIDE) - i32(params.pad);
            px.col[j] = i32(x * STRIDE) - i32(params.pad);
        }
    }
    return px;
}

// The K loop of `forward_blocked` and `backward_input_blocked`: channel block cb (of c_blocks vec4
// pairs per weight row) x the BLOCK_PIXELS pixels of px, over `channels` (in_c forward, out_c
// backward) x the taps, B being `tap_value` at each pixel.
struct BlockSums {
    lo: array<vec4<f32>, MAX_BLOCK_PIXELS>,
    hi: array<vec4<f32>, MAX_BLOCK_PIXELS>,
}

fn block_product(px: PixelBlock, channels: u32, c_blocks: u32, cb: u32, backward: bool) -> BlockSums {
    let plane = select(params.in_h * params.in_w, params.out_h * params.out_w, backward);
    var base: array<u32, MAX_BLOCK_PIXELS>;
    var sums: BlockSums;
    for (var j = 0u; j < BLOCK_PIXELS; j++) {
        base[j] = select(px.n[j] * params.in_c, px.n[j] * params.out_total + params.out_offset, backward) * plane;
        sums.lo[j] = vec4<f32>(0.0);
        sums.hi[j] = vec4<f32>(0.0);
    }
    var k = 0u;
    for (var c = 0u; c < channels; c++) {
        for (var kh = 0u; kh < KERNEL_H; kh++) {
            for (var kw = 0u; kw < KERNEL_W; kw++) {
                let w_lo = weights4[(k * c_blocks + cb) * 2u];
                let w_hi = weights4[(k * c_blocks + cb) * 2u + 1u];
                k++;
                for (var j = 0u; j < BLOCK_PIXELS; j++) {
                    let v = tap_value(base[j], plane, c, px.row[j], px.col[j], kh, kw, backward);
                    sums.lo[j] = fma(w_lo, vec4<f32>(v), sums.lo[j]);
                    sums.hi[j] = fma(w_hi, vec4<f32>(v), sums.hi[j]);
                }
            }
        }
    }
    return sums;
}

// The register-blocked pass: forward (output channels, output pixels) or backward (input
// channels, input pixels), 8 channels (workgroup y) by BLOCK_PIXELS pixels per invocation.
fn blocked(ids: WorkgroupIds, backward: bool) {
    let hw = select(params.out_h * params.out_w, params.in_h * params.in_w, backward);
    let pixels = params.batch * hw;
    let p0 = block_index(ids.wid, ids.nwg, ids.lid);
    if p0 >= pixels {
        return;
    }
    // The channels this pass writes, and those it sums over.
    let channels = select(params.out_c, params.in_c, backward);
    let summed = select(params.in_c, params.out_c, backward);
    let c_blocks = (channels + 7u) / 8u; // vec4 pairs per weight row
    let cb = ids.wid.y;
    let px = pixel_block(p0, pixels, backward);
    let sums = block_product(px, summed, c_blocks, cb, backward);
    for (var j = 0u; j < BLOCK_PIXELS; j++) {
        if !px.valid[j] {
            continue;
        }
        for (var i = 0u; i < 8u; i++) {
            let c = cb * 8u + i;
            if c >= channels {
                break;
            }
            let sum = select(sums.hi[j], sums.lo[j], i < 4u)[i & 3u];
            if backward {
                store_grad((px.n[j] * params.in_c + c) * hw + px.plane_offset[j], sum);
            } else {
                store_output(px.n[j], c, px.plane_offset[j], hw, sum);
            }
        }
    }
}

@compute @workgroup_size(64)
fn forward_blocked(ids: WorkgroupIds) {
    blocked(ids, false);
}

@compute @workgroup_size(64)
fn backward_input_blocked(ids: WorkgroupIds) {
    blocked(ids, true);
}
