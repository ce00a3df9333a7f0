// Fully connected layer forward for adapters with subgroup operations, compiled appended to
// `linear.wgsl` (its parameters, bindings and `partial_dots_vec4`): `forward_vec4` with the 256
// partial dot products of a workgroup added by `subgroupAdd` instead of an 8-step tree in
// workgroup memory. The input gradient has no workgroup-wide reduction and stays in `linear.wgsl`.
// The subgroup builtins need wgpu's SUBGROUP feature; the module carries no `enable subgroups;`
// because naga does not accept that directive yet.

// One workgroup per output row, as `forward_vec4`; y = act(W x + b). `partial` holds one sum per
// subgroup and image ([MAX_BATCH_BLOCK][256]: at most 256 subgroups of one).
@compute @workgroup_size(256)
fn forward_subgroups(
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
    for (var n0 = 0u; n0 < params.batch; n0 += BATCH_BLOCK) {
        let acc = partial_dots_vec4(r, n0, tid);
        for (var b = 0u; b < BATCH_BLOCK; b++) {
            let sum = subgroupAdd(acc[b]);
            if lane == 0u {
                partial[b * 256u + subgroup] = sum;
            }
        }
        workgroupBarrier();
        if tid < BATCH_BLOCK && n0 + tid < params.batch {
            var v = aux[o];
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
