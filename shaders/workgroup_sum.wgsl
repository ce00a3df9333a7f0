// The sum of one value per invocation over a workgroup of 256, for the per-image reductions of
// update.wgsl and fooling.wgsl (compiled in front of them).

var<workgroup> partial: array<f32, 256>;

// Tree-reduces `partial` (sum) over the workgroup; every invocation gets the total.
fn workgroup_sum(tid: u32, value: f32) -> f32 {
    partial[tid] = value;
    workgroupBarrier();
    for (var step = 128u; step > 0u; step >>= 1u) {
        if tid < step {
            partial[tid] += partial[tid + step];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}
