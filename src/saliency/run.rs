//! Running the attribution methods on a network: images go through forward and backward passes
//! in GPU batches, sampled methods fill every batch with samples made on the GPU, and the results
//! are read back once per job of images.

use std::cell::RefCell;
use std::rc::Rc;

use crate::progress::Progress;

use crate::error::{Error, Result};
use crate::gpu::{
    Dispatch, GpuContext, ImageBatch, StepOp, Tensor, copy_buffer, record_all, record_ops,
};
use crate::model::{GradientRule, Network, Plan};
use crate::ops::resample::resize_bilinear;
use crate::saliency::kernels::{AttributionKernel, CamKernel, SampleJob, SampleKernel};
use crate::saliency::method::{Method, Settings};
use crate::saliency::perturbation::upload_targets;

/// Most images whose inputs and results one job keeps on the GPU at once.
pub(crate) const IMAGES_PER_JOB: usize = 32;

/// Passes recorded into one submission; the progress bar moves after each submission.
pub(crate) const PASSES_PER_SUBMIT: usize = 4;

/// What to attribute: images (normalized CHW), the class each is attributed to, the methods'
/// settings and the progress bar to move.
#[derive(Clone, Copy)]
pub struct AttributionRequest<'a> {
    /// The methods' settings.
    pub settings: &'a Settings,
    /// The images.
    pub inputs: &'a [Vec<f32>],
    /// The target class of each image.
    pub targets: &'a [usize],
    /// Moves by [`Attributor::passes`].
    pub progress: &'a dyn Progress,
}

impl<'a> AttributionRequest<'a> {
    /// The request for `inputs` and their `targets` with `settings`, moving `progress`.
    pub fn new(
        settings: &'a Settings,
        inputs: &'a [Vec<f32>],
        targets: &'a [usize],
        progress: &'a dyn Progress,
    ) -> Self {
        Self {
            settings,
            inputs,
            targets,
            progress,
        }
    }
}

/// Computes attribution maps of one network at one input size, in batches of up to `batch`
/// images (or samples). Plans are made on first use for each batch size and kept.
pub struct Attributor<'n> {
    net: &'n Network,
    hw: (usize, usize),
    batch: usize,
    classes: usize,
    plans: RefCell<Vec<Rc<Plan>>>,
}

impl<'n> Attributor<'n> {
    /// An attributor for inputs of `hw` with at most `max_batch` images per GPU pass (fewer
    /// when the device's binding limit demands).
    pub fn new(net: &'n Network, hw: (usize, usize), max_batch: usize) -> Result<Self> {
        Ok(Self {
            net,
            hw,
            batch: max_batch.min(net.max_batch(hw)?).max(1),
            classes: net.arch().classes(hw)?,
            plans: RefCell::new(Vec::new()),
        })
    }

    /// The network.
    pub fn network(&self) -> &Network {
        self.net
    }

    /// Input height and width.
    pub fn input_size(&self) -> (usize, usize) {
        self.hw
    }

    /// The most images (or samples) per GPU pass.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// GPU passes `method` makes for `images` images: what a progress bar counts.
    pub fn passes(&self, method: Method, settings: &Settings, images: usize) -> u64 {
        let samples = self.samples(method, settings);
        (0..images)
            .step_by(IMAGES_PER_JOB)
            .map(|first| {
                let m = IMAGES_PER_JOB.min(images - first);
                let forward = match method {
                    // Score-CAM first runs the images to its layer.
                    Method::ScoreCam => m.div_ceil(self.batch.min(m)),
                    _ => 0,
                };
                ((m * samples).div_ceil(self.batch.min(m * samples)) + forward) as u64
            })
            .sum()
    }

    /// Network inputs per image: samples, path steps, masks or patches (plus the image itself
    /// for occlusion); 1 where the settings do not fit the network (the run then fails).
    fn samples(&self, method: Method, settings: &Settings) -> usize {
        match method {
            Method::SmoothGrad => settings.samples,
            Method::IntegratedGradients => settings.steps,
            Method::ScoreCam => self.cam_shape(settings).map_or(1, |s| s.0),
            Method::Occlusion => self.patches(settings).count().map_or(1, |c| c + 1),
            _ => 1,
        }
    }

    /// A batch of `batch` RGB images of the input size.
    fn images(&self, batch: usize) -> ImageBatch {
        ImageBatch {
            batch,
            channels: 3,
            h: self.hw.0,
            w: self.hw.1,
        }
    }

    pub(crate) fn context(&self) -> &GpuContext {
        self.net.context()
    }

    /// Classes of the network's output.
    pub(crate) fn classes(&self) -> usize {
        self.classes
    }

    pub(crate) fn plan(&self, batch: usize) -> Result<Rc<Plan>> {
        let mut plans = self.plans.borrow_mut();
        if let Some(plan) = plans.iter().find(|p| p.batch() == batch) {
            return Ok(plan.clone());
        }
        let plan = Rc::new(self.net.plan(batch, self.hw)?);
        plans.push(plan.clone());
        Ok(plan)
    }

    /// Attribution maps [images, h, w] of `method` for class `targets[i]` of image `inputs[i]`
    /// (the `request`'s). Gradient methods reduce channels as `settings.reduce` says; the CAM
    /// maps are non-negative and upsampled to the input size; occlusion's are score drops
    /// (logits), negative where hiding a patch raises the score. The progress bar advances by
    /// [`Attributor::passes`].
    pub async fn maps(&self, method: Method, request: &AttributionRequest<'_>) -> Result<Vec<f32>> {
        self.run(method, request, true).await
    }

    /// The raw attributions [images, 3, h, w] of a gradient method, before channel reduction:
    /// the gradient (vanilla, guided), the mean gradient over noisy samples (SmoothGrad), or
    /// (x − x') times the mean gradient along the path (Integrated Gradients). The methods that
    /// make maps directly (Grad-CAM, Grad-CAM++, Score-CAM, occlusion) have none.
    pub async fn attributions(
        &self,
        method: Method,
        request: &AttributionRequest<'_>,
    ) -> Result<Vec<f32>> {
        if !method.per_channel() {
            return Err(Error::InvalidInput(format!(
                "{} makes maps, not per-channel input attributions",
                method.title()
            )));
        }
        self.run(method, request, false).await
    }

    /// The maps (`reduce`) or attributions of `method` for `all`, a job at a time.
    async fn run(
        &self,
        method: Method,
        all: &AttributionRequest<'_>,
        reduce: bool,
    ) -> Result<Vec<f32>> {
        self.images(all.inputs.len())
            .check_inputs(all.inputs, all.targets, self.classes)?;
        all.settings.check()?;
        let ctx = self.context();
        let plane = self.hw.0 * self.hw.1;
        let mut out = Vec::new();
        for (inputs, targets) in all
            .inputs
            .chunks(IMAGES_PER_JOB)
            .zip(all.targets.chunks(IMAGES_PER_JOB))
        {
            let chunk = AttributionRequest {
                inputs,
                targets,
                ..*all
            };
            let m = inputs.len();
            let shape = self.images(m);
            let result = match method {
                Method::Vanilla => self.gradient_job(&chunk, GradientRule::Plain, None)?,
                Method::Guided => self.gradient_job(&chunk, GradientRule::Guided, None)?,
                Method::GradCam | Method::GradCamPlusPlus => {
                    let layer = all.settings.cam_layer_index(self.net.arch())?;
                    self.gradient_job(&chunk, GradientRule::Plain, Some((layer, method)))?
                }
                Method::SmoothGrad | Method::IntegratedGradients => {
                    self.sampled_job(method, &chunk)?
                }
                Method::ScoreCam => self.score_cam_job(&chunk)?,
                Method::Occlusion => self.occlusion_job(&chunk)?,
            };
            let values: Vec<f32> = if reduce && method.per_channel() {
                let maps = ctx.storage("saliency maps", m * plane)?;
                let mut encoder = ctx.encoder("channel reduction");
                let kernel = AttributionKernel::ReduceChannels(all.settings.reduce);
                let dispatch = shape.attribution(ctx, kernel, &[&result, &maps]);
                record_all(&mut encoder, "channel reduction", [&dispatch]);
                ctx.submit(encoder);
                ctx.read(&maps, 0..m * plane).await?
            } else {
                ctx.read_all(&result).await?
            };
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                let per_image = values.len() / m;
                return Err(Error::Diverged {
                    what: format!("{} attribution", method.title()),
                    step: out.len() / per_image + i / per_image,
                    why: format!(
                        "image {} holds a non-finite value ({}); the network's output may \
                         overflow on this input",
                        out.len() / per_image + i / per_image,
                        values[i]
                    ),
                });
            }
            out.extend(values);
        }
        Ok(out)
    }

    /// Forward and backward passes over the images, `batch` at a time, each image seeded with
    /// its one-hot target; the input gradients [m, 3, h, w], or with `cam` (a layer and Grad-CAM
    /// or Grad-CAM++) the maps of that layer upsampled to the input [m, h, w].
    fn gradient_job(
        &self,
        chunk: &AttributionRequest,
        rule: GradientRule,
        cam: Option<(usize, Method)>,
    ) -> Result<wgpu::Buffer> {
        let ctx = self.context();
        let (inputs, targets) = (chunk.inputs, chunk.targets);
        let m = inputs.len();
        let batch = self.batch.min(m);
        let plan = self.plan(batch)?;
        let len = plan.input().per_image();
        let classes = self.classes;
        let images = ctx.upload("saliency images", &inputs.concat())?;
        let mut one_hot = vec![0.0f32; m * classes];
        for (n, &t) in targets.iter().enumerate() {
            one_hot[n * classes + t] = 1.0;
        }
        let seeds = ctx.upload("saliency seeds", &one_hot)?;
        let (per_image, cam_dispatches, result): (usize, Vec<Dispatch>, wgpu::Buffer) = match cam {
            None => (len, Vec::new(), plan.input_grad().buffer.clone()),
            Some((layer, method)) => {
                let act = plan.activation(layer);
                let [_, channels, h, w] = act.shape;
                let shape = ImageBatch {
                    batch,
                    channels,
                    h,
                    w,
                };
                let alpha = ctx.storage("grad-cam weights", batch * channels)?;
                let low = Tensor::zeros(ctx, "grad-cam map", [batch, 1, h, w])?;
                let plane = self.hw.0 * self.hw.1;
                let up =
                    Tensor::zeros(ctx, "grad-cam upsampled", [batch, 1, self.hw.0, self.hw.1])?;
                let grad = &plan.activation_grad(layer).buffer;
                let weights = if method == Method::GradCamPlusPlus {
                    shape.cam(
                        ctx,
                        CamKernel::PlusPlusWeights,
                        &[grad, &act.buffer, &alpha],
                    )
                } else {
                    shape.cam(ctx, CamKernel::Weights, &[grad, &alpha])
                };
                let dispatches = vec![
                    weights,
                    shape.cam(ctx, CamKernel::Map, &[&act.buffer, &alpha, &low.buffer]),
                    resize_bilinear(ctx, &low, &up)?,
                ];
                (plane, dispatches, up.buffer)
            }
        };
        let out = ctx.storage("saliency results", m * per_image)?;
        let bytes = |values: usize| (values * 4) as u64;
        let passes = (m.div_ceil(batch), PASSES_PER_SUBMIT);
        ctx.submit_passes(
            "saliency passes",
            passes,
            chunk.progress,
            |encoder, pass| {
                let first = pass * batch;
                let n = batch.min(m - first);
                copy_buffer(
                    encoder,
                    (&images, bytes(first * len)),
                    (&plan.input().buffer, 0),
                    bytes(n * len),
                );
                copy_buffer(
                    encoder,
                    (&seeds, bytes(first * classes)),
                    (&plan.logits_grad().buffer, 0),
                    bytes(n * classes),
                );
                plan.record_forward(encoder);
                match cam {
                    // The CAM methods need the gradient at their layer only.
                    Some((layer, _)) => {
                        plan.record_backward_to(encoder, layer, rule);
                        record_all(encoder, "grad-cam", &cam_dispatches);
                    }
                    None => plan.record_backward(encoder, rule),
                }
                copy_buffer(
                    encoder,
                    (&result, 0),
                    (&out, bytes(first * per_image)),
                    bytes(n * per_image),
                );
            },
        )?;
        Ok(out)
    }

    /// SmoothGrad or Integrated Gradients over the images: every pass fills the batch with
    /// (image, sample) pairs made on the GPU, and the gradients are averaged per image on the
    /// GPU. Returns [m, 3, h, w]: the mean gradient (SmoothGrad) or (x − x') times it (IG).
    fn sampled_job(&self, method: Method, chunk: &AttributionRequest) -> Result<wgpu::Buffer> {
        let ctx = self.context();
        let (settings, inputs) = (chunk.settings, chunk.inputs);
        let m = inputs.len();
        let samples = self.samples(method, settings);
        let batch = self.batch.min(m * samples);
        let plan = self.plan(batch)?;
        let len = plan.input().per_image();
        let job = SampleJob {
            images: m,
            samples,
            batch,
            len,
            classes: self.classes,
        };
        let images = ctx.upload("saliency images", &inputs.concat())?;
        let targets = upload_targets(self, chunk.targets)?;
        let state = ctx.upload("saliency pass", &[0u32])?;
        let acc = ctx.storage("saliency attributions", m * len)?;
        let input = &plan.input().buffer;
        let (make_inputs, base) = if method == Method::SmoothGrad {
            let sigma: Vec<f32> = inputs
                .iter()
                .map(|x| {
                    let (lo, hi) = x
                        .iter()
                        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                            (lo.min(v), hi.max(v))
                        });
                    settings.noise * (hi - lo)
                })
                .collect();
            let sigma = ctx.upload("smoothgrad sigma", &sigma)?;
            let smooth = SampleKernel::SmoothInputs(settings.seed);
            let buffers = [&state, &images, &sigma, input];
            (job.sampled(ctx, smooth, &buffers), None)
        } else {
            let base: Vec<f32> = inputs
                .iter()
                .flat_map(|x| settings.baseline.of(x, self.hw))
                .collect();
            let base = ctx.upload("integrated gradients baseline", &base)?;
            let buffers = [&state, &images, &base, input];
            (
                job.sampled(ctx, SampleKernel::PathInputs, &buffers),
                Some(base),
            )
        };
        let seed = job.sampled(
            ctx,
            SampleKernel::SeedTargets,
            &[&state, &targets, &plan.logits_grad().buffer],
        );
        let accumulate = job.sampled(
            ctx,
            SampleKernel::Accumulate,
            &[&state, &plan.input_grad().buffer, &acc],
        );
        let advance = job.sampled(ctx, SampleKernel::Advance, &[&state]);
        let step = [
            StepOp::Pass("samples", vec![make_inputs, seed]),
            plan.forward_op(),
            plan.backward_op(GradientRule::Plain),
            StepOp::Pass("accumulate", vec![accumulate, advance]),
        ];
        let passes = (job.passes(), PASSES_PER_SUBMIT);
        ctx.submit_passes("sampled passes", passes, chunk.progress, |encoder, _| {
            record_ops(encoder, &step)
        })?;
        if let Some(base) = base {
            let shape = self.images(m);
            let mut encoder = ctx.encoder("integrated gradients");
            let buffers = [&images, &base, &acc];
            let dispatch = shape.attribution(ctx, AttributionKernel::TimesDifference, &buffers);
            record_all(&mut encoder, "times difference", [&dispatch]);
            ctx.submit(encoder);
        }
        Ok(acc)
    }
}
