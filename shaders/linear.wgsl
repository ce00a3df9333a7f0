// Fully connected layer, forward and gradient with respect to the input, over one chunk of the
// weight rows (large matrices are split so that each chunk fits a storage binding).
//
// Forward:   y[n, o] = act(b[o] + sum_i W[o, i] * x[n, i])            for o in [row0, row0 + rows)
// Backward:  dx[n, i] (+)= sum_{o in chunk} W[o, i] * dz[n, o]         dz = dy masked by the ReLU
//                                                                      (relu.wgsl's backward)
//
// Each direction has a scalar kernel for any width and a `_vec4` one for in_features a multiple
// of 4; `linear_subgroups.wgsl`, compiled appended to this file, adds a vec4 forward that reduces
// with subgroup operations.
// Accumulators declared without a value start at zero (WGSL zero-initializes them).

// `LinearParams`, the uniform block, is declared in src/ops/linear.rs (uniform_block!).

const MAX_BATCH_BLOCK: u32 = 8u;
// Images per pass over the weights (1, 2, 4 or 8), set per batch size: a batch of one does not
// pay for eight accumulators and eight reductions.
override BATCH_BLOCK: u32 = 8u;

@group(0) @binding(0) var<uniform> params: LinearParams;
// src, weights (this chunk's rows of W, row-major [rows][in_features]), aux and dst:
// layer_bindings.wgsl, where weights4 is also declared. src and dst seen as vec4, for the `_vec4`
// kernels (in_features a multiple of 4, so that every row and every image starts on a vec4):
@group(0) @binding(1) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> dst4: array<vec4<f32>>;

var<workgroup> partial: array<f32, 2048>; // [MAX_BATCH_BLOCK][256]

// One workgroup per output row: the invocations split the dot product, then reduce.
// `src` is x, `aux` is the full bias, `dst` is y.
@compute @workgroup_size(256)
fn forward(ids: WorkgroupIds) {
    let r = ids.wid.x + ids.wid.y * ids.nwg.x;
    if r >= params.rows {
        return;
    }
    let w_row = r * params.in_features;
    for (var n0 = 0u; n0 < params.batch; n0 += BATCH_BLOCK) {
        var acc: array<f32, MAX_BATCH_BLOCK>;
        for (var i = ids.lid; i < params.in_features; i += 256u) {
            let w = weights[w_row + i];
            for (var b = 0u; b < BATCH_BLOCK; b++) {
                let n = n0 + b;
                if n < params.batch {
                    acc[b] = fma(w, src[n * params.in_features + i], acc[b]);
                }
            }
        }
        reduce_and_store(acc, n0, params.row0 + r, ids.lid);
    }
}

// `forward` reading four weights and four inputs per load.
@compute @workgroup_size(256)
fn forward_vec4(ids: WorkgroupIds) {
    let r = ids.wid.x + ids.wid.y * ids.nwg.x;
    if r >= params.rows {
        return;
    }
    for (var n0 = 0u; n0 < params.batch; n0 += BATCH_BLOCK) {
        reduce_and_store(partial_dots_vec4(r, n0, ids.lid), n0, params.row0 + r, ids.lid);
    }
}

// This invocation's share of the dot products of row r with the images n0.. of a block: every
// 256th vec4 of the row, from the tid-th.
fn partial_dots_vec4(r: u32, n0: u32, tid: u32) -> array<f32, MAX_BATCH_BLOCK> {
    let in4 = params.in_features / 4u;
    let w_row = r * in4;
    var acc: array<f32, MAX_BATCH_BLOCK>;
    for (var i = tid; i < in4; i += 256u) {
        let w = weights4[w_row + i];
        for (var b = 0u; b < BATCH_BLOCK; b++) {
            let n = n0 + b;
            if n < params.batch {
                acc[b] += dot(w, src4[n * in4 + i]);
            }
        }
    }
    return acc;
}

// Sums the 256 invocations' partial dot products of output `o` for the images n0.. of a block
// (a tree in workgroup memory) and writes act(sum + bias).
fn reduce_and_store(acc: array<f32, MAX_BATCH_BLOCK>, n0: u32, o: u32, tid: u32) {
    for (var b = 0u; b < BATCH_BLOCK; b++) {
        partial[b * 256u + tid] = acc[b];
    }
    workgroupBarrier();
    for (var step = 128u; step > 0u; step >>= 1u) {
        if tid < step {
            for (var b = 0u; b < BATCH_BLOCK; b++) {
                partial[b * 256u + tid] += partial[b * 256u + tid + step];
            }
        }
        workgroupBarrier();
    }
    if tid < BATCH_BLOCK && n0 + tid < params.batch {
        var v = partial[tid * 256u] + aux[o];
        if params.relu != 0u {
            v = max(v, 0.0);
        }
        dst[(n0 + tid) * params.out_features + o] = v;
    }
    workgroupBarrier();
}

// The gradient dz at output (n, o): `src`, already masked by the layer's ReLU.
fn output_grad(n: u32, o: u32) -> f32 {
    return src[n * params.out_features + o];
}

// Rows split over this many invocations per input feature.
const ROW_GROUPS: u32 = 4u;

// A workgroup covers 64 input features; the 4 invocations of a feature take every 4th row of
// the chunk, then their partial sums are added in workgroup memory. `dst` is dx.
@compute @workgroup_size(256)
fn backward_input(ids: WorkgroupIds) {
    let i = (ids.wid.x + ids.wid.y * ids.nwg.x) * 64u + ids.lid % 64u;
    let group = ids.lid / 64u;
    let valid = i < params.in_features;
    for (var n0 = 0u; n0 < params.batch; n0 += BATCH_BLOCK) {
        var acc: array<f32, MAX_BATCH_BLOCK>;
        if valid {
            for (var r = group; r < params.rows; r += ROW_GROUPS) {
                let w = weights[r * params.in_features + i];
                for (var b = 0u; b < BATCH_BLOCK; b++) {
                    let n = n0 + b;
                    if n < params.batch {
                        acc[b] = fma(w, output_grad(n, params.row0 + r), acc[b]);
                    }
                }
            }
        }
        for (var b = 0u; b < BATCH_BLOCK; b++) {
            partial[b * 256u + ids.lid] = acc[b];
        }
        workgroupBarrier();
        if valid && group == 0u {
            for (var b = 0u; b < BATCH_BLOCK; b++) {
                let n = n0 + b;
                if n < params.batch {
                    let index = n * params.in_features + i;
                    var v = partial[b * 256u + ids.lid] + partial[b * 256u + ids.lid + 64u]
                        + partial[b * 256u + ids.lid + 128u] + partial[b * 256u + ids.lid + 192u];
                    if params.accumulate != 0u {
                        v += dst[index];
                    }
                    dst[index] = v;
                }
            }
        }
        workgroupBarrier();
    }
}

// Row groups of `backward_input_vec4`.
const VEC4_ROW_GROUPS: u32 = 16u;
// Its vec4 partial sums, one image at a time: [VEC4_ROW_GROUPS][16 columns].
var<workgroup> partial4: array<vec4<f32>, 256>;

// `backward_input` with four input features per invocation, read as one vec4 of a weight row:
// a workgroup covers 16 vec4 columns (64 features) and splits the chunk's rows over 16 groups.
@compute @workgroup_size(256)
fn backward_input_vec4(ids: WorkgroupIds) {
    let in4 = params.in_features / 4u;
    let i4 = (ids.wid.x + ids.wid.y * ids.nwg.x) * 16u + ids.lid % 16u;
    let group = ids.lid / 16u;
    let valid = i4 < in4;
    for (var n0 = 0u; n0 < params.batch; n0 += BATCH_BLOCK) {
        var acc: array<vec4<f32>, MAX_BATCH_BLOCK>;
        if valid {
            for (var r = group; r < params.rows; r += VEC4_ROW_GROUPS) {
                let w = weights4[r * in4 + i4];
                for (var b = 0u; b < BATCH_BLOCK; b++) {
                    let n = n0 + b;
                    if n < params.batch {
                        acc[b] = fma(w, vec4(output_grad(n, params.row0 + r)), acc[b]);
                    }
                }
            }
        }
        for (var b = 0u; b < BATCH_BLOCK; b++) {
            partial4[ids.lid] = acc[b];
            workgroupBarrier();
            let n = n0 + b;
            if valid && group == 0u && n < params.batch {
                var v = partial4[ids.lid];
                for (var g = 1u; g < VEC4_ROW_GROUPS; g++) {
                    v += partial4[g * 16u + ids.lid];
                }
                let index = n * in4 + i4;
                if params.accumulate != 0u {
                    v += dst4[index];
                }
                dst4[index] = v;
            }
            workgroupBarrier();
        }
    }
}
