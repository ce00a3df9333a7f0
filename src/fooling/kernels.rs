//! The kernels of `shaders/attack.wgsl`: per-image goal checks and loss seeds (cross-entropy,
//! logit, margin) on the logits, sign steps, per-channel scaling, projections onto the ε-ball
//! around the original image, L1 norms and momentum, random noise and 8-bit quantization. Each
//! has a plain-Rust reference in [`cpu`].

use crate::fooling::config::Loss;
use crate::gpu::{Dispatch, GpuContext, Kernel, Shader, grid, grid_for};
use crate::ops::step::{ImageBatch, NORM_EPS};

/// The high bit of a goal on the GPU: move away from the class in the low bits.
pub const AWAY: u32 = 0x8000_0000;

/// `first` of an image that has not reached its goal.
pub const NEVER: u32 = u32::MAX;

/// Values per image in the state buffer: count, first, reached, nonfinite.
pub const STATE_LEN: usize = 4;

/// What an image is driven towards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "kind", content = "class", rename_all = "lowercase")]
pub enum Goal {
    /// Be classified as this class.
    Target(usize),
    /// Be classified as anything but this class.
    Away(usize),
}

impl Goal {
    /// The class named by the goal.
    pub fn class(self) -> usize {
        match self {
            Goal::Target(c) | Goal::Away(c) => c,
        }
    }

    /// Whether a prediction of `top` reaches the goal.
    pub fn reached_by(self, top: usize) -> bool {
        match self {
            Goal::Target(c) => top == c,
            Goal::Away(c) => top != c,
        }
    }

    /// The goal as the GPU stores it.
    pub fn encode(self) -> u32 {
        match self {
            Goal::Target(c) => c as u32,
            Goal::Away(c) => c as u32 | AWAY,
        }
    }
}

/// Uniform block of `attack.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct AttackParams {
    batch: u32,
    len: u32,
    plane: u32,
    mode: u32,
    rate: f32,
    eps: f32,
    seed: u32,
    _pad: u32,
}

/// Flags of [`LogitsBatch::check_goal`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckMode {
    /// Freeze an image (scale 0) once it reaches its goal.
    pub freeze: bool,
    /// Count the step about to be taken by every image still moving.
    pub count: bool,
}

/// The kind of random numbers [`ImageBatch`]'s noise kernel draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Noise {
    /// Uniform in [-1, 1).
    Uniform,
    /// Standard normal.
    Gaussian,
}

/// A batch of logit vectors: `batch` images of `classes` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogitsBatch {
    /// Number of images.
    pub batch: usize,
    /// Classes per image.
    pub classes: usize,
}

fn params(batch: usize, len: usize, plane: usize, mode: u32, rate: f32, seed: u32) -> AttackParams {
    AttackParams {
        batch: batch as u32,
        len: len as u32,
        plane: plane.max(1) as u32,
        mode,
        rate,
        eps: NORM_EPS,
        seed,
        _pad: 0,
    }
}

fn dispatch(
    ctx: &GpuContext,
    entry: &'static str,
    p: AttackParams,
    buffers: &[&wgpu::Buffer],
    workgroups: [u32; 3],
) -> Dispatch {
    ctx.dispatch_with(Kernel::new(Shader::Attack, entry), &p, buffers, workgroups)
}

impl LogitsBatch {
    /// Finds each image's top class (first on ties) and updates its state
    /// `[count, first, reached, nonfinite]` (u32 ×4 per image) and its step scale: see
    /// [`cpu::check_goal`]. `goals` holds [`Goal::encode`]d values.
    pub fn check_goal(
        &self,
        ctx: &GpuContext,
        mode: CheckMode,
        logits: &wgpu::Buffer,
        goals: &wgpu::Buffer,
        state: &wgpu::Buffer,
        scale: &wgpu::Buffer,
    ) -> Dispatch {
        let flags = u32::from(mode.freeze) | (u32::from(mode.count) << 1);
        dispatch(
            ctx,
            "check_goal",
            params(self.batch, self.classes, 1, flags, 0.0, 0),
            &[logits, goals, state, scale],
            grid(self.batch as u32),
        )
    }

    /// Writes the gradient of `loss` with respect to the logits into `grad` (see
    /// [`cpu::seed_loss`]).
    pub fn seed_loss(
        &self,
        ctx: &GpuContext,
        loss: Loss,
        logits: &wgpu::Buffer,
        goals: &wgpu::Buffer,
        grad: &wgpu::Buffer,
    ) -> Dispatch {
        let mode = u32::from(loss == Loss::CrossEntropy);
        dispatch(
            ctx,
            "seed_loss",
            params(self.batch, self.classes, 1, mode, 0.0, 0),
            &[logits, goals, grad],
            grid(self.batch as u32),
        )
    }

    /// Writes the gradient of minus each goal's margin with respect to the logits into `grad`
    /// (see [`cpu::seed_margin`]): the loss Carlini-Wagner lowers.
    pub fn seed_margin(
        &self,
        ctx: &GpuContext,
        logits: &wgpu::Buffer,
        goals: &wgpu::Buffer,
        grad: &wgpu::Buffer,
    ) -> Dispatch {
        dispatch(
            ctx,
            "seed_margin",
            params(self.batch, self.classes, 1, 0, 0.0, 0),
            &[logits, goals, grad],
            grid(self.batch as u32),
        )
    }
}

/// The attack kernels on a batch of images.
impl ImageBatch {
    fn attack_params(&self, mode: u32, rate: f32, seed: u32) -> AttackParams {
        params(self.batch, self.len(), self.plane, mode, rate, seed)
    }

    fn per_element(&self) -> [u32; 3] {
        grid_for(self.batch * self.len())
    }

    fn per_image(&self) -> [u32; 3] {
        grid(self.batch as u32)
    }

    /// x[n, c] += rate · `scale[n]` · `unit[c]` · sign(g[n, c]).
    pub fn sign_step(
        &self,
        ctx: &GpuContext,
        rate: f32,
        g: &wgpu::Buffer,
        scale: &wgpu::Buffer,
        unit: &wgpu::Buffer,
        x: &wgpu::Buffer,
    ) -> Dispatch {
        let p = self.attack_params(0, rate, 0);
        dispatch(
            ctx,
            "sign_step",
            p,
            &[g, scale, unit, x],
            self.per_element(),
        )
    }

    /// v[n, c] *= `w[c]`, in place.
    pub fn scale_channels(&self, ctx: &GpuContext, w: &wgpu::Buffer, v: &wgpu::Buffer) -> Dispatch {
        let p = self.attack_params(0, 0.0, 0);
        dispatch(ctx, "scale_channels", p, &[w, v], self.per_element())
    }

    /// x = clamp(x, x0 − radius · `unit[c]`, x0 + radius · `unit[c]`).
    pub fn project_linf(
        &self,
        ctx: &GpuContext,
        radius: f32,
        x0: &wgpu::Buffer,
        unit: &wgpu::Buffer,
        x: &wgpu::Buffer,
    ) -> Dispatch {
        let p = self.attack_params(0, radius, 0);
        dispatch(ctx, "project_linf", p, &[x0, unit, x], self.per_element())
    }

    /// Shrinks x − x0 onto the ball of `radius` in the norm `‖(x − x0) / unit[c]‖₂`.
    pub fn project_l2(
        &self,
        ctx: &GpuContext,
        radius: f32,
        x0: &wgpu::Buffer,
        unit: &wgpu::Buffer,
        x: &wgpu::Buffer,
    ) -> Dispatch {
        let p = self.attack_params(0, radius, 0);
        dispatch(ctx, "project_l2", p, &[x0, unit, x], self.per_image())
    }

    /// `sums[n]` = `‖v[n]‖₁`.
    pub fn sum_abs(&self, ctx: &GpuContext, v: &wgpu::Buffer, sums: &wgpu::Buffer) -> Dispatch {
        let p = self.attack_params(0, 0.0, 0);
        dispatch(ctx, "sum_abs", p, &[v, sums], self.per_image())
    }

    /// m = decay · m + g / (`l1[n]` + eps).
    pub fn momentum(
        &self,
        ctx: &GpuContext,
        decay: f32,
        g: &wgpu::Buffer,
        l1: &wgpu::Buffer,
        m: &wgpu::Buffer,
    ) -> Dispatch {
        let p = self.attack_params(0, decay, 0);
        dispatch(ctx, "momentum", p, &[g, l1, m], self.per_element())
    }

    /// Fills v with random numbers drawn from (seed, element index).
    pub fn noise(&self, ctx: &GpuContext, kind: Noise, seed: u32, v: &wgpu::Buffer) -> Dispatch {
        let p = self.attack_params(u32::from(kind == Noise::Gaussian), 0.0, seed);
        dispatch(ctx, "noise", p, &[v], self.per_element())
    }

    /// dst = the normalized input of the 8-bit image of x; `stats` holds (std, mean) per
    /// channel and `levels` `[channels][256]` the normalized value of every pixel level.
    pub fn quantize(
        &self,
        ctx: &GpuContext,
        x: &wgpu::Buffer,
        stats: &wgpu::Buffer,
        levels: &wgpu::Buffer,
        dst: &wgpu::Buffer,
    ) -> Dispatch {
        let p = self.attack_params(0, 0.0, 0);
        dispatch(
            ctx,
            "quantize",
            p,
            &[x, stats, levels, dst],
            self.per_element(),
        )
    }
}

/// Plain-Rust reference implementations.
pub mod cpu {
    use super::{CheckMode, Goal, NEVER, Noise, STATE_LEN};
    use crate::fooling::config::Loss;
    use crate::hash::pcg;
    use crate::ops::step::NORM_EPS;

    /// The index of the largest finite value (the first on ties), and whether any value is NaN
    /// or infinite.
    pub fn top_class(logits: &[f32]) -> (Option<usize>, bool) {
        let mut best: Option<(usize, f32)> = None;
        let mut nonfinite = false;
        for (k, &v) in logits.iter().enumerate() {
            if !v.is_finite() {
                nonfinite = true;
            } else if best.is_none_or(|(_, b)| v > b) {
                best = Some((k, v));
            }
        }
        (best.map(|(k, _)| k), nonfinite)
    }

    /// Updates `state` ([count, first, reached, nonfinite] per image) and `scale` from the logits
    /// of `classes` per image, as `check_goal` does: reached = the top class reaches the goal
    /// (never with non-finite logits); first = count when first reached; a reached image is
    /// frozen (scale 0) in freeze mode; count += 1 for every image still moving in count mode.
    pub fn check_goal(
        logits: &[f32],
        classes: usize,
        goals: &[Goal],
        mode: CheckMode,
        state: &mut [u32],
        scale: &mut [f32],
    ) {
        for (n, row) in logits.chunks(classes).enumerate() {
            let (top, nonfinite) = top_class(row);
            let s = &mut state[n * STATE_LEN..(n + 1) * STATE_LEN];
            let reached = !nonfinite && top.is_some_and(|t| goals[n].reached_by(t));
            if nonfinite {
                s[3] = 1;
            }
            s[2] = u32::from(reached);
            if reached && s[1] == NEVER {
                s[1] = s[0];
            }
            if reached && mode.freeze {
                scale[n] = 0.0;
            }
            if mode.count && scale[n] != 0.0 {
                s[0] += 1;
            }
        }
    }

    /// The gradient of the loss to ascend with respect to the logits, in f64 (the goal class's
    /// 1 − p as the other classes' share, as the kernel computes it).
    pub fn seed_loss(logits: &[f32], classes: usize, goals: &[Goal], loss: Loss) -> Vec<f32> {
        let mut out = Vec::with_capacity(logits.len());
        for (row, goal) in logits.chunks(classes).zip(goals) {
            let sign: f64 = match goal {
                Goal::Target(_) => 1.0,
                Goal::Away(_) => -1.0,
            };
            let wanted = goal.class();
            match loss {
                Loss::Logit => {
                    out.extend((0..classes).map(|k| if k == wanted { sign as f32 } else { 0.0 }));
                }
                Loss::CrossEntropy => {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
                    let e: Vec<f64> = row.iter().map(|&v| (v as f64 - max).exp()).collect();
                    let others: f64 = e
                        .iter()
                        .enumerate()
                        .filter(|&(k, _)| k != wanted)
                        .map(|(_, v)| v)
                        .sum();
                    let total = others + e[wanted];
                    out.extend(e.iter().enumerate().map(|(k, &v)| {
                        let g = (if k == wanted { others } else { -v }) / total;
                        (sign * g) as f32
                    }));
                }
            }
        }
        out
    }

    /// The top class other than `goal`'s class (the first on ties) and the goal's margin, which
    /// is negative once the goal is reached: z_y − z_j to leave y, z_j − z_t to reach t.
    pub fn margin(logits: &[f32], goal: Goal) -> (usize, f32) {
        let wanted = goal.class();
        let mut other = usize::from(wanted == 0);
        for (k, &v) in logits.iter().enumerate() {
            if k != wanted && v > logits[other] {
                other = k;
            }
        }
        let gap = logits[wanted] - logits[other];
        let margin = match goal {
            Goal::Away(_) => gap,
            Goal::Target(_) => -gap,
        };
        (other, margin)
    }

    /// The gradient of minus each goal's margin with respect to its logits, as `seed_margin`
    /// writes it: e_j − e_y to leave y, e_t − e_j to reach t (j from [`margin`]).
    pub fn seed_margin(logits: &[f32], classes: usize, goals: &[Goal]) -> Vec<f32> {
        let mut out = vec![0.0; logits.len()];
        for ((row, goal), grad) in logits
            .chunks(classes)
            .zip(goals)
            .zip(out.chunks_mut(classes))
        {
            let (other, _) = margin(row, *goal);
            let sign = match goal {
                Goal::Away(_) => -1.0,
                Goal::Target(_) => 1.0,
            };
            grad[goal.class()] = sign;
            grad[other] = -sign;
        }
        out
    }

    /// The sign with sign(0) = 0, as WGSL's `sign`.
    pub fn sign(v: f32) -> f32 {
        if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        }
    }

    /// x[n, c] += rate · `scale[n]` · `unit[c]` · sign(g[n, c]).
    pub fn sign_step(
        x: &mut [f32],
        g: &[f32],
        scale: &[f32],
        unit: &[f32],
        rate: f32,
        plane: usize,
    ) {
        let len = unit.len() * plane;
        for (i, (v, &d)) in x.iter_mut().zip(g).enumerate() {
            *v += rate * scale[i / len] * unit[(i % len) / plane] * sign(d);
        }
    }

    /// v[n, c] *= `w[c]`.
    pub fn scale_channels(v: &mut [f32], w: &[f32], plane: usize) {
        let len = w.len() * plane;
        for (i, a) in v.iter_mut().enumerate() {
            *a *= w[(i % len) / plane];
        }
    }

    /// x = clamp(x, x0 − radius · `unit[c]`, x0 + radius · `unit[c]`).
    pub fn project_linf(x: &mut [f32], x0: &[f32], unit: &[f32], radius: f32, plane: usize) {
        let len = unit.len() * plane;
        for (i, (v, &o)) in x.iter_mut().zip(x0).enumerate() {
            let r = radius * unit[(i % len) / plane];
            *v = v.clamp(o - r, o + r);
        }
    }

    /// Shrinks each image's x − x0 onto the ball `‖(x − x0) / unit[c]‖₂` ≤ radius.
    pub fn project_l2(x: &mut [f32], x0: &[f32], unit: &[f32], radius: f32, plane: usize) {
        let len = unit.len() * plane;
        for (xs, os) in x.chunks_mut(len).zip(x0.chunks(len)) {
            let norm = xs
                .iter()
                .zip(os)
                .enumerate()
                .map(|(i, (&v, &o))| ((v - o) as f64 / unit[i / plane] as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            if norm > radius as f64 {
                let factor = (radius as f64 / norm) as f32;
                for (v, &o) in xs.iter_mut().zip(os) {
                    *v = o + (*v - o) * factor;
                }
            }
        }
    }

    /// `‖v[n]‖₁` for each image of `len` values.
    pub fn sum_abs(v: &[f32], len: usize) -> Vec<f32> {
        v.chunks(len)
            .map(|c| c.iter().map(|&a| a.abs() as f64).sum::<f64>() as f32)
            .collect()
    }

    /// m = decay · m + g / (`‖g[n]‖₁` + eps).
    pub fn momentum(m: &mut [f32], g: &[f32], decay: f32, len: usize) {
        let l1 = sum_abs(g, len);
        for (i, (a, &d)) in m.iter_mut().zip(g).enumerate() {
            *a = decay * *a + d / (l1[i / len] + NORM_EPS);
        }
    }

    fn uniform01(h: u32) -> f32 {
        (h >> 8) as f32 / 16_777_216.0
    }

    /// `len` random numbers drawn from (seed, element index), as the `noise` kernel draws them.
    pub fn noise(kind: Noise, seed: u32, len: usize) -> Vec<f32> {
        let key = pcg(seed);
        (0..len as u32)
            .map(|i| {
                let u1 = uniform01(pcg(key ^ (2 * i)));
                match kind {
                    Noise::Uniform => 2.0 * u1 - 1.0,
                    Noise::Gaussian => {
                        let u2 = uniform01(pcg(key ^ (2 * i + 1)));
                        (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
                    }
                }
            })
            .collect()
    }

    /// The pixel level of a normalized value in a channel of (std, mean), as an 8-bit image
    /// stores it (what [`crate::preprocess::to_rgb`] computes).
    pub fn level(v: f32, std: f32, mean: f32) -> u8 {
        ((v * std + mean) * 255.0).round().clamp(0.0, 255.0) as u8
    }

    /// The input of the 8-bit image of `x`: every value replaced by `levels[c][level]`.
    pub fn quantize(x: &[f32], stats: &[(f32, f32)], levels: &[f32], plane: usize) -> Vec<f32> {
        let len = stats.len() * plane;
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = (i % len) / plane;
                let (std, mean) = stats[c];
                levels[c * 256 + level(v, std, mean) as usize]
            })
            .collect()
    }

    /// `state` for `batch` images that have not started.
    pub fn initial_state(batch: usize) -> Vec<u32> {
        [0, NEVER, 0, 0].repeat(batch)
    }
}
