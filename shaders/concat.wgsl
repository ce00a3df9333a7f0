// Channel concatenation, forward and gradient with respect to each input.
//
// Forward:   dst[n, offset + c, hw] = src[n, c, hw]        (one dispatch per input)
// Backward:  dsrc[n, c, hw] = ddst[n, offset + c, hw]       (one dispatch per input)

struct ConcatParams {
    batch: u32,
    // Channels of the part (one input of the concatenation).
    part_channels: u32,
    // Channels of the whole (the concatenated tensor).
    total_channels: u32,
    // First channel of the part inside the whole.
    offset: u32,
    plane: u32,
    accumulate: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: ConcatParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn element(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

// The index inside the whole of element `i` of the part.
fn whole_index(i: u32) -> u32 {
    let part_image = params.part_channels * params.plane;
    let n = i / part_image;
    return n * params.total_channels * params.plane + params.offset * params.plane + i % part_image;
}

// `src` is one input (the part), `dst` the concatenation.
@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.batch * params.part_channels * params.plane {
        return;
    }
    dst[whole_index(i)] = src[i];
}

// `src` is the gradient of the concatenation, `dst` the gradient of one input.
@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.batch * params.part_channels * params.plane {
        return;
    }
    var v = src[whole_index(i)];
    if params.accumulate != 0u {
        v += dst[i];
    }
    dst[i] = v;
}
