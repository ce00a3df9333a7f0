// Helpers shared by several shaders, compiled in front of each shader that uses them
// (`Shader::source`).

// The element of a one-invocation-per-element kernel with workgroups of 256: workgroups laid out
// on x, then on y past the per-dimension limit.
fn element(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

// The gradient g through a ReLU whose output is y: kept where y > 0 (guided, guided != 0: and
// where g > 0).
fn relu_grad(g: f32, y: f32, guided: u32) -> f32 {
    return select(0.0, g, y > 0.0 && (guided == 0u || g > 0.0));
}

// The ids of a workgroup-tiled kernel's invocation, taken as one entry-point argument.
struct WorkgroupIds {
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
}
