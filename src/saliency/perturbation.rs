//! The methods that score perturbed copies of each image in batched forward passes: Score-CAM
//! (the image masked by each channel of the CAM layer) and occlusion (the image with one patch
//! hidden); the same pass loop scores the deletion and insertion curves of
//! [`crate::saliency::faithfulness`].

use crate::progress::Progress;

use crate::error::Result;
use crate::gpu::{Dispatch, copy_buffer, record_all};
use crate::model::Plan;
use crate::ops::resample::resize_bilinear;
use crate::saliency::engine::{Attributor, PASSES_PER_SUBMIT};
use crate::saliency::kernels::{Patches, Planes, SampleJob};
use crate::saliency::method::Settings;

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

    /// Runs every pass of `job` through `plan` (whose batch is `job.batch`): `make_inputs` fills
    /// the plan's input for the current pass (`state`), then the forward pass, then the target's
    /// softmax probability (`softmax`) or logit of each active slot (u32 `targets` per job
    /// image) lands in the returned scores [images * samples]. The progress bar moves once per
    /// pass.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn score_passes(
        &self,
        job: &SampleJob,
        plan: &Plan,
        make_inputs: Dispatch,
        state: &wgpu::Buffer,
        targets: &wgpu::Buffer,
        softmax: bool,
        progress: &dyn Progress,
    ) -> Result<wgpu::Buffer> {
        let ctx = self.context();
        let scores = ctx.storage("perturbation scores", job.images * job.samples)?;
        let score = job.class_scores(ctx, softmax, state, targets, &plan.logits().buffer, &scores);
        let advance = job.advance(ctx, state);
        let passes = job.passes();
        for group in (0..passes).step_by(PASSES_PER_SUBMIT) {
            let mut encoder = ctx.encoder("perturbation passes");
            let group_end = (group + PASSES_PER_SUBMIT).min(passes);
            for _ in group..group_end {
                record_all(&mut encoder, "perturbed inputs", [&make_inputs]);
                plan.record_forward(&mut encoder);
                record_all(&mut encoder, "scores", [&score, &advance]);
            }
            ctx.submit(encoder);
            ctx.wait()?;
            progress.inc((group_end - group) as u64);
        }
        Ok(scores)
    }

    /// A sampled job of `images` images x `samples` inputs each, with its plan and a pass
    /// counter at 0.
    pub(crate) fn perturbation_job(
        &self,
        images: usize,
        samples: usize,
    ) -> Result<(SampleJob, std::rc::Rc<Plan>, wgpu::Buffer)> {
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
        Ok((job, plan, state))
    }

    /// Score-CAM maps [m, h, w]: the CAM layer's activations of each image; every channel
    /// upsampled, scaled to [0, 1] and multiplied into the image; the target's softmax
    /// probability of each masked image as the channel's weight (0 for a flat channel); the
    /// ReLU of the weighted sum of channels upsampled to the input. As Wang et al.'s code, with
    /// bilinear upsampling at pixel centres.
    pub(crate) fn score_cam_job(
        &self,
        settings: &Settings,
        inputs: &[Vec<f32>],
        targets: &[usize],
        progress: &dyn Progress,
    ) -> Result<wgpu::Buffer> {
        let ctx = self.context();
        let m = inputs.len();
        let hw = self.input_size();
        let layer = settings.cam_layer_index(self.network().arch())?;
        let (channels, low) = self.cam_shape(settings)?;
        let shape = Planes {
            images: m,
            channels,
            plane: low.0 * low.1,
        };
        let images = ctx.upload("score-cam images", &inputs.concat())?;
        let act = self.activations(&images, m, layer, progress)?;
        let (job, plan, state) = self.perturbation_job(m, channels)?;
        let range = ctx.storage("score-cam mask ranges", 2 * m * channels)?;
        let mut encoder = ctx.encoder("score-cam ranges");
        record_all(
            &mut encoder,
            "mask ranges",
            [&shape.mask_range(ctx, low, hw, &act, &range)],
        );
        ctx.submit(encoder);
        let make = job.score_inputs(
            ctx,
            low,
            hw,
            &state,
            &images,
            &act,
            &range,
            &plan.input().buffer,
        );
        let targets = upload_targets(self, targets)?;
        let scores = self.score_passes(&job, &plan, make, &state, &targets, true, progress)?;
        let alpha = ctx.storage("score-cam weights", m * channels)?;
        let cam = ctx.storage("score-cam map", m * shape.plane)?;
        let maps = ctx.storage("score-cam maps", m * hw.0 * hw.1)?;
        let mut encoder = ctx.encoder("score-cam maps");
        record_all(
            &mut encoder,
            "score-cam",
            [
                &shape.score_weights(ctx, &range, &scores, &alpha),
                &shape.cam_map(ctx, &act, &alpha, &cam),
                &resize_bilinear(ctx, m, (low, hw), &cam, &maps),
            ],
        );
        ctx.submit(encoder);
        Ok(maps)
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
    pub(crate) fn occlusion_job(
        &self,
        settings: &Settings,
        inputs: &[Vec<f32>],
        targets: &[usize],
        progress: &dyn Progress,
    ) -> Result<wgpu::Buffer> {
        let ctx = self.context();
        let m = inputs.len();
        let hw = self.input_size();
        let patches = self.patches(settings);
        let (job, plan, state) = self.perturbation_job(m, patches.count()? + 1)?;
        let images = ctx.upload("occlusion images", &inputs.concat())?;
        let make = job.occlusion_inputs(ctx, &patches, &state, &images, &plan.input().buffer)?;
        let targets = upload_targets(self, targets)?;
        let scores = self.score_passes(&job, &plan, make, &state, &targets, false, progress)?;
        let maps = ctx.storage("occlusion maps", m * hw.0 * hw.1)?;
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
    attributor
        .context()
        .upload("perturbation targets", &targets)
}
