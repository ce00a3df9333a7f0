// Resampling of image planes.
//
// resize_bilinear: dst[n] = src[n] resized from in_h x in_w to out_h x out_w by `bilinear`
// (shaders/bilinear.wgsl); one invocation per output value.
//
// `ResampleParams`, the uniform block, is declared in src/ops/resample.rs (uniform_block!).

@group(0) @binding(0) var<uniform> params: ResampleParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn resize_bilinear(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    let out_plane = params.out_h * params.out_w;
    if i >= params.planes * out_plane {
        return;
    }
    let n = i / out_plane;
    let in_hw = vec2<u32>(params.in_h, params.in_w);
    let out_hw = vec2<u32>(params.out_h, params.out_w);
    let b = bilinear((i % out_plane) / params.out_w, i % params.out_w, in_hw, out_hw);
    let base = n * params.in_h * params.in_w;
    dst[i] = blend(b, src[base + b.i00], src[base + b.i01], src[base + b.i10], src[base + b.i11]);
}
