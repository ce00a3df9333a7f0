// Kernels of the adversarial loops (fooling images, FGSM, PGD, MI-FGSM; the gradients of APGD
// and Carlini-Wagner) on a batch of images: per-image goal checks and loss seeds (cross-entropy,
// logit, margin) on the logits, sign steps, per-channel scaling, projections onto the eps-ball
// around the original image, L1 norms and momentum, random starts and 8-bit quantization. Each
// entry point binds its buffers at 0, 1, 2, ... in the order declared for it. Images are
// normalized NCHW; `unit[c]` is the size of one pixel level (1/255 of the 0..1 range) in
// channel c, 1 / (255 std[c]).

// `LogitsParams` and `ImageParams`, the uniform blocks of the logits and the image kernels, are
// declared in src/fooling/kernels.rs (uniform_block!).

@group(0) @binding(0) var<uniform> logit_params: LogitsParams;
// `params`, read by the helpers of image_batch.wgsl.
@group(0) @binding(0) var<uniform> params: ImageParams;

// A goal's high bit marks an untargeted goal: move away from the class in the low bits.
const AWAY: u32 = 0x80000000u;
// `first` of an image that has not reached its goal yet.
const NEVER: u32 = 0xffffffffu;

// The logits kernels (check_goal, seed_loss, seed_margin) run one workgroup per image and bind
// the logits at 1 and the goals at 2.
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> goals: array<u32>;

// An image of the logits kernels.
struct LogitsImage {
    // Its index (the workgroup's).
    n: u32,
    // The index of its first logit.
    base: u32,
    // Its goal, as Goal::encode writes it.
    goal: u32,
    // The goal's class.
    wanted: u32,
    // +1 to reach the goal's class, -1 to leave it.
    sign: f32,
}

// Image n of the logits kernels.
fn logits_image(n: u32) -> LogitsImage {
    let goal = goals[n];
    let sign = select(1.0, -1.0, (goal & AWAY) != 0u);
    return LogitsImage(n, n * logit_params.classes, goal, goal & ~AWAY, sign);
}

// A candidate for an image's top class: the largest logit seen and its class `index` (NEVER:
// none), and whether a NaN or an infinity was seen.
struct Candidate {
    value: f32,
    index: u32,
    nonfinite: bool,
}

// Invocation tid's candidate among the classes tid, tid + 256, ... of the logits from `base`:
// the largest logit (the first on ties), leaving out the class `skip` and, when `finite_only`,
// non-finite logits.
fn candidate(tid: u32, base: u32, skip: u32, finite_only: bool) -> Candidate {
    // -f32::MAX exactly: Chrome refuses a decimal literal above it.
    var c = Candidate(-0x1.fffffep+127f, NEVER, false);
    for (var k = tid; k < logit_params.classes; k += 256u) {
        let v = logits[base + k];
        // An all-ones exponent is an infinity or a NaN.
        let finite = (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
        c.nonfinite = c.nonfinite || !finite;
        if k != skip && (finite || !finite_only) && (c.index == NEVER || v > c.value) {
            c.value = v;
            c.index = k;
        }
    }
    return c;
}

var<workgroup> best_value: array<f32, 256>;
var<workgroup> best_class: array<u32, 256>;
// `workgroup_sum` and its `partial`: workgroup_sum.wgsl.

// The best of the candidates of the invocations of a workgroup of 256: the largest value, the
// first class on ties, class NEVER when no invocation has one; every invocation gets it (with
// its own `nonfinite`).
fn workgroup_top(tid: u32, mine: Candidate) -> Candidate {
    best_value[tid] = mine.value;
    best_class[tid] = mine.index;
    workgroupBarrier();
    for (var step = 128u; step > 0u; step >>= 1u) {
        if tid < step {
            let v = best_value[tid + step];
            let k = best_class[tid + step];
            let held = best_class[tid];
            if k != NEVER && (held == NEVER || v > best_value[tid] || (v == best_value[tid] && k < held)) {
                best_value[tid] = v;
                best_class[tid] = k;
            }
        }
        workgroupBarrier();
    }
    let top = Candidate(best_value[0], best_class[0], mine.nonfinite);
    workgroupBarrier();
    return top;
}

// check_goal: finds the top class of the logits (the first on ties, non-finite logits left out)
// and updates the image's state [count, first, reached, nonfinite]: reached = whether the top
// class is the target (or, for an untargeted goal, differs from the class to leave); first =
// the count at which the goal was first reached; nonfinite = 1 once a logit was NaN or
// infinite. `freeze`: freeze an image once it reaches its goal (scale = 0); `count`: count the
// step about to be taken (count += 1 while scale != 0).
@group(0) @binding(3) var<storage, read_write> cg_state: array<u32>;
@group(0) @binding(4) var<storage, read_write> cg_scale: array<f32>;

@compute @workgroup_size(256)
fn check_goal(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let image = logits_image(wid.x);
    let mine = candidate(tid, image.base, NEVER, true);
    let top = workgroup_top(tid, mine);
    // Any invocation that saw a non-finite value makes the sum positive.
    let bad = workgroup_sum(tid, f32(mine.nonfinite));
    if tid == 0u {
        let n = image.n;
        var reached = top.index == image.wanted;
        if (image.goal & AWAY) != 0u {
            reached = top.index != image.wanted;
        }
        let s = n * 4u;
        if bad > 0.0 {
            cg_state[s + 3u] = 1u;
            reached = false;
        }
        cg_state[s + 2u] = select(0u, 1u, reached);
        if reached && cg_state[s + 1u] == NEVER {
            cg_state[s + 1u] = cg_state[s];
        }
        if reached && logit_params.freeze != 0u {
            cg_scale[n] = 0.0;
        }
        if logit_params.count != 0u && cg_scale[n] != 0.0 {
            cg_state[s] += 1u;
        }
    }
}

// seed_loss and seed_margin: the gradient of the loss with respect to the logits.
@group(0) @binding(3) var<storage, read_write> logits_grad: array<f32>;

// seed_loss: writes the gradient of the loss to ascend with respect to the logits. Targeted:
// ascend the target's logit (`cross_entropy` 0) or its log-probability (`cross_entropy` 1:
// one-hot minus softmax). Untargeted: the same with the sign flipped, descending the score of
// the class to leave. The goal class's 1 - p is computed as the other classes' share, which
// keeps its precision when p is close to 1.
@compute @workgroup_size(256)
fn seed_loss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let image = logits_image(wid.x);
    let base = image.base;
    let wanted = image.wanted;
    let cross_entropy = logit_params.cross_entropy != 0u;
    var max_logit = 0.0;
    var others = 0.0;
    var total = 1.0;
    if cross_entropy {
        max_logit = workgroup_top(tid, candidate(tid, base, NEVER, false)).value;
        var acc = 0.0;
        for (var k = tid; k < logit_params.classes; k += 256u) {
            if k != wanted {
                acc += exp(logits[base + k] - max_logit);
            }
        }
        others = workgroup_sum(tid, acc);
        total = others + exp(logits[base + wanted] - max_logit);
    }
    for (var k = tid; k < logit_params.classes; k += 256u) {
        var g = select(0.0, 1.0, k == wanted);
        if cross_entropy {
            if k == wanted {
                g = others / total;
            } else {
                g = -exp(logits[base + k] - max_logit) / total;
            }
        }
        logits_grad[base + k] = image.sign * g;
    }
}

// seed_margin: writes the gradient of minus the goal's margin (the loss Carlini-Wagner and
// Square lower) with respect to the logits. j = the top class other than the goal class (the
// first on ties). Untargeted (leave y): the margin is z_y - z_j, the seed e_j - e_y; targeted
// (reach t): the margin is z_j - z_t, the seed e_t - e_j.
@compute @workgroup_size(256)
fn seed_margin(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let image = logits_image(wid.x);
    let other = workgroup_top(tid, candidate(tid, image.base, image.wanted, false)).index;
    for (var k = tid; k < logit_params.classes; k += 256u) {
        var g = 0.0;
        if k == image.wanted {
            g = image.sign;
        } else if k == other {
            g = -image.sign;
        }
        logits_grad[image.base + k] = g;
    }
}

// The image kernels bind their buffers from 1 and, but for project_l2 and sum_abs (one
// workgroup per image), run one invocation per value (`batch_values`, `channel`:
// image_batch.wgsl).

// sign_step: x[n, c] += step * scale[n] * unit[c] * sign(g[n, c]) (a step of `step` pixel
// levels).
@group(0) @binding(1) var<storage, read> ss_g: array<f32>;
@group(0) @binding(2) var<storage, read> ss_scale: array<f32>;
@group(0) @binding(3) var<storage, read> ss_unit: array<f32>;
@group(0) @binding(4) var<storage, read_write> ss_x: array<f32>;

@compute @workgroup_size(256)
fn sign_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= batch_values() {
        return;
    }
    let n = i / params.len;
    ss_x[i] += params.step * ss_scale[n] * ss_unit[channel(i)] * sign(ss_g[i]);
}

// scale_channels: v[n, c] *= w[c], in place.
@group(0) @binding(1) var<storage, read> sc_w: array<f32>;
@group(0) @binding(2) var<storage, read_write> sc_v: array<f32>;

@compute @workgroup_size(256)
fn scale_channels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= batch_values() {
        return;
    }
    sc_v[i] *= sc_w[channel(i)];
}

// project_linf: x = clamp(x, x0 - r, x0 + r) with r = radius * unit[c] (radius pixel levels).
@group(0) @binding(1) var<storage, read> pi_x0: array<f32>;
@group(0) @binding(2) var<storage, read> pi_unit: array<f32>;
@group(0) @binding(3) var<storage, read_write> pi_x: array<f32>;

@compute @workgroup_size(256)
fn project_linf(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= batch_values() {
        return;
    }
    let r = params.radius * pi_unit[channel(i)];
    let x0 = pi_x0[i];
    pi_x[i] = clamp(pi_x[i], x0 - r, x0 + r);
}

// project_l2: one workgroup per image; shrinks x - x0 onto the ball of `radius` pixel levels (the L2 norm of (x - x0) / unit[c]) when it lies outside.
@group(0) @binding(1) var<storage, read> pl_x0: array<f32>;
@group(0) @binding(2) var<storage, read> pl_unit: array<f32>;
@group(0) @binding(3) var<storage, read_write> pl_x: array<f32>;

@compute @workgroup_size(256)
fn project_l2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let base = wid.x * params.len;
    var acc = 0.0;
    for (var i = tid; i < params.len; i += 256u) {
        let d = (pl_x[base + i] - pl_x0[base + i]) / pl_unit[channel(i)];
        acc = fma(d, d, acc);
    }
    let norm = sqrt(workgroup_sum(tid, acc));
    if norm <= params.radius {
        return;
    }
    let factor = params.radius / norm;
    for (var i = tid; i < params.len; i += 256u) {
        let x0 = pl_x0[base + i];
        pl_x[base + i] = x0 + (pl_x[base + i] - x0) * factor;
    }
}

// sum_abs: sums[n] = sum_i |v[n, i]| (`image_sum`: image_batch.wgsl).
@compute @workgroup_size(256)
fn sum_abs(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    image_sum(wid.x, tid, false);
}

// momentum: m = decay * m + g / (l1[n] + eps), MI-FGSM's accumulation of L1-normalized
// gradients.
@group(0) @binding(1) var<storage, read> mo_g: array<f32>;
@group(0) @binding(2) var<storage, read> mo_l1: array<f32>;
@group(0) @binding(3) var<storage, read_write> mo_m: array<f32>;

@compute @workgroup_size(256)
fn momentum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= batch_values() {
        return;
    }
    let n = i / params.len;
    mo_m[i] = fma(params.decay, mo_m[i], mo_g[i] / (mo_l1[n] + params.norm_eps));
}

// PCG hash (O'Neill's RXS-M-XS output on one LCG step).
fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// A uniform number in [0, 1) from 24 bits of a hash.
fn uniform01(h: u32) -> f32 {
    return f32(h >> 8u) / 16777216.0;
}

// noise: v[i] = a random number drawn from (seed, i): uniform in [-1, 1) (`gaussian` 0) or
// standard normal by Box-Muller (`gaussian` 1).
@group(0) @binding(1) var<storage, read_write> no_v: array<f32>;

@compute @workgroup_size(256)
fn noise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= batch_values() {
        return;
    }
    let key = pcg(params.seed);
    let u1 = uniform01(pcg(key ^ (2u * i)));
    if params.gaussian == 0u {
        no_v[i] = 2.0 * u1 - 1.0;
    } else {
        let u2 = uniform01(pcg(key ^ (2u * i + 1u)));
        no_v[i] = sqrt(-2.0 * log(1.0 - u1)) * cos(6.2831853 * u2);
    }
}

// quantize: dst = the input an 8-bit image of x gives: the pixel level
// round(clamp((x * std[c] + mean[c]) * 255, 0, 255)) looked up in `levels` [3][256], which holds
// the normalized value of every level exactly as the host computes it.
@group(0) @binding(1) var<storage, read> qu_x: array<f32>;
// (std, mean) per channel.
@group(0) @binding(2) var<storage, read> qu_stats: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> qu_levels: array<f32>;
@group(0) @binding(4) var<storage, read_write> qu_dst: array<f32>;

@compute @workgroup_size(256)
fn quantize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= batch_values() {
        return;
    }
    let c = channel(i);
    let s = qu_stats[c];
    let p = clamp((qu_x[i] * s.x + s.y) * 255.0, 0.0, 255.0);
    qu_dst[i] = qu_levels[c * 256u + u32(floor(p + 0.5))];
}
