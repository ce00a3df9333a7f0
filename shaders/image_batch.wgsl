// Helpers of the kernels on a batch of images (update.wgsl, fooling.wgsl; compiled in front of
// them). They read the sizes in the shader's uniform block `params`, which the shader declares:
// `batch` images of `len` values, `plane` values per channel.

// The values of the batch.
fn batch_values() -> u32 {
    return params.batch * params.len;
}

// The channel of value i of the batch.
fn channel(i: u32) -> u32 {
    return (i % params.len) / params.plane;
}

// The per-image sums (sum_squares of update.wgsl, sum_abs of fooling.wgsl) run one workgroup per
// image and bind the images at 1 and a sum per image at 2.
@group(0) @binding(1) var<storage, read> sum_src: array<f32>;
@group(0) @binding(2) var<storage, read_write> sum_dst: array<f32>;

// Writes sum_dst[n] = the sum over image n of v^2 (`squares`) or of |v| (`workgroup_sum`:
// workgroup_sum.wgsl).
fn image_sum(n: u32, tid: u32, squares: bool) {
    let base = n * params.len;
    var acc = 0.0;
    for (var i = tid; i < params.len; i += 256u) {
        let v = sum_src[base + i];
        acc = select(acc + abs(v), fma(v, v, acc), squares);
    }
    let total = workgroup_sum(tid, acc);
    if tid == 0u {
        sum_dst[n] = total;
    }
}
