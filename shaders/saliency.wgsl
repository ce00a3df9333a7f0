// Attribution kernels: channel reduction of gradients into maps; the sampled inputs, target seeds
// and gradient accumulation of SmoothGrad and Integrated Gradients; Grad-CAM's channel weights,
// weighted map and bilinear upsampling.
//
// Sampled methods run a job of `images` images x `samples` samples: pair p = image * samples +
// sample. Pass b of the job fills the network's `batch` slots with pairs b * batch + k (k the
// slot); the pass index lives on the GPU (`state[0]`, bumped by `advance`), so one set of
// dispatches is recorded for every pass with no host round trip. Slots past the last pair are
// inactive: zero input, zero seed, never accumulated.
// Each entry point binds its buffers at 0, 1, 2, ... in the order declared for it.

struct Params {
    // Values per image (channels * plane) and per channel (h * w).
    len: u32,
    plane: u32,
    channels: u32,
    // Images in the job, samples per image, network slots per pass, classes.
    images: u32,
    samples: u32,
    batch: u32,
    classes: u32,
    // Channel reduction: 0 = max |g|, 1 = sum |g|.
    reduce: u32,
    // SmoothGrad's noise seed (64 bits).
    seed_lo: u32,
    seed_hi: u32,
    // Weight of each gradient in the accumulation (1 / samples).
    weight: f32,
    // Bilinear upsampling: source and destination sizes.
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;

// --- channel reduction -------------------------------------------------------------------------

// reduce_channels: dst[n, p] = max_c |src[n, c, p]| or sum_c |src[n, c, p]|.
@group(0) @binding(1) var<storage, read> rc_src: array<f32>;
@group(0) @binding(2) var<storage, read_write> rc_dst: array<f32>;

@compute @workgroup_size(256)
fn reduce_channels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.images * params.plane {
        return;
    }
    let n = i / params.plane;
    let p = i % params.plane;
    let base = n * params.len + p;
    var acc = 0.0;
    for (var c = 0u; c < params.channels; c++) {
        let v = abs(rc_src[base + c * params.plane]);
        if params.reduce == 0u {
            acc = max(acc, v);
        } else {
            acc += v;
        }
    }
    rc_dst[i] = acc;
}

// --- sampled methods ---------------------------------------------------------------------------

// The pair in slot k of the current pass, or `NO_PAIR` for an inactive slot.
const NO_PAIR = 0xffffffffu;

fn pair_of_slot(pass_index: u32, k: u32) -> u32 {
    let p = pass_index * params.batch + k;
    if p >= params.images * params.samples {
        return NO_PAIR;
    }
    return p;
}

// PCG's output permutation of one LCG step: a 32-bit hash.
fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// A standard normal value for element e of pair p: counter-based (a hash of seed, pair and
// element, independent of how pairs are laid out in passes), Box-Muller from two 24-bit uniforms.
fn gaussian(p: u32, e: u32) -> f32 {
    let key = pcg(pcg(pcg(params.seed_lo ^ pcg(params.seed_hi)) ^ p) ^ e);
    let a = pcg(key);
    let b = pcg(key ^ 0x9e3779b9u);
    let u1 = (f32(a >> 8u) + 1.0) / 16777216.0;
    let u2 = f32(b >> 8u) / 16777216.0;
    return sqrt(-2.0 * log(u1)) * cos(6.2831853071795864 * u2);
}

// smooth_inputs: input[k] = images[img] + sigma[img] * N(0, 1), the pair's own noise.
@group(0) @binding(1) var<storage, read> si_state: array<u32>;
@group(0) @binding(2) var<storage, read> si_images: array<f32>;
@group(0) @binding(3) var<storage, read> si_sigma: array<f32>;
@group(0) @binding(4) var<storage, read_write> si_input: array<f32>;

@compute @workgroup_size(256)
fn smooth_inputs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.batch * params.len {
        return;
    }
    let k = i / params.len;
    let e = i % params.len;
    let p = pair_of_slot(si_state[0], k);
    if p == NO_PAIR {
        si_input[i] = 0.0;
        return;
    }
    let img = p / params.samples;
    si_input[i] = fma(si_sigma[img], gaussian(p, e), si_images[img * params.len + e]);
}

// path_inputs: input[k] = base[img] + alpha * (images[img] - base[img]), alpha = (s + 1/2) / S:
// the midpoints of S equal steps along the straight path from the baseline to the image.
@group(0) @binding(1) var<storage, read> pi_state: array<u32>;
@group(0) @binding(2) var<storage, read> pi_images: array<f32>;
@group(0) @binding(3) var<storage, read> pi_base: array<f32>;
@group(0) @binding(4) var<storage, read_write> pi_input: array<f32>;

@compute @workgroup_size(256)
fn path_inputs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.batch * params.len {
        return;
    }
    let k = i / params.len;
    let e = i % params.len;
    let p = pair_of_slot(pi_state[0], k);
    if p == NO_PAIR {
        pi_input[i] = 0.0;
        return;
    }
    let img = p / params.samples;
    let s = p % params.samples;
    let alpha = (f32(s) + 0.5) / f32(params.samples);
    let j = img * params.len + e;
    pi_input[i] = fma(alpha, pi_images[j] - pi_base[j], pi_base[j]);
}

// seed_targets: logits_grad[k, c] = 1 where c is the target class of slot k's image, else 0.
@group(0) @binding(1) var<storage, read> st_state: array<u32>;
@group(0) @binding(2) var<storage, read> st_targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> st_seed: array<f32>;

@compute @workgroup_size(256)
fn seed_targets(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.batch * params.classes {
        return;
    }
    let p = pair_of_slot(st_state[0], i / params.classes);
    var v = 0.0;
    if p != NO_PAIR && st_targets[p / params.samples] == i % params.classes {
        v = 1.0;
    }
    st_seed[i] = v;
}

// accumulate: acc[img, e] += weight * sum of grad[k, e] over the slots k holding a sample of img.
// Invocation (j, e) owns image first + j, where first is the image of slot 0, so no two
// invocations write one value.
@group(0) @binding(1) var<storage, read> ac_state: array<u32>;
@group(0) @binding(2) var<storage, read> ac_grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> ac_acc: array<f32>;

@compute @workgroup_size(256)
fn accumulate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.batch * params.len {
        return;
    }
    let start = ac_state[0] * params.batch;
    let end = min(start + params.batch, params.images * params.samples);
    if start >= end {
        return;
    }
    let img = start / params.samples + i / params.len;
    let e = i % params.len;
    let first = max(img * params.samples, start);
    let last = min(img * params.samples + params.samples, end);
    if first >= last {
        return;
    }
    var sum = 0.0;
    for (var p = first; p < last; p++) {
        sum += ac_grad[(p - start) * params.len + e];
    }
    let j = img * params.len + e;
    ac_acc[j] = fma(params.weight, sum, ac_acc[j]);
}

// advance: moves the job to its next pass; once past the last pair it stays there, so extra
// passes change nothing.
@group(0) @binding(1) var<storage, read_write> ad_state: array<u32>;

@compute @workgroup_size(1)
fn advance() {
    if ad_state[0] * params.batch < params.images * params.samples {
        ad_state[0] += 1u;
    }
}

// times_difference: attr[i] = (images[i] - base[i]) * attr[i] (Integrated Gradients' last step).
@group(0) @binding(1) var<storage, read> td_images: array<f32>;
@group(0) @binding(2) var<storage, read> td_base: array<f32>;
@group(0) @binding(3) var<storage, read_write> td_attr: array<f32>;

@compute @workgroup_size(256)
fn times_difference(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.images * params.len {
        return;
    }
    td_attr[i] = (td_images[i] - td_base[i]) * td_attr[i];
}

// --- Grad-CAM ----------------------------------------------------------------------------------

// cam_weights: alpha[n, c] = mean over the plane of grad[n, c, :].
@group(0) @binding(1) var<storage, read> cw_grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> cw_alpha: array<f32>;

@compute @workgroup_size(256)
fn cam_weights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.images * params.channels {
        return;
    }
    let base = i * params.plane;
    var sum = 0.0;
    for (var p = 0u; p < params.plane; p++) {
        sum += cw_grad[base + p];
    }
    cw_alpha[i] = sum / f32(params.plane);
}

// cam_map: cam[n, p] = max(sum_c alpha[n, c] * act[n, c, p], 0).
@group(0) @binding(1) var<storage, read> cm_act: array<f32>;
@group(0) @binding(2) var<storage, read> cm_alpha: array<f32>;
@group(0) @binding(3) var<storage, read_write> cm_cam: array<f32>;

@compute @workgroup_size(256)
fn cam_map(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.images * params.plane {
        return;
    }
    let n = i / params.plane;
    let p = i % params.plane;
    var sum = 0.0;
    for (var c = 0u; c < params.channels; c++) {
        sum = fma(cm_alpha[n * params.channels + c], cm_act[(n * params.channels + c) * params.plane + p], sum);
    }
    cm_cam[i] = max(sum, 0.0);
}

// upsample_bilinear: dst[n] = src[n] resized from in_h x in_w to out_h x out_w, sampling at pixel
// centres with edges clamped (PyTorch's `interpolate(mode="bilinear", align_corners=False)`).
@group(0) @binding(1) var<storage, read> up_src: array<f32>;
@group(0) @binding(2) var<storage, read_write> up_dst: array<f32>;

fn source_coord(x: u32, in_size: u32, out_size: u32) -> vec3<f32> {
    let s = max((f32(x) + 0.5) * f32(in_size) / f32(out_size) - 0.5, 0.0);
    let x0 = min(u32(floor(s)), in_size - 1u);
    let x1 = min(x0 + 1u, in_size - 1u);
    return vec3<f32>(f32(x0), f32(x1), s - f32(x0));
}

@compute @workgroup_size(256)
fn upsample_bilinear(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    let out_plane = params.out_h * params.out_w;
    if i >= params.images * out_plane {
        return;
    }
    let n = i / out_plane;
    let y = (i % out_plane) / params.out_w;
    let x = i % params.out_w;
    let sy = source_coord(y, params.in_h, params.out_h);
    let sx = source_coord(x, params.in_w, params.out_w);
    let base = n * params.in_h * params.in_w;
    let y0 = u32(sy.x) * params.in_w;
    let y1 = u32(sy.y) * params.in_w;
    let x0 = u32(sx.x);
    let x1 = u32(sx.y);
    let top = mix(up_src[base + y0 + x0], up_src[base + y0 + x1], sx.z);
    let bottom = mix(up_src[base + y1 + x0], up_src[base + y1 + x1], sx.z);
    up_dst[i] = mix(top, bottom, sy.z);
}
