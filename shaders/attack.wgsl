// Kernels of the adversarial loops (fooling images, FGSM, PGD, MI-FGSM; the gradients of APGD
// and Carlini-Wagner) on a batch of images: per-image goal checks and loss seeds (cross-entropy,
// logit, margin) on the logits, sign steps, per-channel scaling, projections onto the eps-ball
// around the original image, L1 norms and momentum, random starts and 8-bit quantization. Each
// entry point binds its buffers at 0, 1, 2, ... in the order declared for it. Images are
// normalized NCHW; `unit[c]` is the size of one pixel level (1/255 of the 0..1 range) in
// channel c, 1 / (255 std[c]).

struct AttackParams {
    batch: u32,
    // Values per image (channels * plane), or classes per image for the logits kernels.
    len: u32,
    // Elements per channel (h * w), for per-channel constants.
    plane: u32,
    // Kernel flags (see each kernel).
    mode: u32,
    // Step size, radius or momentum decay, depending on the kernel.
    rate: f32,
    // Guards divisions by norms that may be zero.
    eps: f32,
    seed: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: AttackParams;

// A goal's high bit marks an untargeted goal: move away from the class in the low bits.
const AWAY: u32 = 0x80000000u;
// `first` of an image that has not reached its goal yet.
const NEVER: u32 = 0xffffffffu;

fn channel(i: u32) -> u32 {
    return (i % params.len) / params.plane;
}

var<workgroup> best_value: array<f32, 256>;
var<workgroup> best_index: array<u32, 256>;
// `workgroup_sum` and its `partial`: workgroup_sum.wgsl.

// The index of the largest of the candidates (value, index) of the invocations of a workgroup
// of 256, the first on ties, NEVER when no invocation has one; every invocation gets it.
fn workgroup_top(tid: u32, value: f32, index: u32) -> u32 {
    best_value[tid] = value;
    best_index[tid] = index;
    workgroupBarrier();
    for (var step = 128u; step > 0u; step >>= 1u) {
        if tid < step {
            let v = best_value[tid + step];
            let k = best_index[tid + step];
            let mine = best_index[tid];
            if k != NEVER && (mine == NEVER || v > best_value[tid] || (v == best_value[tid] && k < mine)) {
                best_value[tid] = v;
                best_index[tid] = k;
            }
        }
        workgroupBarrier();
    }
    let top = best_index[0];
    workgroupBarrier();
    return top;
}

// check_goal: one workgroup per image. Finds the top class of the logits (the first on ties)
// and updates the image's state [count, first, reached, nonfinite]: reached = whether the top
// class is the target (or, for an untargeted goal, differs from the class to leave); first =
// the count at which the goal was first reached; nonfinite = 1 once a logit was NaN or
// infinite. mode bit 0: freeze an image once it reaches its goal (scale = 0); bit 1: count the
// step about to be taken (count += 1 while scale != 0).
@group(0) @binding(1) var<storage, read> cg_logits: array<f32>;
@group(0) @binding(2) var<storage, read> cg_goal: array<u32>;
@group(0) @binding(3) var<storage, read_write> cg_state: array<u32>;
@group(0) @binding(4) var<storage, read_write> cg_scale: array<f32>;

@compute @workgroup_size(256)
fn check_goal(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let n = wid.x;
    let base = n * params.len;
    var value = -0x1.fffffep+127f; // -f32::MAX exactly: Chrome refuses a decimal literal above it
    var index = NEVER;
    var nonfinite = 0u;
    for (var k = tid; k < params.len; k += 256u) {
        let v = cg_logits[base + k];
        // An all-ones exponent is an infinity or a NaN.
        if (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u {
            nonfinite = 1u;
        } else if index == NEVER || v > value {
            value = v;
            index = k;
        }
    }
    let top = workgroup_top(tid, value, index);
    // Any invocation that saw a non-finite value makes the sum positive.
    let bad = workgroup_sum(tid, f32(nonfinite));
    if tid == 0u {
        let goal = cg_goal[n];
        let wanted = goal & ~AWAY;
        var reached = top == wanted;
        if (goal & AWAY) != 0u {
            reached = top != wanted;
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
        if reached && (params.mode & 1u) != 0u {
            cg_scale[n] = 0.0;
        }
        if (params.mode & 2u) != 0u && cg_scale[n] != 0.0 {
            cg_state[s] += 1u;
        }
    }
}

// seed_loss: one workgroup per image; writes the gradient of the loss to ascend with respect to
// the logits. Targeted: ascend the target's logit (mode bit 0 clear) or its log-probability
// (bit 0 set: one-hot minus softmax). Untargeted: the same with the sign flipped, descending the
// score of the class to leave. The goal class's 1 - p is computed as the other classes' share,
// which keeps its precision when p is close to 1.
@group(0) @binding(1) var<storage, read> sl_logits: array<f32>;
@group(0) @binding(2) var<storage, read> sl_goal: array<u32>;
@group(0) @binding(3) var<storage, read_write> sl_grad: array<f32>;

@compute @workgroup_size(256)
fn seed_loss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let n = wid.x;
    let base = n * params.len;
    let goal = sl_goal[n];
    let wanted = goal & ~AWAY;
    let sign = select(1.0, -1.0, (goal & AWAY) != 0u);
    let cross_entropy = (params.mode & 1u) != 0u;
    var max_logit = 0.0;
    var others = 0.0;
    var total = 1.0;
    if cross_entropy {
        var m = -0x1.fffffep+127f; // -f32::MAX
        for (var k = tid; k < params.len; k += 256u) {
            m = max(m, sl_logits[base + k]);
        }
        best_value[tid] = m;
        workgroupBarrier();
        for (var step = 128u; step > 0u; step >>= 1u) {
            if tid < step {
                best_value[tid] = max(best_value[tid], best_value[tid + step]);
            }
            workgroupBarrier();
        }
        max_logit = best_value[0];
        var acc = 0.0;
        for (var k = tid; k < params.len; k += 256u) {
            if k != wanted {
                acc += exp(sl_logits[base + k] - max_logit);
            }
        }
        others = workgroup_sum(tid, acc);
        total = others + exp(sl_logits[base + wanted] - max_logit);
    }
    for (var k = tid; k < params.len; k += 256u) {
        var g = select(0.0, 1.0, k == wanted);
        if cross_entropy {
            if k == wanted {
                g = others / total;
            } else {
                g = -exp(sl_logits[base + k] - max_logit) / total;
            }
        }
        sl_grad[base + k] = sign * g;
    }
}

// seed_margin: one workgroup per image; writes the gradient of minus the goal's margin (the
// loss Carlini-Wagner and Square lower) with respect to the logits. j = the top class other than
// the goal class (the first on ties). Untargeted (leave y): the margin is z_y - z_j, the seed
// e_j - e_y; targeted (reach t): the margin is z_j - z_t, the seed e_t - e_j.
@group(0) @binding(1) var<storage, read> sm_logits: array<f32>;
@group(0) @binding(2) var<storage, read> sm_goal: array<u32>;
@group(0) @binding(3) var<storage, read_write> sm_grad: array<f32>;

@compute @workgroup_size(256)
fn seed_margin(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let n = wid.x;
    let base = n * params.len;
    let goal = sm_goal[n];
    let wanted = goal & ~AWAY;
    var value = -0x1.fffffep+127f; // -f32::MAX
    var index = NEVER;
    for (var k = tid; k < params.len; k += 256u) {
        let v = sm_logits[base + k];
        if k != wanted && (index == NEVER || v > value) {
            value = v;
            index = k;
        }
    }
    let other = workgroup_top(tid, value, index);
    let sign = select(1.0, -1.0, (goal & AWAY) != 0u);
    for (var k = tid; k < params.len; k += 256u) {
        var g = 0.0;
        if k == wanted {
            g = sign;
        } else if k == other {
            g = -sign;
        }
        sm_grad[base + k] = g;
    }
}

// sign_step: x[n, c] += rate * scale[n] * unit[c] * sign(g[n, c]) (a step of `rate` pixel levels).
@group(0) @binding(1) var<storage, read> ss_g: array<f32>;
@group(0) @binding(2) var<storage, read> ss_scale: array<f32>;
@group(0) @binding(3) var<storage, read> ss_unit: array<f32>;
@group(0) @binding(4) var<storage, read_write> ss_x: array<f32>;

@compute @workgroup_size(256)
fn sign_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.batch * params.len {
        return;
    }
    let n = i / params.len;
    ss_x[i] += params.rate * ss_scale[n] * ss_unit[channel(i)] * sign(ss_g[i]);
}

// scale_channels: v[n, c] *= w[c], in place.
@group(0) @binding(1) var<storage, read> sc_w: array<f32>;
@group(0) @binding(2) var<storage, read_write> sc_v: array<f32>;

@compute @workgroup_size(256)
fn scale_channels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.batch * params.len {
        return;
    }
    sc_v[i] *= sc_w[channel(i)];
}

// project_linf: x = clamp(x, x0 - r, x0 + r) with r = rate * unit[c] (rate pixel levels).
@group(0) @binding(1) var<storage, read> pi_x0: array<f32>;
@group(0) @binding(2) var<storage, read> pi_unit: array<f32>;
@group(0) @binding(3) var<storage, read_write> pi_x: array<f32>;

@compute @workgroup_size(256)
fn project_linf(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.batch * params.len {
        return;
    }
    let r = params.rate * pi_unit[channel(i)];
    let x0 = pi_x0[i];
    pi_x[i] = clamp(pi_x[i], x0 - r, x0 + r);
}

// project_l2: one workgroup per image; shrinks x - x0 onto the ball of radius `rate` pixel
// levels (the L2 norm of (x - x0) / unit[c]) when it lies outside.
@group(0) @binding(1) var<storage, read> pl_x0: array<f32>;
@group(0) @binding(2) var<storage, read> pl_unit: array<f32>;
@group(0) @binding(3) var<storage, read_write> pl_x: array<f32>;

@compute @workgroup_size(256)
fn project_l2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let base = wid.x * params.len;
    var acc = 0.0;
    for (var i = tid; i < params.len; i += 256u) {
        let d = (pl_x[base + i] - pl_x0[base + i]) / pl_unit[i / params.plane];
        acc = fma(d, d, acc);
    }
    let norm = sqrt(workgroup_sum(tid, acc));
    if norm <= params.rate {
        return;
    }
    let factor = params.rate / norm;
    for (var i = tid; i < params.len; i += 256u) {
        let x0 = pl_x0[base + i];
        pl_x[base + i] = x0 + (pl_x[base + i] - x0) * factor;
    }
}

// sum_abs: sums[n] = sum_i |v[n, i]|, one workgroup per image.
@group(0) @binding(1) var<storage, read> sa_v: array<f32>;
@group(0) @binding(2) var<storage, read_write> sa_sums: array<f32>;

@compute @workgroup_size(256)
fn sum_abs(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let base = wid.x * params.len;
    var acc = 0.0;
    for (var i = tid; i < params.len; i += 256u) {
        acc += abs(sa_v[base + i]);
    }
    let total = workgroup_sum(tid, acc);
    if tid == 0u {
        sa_sums[wid.x] = total;
    }
}

// momentum: m = rate * m + g / (l1[n] + eps), MI-FGSM's accumulation of L1-normalized gradients.
@group(0) @binding(1) var<storage, read> mo_g: array<f32>;
@group(0) @binding(2) var<storage, read> mo_l1: array<f32>;
@group(0) @binding(3) var<storage, read_write> mo_m: array<f32>;

@compute @workgroup_size(256)
fn momentum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.batch * params.len {
        return;
    }
    let n = i / params.len;
    mo_m[i] = fma(params.rate, mo_m[i], mo_g[i] / (mo_l1[n] + params.eps));
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

// noise: v[i] = a random number drawn from (seed, i): uniform in [-1, 1) (mode 0) or standard
// normal by Box-Muller (mode 1).
@group(0) @binding(1) var<storage, read_write> no_v: array<f32>;

@compute @workgroup_size(256)
fn noise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= params.batch * params.len {
        return;
    }
    let key = pcg(params.seed);
    let u1 = uniform01(pcg(key ^ (2u * i)));
    if params.mode == 0u {
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
    if i >= params.batch * params.len {
        return;
    }
    let c = channel(i);
    let s = qu_stats[c];
    let p = clamp((qu_x[i] * s.x + s.y) * 255.0, 0.0, 255.0);
    qu_dst[i] = qu_levels[c * 256u + u32(floor(p + 0.5))];
}
