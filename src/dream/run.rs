//! The dreaming loop: runs grouped into GPU batches, octaves, chunks of steps recorded into one
//! submission each, snapshots read back between chunks.

use std::collections::BTreeMap;
use web_time::Instant;

use crate::progress::Progress;
use image::RgbImage;

use super::kernels::blur_radius;
use super::schedule::{copy_noise, schedule, transforms};
use super::settings::{Diversity, DreamSettings, Parameterization, Transforms};
use super::stage::{Stage, StageSpec};
use crate::classify::{argmax, softmax};
use crate::error::{Error, Result, check_finite};
use crate::gpu::CommandCounts;
use crate::gpu::counts::count;
use crate::model::{Arch, Network};
use crate::preprocess::{image_bounds, to_input};
use crate::update::clamp_channels;

/// What a run maximizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Objective {
    /// A class's logit (score before the softmax).
    Class(usize),
    /// The mean activation of one channel of a layer's output.
    Channel {
        /// The layer's index in [`Arch::layers`].
        layer: usize,
        /// The channel.
        channel: usize,
    },
    /// One unit: the activation of one channel of a layer's output at one position.
    Neuron {
        /// The layer's index in [`Arch::layers`].
        layer: usize,
        /// The channel.
        channel: usize,
        /// The position (x, y) in the layer's output; `None`: its centre (w / 2, h / 2), at
        /// every octave's size.
        position: Option<(usize, usize)>,
    },
}

impl Objective {
    /// (layer, channel) whose mean is maximized: a class is a channel of the last layer, whose
    /// output is 1 × 1.
    pub fn target(&self, arch: &Arch) -> (usize, usize) {
        match *self {
            Objective::Class(c) => (arch.layers.len() - 1, c),
            Objective::Channel { layer, channel } | Objective::Neuron { layer, channel, .. } => {
                (layer, channel)
            }
        }
    }

    /// The objective as weights on the target channel's plane of `(h, w)` values: (offset in
    /// the plane, weight) pairs; the objective is the weighted sum of the activations. A mean
    /// weighs every value 1 / (h w); a neuron is one value with weight 1.
    pub fn plane_weights(&self, (h, w): (usize, usize)) -> Vec<(usize, f32)> {
        match *self {
            Objective::Class(_) | Objective::Channel { .. } => {
                (0..h * w).map(|p| (p, 1.0 / (h * w) as f32)).collect()
            }
            Objective::Neuron { position, .. } => {
                let (x, y) = position.unwrap_or((w / 2, h / 2));
                vec![(y * w + x, 1.0)]
            }
        }
    }
}

/// One image to dream: what it maximizes, how, and its label in figures.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Run {
    /// The objective.
    pub objective: Objective,
    /// Step size and regularization.
    pub settings: DreamSettings,
    /// A label for figures and messages ("tarantula", "lr = 10").
    pub label: String,
}

/// What the image starts from.
#[derive(Clone, Debug, Default)]
pub enum Start {
    /// Seeded Gaussian noise (normalized pixels of standard deviation 1, clamped to the valid
    /// range; or small random Fourier coefficients).
    #[default]
    Noise,
    /// A photo, resized and center-cropped like a network input.
    Image(RgbImage),
}

/// What the L2 penalty pulls the image towards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum PenaltyTarget {
    /// Zero: λ‖I‖² (the classic).
    #[default]
    Zero,
    /// The starting photo: λ‖I − I₀‖², so the photo stays visible.
    Start,
}

/// Standard deviation of the starting Fourier coefficients from noise.
pub const FOURIER_NOISE_STD: f32 = 0.5;

/// Everything a call to [`dream`] does.
#[derive(Clone, Debug)]
pub struct Request {
    /// The runs; those with the same objective layer share GPU batches.
    pub runs: Vec<Run>,
    /// Input side of the last (full-size) octave.
    pub size: usize,
    /// Steps per octave.
    pub iterations: usize,
    /// What the images start from.
    pub start: Start,
    /// What the L2 penalty pulls towards.
    pub penalty_target: PenaltyTarget,
    /// How the image is represented.
    pub parameterization: Parameterization,
    /// Number of octaves (1: a single size).
    pub octaves: usize,
    /// Each octave is this much larger than the one before.
    pub octave_scale: f32,
    /// Random scale and rotation each step (off by default).
    pub transforms: Transforms,
    /// Runs with the same objective pushed apart (off by default); they share a GPU batch.
    pub diversity: Option<Diversity>,
    /// Seed of the starting noise, the jitter and the transforms.
    pub seed: u64,
    /// Steps (counted over all octaves, 0 = the start) after which the images are read back; the
    /// last step always is.
    pub snapshots: Vec<usize>,
    /// Most images per GPU batch.
    pub max_batch: usize,
    /// Most steps recorded into one submission (the progress bar moves between them).
    pub steps_per_submit: usize,
}

impl Request {
    /// A request with the classic defaults: 224 × 224, 100 steps from noise, one octave, seed 0,
    /// pixels, batches of up to 8, 10 steps per submission.
    pub fn new(runs: Vec<Run>) -> Self {
        Self {
            runs,
            size: 224,
            iterations: 100,
            start: Start::Noise,
            penalty_target: PenaltyTarget::Zero,
            parameterization: Parameterization::Pixels,
            octaves: 1,
            octave_scale: 1.4,
            transforms: Transforms::default(),
            diversity: None,
            seed: 0,
            snapshots: Vec::new(),
            max_batch: 8,
            steps_per_submit: 10,
        }
    }

    /// Total steps over all octaves.
    pub fn total_steps(&self) -> usize {
        self.iterations * self.octaves
    }

    /// The input side of each octave, smallest first.
    pub fn sizes(&self) -> Vec<usize> {
        (0..self.octaves)
            .map(|o| {
                let down = self.octave_scale.powi((self.octaves - 1 - o) as i32);
                ((self.size as f32 / down).round() as usize).max(1)
            })
            .collect()
    }

    /// The snapshot steps, sorted, with the last step.
    pub fn snapshot_steps(&self) -> Vec<usize> {
        let mut steps = self.snapshots.clone();
        steps.push(self.total_steps());
        steps.sort_unstable();
        steps.dedup();
        steps
    }

    /// Fails, naming the problem, on a request that cannot run on `arch`.
    pub fn validate(&self, arch: &Arch) -> Result<()> {
        let invalid = |m: String| Err(Error::InvalidInput(m));
        if self.runs.is_empty() {
            return invalid("nothing to dream: no class or channel given".into());
        }
        if self.iterations == 0 || self.octaves == 0 || self.max_batch == 0 {
            return invalid("iterations, octaves and the batch size must be at least 1".into());
        }
        if self.steps_per_submit == 0 {
            return invalid("steps per submission must be at least 1".into());
        }
        if self.octaves > 1 && !(self.octave_scale.is_finite() && self.octave_scale > 1.0) {
            return invalid(format!(
                "octave scale {} must be a finite number > 1",
                self.octave_scale
            ));
        }
        if let Some(&s) = self.snapshots.iter().find(|&&s| s > self.total_steps()) {
            return invalid(format!(
                "snapshot at step {s} is past the last step ({})",
                self.total_steps()
            ));
        }
        self.transforms.validate()?;
        if let Some(d) = self.diversity {
            self.validate_diversity(arch, d)?;
            if matches!(self.start, Start::Image(_)) {
                return invalid(
                    "diversity needs images that start apart: start from noise, not a photo".into(),
                );
            }
        }
        if self.penalty_target == PenaltyTarget::Start && matches!(self.start, Start::Noise) {
            return invalid("an L2 penalty towards the start needs a starting image".into());
        }
        for size in self.sizes() {
            let shapes = arch.shapes((size, size)).map_err(|e| {
                Error::InvalidInput(format!("input size {size}x{size} is too small: {e}"))
            })?;
            for run in &self.runs {
                let (layer, channel) = run.objective.target(arch);
                if layer >= arch.layers.len() {
                    return invalid(format!(
                        "`{}`: layer {layer} does not exist ({} has {} layers)",
                        run.label,
                        arch.name,
                        arch.layers.len()
                    ));
                }
                let [channels, h, w] = shapes[layer + 1];
                if let Objective::Neuron {
                    position: Some((x, y)),
                    ..
                } = run.objective
                    && (x >= w || y >= h)
                {
                    return invalid(format!(
                        "`{}`: position ({x}, {y}) is outside layer {layer} ({}), whose output is \
                         {w} wide and {h} high at input size {size}",
                        run.label,
                        arch.layers[layer].name()
                    ));
                }
                if channel >= channels {
                    return Err(match run.objective {
                        Objective::Class(c) => Error::UnknownClass(format!(
                            "class {c} does not exist: {} has {channels} classes",
                            arch.name
                        )),
                        Objective::Channel { .. } | Objective::Neuron { .. } => {
                            Error::InvalidInput(format!(
                                "`{}`: channel {channel} does not exist at layer {layer} ({}), \
                             which has {channels} channels",
                                run.label,
                                arch.layers[layer].name()
                            ))
                        }
                    });
                }
            }
        }
        for run in &self.runs {
            run.settings
                .validate()
                .map_err(|e| Error::InvalidInput(format!("`{}`: {e}", run.label)))?;
        }
        if self.parameterization == Parameterization::Pixels {
            let smallest = self.sizes().into_iter().min().unwrap_or(0);
            for run in &self.runs {
                let radius = blur_radius(run.settings.blur_sigma);
                if radius >= smallest {
                    return invalid(format!(
                        "a blur of radius {radius} (4 sigma) does not fit an image of \
                         {smallest}x{smallest}"
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Request {
    /// Fails, naming the problem, on a diversity layer that is not below every objective, a
    /// weight that is not a finite number >= 0, or a group of runs larger than a batch.
    fn validate_diversity(&self, arch: &Arch, d: Diversity) -> Result<()> {
        let invalid = |m: String| Err(Error::InvalidInput(m));
        if !(d.weight.is_finite() && d.weight >= 0.0) {
            return invalid(format!(
                "diversity weight {} must be a finite number >= 0",
                d.weight
            ));
        }
        if d.layer >= arch.layers.len() {
            return invalid(format!(
                "diversity layer {} does not exist ({} has {} layers)",
                d.layer,
                arch.name,
                arch.layers.len()
            ));
        }
        for run in &self.runs {
            let (layer, _) = run.objective.target(arch);
            if d.layer > layer {
                return invalid(format!(
                    "`{}`: the diversity layer {} comes after the objective's layer {}; \
                     choose one at or before it",
                    run.label,
                    arch.layers[d.layer].name(),
                    arch.layers[layer].name()
                ));
            }
            let copies = self
                .runs
                .iter()
                .filter(|r| r.objective == run.objective)
                .count();
            if copies > self.max_batch {
                return invalid(format!(
                    "`{}`: {copies} images of one objective must share a GPU batch, which holds \
                     at most {}",
                    run.label, self.max_batch
                ));
            }
        }
        Ok(())
    }
}

/// The GPU batches of `runs` (indices) that share an objective layer: chunks of at most
/// `max_batch`; with `keep_together`, runs with the same objective are never split.
fn batches_of(
    runs: &[Run],
    indices: &[usize],
    max_batch: usize,
    keep_together: bool,
) -> Vec<Vec<usize>> {
    if !keep_together {
        return indices.chunks(max_batch).map(<[usize]>::to_vec).collect();
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &i in indices {
        match groups
            .iter_mut()
            .find(|g| runs[g[0]].objective == runs[i].objective)
        {
            Some(g) => g.push(i),
            None => groups.push(vec![i]),
        }
    }
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for g in groups {
        match batches.last_mut() {
            Some(b) if b.len() + g.len() <= max_batch => b.extend(g),
            _ => batches.push(g),
        }
    }
    batches
}

/// For each run of a batch: its group (the index of its objective among the batch's) and its
/// copy number within the group.
fn groups_and_copies(runs: &[&Run]) -> (Vec<usize>, Vec<usize>) {
    let mut objectives: Vec<Objective> = Vec::new();
    let mut groups = Vec::new();
    let mut copies = Vec::new();
    for r in runs {
        let g = objectives
            .iter()
            .position(|o| *o == r.objective)
            .unwrap_or_else(|| {
                objectives.push(r.objective);
                objectives.len() - 1
            });
        copies.push(groups.iter().filter(|&&h| h == g).count());
        groups.push(g);
    }
    (groups, copies)
}

/// One run's image and scores at one step.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Snapshot {
    /// Steps taken (over all octaves).
    pub step: usize,
    /// The image's side at this step.
    pub size: usize,
    /// The image, normalized CHW [3, size, size].
    #[serde(skip)]
    pub image: Vec<f32>,
    /// The objective: the class logit, the channel's mean activation, or the neuron's.
    pub objective: f32,
    /// The class's softmax probability (class objectives).
    pub probability: Option<f32>,
    /// The network's top class (class objectives).
    pub top1: Option<usize>,
    /// With diversity: the mean cosine similarity of the image's Gram matrix to those of the
    /// other images of its objective.
    pub similarity: Option<f32>,
}

impl Snapshot {
    /// The image as 8-bit RGB.
    pub fn rgb(&self) -> RgbImage {
        crate::preprocess::to_rgb(&self.image, self.size)
    }
}

/// One run's results.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunResult {
    /// The run's label.
    pub label: String,
    /// Its snapshots, in step order; the last is the final image.
    pub snapshots: Vec<Snapshot>,
}

impl RunResult {
    /// The final snapshot.
    pub fn last(&self) -> &Snapshot {
        self.snapshots
            .last()
            .expect("every run ends with a snapshot")
    }
}

/// Wall-clock times of a call.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Timing {
    /// Making plans, buffers and dispatches, and starting the images.
    pub setup_ms: f64,
    /// Running the steps (submissions and waits).
    pub loop_ms: f64,
    /// Forward passes and readbacks of the snapshots.
    pub snapshot_ms: f64,
    /// GPU batch steps run (steps × batches).
    pub batch_steps: usize,
    /// Number of GPU batches.
    pub batches: usize,
    /// Most images in one batch.
    pub batch_size: usize,
    /// GPU commands recorded and submitted by the steps (without setup and snapshots).
    pub commands: CommandCounts,
}

impl Timing {
    /// Milliseconds per step of one batch.
    pub fn ms_per_step(&self) -> f64 {
        self.loop_ms / self.batch_steps.max(1) as f64
    }
}

/// The results of [`dream`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct DreamResult {
    /// One per run, in the request's order.
    pub runs: Vec<RunResult>,
    /// Where the time went.
    pub timing: Timing,
}

/// Runs the request on `net`: maximizes each run's objective by normalized gradient ascent with
/// jitter, penalties, clamping and blur (see the module docs), every step on the GPU; reads the
/// images back only at the snapshot steps. `progress` advances by steps.
pub async fn dream(
    net: &Network,
    request: &Request,
    progress: &dyn Progress,
) -> Result<DreamResult> {
    dream_with(net, request, progress, &mut |_, _| {}).await
}

/// [`dream`], handing each snapshot to `observe(run, snapshot)` as soon as it is read back
/// (`run` indexes [`Request::runs`]), before the loop goes on: a live preview.
pub async fn dream_with(
    net: &Network,
    request: &Request,
    progress: &dyn Progress,
    observe: &mut dyn FnMut(usize, &Snapshot),
) -> Result<DreamResult> {
    let arch = net.arch();
    request.validate(arch)?;
    let sizes = request.sizes();
    let largest = *sizes.last().expect("at least one octave");
    let max_batch = request
        .max_batch
        .min(net.max_batch((largest, largest))?)
        .max(1);

    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, run) in request.runs.iter().enumerate() {
        groups
            .entry(run.objective.target(arch).0)
            .or_default()
            .push(i);
    }
    let batches: Vec<(usize, Vec<usize>)> = groups
        .into_iter()
        .flat_map(|(layer, runs)| {
            let together = request.diversity.is_some();
            batches_of(&request.runs, &runs, max_batch, together)
                .into_iter()
                .map(move |c| (layer, c))
        })
        .collect();

    let total = request.total_steps();
    progress.set_length((total * batches.len()) as u64);
    let mut timing = Timing {
        batches: batches.len(),
        batch_size: batches.iter().map(|b| b.1.len()).max().unwrap_or(0),
        ..Timing::default()
    };
    let mut results: Vec<Option<RunResult>> = vec![None; request.runs.len()];
    for (layer, members) in &batches {
        let runs: Vec<&Run> = members.iter().map(|&i| &request.runs[i]).collect();
        let mut observe_batch = |n: usize, snapshot: &Snapshot| observe(members[n], snapshot);
        let snapshots = run_batch(
            net,
            request,
            *layer,
            &runs,
            progress,
            &mut observe_batch,
            &mut timing,
        )
        .await?;
        for (&i, snaps) in members.iter().zip(snapshots) {
            results[i] = Some(RunResult {
                label: request.runs[i].label.clone(),
                snapshots: snaps,
            });
        }
    }
    progress.finish_and_clear();
    Ok(DreamResult {
        runs: results.into_iter().map(Option::unwrap).collect(),
        timing,
    })
}

/// Milliseconds since `t`.
fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Runs one GPU batch through every octave; returns each run's snapshots, also handed to
/// `observe(n, snapshot)` (`n` indexes `runs`) as they are read back.
async fn run_batch(
    net: &Network,
    request: &Request,
    layer: usize,
    runs: &[&Run],
    progress: &dyn Progress,
    observe: &mut dyn FnMut(usize, &Snapshot),
    timing: &mut Timing,
) -> Result<Vec<Vec<Snapshot>>> {
    let ctx = net.context();
    let settings: Vec<DreamSettings> = runs.iter().map(|r| r.settings).collect();
    let objectives: Vec<Objective> = runs.iter().map(|r| r.objective).collect();
    let (groups, copies) = groups_and_copies(runs);
    let batch = runs.len();
    let iterations = request.iterations;
    let pixels = request.parameterization == Parameterization::Pixels;
    let rows = schedule(request.seed, request.total_steps(), &settings, pixels);
    let transform_rows = (!request.transforms.is_off()).then(|| {
        transforms(
            request.seed,
            request.total_steps(),
            batch,
            &request.transforms,
        )
    });
    let snapshot_steps = request.snapshot_steps();
    let mut snapshots: Vec<Vec<Snapshot>> = vec![Vec::new(); batch];
    let mut previous: Option<Stage> = None;

    for (octave, &size) in request.sizes().iter().enumerate() {
        let t = Instant::now();
        let first = octave * iterations;
        let stage = Stage::new(
            net,
            &StageSpec {
                size,
                layer,
                objectives: &objectives,
                settings: &settings,
                rows: &rows[first * batch..(first + iterations) * batch],
                transforms: transform_rows
                    .as_ref()
                    .map(|t| &t[first * batch..(first + iterations) * batch]),
                diversity: request.diversity.map(|d| (d, &groups[..])),
                parameterization: request.parameterization,
            },
        )?;
        if let (PenaltyTarget::Start, Start::Image(img)) = (request.penalty_target, &request.start)
        {
            stage.set_target(&to_input(img, size)?);
        }
        match (&previous, &request.start) {
            (Some(prev), _) => {
                let mut encoder = ctx.encoder("next octave");
                stage.record_continue_from(&mut encoder, prev)?;
                ctx.submit(encoder);
            }
            (None, Start::Image(img)) => stage.set_images(&to_input(img, size)?.repeat(batch)),
            (None, Start::Noise) => {
                // Every image starts from the seed's noise; with diversity, each copy of an
                // objective from its own.
                let len = 3 * size * size;
                let std = if pixels { 1.0 } else { FOURIER_NOISE_STD };
                let mut start = Vec::with_capacity(batch * len);
                for &copy in &copies {
                    let copy = if request.diversity.is_some() { copy } else { 0 };
                    let mut x = copy_noise(request.seed, copy, len, std);
                    if pixels {
                        clamp_channels(&mut x, &image_bounds(), size * size);
                    }
                    start.extend(x);
                }
                if pixels {
                    stage.set_images(&start);
                } else {
                    stage.set_coefficients(&start);
                }
            }
        }
        ctx.wait()?;
        timing.setup_ms += ms(t);

        if octave == 0 && snapshot_steps.first() == Some(&0) {
            take_snapshot(&stage, runs, 0, &mut snapshots, observe, timing).await?;
        }
        let mut s = 0;
        while s < iterations {
            let next_snapshot = snapshot_steps
                .iter()
                .map(|&k| k as isize - first as isize)
                .find(|&k| k > s as isize)
                .map_or(iterations, |k| k as usize);
            let end = next_snapshot
                .min(s + request.steps_per_submit)
                .min(iterations);
            let t = Instant::now();
            let mut encoder = ctx.encoder("dream steps");
            let ((), commands) = count(|| {
                for k in s..end {
                    stage.record_step(&mut encoder, k);
                }
                ctx.submit(encoder);
            });
            timing.commands += commands;
            ctx.wait()?;
            timing.loop_ms += ms(t);
            timing.batch_steps += end - s;
            progress.inc((end - s) as u64);
            s = end;
            if snapshot_steps.contains(&(first + s)) {
                take_snapshot(&stage, runs, first + s, &mut snapshots, observe, timing).await?;
            }
        }
        previous = Some(stage);
    }
    Ok(snapshots)
}

/// Reads back the images and objectives of a stage after `step` steps, hands each to
/// `observe(n, snapshot)`; fails with [`Error::Diverged`] on a non-finite value.
async fn take_snapshot(
    stage: &Stage,
    runs: &[&Run],
    step: usize,
    snapshots: &mut [Vec<Snapshot>],
    observe: &mut dyn FnMut(usize, &Snapshot),
    timing: &mut Timing,
) -> Result<()> {
    let t = Instant::now();
    let ctx = stage.context();
    let mut encoder = ctx.encoder("dream snapshot");
    stage.record_snapshot(&mut encoder);
    ctx.submit(encoder);
    let readout = stage.read_snapshot().await?;
    let per_image = readout.images.len() / runs.len();
    for (n, run) in runs.iter().enumerate() {
        let image = readout.images[n * per_image..(n + 1) * per_image].to_vec();
        let logits = readout.logits.as_ref().map(|l| &l[n]);
        let diverged = |why: &str| Error::Diverged {
            what: format!("dreaming `{}`", run.label),
            step,
            why: format!(
                "{why}; try a smaller step size (lr {}) or more regularization",
                run.settings.lr
            ),
        };
        check_finite(&format!("dreaming `{}`", run.label), step, &image)?;
        if !readout.objectives[n].is_finite() {
            return Err(diverged(&format!(
                "the objective is {}",
                readout.objectives[n]
            )));
        }
        if let Some(l) = logits
            && let Some(i) = l.iter().position(|v| !v.is_finite())
        {
            return Err(diverged(&format!("logit {i} is {}", l[i])));
        }
        let (probability, top1) = match (logits, run.objective) {
            (Some(l), Objective::Class(c)) => (Some(softmax(l)[c]), Some(argmax(l))),
            _ => (None, None),
        };
        let snapshot = Snapshot {
            step,
            size: stage.size(),
            image,
            objective: readout.objectives[n],
            probability,
            top1,
            similarity: readout.similarity.as_ref().and_then(|s| s[n]),
        };
        observe(n, &snapshot);
        snapshots[n].push(snapshot);
    }
    timing.snapshot_ms += ms(t);
    Ok(())
}
