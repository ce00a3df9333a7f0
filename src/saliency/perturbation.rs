//! The methods that score perturbed copies of each image in batched forward passes: Score-CAM
//! (the image masked by each channel of the CAM layer) and occlusion (the image with one patch
//! hidden); the same pass loop scores the deletion and insertion curves of
//! [`crate::saliency::faithfulness`].

use std::rc::Rc;

use crate::progress::Progress;

use crate::error::Result;
use crate::gpu::{
    Dispatch, GpuContext, ImageBatch, StepOp, Tensor, copy_buffer, record_all, record_ops,
};
use crate::model::Plan;
use crate::ops::resample::resize_bilinear;
use crate::saliency::kernels::{
    CamKernel, Patches, PerturbKernel, Resize, SampleJob, SampleKernel,
};
use crate::saliency::method::Settings;
use crate::saliency::run::{AttributionRequest, Attributor, PASSES_PER_SUBMIT};

/// A job of perturbed inputs ready to run: its shape, the plan whose batch it fills and its
/// pass counter (a u32 storage buffer at 0).
pub(crate) struct PerturbationJob {
    /// Images x samples in passes of the plan's batch.
    pub job: SampleJob,
    /// The network's plan for one pass.
    pub plan: Rc<Plan>,
    /// The pass counter.
    pub state: wgpu::Buffer,
}

impl PerturbationJob {
    /// The dispatch of `kernel` that fills the plan's input for the current pass from
    /// `sources`, the buffers the kernel binds between the pass counter and the input.
    pub fn inputs(
        &self,
        ctx: &GpuContext,
        kernel: PerturbKernel,
        sources: &[&wgpu::Buffer],
    ) -> Result<Dispatch> {
        let mut buffers = vec![&self.state];
        buffers.extend_from_slice(sources);
        buffers.push(&self.plan.input().buffer);
        self.job.perturbed(ctx, kernel, &buffers)
    }
}

impl Attributor<'_> {
    /// Channels and plane (height, width) of the CAM layer's output.
    pub(crate) fn cam_shape(&self, settings: &Settings) -> Result<(usize, (usize, usize))> {
        let arch = self.network().arch();
        let layer = settings.cam_layer_index(arch)?;
        let [c, h, w] = arch.shapes(self.input_size())?[layer + 1];
        Ok((c, (h, w)))
    }

    /// Occlusion's patches on this input size.
    pub(crate) fn patches(&self, settings: &Settings) -> Patches {
        Patches {
            hw: self.input_size(),
            patch: settings.patch,
            stride: settings.stride,
        }
    }

    /// Runs every pass of `perturbed`: `make_inputs` fills the plan's input for the current
    /// pass, then the forward pass, then the target's softmax probability (`softmax`) or logit
    /// of each active slot (u32 `targets` per job image) lands in the returned scores
    /// [images * samples]. The progress bar moves once per pass.
    pub(crate) fn score_passes(
        &self,
        perturbed: &PerturbationJob,
        make_inputs: Dispatch,
        targets: &wgpu::Buffer,
        softmax: bool,
        progress: &dyn Progress,
    ) -> Result<wgpu::Buffer> {
        let ctx = self.context();
        let PerturbationJob { job, plan, state } = perturbed;
        let scores = ctx.storage("perturbation scores", job.images * job.samples)?;
        let buffers = [state, targets, &plan.logits().buffer, &scores];
        let score = job.sampled(ctx, SampleKernel::ClassScores(softmax), &buffers);
        let advance = job.sampled(ctx, SampleKernel::Advance, &[state]);
        let step = [
            StepOp::Pass("perturbed inputs", vec![make_inputs]),
            plan.forward_op(),
            StepOp::Pass("scores", vec![score, advance]),
        ];
        let passes = (job.passes(), PASSES_PER_SUBMIT);
        ctx.submit_passes("perturbation passes", passes, progress, |encoder, _| {
            record_ops(encoder, &step)
        })?;
        Ok(scores)
    }

    /// A sampled job of `images` images x `samples` inputs each, with its plan and a pass
    /// counter at 0.
    pub(crate) fn perturbation_job(
        &self,
        images: usize,
        samples: usize,
    ) -> Result<PerturbationJob> {
        let batch = self.batch().min(images * samples);
        let plan = self.plan(batch)?;
        let job = SampleJob {
            images,
            samples,
            batch,
            len: plan.input().per_image(),
            classes: self.classes(),
        };
        let state = self.context().upload("perturbation pass", &[0u32])?;
        Ok(PerturbationJob { job, plan, state })
    }

    /// Score-CAM maps [m, h, w]: the CAM layer's activations of each image; every channel
    /// upsampled, scaled to [0, 1] and multiplied into the image; the target's softmax
    /// probability of each masked image as the channel's weight (0 for a flat channel); the
    /// ReLU of the weighted sum of channels upsampled to the input. As Wang et al.'s code, with
    /// bilinear upsampling at pixel centres.
    pub(crate) fn score_cam_job(&self, chunk: &AttributionRequest) -> Result<wgpu::Buffer> {
        let ctx = self.context();
        let m = chunk.inputs.len();
        let layer = chunk.settings.cam_layer_index(self.network().arch())?;
        let (channels, low) = self.cam_shape(chunk.settings)?;
        let resize = Resize {
            from: low,
            to: self.input_size(),
        };
        let shape = ImageBatch {
            batch: m,
            channels,
            h: low.0,
            w: low.1,
        };
        let images = ctx.upload("score-cam images", &chunk.inputs.concat())?;
        let act = self.activations(&images, m, layer, chunk.progress)?;
        let perturbed = self.perturbation_job(m, channels)?;
        let range = ctx.storage("score-cam mask ranges", 2 * m * channels)?;
        let mut encoder = ctx.encoder("score-cam ranges");
        let mask_range = shape.cam(ctx, CamKernel::MaskRange(resize), &[&act, &range]);
        record_all(&mut encoder, "mask ranges", [&mask_range]);
        ctx.submit(encoder);
        let score_inputs = PerturbKernel::ScoreInputs(resize);
        let make = perturbed.inputs(ctx, score_inputs, &[&images, &act, &range])?;
        let targets = upload_targets(self, chunk.targets)?;
        let scores = self.score_passes(&perturbed, make, &targets, true, chunk.progress)?;
        let alpha = ctx.storage("score-cam weights", m * channels)?;
        let cam = Tensor::zeros(ctx, "score-cam map", [m, 1, low.0, low.1])?;
        let maps = Tensor::zeros(ctx, "score-cam maps", [m, 1, resize.to.0, resize.to.1])?;
        let mut encoder = ctx.encoder("score-cam maps");
        record_all(
            &mut encoder,
            "score-cam",
            [
                &shape.cam(ctx, CamKernel::ScoreWeights, &[&range, &scores, &alpha]),
                &shape.cam(ctx, CamKernel::Map, &[&act, &alpha, &cam.buffer]),
                &resize_bilinear(ctx, &cam, &maps)?,
            ],
        );
        ctx.submit(encoder);
        Ok(maps.buffer)
    }

    /// The output of layer `layer` for the `m` images in `images`, [m, c, h, w], from forward
    /// passes up to that layer.
    fn activations(
        &self,
        images: &wgpu::Buffer,
        m: usize,
        layer: usize,
        progress: &dyn Progress,
    ) -> Result<wgpu::Buffer> {
        let ctx = self.context();
        let plan = self.plan(self.batch().min(m))?;
        let (len, act) = (plan.input().per_image(), plan.activation(layer));
        let per_image = act.per_image();
        let out = ctx.storage("layer activations", m * per_image)?;
        let bytes = |values: usize| (values * 4) as u64;
        for first in (0..m).step_by(plan.batch()) {
            let n = plan.batch().min(m - first);
            let mut encoder = ctx.encoder("activations");
            copy_buffer(
                &mut encoder,
                (images, bytes(first * len)),
                (&plan.input().buffer, 0),
                bytes(n * len),
            );
            plan.record_forward_to(&mut encoder, layer);
            copy_buffer(
                &mut encoder,
                (&act.buffer, 0),
                (&out, bytes(first * per_image)),
                bytes(n * per_image),
            );
            ctx.submit(encoder);
            ctx.wait()?;
            progress.inc(1);
        }
        Ok(out)
    }

    /// Occlusion maps [m, h, w]: each patch of `settings` set to 0 (the mean color) in turn, the
    /// target's logit of every occluded image, and per pixel the mean drop from the image's own
    /// logit over the patches covering it (as Captum's `Occlusion` with a zero baseline).
    pub(crate) fn occlusion_job(&self, chunk: &AttributionRequest) -> Result<wgpu::Buffer> {
        let ctx = self.context();
        let m = chunk.inputs.len();
        let patches = self.patches(chunk.settings);
        let perturbed = self.perturbation_job(m, patches.count()? + 1)?;
        let images = ctx.upload("occlusion images", &chunk.inputs.concat())?;
        let make = perturbed.inputs(ctx, PerturbKernel::OcclusionInputs(patches), &[&images])?;
        let targets = upload_targets(self, chunk.targets)?;
        let scores = self.score_passes(&perturbed, make, &targets, false, chunk.progress)?;
        let maps = ctx.storage("occlusion maps", m * patches.hw.0 * patches.hw.1)?;
        let mut encoder = ctx.encoder("occlusion maps");
        record_all(
            &mut encoder,
            "occlusion",
            [&patches.occlusion_map(ctx, m, &scores, &maps)?],
        );
        ctx.submit(encoder);
        Ok(maps)
    }
}

/// The target classes as a u32 storage buffer.
pub(crate) fn upload_targets(attributor: &Attributor, targets: &[usize]) -> Result<wgpu::Buffer> {
    let targets: Vec<u32> = targets.iter().map(|&t| t as u32).collect();
    attributor.context().upload("target classes", &targets)
}
