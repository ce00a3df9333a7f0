//! The batched adversarial loop on the GPU: a batch of images, each with its own goal, stepped
//! together; each image's goal is checked on the GPU after every forward pass and a finished
//! image is frozen through its step scale; the flags are read back only every few steps.

use std::time::Duration;

use web_time::Instant;

use crate::progress::Progress;

use crate::classify::{Prediction, softmax, top_k};
use crate::error::{Error, Result, check_finite};
use crate::fooling::config::{
    AttackConfig, AttackMethod, Norm, level_table, pixel_distances, pixel_unit,
};
use crate::fooling::kernels::{
    CheckMode, Goal, LogitsBatch, NEVER, Noise, STATE_LEN, initial_state,
};
use crate::gpu::{GpuContext, ImageBatch, StepOp, record_ops};
use crate::hash::pcg;
use crate::model::{GradientRule, Network, Plan};
use crate::preprocess::{MEAN, STD, to_input, to_rgb};
use crate::update::upload_image_bounds;

/// The 8-bit version of an attack's result: what a saved PNG gives back.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RoundedCheck {
    /// The network's top class on the rounded image.
    pub prediction: Prediction,
    /// The probability of the goal's class on it.
    pub goal_prob: f32,
    /// Whether the rounded image still reaches the goal.
    pub reached: bool,
    /// L2 distance to the original in pixel levels.
    pub l2_px: f32,
    /// L∞ distance to the original in pixel levels.
    pub linf_px: f32,
}

/// Whether an attack did what it was for, judged on the image rounded to 8 bits (the one a PNG
/// stores).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The 8-bit image reaches the goal.
    Fooled,
    /// The steps ran out before the image reached the goal.
    IterationsRanOut,
    /// The unrounded image reaches the goal but its 8-bit rounding does not (a loop that checked
    /// goals without [`AttackConfig::survive_rounding`]).
    LostInRounding,
}

impl Verdict {
    /// The verdict of a loop whose final image reached its goal or not (`reached`), and whose
    /// 8-bit rounding does or not (`rounded_reached`).
    pub fn of(reached: bool, rounded_reached: bool) -> Self {
        match (reached, rounded_reached) {
            (_, true) => Verdict::Fooled,
            (true, false) => Verdict::LostInRounding,
            (false, false) => Verdict::IterationsRanOut,
        }
    }

    /// The verdict's name in JSON and CSV: `fooled`, `iterations-ran-out` or `lost-in-rounding`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Fooled => "fooled",
            Verdict::IterationsRanOut => "iterations-ran-out",
            Verdict::LostInRounding => "lost-in-rounding",
        }
    }

    /// The verdict in a few words: `fooled`, `NOT fooled` or `NOT fooled once rounded`.
    pub fn summary(self) -> &'static str {
        match self {
            Verdict::Fooled => "fooled",
            Verdict::IterationsRanOut => "NOT fooled",
            Verdict::LostInRounding => "NOT fooled once rounded",
        }
    }

    /// The iterations an image took: `12 iterations`, or `100 iterations ran out`.
    pub fn iterations(self, iterations: usize) -> String {
        let s = if iterations == 1 { "" } else { "s" };
        match self {
            Verdict::IterationsRanOut => format!("{iterations} iteration{s} ran out"),
            _ => format!("{iterations} iteration{s}"),
        }
    }

    /// The verdict in words, for an image that took `iterations` steps: "fooled, 12
    /// iterations", "NOT fooled, 100 iterations ran out".
    pub fn describe(self, iterations: usize) -> String {
        format!("{}, {}", self.summary(), self.iterations(iterations))
    }
}

/// The result of attacking one image.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AttackOutcome {
    /// What the image was driven towards.
    pub goal: Goal,
    /// The network's top class on the original image.
    pub clean: Prediction,
    /// Whether the final image reaches the goal.
    pub reached: bool,
    /// The step count at which the goal was first reached (0: the original already did).
    pub first_reached: Option<usize>,
    /// Steps applied to the image.
    pub iterations: usize,
    /// The network's top class on the final image.
    pub prediction: Prediction,
    /// The probability of the goal's class on the final image (the target's, or for an
    /// untargeted goal that of the class left).
    pub goal_prob: f32,
    /// L2 distance to the original in pixel levels.
    pub l2_px: f32,
    /// L∞ distance to the original in pixel levels.
    pub linf_px: f32,
    /// The same checks on the image rounded to 8 bits.
    pub rounded: RoundedCheck,
    /// Whether the 8-bit image reaches the goal, and if not why.
    pub verdict: Verdict,
    /// The final image, normalized CHW (rounded to 8-bit levels when the loop checked goals on
    /// rounded images).
    #[serde(skip)]
    pub image: Vec<f32>,
}

/// The outcomes of a run and what it cost.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AttackRun {
    /// One outcome per input, in order.
    pub outcomes: Vec<AttackOutcome>,
    /// GPU loop steps run, summed over batches.
    pub steps_run: usize,
    /// Wall time of the whole run (uploads, loops, final checks).
    pub elapsed: Duration,
}

/// The batch size that runs `n` images in as few batches of at most `max` as possible, with
/// the least padding: ceil(n / ceil(n / max)).
pub fn balanced_batch(n: usize, max: usize) -> usize {
    let max = max.max(1);
    n.max(1).div_ceil(n.max(1).div_ceil(max))
}

/// An adversarial loop for one network, batch size and input size, with every buffer and
/// dispatch built once.
#[derive(Debug)]
pub struct Attacker {
    ctx: GpuContext,
    config: AttackConfig,
    plan: Plan,
    images: ImageBatch,
    iterate: wgpu::Buffer,
    x0: wgpu::Buffer,
    goals: wgpu::Buffer,
    state: wgpu::Buffer,
    scale: wgpu::Buffer,
    momentum: Option<wgpu::Buffer>,
    unit: wgpu::Buffer,
    bounds: wgpu::Buffer,
    norms: wgpu::Buffer,
    /// A step: input from the iterate, forward, goal check, loss seed, backward and update.
    step: Vec<StepOp>,
    /// The last check: input from the iterate, forward and goal check.
    final_check: Vec<StepOp>,
}

impl Attacker {
    /// Builds the loop for batches of up to `batch` images of `size`×`size` (fewer when the
    /// device's binding limit demands). Partial batches are padded with frozen copies, which
    /// cost as much as real images: see [`balanced_batch`].
    pub fn new(net: &Network, batch: usize, size: usize, config: AttackConfig) -> Result<Self> {
        config.validate()?;
        let hw = (size, size);
        let ctx = net.context().clone();
        let batch = batch.clamp(1, net.max_batch(hw)?.max(1));
        let plan = net.plan(batch, hw)?;
        let classes = plan.logits().per_image();
        let images = ImageBatch {
            batch,
            channels: 3,
            h: hw.0,
            w: hw.1,
        };
        let logits = LogitsBatch { batch, classes };
        let n = images.values();
        let iterate = ctx.storage("attack iterate", n)?;
        let x0 = ctx.storage("attack originals", n)?;
        let goals = ctx.storage("attack goals", batch)?;
        let state = ctx.storage("attack state", batch * STATE_LEN)?;
        let scale = ctx.storage("attack step scale", batch)?;
        let norms = ctx.storage("attack norms", batch)?;
        let unit = ctx.upload("pixel unit", &pixel_unit())?;
        let bounds = upload_image_bounds(&ctx)?;
        let momentum = match config.method {
            AttackMethod::MiFgsm => Some(ctx.storage("attack momentum", n)?),
            _ => None,
        };
        let input = &plan.input().buffer;
        let prepare = if config.survive_rounding {
            let stats: Vec<f32> = (0..3).flat_map(|c| [STD[c], MEAN[c]]).collect();
            let stats = ctx.upload("channel stats", &stats)?;
            let levels = ctx.upload("pixel levels", &level_table())?;
            StepOp::Pass(
                "quantize",
                vec![images.quantize(&ctx, &iterate, &stats, &levels, input)],
            )
        } else {
            StepOp::Copy(iterate.clone(), input.clone())
        };
        let logits_buf = &plan.logits().buffer;
        let check = |count| {
            let mode = CheckMode {
                freeze: config.stop_when_reached,
                count,
            };
            logits.check_goal(&ctx, mode, logits_buf, &goals, &state, &scale)
        };
        let seed_loss = logits.seed_loss(
            &ctx,
            config.loss,
            logits_buf,
            &goals,
            &plan.logits_grad().buffer,
        );
        let step = vec![
            prepare.clone(),
            plan.forward_op(),
            StepOp::Pass("goal check and seed", vec![check(true), seed_loss]),
            plan.backward_op(GradientRule::Plain),
        ];
        let final_check = vec![
            prepare,
            plan.forward_op(),
            StepOp::Pass("goal check", vec![check(false)]),
        ];
        let mut attacker = Self {
            ctx,
            config,
            plan,
            images,
            iterate,
            x0,
            goals,
            state,
            scale,
            momentum,
            unit,
            bounds,
            norms,
            step,
            final_check,
        };
        let update = attacker.update_ops()?;
        attacker.step.extend(update);
        Ok(attacker)
    }

    /// Images per GPU batch.
    pub fn batch(&self) -> usize {
        self.images.batch
    }

    /// The settings.
    pub fn config(&self) -> &AttackConfig {
        &self.config
    }

    /// The dispatches that move the iterate after a backward pass, then project it onto the
    /// ε-ball and the valid image range.
    fn update_ops(&self) -> Result<Vec<StepOp>> {
        let (ctx, b, c) = (&self.ctx, &self.images, &self.config);
        let g = &self.plan.input_grad().buffer;
        let (x, x0, unit, scale, norms) = (
            &self.iterate,
            &self.x0,
            &self.unit,
            &self.scale,
            &self.norms,
        );
        let step = c.step_size();
        let project = b.project(ctx, c.norm, c.eps, x0, unit, x);
        let clamp = b.clamp_channels(ctx, &self.bounds, x);
        // L2 steps are measured in pixel levels: with u = unit[c], the gradient with respect to
        // the pixels is g·u, and a step of `step` levels along it moves x by step·u·(g·u)/‖g·u‖.
        let l2_step = |d: &wgpu::Buffer| {
            vec![
                b.sum_squares(ctx, d, norms),
                b.scale_channels(ctx, unit, d),
                b.normalized_step(ctx, step, d, norms, scale, x),
            ]
        };
        Ok(match (c.method, c.norm) {
            (AttackMethod::Fool, _) => vec![StepOp::Pass(
                "fooling step",
                vec![
                    b.sum_squares(ctx, g, norms),
                    b.normalized_step(ctx, step, g, norms, scale, x),
                    clamp,
                ],
            )],
            (AttackMethod::Fgsm | AttackMethod::Pgd, Norm::Linf) => vec![StepOp::Pass(
                "sign step",
                vec![b.sign_step(ctx, step, g, scale, unit, x), project, clamp],
            )],
            (AttackMethod::Fgsm | AttackMethod::Pgd, Norm::L2) => {
                let mut pass = vec![b.scale_channels(ctx, unit, g)];
                pass.extend(l2_step(g));
                pass.extend([project, clamp]);
                vec![StepOp::Pass("l2 step", pass)]
            }
            (AttackMethod::MiFgsm, norm) => {
                let m = self.momentum.as_ref().ok_or_else(|| {
                    Error::InvalidInput("MI-FGSM needs its momentum buffer".into())
                })?;
                let accumulate = StepOp::Pass(
                    "momentum",
                    vec![
                        b.scale_channels(ctx, unit, g),
                        b.sum_abs(ctx, g, norms),
                        b.momentum(ctx, c.decay, g, norms, m),
                    ],
                );
                match norm {
                    Norm::Linf => vec![
                        accumulate,
                        StepOp::Pass(
                            "sign step",
                            vec![b.sign_step(ctx, step, m, scale, unit, x), project, clamp],
                        ),
                    ],
                    Norm::L2 => {
                        // The step direction goes through the gradient buffer so that the
                        // momentum itself stays in pixel units.
                        let mut pass = l2_step(g);
                        pass.extend([project, clamp]);
                        vec![
                            accumulate,
                            StepOp::Copy(m.clone(), g.clone()),
                            StepOp::Pass("l2 momentum step", pass),
                        ]
                    }
                }
            }
        })
    }

    /// PGD's random start: a uniform point of the L∞ ball, or a random direction at distance ε
    /// for L2 (in 150528 dimensions a uniform draw from the ball lies within 0.01 % of its
    /// sphere anyway); then clamped to the image range.
    fn random_start(&self, seed: u32) -> StepOp {
        let (ctx, b, c) = (&self.ctx, &self.images, &self.config);
        let g = &self.plan.input_grad().buffer;
        let (x, unit) = (&self.iterate, &self.unit);
        let mut pass = match c.norm {
            Norm::Linf => vec![
                b.noise(ctx, Noise::Uniform, seed, g),
                b.scale_channels(ctx, unit, g),
                b.axpy(ctx, c.eps, g, x),
            ],
            Norm::L2 => vec![
                b.noise(ctx, Noise::Gaussian, seed, g),
                b.sum_squares(ctx, g, &self.norms),
                b.scale_channels(ctx, unit, g),
                b.normalized_step(ctx, c.eps, g, &self.norms, &self.scale, x),
            ],
        };
        pass.push(b.clamp_channels(ctx, &self.bounds, x));
        StepOp::Pass("random start", pass)
    }

    /// Attacks every input (normalized CHW images of the attacker's size): toward
    /// `targets[i]`, or with `None` away from the network's top class on the original image.
    /// Batches of [`Attacker::batch`] images run together; `progress` counts steps.
    pub async fn run(
        &self,
        inputs: &[Vec<f32>],
        targets: &[Option<usize>],
        progress: &dyn Progress,
    ) -> Result<AttackRun> {
        let start = Instant::now();
        let classes = self.plan.logits().per_image();
        self.images.check_inputs(inputs, targets, classes)?;
        let chunks = inputs.len().div_ceil(self.batch());
        progress.set_length((chunks * self.config.steps) as u64);
        let mut outcomes = Vec::with_capacity(inputs.len());
        let mut steps_run = 0;
        for (k, (xs, ts)) in inputs
            .chunks(self.batch())
            .zip(targets.chunks(self.batch()))
            .enumerate()
        {
            let (chunk, steps) = self.run_chunk(xs, ts, k, progress).await?;
            outcomes.extend(chunk);
            steps_run += steps;
        }
        progress.finish();
        Ok(AttackRun {
            outcomes,
            steps_run,
            elapsed: start.elapsed(),
        })
    }

    /// `inputs` padded to a full batch with copies of the last one.
    fn padded(&self, inputs: &[Vec<f32>]) -> Vec<f32> {
        let mut x = Vec::with_capacity(self.batch() * self.images.per_image());
        for n in 0..self.batch() {
            x.extend_from_slice(&inputs[n.min(inputs.len() - 1)]);
        }
        x
    }

    /// Top class and probabilities of every row of logits.
    fn predictions(&self, logits: &[f32]) -> Vec<(Prediction, Vec<f32>)> {
        let classes = self.plan.logits().per_image();
        logits
            .chunks(classes)
            .map(|row| {
                let probs = softmax(row);
                (top_k(&probs, 1)[0], probs)
            })
            .collect()
    }

    async fn run_chunk(
        &self,
        inputs: &[Vec<f32>],
        targets: &[Option<usize>],
        chunk: usize,
        progress: &dyn Progress,
    ) -> Result<(Vec<AttackOutcome>, usize)> {
        let (ctx, config) = (&self.ctx, &self.config);
        let real = inputs.len();
        let x0 = self.padded(inputs);
        let clean = self.predictions(&self.plan.forward(&x0).await?);
        let goals: Vec<Goal> = (0..self.batch())
            .map(|n| match targets.get(n).copied().flatten() {
                Some(t) => Goal::Target(t),
                None => Goal::Away(clean[n].0.index),
            })
            .collect();
        let encoded: Vec<u32> = goals.iter().map(|g| g.encode()).collect();
        let scale: Vec<f32> = (0..self.batch())
            .map(|n| if n < real { 1.0 } else { 0.0 })
            .collect();
        ctx.write(&self.x0, &x0);
        ctx.write(&self.iterate, &x0);
        ctx.write(&self.goals, &encoded);
        ctx.write(&self.state, &initial_state(self.batch()));
        ctx.write(&self.scale, &scale);
        let mut encoder = ctx.encoder("attack start");
        if let Some(m) = &self.momentum {
            encoder.clear_buffer(m, 0, None);
        }
        if config.random_start {
            let seed = pcg((config.seed ^ (config.seed >> 32)) as u32 ^ pcg(chunk as u32));
            self.random_start(seed).record(&mut encoder);
        }
        ctx.submit(encoder);

        let mut step = 0;
        while step < config.steps {
            let n = config.check_every.min(config.steps - step);
            let mut encoder = ctx.encoder("attack steps");
            for _ in 0..n {
                record_ops(&mut encoder, &self.step);
            }
            ctx.submit(encoder);
            step += n;
            let state: Vec<u32> = ctx.read(&self.state, 0..real * STATE_LEN).await?;
            self.check_finite(&state, step, chunk)?;
            progress.inc(n as u64);
            let all_done = state.chunks(STATE_LEN).all(|s| s[1] != NEVER);
            if config.stop_when_reached && all_done {
                progress.inc((config.steps - step) as u64);
                break;
            }
        }
        let mut encoder = ctx.encoder("attack final check");
        record_ops(&mut encoder, &self.final_check);
        ctx.submit(encoder);
        let state: Vec<u32> = ctx.read(&self.state, 0..real * STATE_LEN).await?;
        self.check_finite(&state, step, chunk)?;
        let finals = self.predictions(&self.plan.logits().read(ctx).await?);
        let images = self.plan.input().read(ctx).await?;
        let len = self.images.per_image();
        let side = self.plan.input_size().0;
        let mut rounded_inputs = Vec::with_capacity(real);
        for (n, image) in images.chunks(len).take(real).enumerate() {
            check_finite(&self.input_name(chunk, n), step, image)?;
            rounded_inputs.push(to_input(&to_rgb(image, side), side)?);
        }
        let rounded = self.predictions(&self.plan.forward(&self.padded(&rounded_inputs)).await?);
        let outcomes = (0..real)
            .map(|n| {
                let goal = goals[n];
                let image = images[n * len..(n + 1) * len].to_vec();
                let (l2_px, linf_px) = pixel_distances(&image, &inputs[n]);
                let (rl2, rlinf) = pixel_distances(&rounded_inputs[n], &inputs[n]);
                let s = &state[n * STATE_LEN..(n + 1) * STATE_LEN];
                let reached = s[2] == 1;
                let rounded_reached = goal.reached_by(rounded[n].0.index);
                AttackOutcome {
                    goal,
                    clean: clean[n].0,
                    reached,
                    first_reached: (s[1] != NEVER).then_some(s[1] as usize),
                    iterations: s[0] as usize,
                    prediction: finals[n].0,
                    goal_prob: finals[n].1[goal.class()],
                    l2_px,
                    linf_px,
                    rounded: RoundedCheck {
                        prediction: rounded[n].0,
                        goal_prob: rounded[n].1[goal.class()],
                        reached: rounded_reached,
                        l2_px: rl2,
                        linf_px: rlinf,
                    },
                    verdict: Verdict::of(reached, rounded_reached),
                    image,
                }
            })
            .collect();
        Ok((outcomes, step))
    }

    /// How errors name input `n` of batch `chunk`: by its index in the whole run.
    fn input_name(&self, chunk: usize, n: usize) -> String {
        format!(
            "{} loop on input {}",
            self.config.method,
            chunk * self.batch() + n
        )
    }

    /// Fails when a goal check saw non-finite logits, naming the input.
    fn check_finite(&self, state: &[u32], step: usize, chunk: usize) -> Result<()> {
        match state.chunks(STATE_LEN).position(|s| s[3] != 0) {
            Some(n) => Err(Error::Diverged {
                what: self.input_name(chunk, n),
                step,
                why: "its logits became NaN or infinite; lower the step size".into(),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Verdict, balanced_batch};

    #[test]
    fn verdicts_judge_the_rounded_image() {
        assert_eq!(Verdict::of(true, true), Verdict::Fooled);
        assert_eq!(Verdict::of(false, true), Verdict::Fooled);
        assert_eq!(Verdict::of(true, false), Verdict::LostInRounding);
        assert_eq!(Verdict::of(false, false), Verdict::IterationsRanOut);
        assert_eq!(Verdict::Fooled.describe(1), "fooled, 1 iteration");
        assert_eq!(
            Verdict::IterationsRanOut.describe(100),
            "NOT fooled, 100 iterations ran out"
        );
        assert_eq!(
            Verdict::LostInRounding.describe(2),
            "NOT fooled once rounded, 2 iterations"
        );
        for v in [
            Verdict::Fooled,
            Verdict::IterationsRanOut,
            Verdict::LostInRounding,
        ] {
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.name()));
        }
    }

    #[test]
    fn balanced_batches_pad_least() {
        assert_eq!(balanced_batch(1, 8), 1);
        assert_eq!(balanced_batch(8, 8), 8);
        assert_eq!(balanced_batch(9, 8), 5);
        assert_eq!(balanced_batch(15, 8), 8);
        assert_eq!(balanced_batch(17, 8), 6);
        assert_eq!(balanced_batch(0, 8), 1);
        assert_eq!(balanced_batch(5, 0), 1);
    }
}
