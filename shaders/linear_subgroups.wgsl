// Fully connected layer forward for adapters with subgroup operations: `forward_vec4` of
// `linear.wgsl` (same bindings and parameters, in_features a multiple of 4) with the 256 partial
// dot products of a workgroup added by `subgroupAdd` instead of an 8-step tree in workgroup
// memory. The input gradient has no workgroup-wide reduction and uses `linear.wgsl`.
// The subgroup builtins need wgpu's SUBGROUP feature; the module carries no `enable subgroups;`
// because naga does not accept that directive yet.

struct LinearParams {
    batch: u32,
    in_features: u32,
    out_features: u32,
    row0: u32,
    rows: u32,
    relu: u32,
    accumulate: u32,
    guided: u32,
}

const MAX_BATCH_BLOCK: u32 = 8u;
// Images per pass over the weights (1, 2, 4 or 8), as in `linear.wgsl`.
override BATCH_BLOCK: u32 = 8u;

@group(0) @binding(0) var<uniform> params: LinearParams;
@group(0) @binding(1) var<storage, read> src4: array<vec4<f32>>;
// This chunk's rows of W, row-major [rows][in_features / 4].
@group(0) @binding(2) var<storage, read> weights4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

// One sum per subgroup and image: [MAX_BATCH_BLOCK][256] (at most 256 subgroups of one).
var<workgroup> partial: array<f32, 2048>;

// One workgroup per output row, as `forward_vec4`; y = act(W x + b).
@compute @workgroup_size(256)
fn forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
    @builtin(subgroup_id) subgroup: u32,
    @builtin(num_subgroups) subgroups: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let r = wid.x + wid.y * nwg.x;
    if r >= params.rows {
        return;
    }
    let o = params.row0 + r;
    let in4 = params.in_features / 4u;
    let w_row = r * in4;
    for (var n0 = 0u; n0 < params.batch; n0 += BATCH_BLOCK) {
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
        for (var b = 0u; b < BATCH_BLOCK; b++) {
            let sum = subgroupAdd(acc[b]);
            if lane == 0u {
                partial[b * 256u + subgroup] = sum;
            }
        }
        workgroupBarrier();
        if tid < BATCH_BLOCK && n0 + tid < params.batch {
            var v = bias[o];
            for (var s = 0u; s < subgroups; s++) {
                v += partial[tid * 256u + s];
            }
            if params.relu != 0u {
                v = max(v, 0.0);
            }
            dst[(n0 + tid) * params.out_features + o] = v;
        }
        workgroupBarrier();
    }
}
