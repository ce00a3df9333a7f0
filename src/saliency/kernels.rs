//! The attribution kernels of `shaders/saliency.wgsl`, in four families, each with its uniform
//! block and an enum of its entry points and the buffers they bind:
//! [`AttributionKernel`], the channel reduction of gradients into maps and Integrated Gradients'
//! last step; [`CamKernel`], Grad-CAM's and Grad-CAM++'s channel weights and weighted map and
//! Score-CAM's mask ranges and weights; [`SampleKernel`], the sampled inputs (SmoothGrad's noise,
//! Integrated Gradients' path), target seeds, gradient accumulation and class scores of a
//! [`SampleJob`]; [`PerturbKernel`], the perturbed inputs of Score-CAM, occlusion and the
//! deletion / insertion curves, and occlusion's map. Each has a plain-Rust reference in [`cpu`].

use wgpu::Buffer;

use crate::gpu::uniform::uniform_block;
use crate::gpu::{Dispatch, GpuContext, ImageBatch, Kernel, Shader, grid_for};

uniform_block! {
    /// Uniform block of the [`AttributionKernel`]s of `saliency.wgsl`.
    pub(crate) struct AttributionParams {
        images: u32,
        channels: u32,
        /// Values per channel (h * w) and per image (channels * plane).
        plane: u32,
        len: u32,
        /// Channel reduction: 0 = max |g|, 1 = sum |g|.
        reduce: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

uniform_block! {
    /// Uniform block of the [`CamKernel`]s of `saliency.wgsl`.
    pub(crate) struct CamParams {
        images: u32,
        channels: u32,
        /// Values per channel (h * w).
        plane: u32,
        /// Bilinear upsampling (Score-CAM's masks): source and destination sizes.
        in_h: u32,
        in_w: u32,
        out_h: u32,
        out_w: u32,
        _pad0: u32,
    }
}

uniform_block! {
    /// Uniform block of the [`SampleKernel`]s of `saliency.wgsl`.
    pub(crate) struct SampleParams {
        /// The job: images, samples per image, network slots per pass.
        images: u32,
        samples: u32,
        batch: u32,
        /// Values per input, classes of the output.
        len: u32,
        classes: u32,
        /// Weight of each gradient in the accumulation (1 / samples).
        weight: f32,
        /// SmoothGrad's noise seed (64 bits).
        seed_lo: u32,
        seed_hi: u32,
        /// Class scores: 1 = softmax probability of the target, 0 = its logit.
        softmax: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

uniform_block! {
    /// Uniform block of the [`PerturbKernel`]s of `saliency.wgsl` and of occlusion's map.
    pub(crate) struct PerturbParams {
        /// The job: images, samples per image, network slots per pass.
        images: u32,
        samples: u32,
        batch: u32,
        /// Values per input and per channel (h * w) of the input.
        len: u32,
        plane: u32,
        /// Bilinear upsampling (Score-CAM's masks) from in_h x in_w to the input, out_h x out_w.
        in_h: u32,
        in_w: u32,
        out_h: u32,
        out_w: u32,
        /// Occlusion: patch side, step between patches, patches per row.
        patch_size: u32,
        stride: u32,
        windows_x: u32,
    }
}

/// A dispatch of `entry` with `params` at binding 0 and `buffers` at 1, 2, ..., over
/// `invocations` invocations.
fn dispatch<P: bytemuck::Pod>(
    ctx: &GpuContext,
    entry: &'static str,
    params: &P,
    buffers: &[&Buffer],
    invocations: usize,
) -> Dispatch {
    ctx.dispatch_with(
        Kernel::new(Shader::Saliency, entry),
        params,
        buffers,
        grid_for(invocations),
    )
}

/// How the channels of a gradient become one map value per pixel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduce {
    /// max over channels of |g| (Simonyan et al.'s saliency map).
    #[default]
    Max,
    /// sum over channels of |g|.
    Sum,
}

impl std::str::FromStr for Reduce {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "max" => Ok(Reduce::Max),
            "sum" => Ok(Reduce::Sum),
            _ => Err(crate::Error::InvalidInput(format!(
                "unknown channel reduction `{s}`; choose max or sum"
            ))),
        }
    }
}

/// The kernels over per-channel input attributions ([`ImageBatch::attribution`]). Each binds the
/// buffers named in its description, in that order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributionKernel {
    /// dst[n, p] = max_c |src[n, c, p]| or sum_c |src[n, c, p]|. Buffers: src, dst.
    ReduceChannels(Reduce),
    /// attr = (images - base) * attr, elementwise over every value. Buffers: images, base,
    /// attr.
    TimesDifference,
}

/// The kernels of the CAM methods over a layer's activations ([`ImageBatch::cam`]). Each binds the
/// buffers named in its description, in that order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CamKernel {
    /// Grad-CAM's channel weights: alpha[n, c] = mean over the plane of grad[n, c, :].
    /// Buffers: grad, alpha.
    Weights,
    /// Grad-CAM++'s channel weights: alpha[n, c] = sum over the plane of relu(g) * g² / (2 g² +
    /// A g³ + 1e-6) (0 where g = 0), g = grad[n, c, p] and A = the sum of act[n, c, :].
    /// Buffers: grad, act, alpha.
    PlusPlusWeights,
    /// The map: cam[n, p] = max(sum_c alpha[n, c] * act[n, c, p], 0). Buffers: act, alpha, cam.
    Map,
    /// Score-CAM's mask ranges: range[n, c] = (min, max) of act[n, c] upsampled bilinearly as
    /// the [`Resize`] says. Buffers: act, range.
    MaskRange(Resize),
    /// Score-CAM's channel weights: alpha[n, c] = scores[n, c], or 0 where the channel's mask
    /// range is empty (a flat map). Buffers: range, scores, alpha.
    ScoreWeights,
}

/// A bilinear upsampling of planes: (height, width) of the source and of the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resize {
    /// Source height and width.
    pub from: (usize, usize),
    /// Result height and width.
    pub to: (usize, usize),
}

/// The attribution and CAM kernels on a batch of images or of a layer's activations.
impl ImageBatch {
    /// A dispatch of `kernel` binding `buffers`, one invocation per map pixel or input value.
    pub fn attribution(
        &self,
        ctx: &GpuContext,
        kernel: AttributionKernel,
        buffers: &[&Buffer],
    ) -> Dispatch {
        let mut params = AttributionParams {
            images: self.batch as u32,
            channels: self.channels as u32,
            plane: self.plane() as u32,
            len: self.per_image() as u32,
            ..AttributionParams::default()
        };
        let (entry, per_image) = match kernel {
            AttributionKernel::ReduceChannels(reduce) => {
                params.reduce = reduce as u32;
                ("reduce_channels", self.plane())
            }
            AttributionKernel::TimesDifference => ("times_difference", self.per_image()),
        };
        dispatch(ctx, entry, &params, buffers, self.batch * per_image)
    }

    /// A dispatch of `kernel` binding `buffers`, one invocation per channel or map pixel.
    pub fn cam(&self, ctx: &GpuContext, kernel: CamKernel, buffers: &[&Buffer]) -> Dispatch {
        let mut params = CamParams {
            images: self.batch as u32,
            channels: self.channels as u32,
            plane: self.plane() as u32,
            ..CamParams::default()
        };
        let (entry, per_image) = match kernel {
            CamKernel::Weights => ("cam_weights", self.channels),
            CamKernel::PlusPlusWeights => ("campp_weights", self.channels),
            CamKernel::Map => ("cam_map", self.plane()),
            CamKernel::MaskRange(resize) => {
                [params.in_h, params.in_w, params.out_h, params.out_w] = resize.sizes();
                ("mask_range", self.channels)
            }
            CamKernel::ScoreWeights => ("score_weights", self.channels),
        };
        dispatch(ctx, entry, &params, buffers, self.batch * per_image)
    }
}

impl Resize {
    /// Source height and width, then the result's, as the uniform blocks hold them.
    fn sizes(&self) -> [u32; 4] {
        [self.from.0, self.from.1, self.to.0, self.to.1].map(|v| v as u32)
    }
}

/// Occlusion's patches on an input of `hw`: squares of side `patch` every `stride` pixels, as
/// many as fit, row by row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patches {
    /// Input height and width.
    pub hw: (usize, usize),
    /// Side of a patch in pixels.
    pub patch: usize,
    /// Step between patches in pixels.
    pub stride: usize,
}

impl Patches {
    /// Patches per row and per column; fails when the patch is larger than the input or a size
    /// is zero.
    pub fn grid(&self) -> crate::Result<(usize, usize)> {
        let (h, w) = self.hw;
        if self.patch == 0 || self.stride == 0 || self.patch > h.min(w) {
            return Err(crate::Error::InvalidInput(format!(
                "occlusion patch {} with stride {} does not fit a {h}x{w} input (the patch must \
                 be 1 to {} pixels, the stride at least 1)",
                self.patch,
                self.stride,
                h.min(w)
            )));
        }
        Ok((
            (w - self.patch) / self.stride + 1,
            (h - self.patch) / self.stride + 1,
        ))
    }

    /// How many patches there are.
    pub fn count(&self) -> crate::Result<usize> {
        self.grid().map(|(x, y)| x * y)
    }

    /// Writes the patch geometry into `params`; fails where the patches do not fit.
    fn write_geometry(&self, params: &mut PerturbParams) -> crate::Result<()> {
        params.out_h = self.hw.0 as u32;
        params.out_w = self.hw.1 as u32;
        params.plane = (self.hw.0 * self.hw.1) as u32;
        params.patch_size = self.patch as u32;
        params.stride = self.stride as u32;
        params.windows_x = self.grid()?.0 as u32;
        Ok(())
    }

    /// Occlusion's map of `images` images from the scores of a job over images x (patches + 1)
    /// ([`PerturbKernel::OcclusionInputs`]): map[n, y, x] = mean over the patches covering the
    /// pixel of scores[n, patches] - scores[n, patch].
    pub fn occlusion_map(
        &self,
        ctx: &GpuContext,
        images: usize,
        scores: &Buffer,
        map: &Buffer,
    ) -> crate::Result<Dispatch> {
        let mut params = PerturbParams {
            images: images as u32,
            samples: self.count()? as u32 + 1,
            ..PerturbParams::default()
        };
        self.write_geometry(&mut params)?;
        let invocations = images * self.hw.0 * self.hw.1;
        Ok(dispatch(
            ctx,
            "occlusion_map",
            &params,
            &[scores, map],
            invocations,
        ))
    }
}

/// A sampled job: `images` images x `samples` samples each (pair p = image * samples + sample),
/// run in passes of `batch` network slots; pass b holds pairs b * batch .. b * batch + batch.
/// The pass index is a one-element u32 storage buffer (`state`) that [`SampleKernel::Advance`]
/// bumps on the GPU, so the dispatches are built once and recorded for every pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleJob {
    /// Images in the job.
    pub images: usize,
    /// Samples per image.
    pub samples: usize,
    /// Network slots per pass.
    pub batch: usize,
    /// Values per image (channels * h * w).
    pub len: usize,
    /// Classes of the network's output.
    pub classes: usize,
}

/// The kernels of a sampled job ([`SampleJob::sampled`]). Each binds the buffers named in its
/// description, in that order, first the pass counter `state`. Slot k of a pass holds the pair
/// (img, s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleKernel {
    /// `input[k]` = `images[img]` + `sigma[img]` * N(0, 1), noise from [`cpu::gaussian`] with
    /// this seed. Buffers: state, images, sigma, input.
    SmoothInputs(u64),
    /// `input[k]` = `base[img]` + (s + 1/2) / samples * (`images[img]` - `base[img]`).
    /// Buffers: state, images, base, input.
    PathInputs,
    /// `seed[k]` = one-hot of the target class (u32 `targets[img]`). Buffers: state, targets, seed.
    SeedTargets,
    /// `acc[img]` += `grad[k]` / samples for every active slot k. Buffers: state, grad, acc.
    Accumulate,
    /// `scores[p]` = the softmax probability (`true`) or the logit of the target class (u32
    /// `targets[img]`) in the logits row of each active slot, p its pair. Buffers: state,
    /// targets, logits, scores.
    ClassScores(bool),
    /// `state[0]` += 1: the next pass (it stops one past the last pass). Buffers: state.
    Advance,
}

/// The perturbed inputs of a job ([`SampleJob::perturbed`]). Each kernel binds the buffers
/// named in its description, in that order, first the pass counter `state`. Slot k of a pass
/// holds the pair (img, s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerturbKernel {
    /// Score-CAM's inputs, a job of images x channels: `input[k]` = `images[img]` times channel
    /// s of `act` upsampled as the [`Resize`] says (to the input size) and scaled to [0, 1] by
    /// its `range` ([`CamKernel::MaskRange`]; 0 for a flat channel). Buffers: state, images,
    /// act, range, input.
    ScoreInputs(Resize),
    /// Occlusion's inputs, a job of images x (patches + 1): `input[k]` = `images[img]` with
    /// patch s set to 0 (the mean color) in every channel; the last sample is the image
    /// unchanged. Buffers: state, images, input.
    OcclusionInputs(Patches),
    /// The deletion and insertion inputs, a job of (2 x images) curves x (steps + 1): at step s
    /// the first round(s * plane / steps) pixels in image n's order (`rank[n, pixel]`, u32, the
    /// pixel's place in it) come from the blurred copy (curve 2n, deletion) or from the photo
    /// (curve 2n + 1, insertion); the others from the photo (deletion) or the blurred copy
    /// (insertion). Inputs are 3-channel, `len` = 3 * plane. Buffers: state, photo, blurred,
    /// rank, input.
    RevealInputs,
}

impl SampleJob {
    /// Passes needed to run every pair.
    pub fn passes(&self) -> usize {
        (self.images * self.samples).div_ceil(self.batch.max(1))
    }

    /// A dispatch of `kernel` binding `buffers`, one invocation per input value, logit or slot,
    /// or one in all.
    pub fn sampled(&self, ctx: &GpuContext, kernel: SampleKernel, buffers: &[&Buffer]) -> Dispatch {
        let mut params = SampleParams {
            images: self.images as u32,
            samples: self.samples as u32,
            batch: self.batch as u32,
            len: self.len as u32,
            classes: self.classes as u32,
            weight: 1.0 / self.samples.max(1) as f32,
            ..SampleParams::default()
        };
        let values = self.batch * self.len;
        let (entry, invocations) = match kernel {
            SampleKernel::SmoothInputs(seed) => {
                (params.seed_lo, params.seed_hi) = (seed as u32, (seed >> 32) as u32);
                ("smooth_inputs", values)
            }
            SampleKernel::PathInputs => ("path_inputs", values),
            SampleKernel::SeedTargets => ("seed_targets", self.batch * self.classes),
            SampleKernel::Accumulate => ("accumulate", values),
            SampleKernel::ClassScores(softmax) => {
                params.softmax = softmax as u32;
                ("class_scores", self.batch)
            }
            SampleKernel::Advance => ("advance", 1),
        };
        dispatch(ctx, entry, &params, buffers, invocations)
    }

    /// A dispatch of `kernel` binding `buffers`, one invocation per input value; fails where
    /// occlusion's patches do not fit the input.
    pub fn perturbed(
        &self,
        ctx: &GpuContext,
        kernel: PerturbKernel,
        buffers: &[&Buffer],
    ) -> crate::Result<Dispatch> {
        let mut params = PerturbParams {
            images: self.images as u32,
            samples: self.samples as u32,
            batch: self.batch as u32,
            len: self.len as u32,
            ..PerturbParams::default()
        };
        let entry = match kernel {
            PerturbKernel::ScoreInputs(resize) => {
                params.plane = (resize.to.0 * resize.to.1) as u32;
                [params.in_h, params.in_w, params.out_h, params.out_w] = resize.sizes();
                "score_inputs"
            }
            PerturbKernel::OcclusionInputs(patches) => {
                patches.write_geometry(&mut params)?;
                "occlusion_inputs"
            }
            PerturbKernel::RevealInputs => {
                params.plane = (self.len / 3) as u32;
                "reveal_inputs"
            }
        };
        Ok(dispatch(
            ctx,
            entry,
            &params,
            buffers,
            self.batch * self.len,
        ))
    }
}

/// Plain-Rust reference implementations.
pub mod cpu {
    use super::{Patches, Reduce, SampleJob};
    use crate::gpu::ImageBatch;
    use crate::hash::pcg;

    /// dst[n, p] = max_c |src[n, c, p]| or sum_c |src[n, c, p]|.
    pub fn reduce_channels(shape: ImageBatch, reduce: Reduce, src: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0f32; shape.batch * shape.plane()];
        for (n, image) in src.chunks(shape.per_image()).enumerate() {
            for channel in image.chunks(shape.plane()) {
                for (o, &v) in out[n * shape.plane()..].iter_mut().zip(channel) {
                    *o = match reduce {
                        Reduce::Max => o.max(v.abs()),
                        Reduce::Sum => *o + v.abs(),
                    };
                }
            }
        }
        out
    }

    /// The standard normal value SmoothGrad adds (times sigma) to element `e` of pair `p`: a
    /// counter-based hash of seed, pair and element, then Box-Muller.
    pub fn gaussian(seed: u64, p: u32, e: u32) -> f32 {
        let key = pcg(pcg(pcg(seed as u32 ^ pcg((seed >> 32) as u32)) ^ p) ^ e);
        let a = pcg(key);
        let b = pcg(key ^ 0x9e37_79b9);
        let u1 = ((a >> 8) as f32 + 1.0) / 16_777_216.0;
        let u2 = (b >> 8) as f32 / 16_777_216.0;
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }

    /// The pair in each slot of pass `pass`, `None` where inactive.
    fn pairs(job: &SampleJob, pass: usize) -> impl Iterator<Item = Option<usize>> + '_ {
        (0..job.batch).map(move |k| {
            let p = pass * job.batch + k;
            (p < job.images * job.samples).then_some(p)
        })
    }

    /// The network input of pass `pass`: `images[img]` + `sigma[img]` * gaussian(seed, p, e).
    pub fn smooth_inputs(
        job: &SampleJob,
        pass: usize,
        seed: u64,
        images: &[f32],
        sigma: &[f32],
    ) -> Vec<f32> {
        pairs(job, pass)
            .flat_map(|p| {
                (0..job.len).map(move |e| match p {
                    None => 0.0,
                    Some(p) => {
                        let img = p / job.samples;
                        sigma[img].mul_add(
                            gaussian(seed, p as u32, e as u32),
                            images[img * job.len + e],
                        )
                    }
                })
            })
            .collect()
    }

    /// The network input of pass `pass`: base + (s + 1/2) / samples * (image - base).
    pub fn path_inputs(job: &SampleJob, pass: usize, images: &[f32], base: &[f32]) -> Vec<f32> {
        pairs(job, pass)
            .flat_map(|p| {
                (0..job.len).map(move |e| match p {
                    None => 0.0,
                    Some(p) => {
                        let (img, s) = (p / job.samples, p % job.samples);
                        let alpha = (s as f32 + 0.5) / job.samples as f32;
                        let j = img * job.len + e;
                        alpha.mul_add(images[j] - base[j], base[j])
                    }
                })
            })
            .collect()
    }

    /// The logits' gradient of pass `pass`: one-hot target of each active slot's image.
    pub fn seed_targets(job: &SampleJob, pass: usize, targets: &[u32]) -> Vec<f32> {
        pairs(job, pass)
            .flat_map(|p| {
                (0..job.classes).map(move |c| match p {
                    Some(p) if targets[p / job.samples] as usize == c => 1.0,
                    _ => 0.0,
                })
            })
            .collect()
    }

    /// `acc[img]` += `grad[k]` / samples for the active slots of pass `pass`.
    pub fn accumulate(job: &SampleJob, pass: usize, grad: &[f32], acc: &mut [f32]) {
        let weight = 1.0 / job.samples as f32;
        for (k, p) in pairs(job, pass).enumerate() {
            let Some(p) = p else { continue };
            let img = p / job.samples;
            let src = &grad[k * job.len..(k + 1) * job.len];
            for (a, &g) in acc[img * job.len..(img + 1) * job.len].iter_mut().zip(src) {
                *a += weight * g;
            }
        }
    }

    /// attr = (images - base) * attr.
    pub fn times_difference(images: &[f32], base: &[f32], attr: &mut [f32]) {
        for ((a, &x), &b) in attr.iter_mut().zip(images).zip(base) {
            *a *= x - b;
        }
    }

    /// alpha[n, c] = mean over the plane of grad[n, c, :].
    pub fn cam_weights(shape: ImageBatch, grad: &[f32]) -> Vec<f32> {
        grad.chunks(shape.plane())
            .map(|g| g.iter().sum::<f32>() / shape.plane() as f32)
            .collect()
    }

    /// cam[n, p] = max(sum_c alpha[n, c] * act[n, c, p], 0).
    pub fn cam_map(shape: ImageBatch, act: &[f32], alpha: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0f32; shape.batch * shape.plane()];
        for n in 0..shape.batch {
            let row = &mut out[n * shape.plane()..(n + 1) * shape.plane()];
            for c in 0..shape.channels {
                let a = alpha[n * shape.channels + c];
                let plane = &act[(n * shape.channels + c) * shape.plane()..][..shape.plane()];
                for (o, &v) in row.iter_mut().zip(plane) {
                    *o += a * v;
                }
            }
            for o in row {
                *o = o.max(0.0);
            }
        }
        out
    }

    /// alpha[n, c] = sum over the plane of relu(g) * g² / (2 g² + A g³ + 1e-6) (0 where g = 0),
    /// A = the sum of act[n, c, :] (Grad-CAM++).
    pub fn campp_weights(shape: ImageBatch, grad: &[f32], act: &[f32]) -> Vec<f32> {
        grad.chunks(shape.plane())
            .zip(act.chunks(shape.plane()))
            .map(|(g, a)| {
                let total: f32 = a.iter().sum();
                g.iter()
                    .filter(|&&g| g != 0.0)
                    .map(|&g| g.max(0.0) * g * g / (2.0 * g * g + total * g * g * g + 1e-6))
                    .sum()
            })
            .collect()
    }

    /// (min, max) of each plane of act (`from`) upsampled to `to`, flattened.
    pub fn mask_range(
        shape: ImageBatch,
        from: (usize, usize),
        to: (usize, usize),
        act: &[f32],
    ) -> Vec<f32> {
        crate::ops::resample::cpu::resize_bilinear(shape.batch * shape.channels, from, to, act)
            .chunks(to.0 * to.1)
            .flat_map(|m| {
                let lo = m.iter().copied().fold(f32::INFINITY, f32::min);
                let hi = m.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                [lo, hi]
            })
            .collect()
    }

    /// `alpha[i] = scores[i]`, or 0 where range i is empty.
    pub fn score_weights(range: &[f32], scores: &[f32]) -> Vec<f32> {
        scores
            .iter()
            .zip(range.chunks(2))
            .map(|(&s, r)| if r[1] > r[0] { s } else { 0.0 })
            .collect()
    }

    /// Score-CAM's network input of pass `pass` (see [`super::PerturbKernel::ScoreInputs`]).
    pub fn score_inputs(
        job: &SampleJob,
        pass: usize,
        from: (usize, usize),
        to: (usize, usize),
        images: &[f32],
        act: &[f32],
        range: &[f32],
    ) -> Vec<f32> {
        let plane = to.0 * to.1;
        pairs(job, pass)
            .flat_map(|p| {
                let masks = p.map(|p| {
                    let low = &act[p * from.0 * from.1..][..from.0 * from.1];
                    let (lo, hi) = (range[2 * p], range[2 * p + 1]);
                    crate::ops::resample::cpu::resize_bilinear(1, from, to, low)
                        .iter()
                        .map(|v| if hi > lo { (v - lo) / (hi - lo) } else { 0.0 })
                        .collect::<Vec<f32>>()
                });
                (0..job.len).map(move |e| match (p, &masks) {
                    (Some(p), Some(mask)) => {
                        images[(p / job.samples) * job.len + e] * mask[e % plane]
                    }
                    _ => 0.0,
                })
            })
            .collect()
    }

    /// `scores[p]` = the softmax probability (or the logit) of the target class in each active
    /// slot's logits row, for pass `pass`.
    pub fn class_scores(
        job: &SampleJob,
        pass: usize,
        softmax: bool,
        targets: &[u32],
        logits: &[f32],
        scores: &mut [f32],
    ) {
        for (k, p) in pairs(job, pass).enumerate() {
            let Some(p) = p else { continue };
            let row = &logits[k * job.classes..(k + 1) * job.classes];
            let target = targets[p / job.samples] as usize;
            scores[p] = if softmax {
                crate::classify::softmax(row)[target]
            } else {
                row[target]
            };
        }
    }

    /// Whether pixel (y, x) lies under patch `w`.
    fn occluded(patches: &Patches, per_row: usize, w: usize, y: usize, x: usize) -> bool {
        let (top, left) = (
            (w / per_row) * patches.stride,
            (w % per_row) * patches.stride,
        );
        (top..top + patches.patch).contains(&y) && (left..left + patches.patch).contains(&x)
    }

    /// Occlusion's network input of pass `pass` (see [`super::PerturbKernel::OcclusionInputs`]).
    pub fn occlusion_inputs(
        job: &SampleJob,
        pass: usize,
        patches: &Patches,
        images: &[f32],
    ) -> Vec<f32> {
        let (per_row, _) = patches.grid().unwrap();
        let (plane, width) = (patches.hw.0 * patches.hw.1, patches.hw.1);
        pairs(job, pass)
            .flat_map(|p| {
                (0..job.len).map(move |e| {
                    let Some(p) = p else { return 0.0 };
                    let (w, pixel) = (p % job.samples, e % plane);
                    let hidden = w + 1 < job.samples
                        && occluded(patches, per_row, w, pixel / width, pixel % width);
                    if hidden {
                        0.0
                    } else {
                        images[(p / job.samples) * job.len + e]
                    }
                })
            })
            .collect()
    }

    /// Occlusion's maps [images, h, w] from the scores [images, patches + 1].
    pub fn occlusion_map(images: usize, patches: &Patches, scores: &[f32]) -> Vec<f32> {
        let (per_row, _) = patches.grid().unwrap();
        let windows = patches.count().unwrap();
        let (h, w) = patches.hw;
        let mut out = Vec::with_capacity(images * h * w);
        for s in scores.chunks(windows + 1).take(images) {
            for y in 0..h {
                for x in 0..w {
                    let drops: Vec<f32> = (0..windows)
                        .filter(|&k| occluded(patches, per_row, k, y, x))
                        .map(|k| s[windows] - s[k])
                        .collect();
                    out.push(if drops.is_empty() {
                        0.0
                    } else {
                        drops.iter().sum::<f32>() / drops.len() as f32
                    });
                }
            }
        }
        out
    }

    /// The deletion and insertion inputs of pass `pass` (see [`super::PerturbKernel::RevealInputs`]).
    pub fn reveal_inputs(
        job: &SampleJob,
        pass: usize,
        photo: &[f32],
        blurred: &[f32],
        rank: &[u32],
    ) -> Vec<f32> {
        let plane = job.len / 3;
        let steps = job.samples - 1;
        pairs(job, pass)
            .flat_map(|p| {
                (0..job.len).map(move |e| {
                    let Some(p) = p else { return 0.0 };
                    let (curve, step) = (p / job.samples, p % job.samples);
                    let n = curve / 2;
                    let count = (step * plane + steps / 2) / steps;
                    let changed = (rank[n * plane + e % plane] as usize) < count;
                    let j = n * job.len + e;
                    if changed == (curve % 2 == 1) {
                        photo[j]
                    } else {
                        blurred[j]
                    }
                })
            })
            .collect()
    }
}
