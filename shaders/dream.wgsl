// Class visualization ("dreaming"): the kernels of one gradient-ascent step besides the network
// and the update itself (norms, normalized steps and clamping are in update.wgsl).
//
// - roll: the random jitter of a step, a circular shift of every image plane;
// - transform / transform_adjoint: the random scale and rotation of a step (bilinear sampling,
//   zero outside the image) and its adjoint, which brings the gradient back;
// - regularize: the gradients of the L2 and total-variation penalties, subtracted from the
//   objective's gradient;
// - blur_rows / blur_cols: a separable Gaussian blur (scipy's `reflect` border);
// - left_multiply / right_multiply / plane_multiply: the real Fourier transforms (two matrix
//   products per plane) and the 1/frequency scaling of the Fourier image parameterization;
// - decorrelated_to_image / image_grad_to_decorrelated / image_to_decorrelated: its colour
//   decorrelation and sigmoid, forward, backward and inverse.
// - gram_matrices / gram_dots / gram_grad / gram_backprop: the diversity term (see below).
// Upscaling between octaves is the resample op (resample.wgsl).
// The uniform blocks (PixelParams, MatmulParams, PlaneParams, ColourParams, GramParams) are
// declared in Rust (src/dream/) and put before this file.
//
// Images are NCHW f32. "The step row" is a per-image vec4<i32> (ox, oy, blur, 0) the host copies
// from its schedule into a small buffer before each step: the roll offsets, and whether to blur.
// Elementwise kernels index linear work as gid.x + gid.y * nwg.x * 256.

// v modulo n, in [0, n). Unsigned remainders only: the GL backend's GLSL leaves `%` of a negative
// integer undefined (llvmpipe's GL gave wrong rolls with the signed form).
fn wrap(v: i32, n: u32) -> u32 {
    let r = u32(abs(v)) % n;
    return select(r, (n - r) % n, v < 0);
}

// scipy.ndimage's `reflect` border (d c b a | a b c d | d c b a), for any v.
fn reflect(v: i32, n: u32) -> u32 {
    let m = wrap(v, 2u * n);
    return select(m, 2u * n - 1u - m, m >= n);
}

@group(0) @binding(0) var<uniform> image: PixelParams;

// roll: dst[n, c, y, x] = src[n, c, (y - sign * oy) mod h, (x - sign * ox) mod w] (numpy's roll).
@group(0) @binding(1) var<storage, read> roll_step: array<vec4<i32>>;
@group(0) @binding(2) var<storage, read> roll_src: array<f32>;
@group(0) @binding(3) var<storage, read_write> roll_dst: array<f32>;

@compute @workgroup_size(256)
fn roll(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    let plane = image.h * image.w;
    let len = image.channels * plane;
    if i >= image.batch * len {
        return;
    }
    let p = i % plane;
    let y = i32(p / image.w);
    let x = i32(p % image.w);
    let o = roll_step[i / len];
    let sy = wrap(y - image.sign * o.y, image.h);
    let sx = wrap(x - image.sign * o.x, image.w);
    roll_dst[i] = roll_src[i - p + sy * image.w + sx];
}

// transform: dst[n, c, q] = sum over the 4 pixels j around p = M (q - centre) + centre of
// tent(p - j) src[n, c, j] (bilinear sampling; pixels outside the image count as zero), with
// M = transform_rows[n] = (m00, m01, m10, m11) the map from output pixels to source points.
// transform_adjoint: its transpose, dst[n, c, j] = sum over q of tent(p(q) - j) src[n, c, q],
// gathered over the output pixels whose source point lies within one pixel of j: those around
// M^-1 (j - centre) + centre. Both compute p(q) with the same function, so that each is the other's
// transpose to rounding. tent(d) = max(0, 1 - |d.x|) max(0, 1 - |d.y|).
@group(0) @binding(1) var<storage, read> transform_rows: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> transform_src: array<f32>;
@group(0) @binding(3) var<storage, read_write> transform_dst: array<f32>;

fn plane_centre() -> vec2<f32> {
    return vec2<f32>(f32(image.w - 1u), f32(image.h - 1u)) * 0.5;
}

// The source point of output pixel q under m.
fn source_point(m: vec4<f32>, q: vec2<f32>) -> vec2<f32> {
    let d = q - plane_centre();
    return vec2<f32>(m.x * d.x + m.y * d.y, m.z * d.x + m.w * d.y) + plane_centre();
}

fn tent(d: vec2<f32>) -> f32 {
    return max(0.0, 1.0 - abs(d.x)) * max(0.0, 1.0 - abs(d.y));
}

@compute @workgroup_size(256)
fn transform(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    let plane = image.h * image.w;
    let len = image.channels * plane;
    if i >= image.batch * len {
        return;
    }
    let q = i % plane;
    let p = source_point(transform_rows[i / len], vec2<f32>(f32(q % image.w), f32(q / image.w)));
    let corner = vec2<i32>(floor(p));
    var acc = 0.0;
    for (var k = 0; k < 4; k++) {
        let j = corner + vec2<i32>(k & 1, k >> 1u);
        if j.x >= 0 && j.y >= 0 && j.x < i32(image.w) && j.y < i32(image.h) {
            let at = i - q + u32(j.y) * image.w + u32(j.x);
            acc = fma(tent(p - vec2<f32>(j)), transform_src[at], acc);
        }
    }
    transform_dst[i] = acc;
}

@compute @workgroup_size(256)
fn transform_adjoint(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    let plane = image.h * image.w;
    let len = image.channels * plane;
    if i >= image.batch * len {
        return;
    }
    let m = transform_rows[i / len];
    let jp = i % plane;
    let j = vec2<f32>(f32(jp % image.w), f32(jp / image.w));
    // The inverse of m maps source points back to output pixels; those within one pixel of j
    // come from a box around the image of j.
    let det = m.x * m.w - m.y * m.z;
    let inv = vec4<f32>(m.w, -m.y, -m.z, m.x) / det;
    let centre = source_point(inv, j);
    let reach = vec2<f32>(abs(inv.x) + abs(inv.y), abs(inv.z) + abs(inv.w));
    let lo = max(vec2<i32>(ceil(centre - reach)), vec2<i32>(0));
    let hi = min(vec2<i32>(floor(centre + reach)), vec2<i32>(i32(image.w) - 1, i32(image.h) - 1));
    var acc = 0.0;
    for (var y = lo.y; y <= hi.y; y++) {
        for (var x = lo.x; x <= hi.x; x++) {
            let w = tent(source_point(m, vec2<f32>(f32(x), f32(y))) - j);
            if w > 0.0 {
                acc = fma(w, transform_src[i - jp + u32(y) * image.w + u32(x)], acc);
            }
        }
    }
    transform_dst[i] = acc;
}

// regularize: g -= 2 l2[n] (x - target) + tv[n] dTV/dx, with
// TV(x) = sum over planes of (x[y+1, x] - x[y, x])^2 + (x[y, x+1] - x[y, x])^2.
// weights[n] = (l2, tv, 0, 0).
@group(0) @binding(1) var<storage, read> reg_weights: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> reg_x: array<f32>;
@group(0) @binding(3) var<storage, read> reg_target: array<f32>;
@group(0) @binding(4) var<storage, read_write> reg_g: array<f32>;

@compute @workgroup_size(256)
fn regularize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    let plane = image.h * image.w;
    let len = image.channels * plane;
    if i >= image.batch * len {
        return;
    }
    let weights = reg_weights[i / len];
    let v = reg_x[i];
    var d = 2.0 * weights.x * (v - reg_target[i]);
    if weights.y != 0.0 {
        let p = i % plane;
        let y = p / image.w;
        let x = p % image.w;
        var tv = 0.0;
        if y > 0u {
            tv += v - reg_x[i - image.w];
        }
        if y + 1u < image.h {
            tv += v - reg_x[i + image.w];
        }
        if x > 0u {
            tv += v - reg_x[i - 1u];
        }
        if x + 1u < image.w {
            tv += v - reg_x[i + 1u];
        }
        d += 2.0 * weights.y * tv;
    }
    reg_g[i] -= d;
}

// blur_rows (along y) and blur_cols (along x): dst = src convolved with the image's Gaussian
// weights, or copied where the step row says not to blur this step.
@group(0) @binding(1) var<storage, read> blur_step: array<vec4<i32>>;
@group(0) @binding(2) var<storage, read> blur_weights: array<f32>;
@group(0) @binding(3) var<storage, read> blur_src: array<f32>;
@group(0) @binding(4) var<storage, read_write> blur_dst: array<f32>;

fn blur_along(gid: vec3<u32>, nwg: vec3<u32>, along_y: bool) {
    let i = element(gid, nwg);
    let plane = image.h * image.w;
    let len = image.channels * plane;
    if i >= image.batch * len {
        return;
    }
    let n = i / len;
    if blur_step[n].z == 0 {
        blur_dst[i] = blur_src[i];
        return;
    }
    let p = i % plane;
    let y = p / image.w;
    let x = p % image.w;
    let base = i - p;
    let taps = 2u * image.radius + 1u;
    let r = i32(image.radius);
    var acc = 0.0;
    for (var k = 0u; k < taps; k++) {
        let d = i32(k) - r;
        var j: u32;
        if along_y {
            j = reflect(i32(y) + d, image.h) * image.w + x;
        } else {
            j = y * image.w + reflect(i32(x) + d, image.w);
        }
        acc = fma(blur_weights[n * taps + k], blur_src[base + j], acc);
    }
    blur_dst[i] = acc;
}

@compute @workgroup_size(256)
fn blur_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    blur_along(gid, nwg, true);
}

@compute @workgroup_size(256)
fn blur_cols(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    blur_along(gid, nwg, false);
}

// left_multiply: dst[p] = op(M) src[p], right_multiply: dst[p] = src[p] op(M), for every plane p
// of [planes, rows, cols]; M is square (rows x rows, or cols x cols), op(M) = M or its transpose.
// 16 x 16 output tiles per workgroup; z runs over planes.
const TILE: u32 = 16u;

@group(0) @binding(0) var<uniform> mm: MatmulParams;
@group(0) @binding(1) var<storage, read> mm_matrix: array<f32>;
@group(0) @binding(2) var<storage, read> mm_src: array<f32>;
@group(0) @binding(3) var<storage, read_write> mm_dst: array<f32>;

var<workgroup> tile_a: array<f32, 256>; // [TILE][TILE], rows of the left factor
var<workgroup> tile_b: array<f32, 256>; // [TILE][TILE], columns of the right factor

// op(M)[r][c] for an n x n matrix M, zero outside.
fn op_matrix(r: u32, c: u32, n: u32) -> f32 {
    if r >= n || c >= n {
        return 0.0;
    }
    return select(mm_matrix[r * n + c], mm_matrix[c * n + r], mm.transpose != 0u);
}

// src[plane][r][c], zero outside.
fn src_at(plane: u32, r: u32, c: u32) -> f32 {
    if r >= mm.rows || c >= mm.cols {
        return 0.0;
    }
    return mm_src[(plane * mm.rows + r) * mm.cols + c];
}

// dst[plane] = op(M) src[plane] (left) or src[plane] op(M) (not left), one 16 x 16 tile of it.
fn multiply(wid: vec3<u32>, lid: vec3<u32>, left: bool) {
    let plane = wid.z;
    let r = wid.y * TILE + lid.y;
    let c = wid.x * TILE + lid.x;
    let k_total = select(mm.cols, mm.rows, left);
    var acc = 0.0;
    for (var k0 = 0u; k0 < k_total; k0 += TILE) {
        if left {
            tile_a[lid.y * TILE + lid.x] = op_matrix(r, k0 + lid.x, mm.rows);
            tile_b[lid.y * TILE + lid.x] = src_at(plane, k0 + lid.y, c);
        } else {
            tile_a[lid.y * TILE + lid.x] = src_at(plane, r, k0 + lid.x);
            tile_b[lid.y * TILE + lid.x] = op_matrix(k0 + lid.y, c, mm.cols);
        }
        workgroupBarrier();
        for (var k = 0u; k < TILE; k++) {
            acc = fma(tile_a[lid.y * TILE + k], tile_b[k * TILE + lid.x], acc);
        }
        workgroupBarrier();
    }
    if r < mm.rows && c < mm.cols {
        mm_dst[(plane * mm.rows + r) * mm.cols + c] = acc;
    }
}

@compute @workgroup_size(16, 16)
fn left_multiply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    multiply(wid, lid, true);
}

@compute @workgroup_size(16, 16)
fn right_multiply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    multiply(wid, lid, false);
}

// plane_multiply: dst[i] = src[i] * factor[i mod plane] (the spectrum's 1/frequency scale).
@group(0) @binding(0) var<uniform> pm: PlaneParams;
@group(0) @binding(1) var<storage, read> pm_factor: array<f32>;
@group(0) @binding(2) var<storage, read> pm_src: array<f32>;
@group(0) @binding(3) var<storage, read_write> pm_dst: array<f32>;

@compute @workgroup_size(256)
fn plane_multiply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= pm.len {
        return;
    }
    pm_dst[i] = pm_src[i] * pm_factor[i % pm.plane];
}

// Colour: per pixel of [batch, 3, pixels], rgb = sigmoid(mix · t) and x = (rgb - mean) / std,
// with `mix` the rows m0..m2 (the decorrelation matrix, or its inverse for the inverse map).
@group(0) @binding(0) var<uniform> colour: ColourParams;

// The three channel indices of pixel i of [batch, pixels].
fn pixel_indices(i: u32) -> vec3<u32> {
    let n = i / colour.pixels;
    let p = i % colour.pixels;
    let base = n * 3u * colour.pixels + p;
    return vec3<u32>(base, base + colour.pixels, base + 2u * colour.pixels);
}

fn sigmoid(v: vec3<f32>) -> vec3<f32> {
    return 1.0 / (1.0 + exp(-v));
}

fn mixed(t: vec3<f32>) -> vec3<f32> {
    return vec3<f32>(dot(colour.m0.xyz, t), dot(colour.m1.xyz, t), dot(colour.m2.xyz, t));
}

// decorrelated_to_image: x = (sigmoid(mix · t) - mean) / std.
@group(0) @binding(1) var<storage, read> fwd_t: array<f32>;
@group(0) @binding(2) var<storage, read_write> fwd_x: array<f32>;

@compute @workgroup_size(256)
fn decorrelated_to_image(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= colour.batch * colour.pixels {
        return;
    }
    let k = pixel_indices(i);
    let s = sigmoid(mixed(vec3<f32>(fwd_t[k.x], fwd_t[k.y], fwd_t[k.z])));
    let x = (s - colour.mean.xyz) / colour.deviation.xyz;
    fwd_x[k.x] = x.x;
    fwd_x[k.y] = x.y;
    fwd_x[k.z] = x.z;
}

// image_grad_to_decorrelated: dL/dt = mix^T (dL/dx / std * s (1 - s)), s = sigmoid(mix · t).
@group(0) @binding(1) var<storage, read> bwd_t: array<f32>;
@group(0) @binding(2) var<storage, read> bwd_gx: array<f32>;
@group(0) @binding(3) var<storage, read_write> bwd_gt: array<f32>;

@compute @workgroup_size(256)
fn image_grad_to_decorrelated(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= colour.batch * colour.pixels {
        return;
    }
    let k = pixel_indices(i);
    let s = sigmoid(mixed(vec3<f32>(bwd_t[k.x], bwd_t[k.y], bwd_t[k.z])));
    let u = vec3<f32>(bwd_gx[k.x], bwd_gx[k.y], bwd_gx[k.z]) / colour.deviation.xyz * s * (1.0 - s);
    let g = u.x * colour.m0.xyz + u.y * colour.m1.xyz + u.z * colour.m2.xyz;
    bwd_gt[k.x] = g.x;
    bwd_gt[k.y] = g.y;
    bwd_gt[k.z] = g.z;
}

// image_to_decorrelated: t = mix · logit(clamp(x * std + mean, eps, 1 - eps)), with the inverse
// decorrelation matrix as `mix`.
@group(0) @binding(1) var<storage, read> inv_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> inv_t: array<f32>;

@compute @workgroup_size(256)
fn image_to_decorrelated(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= colour.batch * colour.pixels {
        return;
    }
    let k = pixel_indices(i);
    let x = vec3<f32>(inv_x[k.x], inv_x[k.y], inv_x[k.z]);
    let s = clamp(x * colour.deviation.xyz + colour.mean.xyz, vec3<f32>(colour.eps), vec3<f32>(1.0 - colour.eps));
    let t = mixed(log(s / (1.0 - s)));
    inv_t[k.x] = t.x;
    inv_t[k.y] = t.y;
    inv_t[k.z] = t.z;
}

// Diversity (Lucid's `diversity` objective): images of one objective in a batch pushed apart in
// the Gram space of a layer's activations A[n] (C channels x P positions).
// - gram_matrices: G[n] = A[n] A[n]^T / P;
// - gram_dots: dots[i * batch + j] = <G[i], G[j]> (so |G[i]|^2 on the diagonal);
// - gram_grad: V[n] = dD'/dG[n] for D' = sum over pairs (n, j) of k[n, j] cos(G[n], G[j]), the
//   pairs' coefficients k holding -weight / (pairs of the group) for j != n of n's group, 0 else
//   (symmetric, so each cosine counts twice): V[n] = 2 (U[n] - c[n] Ĝ[n]) / |G[n]|,
//   U[n] = sum_j k[n, j] Ĝ[j], c[n] = sum_j k[n, j] cos(n, j),
//   Ĝ = G / |G|, |G| = sqrt(max(|G|^2, 1e-10)) (Lucid's l2_normalize);
// - gram_backprop: dA[n] += 2 V[n] A[n] / P, the gradient through G (V is symmetric).
const GRAM_EPS: f32 = 1e-10;

@group(0) @binding(0) var<uniform> gram: GramParams;

@group(0) @binding(1) var<storage, read> gram_act: array<f32>;
@group(0) @binding(2) var<storage, read_write> gram_out: array<f32>;

@compute @workgroup_size(256)
fn gram_matrices(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    let c = gram.channels;
    let cc = c * c;
    if i >= gram.batch * cc {
        return;
    }
    let e = i % cc;
    let base = (i / cc) * c * gram.plane;
    let ra = base + (e / c) * gram.plane;
    let rb = base + (e % c) * gram.plane;
    var acc = 0.0;
    for (var p = 0u; p < gram.plane; p++) {
        acc = fma(gram_act[ra + p], gram_act[rb + p], acc);
    }
    gram_out[i] = acc / f32(gram.plane);
}

@group(0) @binding(1) var<storage, read> dots_gram: array<f32>;
@group(0) @binding(2) var<storage, read_write> dots_out: array<f32>;

// One workgroup per pair (i, j), workgroup x = i * batch + j.
@compute @workgroup_size(256)
fn gram_dots(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let pair = wid.x;
    let cc = gram.channels * gram.channels;
    let gi = (pair / gram.batch) * cc;
    let gj = (pair % gram.batch) * cc;
    var acc = 0.0;
    for (var e = lid.x; e < cc; e += 256u) {
        acc = fma(dots_gram[gi + e], dots_gram[gj + e], acc);
    }
    let total = workgroup_sum(lid.x, acc);
    if lid.x == 0u && pair < gram.batch * gram.batch {
        dots_out[pair] = total;
    }
}

@group(0) @binding(1) var<storage, read> ggrad_pairs: array<f32>;
@group(0) @binding(2) var<storage, read> ggrad_dots: array<f32>;
@group(0) @binding(3) var<storage, read> ggrad_gram: array<f32>;
@group(0) @binding(4) var<storage, read_write> ggrad_out: array<f32>;

fn gram_norm(n: u32) -> f32 {
    return sqrt(max(ggrad_dots[n * gram.batch + n], GRAM_EPS));
}

@compute @workgroup_size(256)
fn gram_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    let cc = gram.channels * gram.channels;
    if i >= gram.batch * cc {
        return;
    }
    let n = i / cc;
    let e = i % cc;
    let norm_n = gram_norm(n);
    var u = 0.0;
    var c = 0.0;
    for (var j = 0u; j < gram.batch; j++) {
        let k = ggrad_pairs[n * gram.batch + j];
        if k != 0.0 {
            let norm_j = gram_norm(j);
            u += k * ggrad_gram[j * cc + e] / norm_j;
            c += k * ggrad_dots[n * gram.batch + j] / (norm_n * norm_j);
        }
    }
    ggrad_out[i] = 2.0 * (u - c * ggrad_gram[i] / norm_n) / norm_n;
}

@group(0) @binding(1) var<storage, read> gback_v: array<f32>;
@group(0) @binding(2) var<storage, read> gback_act: array<f32>;
@group(0) @binding(3) var<storage, read_write> gback_grad: array<f32>;

@compute @workgroup_size(256)
fn gram_backprop(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    let c = gram.channels;
    let len = c * gram.plane;
    if i >= gram.batch * len {
        return;
    }
    let n = i / len;
    let a = (i % len) / gram.plane;
    let p = i % gram.plane;
    let v = n * c * c + a * c;
    let column = n * len + p;
    var acc = 0.0;
    for (var b = 0u; b < c; b++) {
        acc = fma(gback_v[v + b], gback_act[column + b * gram.plane], acc);
    }
    gback_grad[i] += 2.0 * acc / f32(gram.plane);
}
