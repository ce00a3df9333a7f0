
// Bilinear sampling of an in_hw plane at output pixel (y, x) of out_hw, at pixel centres with
// edges clamped (PyTorch's `interpolate(mode="bilinear", align_corners=False)`): the four source
// indices within the plane and the two weights. Shared by resample.wgsl and saliency.wgsl.
struct Bilinear {
    i00: u32,
    i01: u32,
    i10: u32,
    i11: u32,
    tx: f32,
    ty: f32,
}

fn source_coord(x: u32, in_size: u32, out_size: u32) -> vec3<f32> {
    let s = max((f32(x) + 0.5) * f32(in_size) / f32(out_size) - 0.5, 0.0);
    let x0 = min(u32(floor(s)), in_size - 1u);
    let x1 = min(x0 + 1u, in_size - 1u);
    return vec3<f32>(f32(x0), f32(x1), s - f32(x0));
}

// in_hw and out_hw are (height, width).
fn bilinear(y: u32, x: u32, in_hw: vec2<u32>, out_hw: vec2<u32>) -> Bilinear {
    let sy = source_coord(y, in_hw.x, out_hw.x);
    let sx = source_coord(x, in_hw.y, out_hw.y);
    let y0 = u32(sy.x) * in_hw.y;
    let y1 = u32(sy.y) * in_hw.y;
    let x0 = u32(sx.x);
    let x1 = u32(sx.y);
    return Bilinear(y0 + x0, y0 + x1, y1 + x0, y1 + x1, sx.z, sy.z);
}

fn blend(b: Bilinear, v00: f32, v01: f32, v10: f32, v11: f32) -> f32 {
    return mix(mix(v00, v01, b.tx), mix(v10, v11, b.tx), b.ty);
}
