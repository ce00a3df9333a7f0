// Attribution kernels: channel reduction of gradients into maps; the sampled inputs, target seeds
// and gradient accumulation of SmoothGrad and Integrated Gradients; Grad-CAM's and Grad-CAM++'s
// channel weights, weighted map and bilinear upsampling; the perturbed inputs of Score-CAM,
// occlusion and the deletion / insertion curves, the class score of each, and the weights and
// maps made from those scores.
//
// Sampled methods run a job of `images` images x `samples` samples: pair p = image * samples +
// sample. Pass b of the job fills the network's `batch` slots with pairs b * batch + k (k the
// slot); the pass index lives on the GPU (`state[0]`, bumped by `advance`), so one set of
// dispatches is recorded for every pass with no host round trip. Slots past the last pair are
// inactive: zero input, zero seed, never accumulated.
// Perturbation jobs (Score-CAM, occlusion, deletion / insertion curves) run the same way: each
// pair is one perturbed input, and `class_scores` keeps one score per pair.
// Each entry point binds its buffers at 0, 1, 2, ... in the order declared for it.

// The uniform blocks, one per kernel family, are declared in src/saliency/kernels.rs
// (uniform_block!): each entry point reads its family's block at binding 0.
@group(0) @binding(0) var<uniform> attribution: AttributionParams;
@group(0) @binding(0) var<uniform> cam: CamParams;
@group(0) @binding(0) var<uniform> job: SampleParams;
@group(0) @binding(0) var<uniform> perturb: PerturbParams;

// --- channel reduction -------------------------------------------------------------------------

// reduce_channels: dst[n, p] = max_c |src[n, c, p]| or sum_c |src[n, c, p]|.
@group(0) @binding(1) var<storage, read> rc_src: array<f32>;
@group(0) @binding(2) var<storage, read_write> rc_dst: array<f32>;

@compute @workgroup_size(256)
fn reduce_channels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= attribution.images * attribution.plane {
        return;
    }
    let n = i / attribution.plane;
    let p = i % attribution.plane;
    let base = n * attribution.len + p;
    var acc = 0.0;
    for (var c = 0u; c < attribution.channels; c++) {
        let v = abs(rc_src[base + c * attribution.plane]);
        if attribution.reduce == 0u {
            acc = max(acc, v);
        } else {
            acc += v;
        }
    }
    rc_dst[i] = acc;
}

// --- sampled methods ---------------------------------------------------------------------------

// The pair in slot k of pass `pass_index` of a job of `pairs` pairs in passes of `batch` slots,
// or `NO_PAIR` for an inactive slot.
const NO_PAIR = 0xffffffffu;

fn pair_of_slot(pass_index: u32, k: u32, batch: u32, pairs: u32) -> u32 {
    let p = pass_index * batch + k;
    if p >= pairs {
        return NO_PAIR;
    }
    return p;
}

// The pair in slot k of the current pass of a sampled job.
fn job_pair(pass_index: u32, k: u32) -> u32 {
    return pair_of_slot(pass_index, k, job.batch, job.images * job.samples);
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
    let key = pcg(pcg(pcg(job.seed_lo ^ pcg(job.seed_hi)) ^ p) ^ e);
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
    if i >= job.batch * job.len {
        return;
    }
    let k = i / job.len;
    let e = i % job.len;
    let p = job_pair(si_state[0], k);
    if p == NO_PAIR {
        si_input[i] = 0.0;
        return;
    }
    let img = p / job.samples;
    si_input[i] = fma(si_sigma[img], gaussian(p, e), si_images[img * job.len + e]);
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
    if i >= job.batch * job.len {
        return;
    }
    let k = i / job.len;
    let e = i % job.len;
    let p = job_pair(pi_state[0], k);
    if p == NO_PAIR {
        pi_input[i] = 0.0;
        return;
    }
    let img = p / job.samples;
    let s = p % job.samples;
    let alpha = (f32(s) + 0.5) / f32(job.samples);
    let j = img * job.len + e;
    pi_input[i] = fma(alpha, pi_images[j] - pi_base[j], pi_base[j]);
}

// seed_targets: logits_grad[k, c] = 1 where c is the target class of slot k's image, else 0.
@group(0) @binding(1) var<storage, read> st_state: array<u32>;
@group(0) @binding(2) var<storage, read> st_targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> st_seed: array<f32>;

@compute @workgroup_size(256)
fn seed_targets(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= job.batch * job.classes {
        return;
    }
    let p = job_pair(st_state[0], i / job.classes);
    var v = 0.0;
    if p != NO_PAIR && st_targets[p / job.samples] == i % job.classes {
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
    if i >= job.batch * job.len {
        return;
    }
    let start = ac_state[0] * job.batch;
    let end = min(start + job.batch, job.images * job.samples);
    if start >= end {
        return;
    }
    let img = start / job.samples + i / job.len;
    let e = i % job.len;
    let first = max(img * job.samples, start);
    let last = min(img * job.samples + job.samples, end);
    if first >= last {
        return;
    }
    var sum = 0.0;
    for (var p = first; p < last; p++) {
        sum += ac_grad[(p - start) * job.len + e];
    }
    let j = img * job.len + e;
    ac_acc[j] = fma(job.weight, sum, ac_acc[j]);
}

// advance: moves the job to its next pass; once past the last pair it stays there, so extra
// passes change nothing.
@group(0) @binding(1) var<storage, read_write> ad_state: array<u32>;

@compute @workgroup_size(1)
fn advance() {
    if ad_state[0] * job.batch < job.images * job.samples {
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
    if i >= attribution.images * attribution.len {
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
    if i >= cam.images * cam.channels {
        return;
    }
    let base = i * cam.plane;
    var sum = 0.0;
    for (var p = 0u; p < cam.plane; p++) {
        sum += cw_grad[base + p];
    }
    cw_alpha[i] = sum / f32(cam.plane);
}

// cam_map: cam[n, p] = max(sum_c alpha[n, c] * act[n, c, p], 0).
@group(0) @binding(1) var<storage, read> cm_act: array<f32>;
@group(0) @binding(2) var<storage, read> cm_alpha: array<f32>;
@group(0) @binding(3) var<storage, read_write> cm_cam: array<f32>;

@compute @workgroup_size(256)
fn cam_map(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= cam.images * cam.plane {
        return;
    }
    let n = i / cam.plane;
    let p = i % cam.plane;
    var sum = 0.0;
    for (var c = 0u; c < cam.channels; c++) {
        sum = fma(cm_alpha[n * cam.channels + c], cm_act[(n * cam.channels + c) * cam.plane + p], sum);
    }
    cm_cam[i] = max(sum, 0.0);
}

// --- Grad-CAM++ --------------------------------------------------------------------------------

// campp_weights: alpha[n, c] = sum over the plane of relu(g) * a, a = g^2 / (2 g^2 + A g^3 + eps)
// (0 where g = 0), g = grad[n, c, p], A = the sum of act[n, c, :]: the second- and third-order
// terms of exp(score), as pytorch-grad-cam computes them.
@group(0) @binding(1) var<storage, read> cp_grad: array<f32>;
@group(0) @binding(2) var<storage, read> cp_act: array<f32>;
@group(0) @binding(3) var<storage, read_write> cp_alpha: array<f32>;

const CAMPP_EPS = 1e-6;

@compute @workgroup_size(256)
fn campp_weights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= cam.images * cam.channels {
        return;
    }
    let base = i * cam.plane;
    var total = 0.0;
    for (var p = 0u; p < cam.plane; p++) {
        total += cp_act[base + p];
    }
    var sum = 0.0;
    for (var p = 0u; p < cam.plane; p++) {
        let g = cp_grad[base + p];
        let g2 = g * g;
        let a = g2 / (2.0 * g2 + total * g2 * g + CAMPP_EPS);
        sum += select(0.0, max(g, 0.0) * a, g != 0.0);
    }
    cp_alpha[i] = sum;
}

// --- Score-CAM ---------------------------------------------------------------------------------

// Upsampled activations (here and in score_inputs) are sampled with `bilinear` and `blend`
// (shaders/bilinear.wgsl) from in_h x in_w to out_h x out_w.

// mask_range: range[i] = (min, max) of plane i of act (in_h x in_w) upsampled to out_h x out_w,
// for the images * channels planes.
@group(0) @binding(1) var<storage, read> mr_act: array<f32>;
@group(0) @binding(2) var<storage, read_write> mr_range: array<f32>;

@compute @workgroup_size(256)
fn mask_range(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= cam.images * cam.channels {
        return;
    }
    let base = i * cam.in_h * cam.in_w;
    var lo = 3.4e38;
    var hi = -3.4e38;
    for (var y = 0u; y < cam.out_h; y++) {
        for (var x = 0u; x < cam.out_w; x++) {
            let b = bilinear(y, x, vec2<u32>(cam.in_h, cam.in_w), vec2<u32>(cam.out_h, cam.out_w));
            let v = blend(b, mr_act[base + b.i00], mr_act[base + b.i01], mr_act[base + b.i10], mr_act[base + b.i11]);
            lo = min(lo, v);
            hi = max(hi, v);
        }
    }
    mr_range[2u * i] = lo;
    mr_range[2u * i + 1u] = hi;
}

// The pair in slot k of the current pass of a perturbation job.
fn perturb_pair(pass_index: u32, k: u32) -> u32 {
    return pair_of_slot(pass_index, k, perturb.batch, perturb.images * perturb.samples);
}

// score_inputs: a job over images x channels (samples = channels): input[k] = images[img] times
// the pair's channel of act upsampled and scaled to [0, 1] by its range (0 for a flat channel).
@group(0) @binding(1) var<storage, read> sc_state: array<u32>;
@group(0) @binding(2) var<storage, read> sc_images: array<f32>;
@group(0) @binding(3) var<storage, read> sc_act: array<f32>;
@group(0) @binding(4) var<storage, read> sc_range: array<f32>;
@group(0) @binding(5) var<storage, read_write> sc_input: array<f32>;

@compute @workgroup_size(256)
fn score_inputs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= perturb.batch * perturb.len {
        return;
    }
    let k = i / perturb.len;
    let e = i % perturb.len;
    let p = perturb_pair(sc_state[0], k);
    if p == NO_PAIR {
        sc_input[i] = 0.0;
        return;
    }
    let pixel = e % perturb.plane;
    let in_hw = vec2<u32>(perturb.in_h, perturb.in_w);
    let b = bilinear(pixel / perturb.out_w, pixel % perturb.out_w, in_hw, vec2<u32>(perturb.out_h, perturb.out_w));
    let base = p * perturb.in_h * perturb.in_w;
    let v = blend(b, sc_act[base + b.i00], sc_act[base + b.i01], sc_act[base + b.i10], sc_act[base + b.i11]);
    let lo = sc_range[2u * p];
    let hi = sc_range[2u * p + 1u];
    var mask = 0.0;
    if hi > lo {
        mask = (v - lo) / (hi - lo);
    }
    sc_input[i] = sc_images[(p / perturb.samples) * perturb.len + e] * mask;
}

// score_weights: alpha[i] = scores[i], or 0 where channel i's map is flat (its range empty).
@group(0) @binding(1) var<storage, read> sw_range: array<f32>;
@group(0) @binding(2) var<storage, read> sw_scores: array<f32>;
@group(0) @binding(3) var<storage, read_write> sw_alpha: array<f32>;

@compute @workgroup_size(256)
fn score_weights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= cam.images * cam.channels {
        return;
    }
    sw_alpha[i] = select(0.0, sw_scores[i], sw_range[2u * i + 1u] > sw_range[2u * i]);
}

// --- scores of perturbed inputs ----------------------------------------------------------------

// class_scores: scores[p] = the softmax probability (or the logit) of the target class of pair
// p's image in logits row k, for each active slot k of the current pass.
@group(0) @binding(1) var<storage, read> cs_state: array<u32>;
@group(0) @binding(2) var<storage, read> cs_targets: array<u32>;
@group(0) @binding(3) var<storage, read> cs_logits: array<f32>;
@group(0) @binding(4) var<storage, read_write> cs_scores: array<f32>;

@compute @workgroup_size(256)
fn class_scores(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = element(gid, nwg);
    if k >= job.batch {
        return;
    }
    let p = job_pair(cs_state[0], k);
    if p == NO_PAIR {
        return;
    }
    let row = k * job.classes;
    let target_logit = cs_logits[row + cs_targets[p / job.samples]];
    if job.softmax == 0u {
        cs_scores[p] = target_logit;
        return;
    }
    var top = cs_logits[row];
    for (var c = 1u; c < job.classes; c++) {
        top = max(top, cs_logits[row + c]);
    }
    var sum = 0.0;
    for (var c = 0u; c < job.classes; c++) {
        sum += exp(cs_logits[row + c] - top);
    }
    cs_scores[p] = exp(target_logit - top) / sum;
}

// --- occlusion ---------------------------------------------------------------------------------

// Whether pixel (y, x) lies under patch w (patches row by row, windows_x per row).
fn occluded(w: u32, y: u32, x: u32) -> bool {
    let top = (w / perturb.windows_x) * perturb.stride;
    let left = (w % perturb.windows_x) * perturb.stride;
    return y >= top && y < top + perturb.patch_size && x >= left && x < left + perturb.patch_size;
}

// occlusion_inputs: a job over images x (patches + 1): input[k] = images[img] with the pair's
// patch set to 0 (the mean color) in every channel; the last sample of each image is unchanged.
@group(0) @binding(1) var<storage, read> oi_state: array<u32>;
@group(0) @binding(2) var<storage, read> oi_images: array<f32>;
@group(0) @binding(3) var<storage, read_write> oi_input: array<f32>;

@compute @workgroup_size(256)
fn occlusion_inputs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= perturb.batch * perturb.len {
        return;
    }
    let k = i / perturb.len;
    let e = i % perturb.len;
    let p = perturb_pair(oi_state[0], k);
    if p == NO_PAIR {
        oi_input[i] = 0.0;
        return;
    }
    let w = p % perturb.samples;
    let pixel = e % perturb.plane;
    let hidden = w + 1u < perturb.samples && occluded(w, pixel / perturb.out_w, pixel % perturb.out_w);
    oi_input[i] = select(oi_images[(p / perturb.samples) * perturb.len + e], 0.0, hidden);
}

// occlusion_map: map[n, y, x] = the mean over the patches covering (y, x) of the score drop
// scores[n, last] - scores[n, w]; 0 where no patch covers the pixel.
@group(0) @binding(1) var<storage, read> om_scores: array<f32>;
@group(0) @binding(2) var<storage, read_write> om_map: array<f32>;

@compute @workgroup_size(256)
fn occlusion_map(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= perturb.images * perturb.plane {
        return;
    }
    let n = i / perturb.plane;
    let y = (i % perturb.plane) / perturb.out_w;
    let x = i % perturb.out_w;
    let base = n * perturb.samples;
    let windows = perturb.samples - 1u;
    let full = om_scores[base + windows];
    var sum = 0.0;
    var count = 0u;
    for (var w = 0u; w < windows; w++) {
        if occluded(w, y, x) {
            sum += full - om_scores[base + w];
            count += 1u;
        }
    }
    om_map[i] = select(0.0, sum / f32(max(count, 1u)), count > 0u);
}

// --- deletion and insertion curves -------------------------------------------------------------

// reveal_inputs: a job over curves x (steps + 1) (samples = steps + 1), two curves per image:
// curve 2n deletes (the photo with its first k pixels in rank order taken from the blurred copy),
// curve 2n + 1 inserts (the blurred copy with its first k pixels taken from the photo), k =
// round(s * plane / steps) at step s. rank[n, pixel] is the pixel's place in image n's order.
@group(0) @binding(1) var<storage, read> ri_state: array<u32>;
@group(0) @binding(2) var<storage, read> ri_photo: array<f32>;
@group(0) @binding(3) var<storage, read> ri_blurred: array<f32>;
@group(0) @binding(4) var<storage, read> ri_rank: array<u32>;
@group(0) @binding(5) var<storage, read_write> ri_input: array<f32>;

@compute @workgroup_size(256)
fn reveal_inputs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= perturb.batch * perturb.len {
        return;
    }
    let k = i / perturb.len;
    let e = i % perturb.len;
    let p = perturb_pair(ri_state[0], k);
    if p == NO_PAIR {
        ri_input[i] = 0.0;
        return;
    }
    let curve = p / perturb.samples;
    let steps = perturb.samples - 1u;
    let changed_count = ((p % perturb.samples) * perturb.plane + steps / 2u) / steps;
    let n = curve / 2u;
    let changed = ri_rank[n * perturb.plane + e % perturb.plane] < changed_count;
    let photo = ri_photo[n * perturb.len + e];
    let blurred = ri_blurred[n * perturb.len + e];
    // Deletion shows the photo where unchanged, insertion where changed.
    ri_input[i] = select(blurred, photo, changed == (curve % 2u == 1u));
}
