//! The kernels of `shaders/fooling.wgsl`: per-image goal checks and loss seeds (cross-entropy,
//! logit, margin) on the logits, sign steps, per-channel scaling, projections onto the ε-ball
//! around the original image, L1 norms and momentum, random noise and 8-bit quantization. Each
//! has a plain-Rust reference in [`cpu`].

use Invocations::{PerImage, PerValue};

use crate::fooling::config::{Loss, Norm};
use crate::gpu::uniform::uniform_block;
use crate::gpu::{Dispatch, GpuContext, ImageBatch, Kernel, Shader, grid, grid_for};
use crate::update::NORM_EPS;

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

    /// The top class of `logits` other than the goal's class (the first on ties) and the goal's
    /// margin, which is negative once the goal is reached: z_y − z_j to leave y, z_j − z_t to
    /// reach t. The `seed_margin` kernel seeds the gradient of minus this margin.
    pub fn margin(self, logits: &[f32]) -> (usize, f32) {
        let wanted = self.class();
        let mut other = usize::from(wanted == 0);
        for (k, &v) in logits.iter().enumerate() {
            if k != wanted && v > logits[other] {
                other = k;
            }
        }
        let gap = logits[wanted] - logits[other];
        let margin = match self {
            Goal::Away(_) => gap,
            Goal::Target(_) => -gap,
        };
        (other, margin)
    }
}

/// The state buffer for `batch` images that have not started: count 0, first [`NEVER`], not
/// reached, no non-finite logits.
pub fn initial_state(batch: usize) -> Vec<u32> {
    [0, NEVER, 0, 0].repeat(batch)
}

/// The sign with sign(0) = 0, as WGSL's `sign` (the direction of the sign steps).
pub fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

uniform_block! {
    /// Uniform block of the logits kernels of `fooling.wgsl` (goal checks and loss seeds).
    pub(crate) struct LogitsParams {
        /// Number of images.
        batch: u32,
        /// Classes per image.
        classes: u32,
        /// check_goal: freeze an image (scale 0) once it reaches its goal (1) or not (0).
        freeze: u32,
        /// check_goal: count the step about to be taken (1) or not (0).
        count: u32,
        /// seed_loss: seed the cross-entropy (1) or the logit (0).
        cross_entropy: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

uniform_block! {
    /// Uniform block of the image kernels of `fooling.wgsl`.
    pub(crate) struct ImageParams {
        /// Number of images.
        batch: u32,
        /// Values per image (channels · plane).
        len: u32,
        /// Elements per channel (h · w), for per-channel constants.
        plane: u32,
        /// sign_step: the step, in pixel levels.
        step: f32,
        /// project_linf, project_l2: the radius of the ball, in pixel levels.
        radius: f32,
        /// momentum: the decay of the accumulated gradient.
        decay: f32,
        /// momentum: guards the division by an L1 norm that may be zero.
        norm_eps: f32,
        /// noise: the seed of the draws.
        seed: u32,
        /// noise: standard normal draws (1) or uniform ones (0).
        gaussian: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
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

impl LogitsBatch {
    /// A dispatch of the logits kernel `entry` (one workgroup per image) with the flags of
    /// `flags` and the batch's sizes.
    fn dispatch(
        &self,
        ctx: &GpuContext,
        entry: &'static str,
        flags: LogitsParams,
        buffers: &[&wgpu::Buffer],
    ) -> Dispatch {
        let params = LogitsParams {
            batch: self.batch as u32,
            classes: self.classes as u32,
            ..flags
        };
        let kernel = Kernel::new(Shader::Fooling, entry);
        ctx.dispatch_with(kernel, &params, buffers, grid(self.batch as u32))
    }

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
        let flags = LogitsParams {
            freeze: mode.freeze.into(),
            count: mode.count.into(),
            ..Default::default()
        };
        self.dispatch(ctx, "check_goal", flags, &[logits, goals, state, scale])
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
        let flags = LogitsParams {
            cross_entropy: (loss == Loss::CrossEntropy).into(),
            ..Default::default()
        };
        self.dispatch(ctx, "seed_loss", flags, &[logits, goals, grad])
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
        let flags = LogitsParams::default();
        self.dispatch(ctx, "seed_margin", flags, &[logits, goals, grad])
    }
}

/// How many invocations an image kernel runs.
#[derive(Clone, Copy, Debug)]
enum Invocations {
    /// One per value of the batch.
    PerValue,
    /// A workgroup per image.
    PerImage,
}

/// The attack kernels on a batch of images.
impl ImageBatch {
    /// A dispatch of the image kernel `entry` of `fooling.wgsl` over `invocations`, with the
    /// settings of `settings` and the batch's sizes.
    fn dispatch_attack(
        &self,
        ctx: &GpuContext,
        entry: &'static str,
        invocations: Invocations,
        settings: ImageParams,
        buffers: &[&wgpu::Buffer],
    ) -> Dispatch {
        let params = ImageParams {
            batch: self.batch as u32,
            len: self.per_image() as u32,
            plane: self.plane().max(1) as u32,
            norm_eps: NORM_EPS,
            ..settings
        };
        let workgroups = match invocations {
            PerValue => grid_for(self.values()),
            PerImage => grid(self.batch as u32),
        };
        let kernel = Kernel::new(Shader::Fooling, entry);
        ctx.dispatch_with(kernel, &params, buffers, workgroups)
    }

    /// x[n, c] += step · `scale[n]` · `unit[c]` · sign(g[n, c]).
    pub fn sign_step(
        &self,
        ctx: &GpuContext,
        step: f32,
        g: &wgpu::Buffer,
        scale: &wgpu::Buffer,
        unit: &wgpu::Buffer,
        x: &wgpu::Buffer,
    ) -> Dispatch {
        let settings = ImageParams {
            step,
            ..Default::default()
        };
        let buffers = [g, scale, unit, x];
        self.dispatch_attack(ctx, "sign_step", PerValue, settings, &buffers)
    }

    /// v[n, c] *= `w[c]`, in place.
    pub fn scale_channels(&self, ctx: &GpuContext, w: &wgpu::Buffer, v: &wgpu::Buffer) -> Dispatch {
        let settings = ImageParams::default();
        self.dispatch_attack(ctx, "scale_channels", PerValue, settings, &[w, v])
    }

    /// Brings x within `radius` pixel levels of x0 in `norm`: in L∞, x = clamp(x,
    /// x0 − radius · `unit[c]`, x0 + radius · `unit[c]`); in L2, x − x0 shrunk onto the ball of
    /// `radius` in the norm `‖(x − x0) / unit[c]‖₂`.
    pub fn project(
        &self,
        ctx: &GpuContext,
        norm: Norm,
        radius: f32,
        x0: &wgpu::Buffer,
        unit: &wgpu::Buffer,
        x: &wgpu::Buffer,
    ) -> Dispatch {
        let (entry, invocations) = match norm {
            Norm::Linf => ("project_linf", PerValue),
            Norm::L2 => ("project_l2", PerImage),
        };
        let settings = ImageParams {
            radius,
            ..Default::default()
        };
        self.dispatch_attack(ctx, entry, invocations, settings, &[x0, unit, x])
    }

    /// `sums[n]` = `‖v[n]‖₁`.
    pub fn sum_abs(&self, ctx: &GpuContext, v: &wgpu::Buffer, sums: &wgpu::Buffer) -> Dispatch {
        self.dispatch_attack(ctx, "sum_abs", PerImage, ImageParams::default(), &[v, sums])
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
        let settings = ImageParams {
            decay,
            ..Default::default()
        };
        self.dispatch_attack(ctx, "momentum", PerValue, settings, &[g, l1, m])
    }

    /// Fills v with random numbers drawn from (seed, element index).
    pub fn noise(&self, ctx: &GpuContext, kind: Noise, seed: u32, v: &wgpu::Buffer) -> Dispatch {
        let settings = ImageParams {
            seed,
            gaussian: (kind == Noise::Gaussian).into(),
            ..Default::default()
        };
        self.dispatch_attack(ctx, "noise", PerValue, settings, &[v])
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
        let buffers = [x, stats, levels, dst];
        self.dispatch_attack(ctx, "quantize", PerValue, ImageParams::default(), &buffers)
    }
}

/// Plain-Rust reference implementations.
pub mod cpu {
    use super::{CheckMode, Goal, NEVER, Noise, STATE_LEN, sign};
    use crate::fooling::config::Loss;
    use crate::hash::pcg;
    use crate::update::NORM_EPS;

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

    /// The gradient of minus each goal's margin with respect to its logits, as `seed_margin`
    /// writes it: e_j − e_y to leave y, e_t − e_j to reach t (j from [`Goal::margin`]).
    pub fn seed_margin(logits: &[f32], classes: usize, goals: &[Goal]) -> Vec<f32> {
        let mut out = vec![0.0; logits.len()];
        for ((row, goal), grad) in logits
            .chunks(classes)
            .zip(goals)
            .zip(out.chunks_mut(classes))
        {
            let (other, _) = goal.margin(row);
            let sign = match goal {
                Goal::Away(_) => -1.0,
                Goal::Target(_) => 1.0,
            };
            grad[goal.class()] = sign;
            grad[other] = -sign;
        }
        out
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
}
