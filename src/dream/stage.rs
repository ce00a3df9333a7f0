//! One batch of runs at one input size (one octave) on the GPU: every buffer and dispatch is made
//! here once, then steps and snapshots are only recorded.

use super::diversity::{DiversityParts, Gram, mean_similarity};
use super::fourier::{Colours, MatrixStack, Side, basis, spectrum_scale};
use super::kernels::{RollDirection, StepRow, TransformPass, blur_radius, blur_weights};
use super::run::Objective;
use super::settings::{Diversity, DreamSettings, Parameterization};
use crate::error::Result;
use crate::gpu::{Dispatch, GpuContext, ImageBatch, StepOp, copy_buffer, record_all, record_ops};
use crate::model::{GradientRule, Network, Plan};
use crate::update::upload_image_bounds;

/// What a stage is made for.
pub(super) struct StageSpec<'a> {
    /// Input height and width.
    pub size: usize,
    /// The layer whose channel mean is maximized (the last layer for a class logit).
    pub layer: usize,
    /// The objective of each image (all at `layer`).
    pub objectives: &'a [Objective],
    /// The settings of each image.
    pub settings: &'a [DreamSettings],
    /// The schedule rows of this stage's steps, `batch` per step.
    pub rows: &'a [StepRow],
    /// The transform rows of this stage's steps, `batch` per step, when steps are scaled and
    /// rotated.
    pub transforms: Option<&'a [[f32; 4]]>,
    /// The diversity term and each image's group (images of one objective), when on.
    pub diversity: Option<(Diversity, &'a [usize])>,
    /// How the image is represented.
    pub parameterization: Parameterization,
}

/// The Fourier parameterization's buffers and dispatches.
struct FourierParts {
    coefficients: wgpu::Buffer,
    /// Coefficients to image: scale, two products, colours.
    render: Vec<Dispatch>,
    /// Image to coefficients: the inverse of `render`.
    from_image: Vec<Dispatch>,
}

/// The random scale and rotation's schedule: all steps' rows, and the current step's.
struct TransformRows {
    schedule: wgpu::Buffer,
    current: wgpu::Buffer,
}

/// The diversity term of a stage.
struct StageDiversity {
    parts: DiversityParts,
    /// How many backward dispatches run before the diversity layer's gradient is complete.
    split: usize,
    /// The objective's gradient seed, copied into the gradient before each step when the
    /// diversity term adds into that same buffer.
    seed: Option<wgpu::Buffer>,
    groups: Vec<usize>,
}

/// What a snapshot reads back.
pub(super) struct Readout {
    /// The images [batch, 3, size, size], normalized.
    pub images: Vec<f32>,
    /// Each image's objective: its channel's mean activation (the logit for a class), or its
    /// neuron's activation.
    pub objectives: Vec<f32>,
    /// Each image's logits, when the objective is a class.
    pub logits: Option<Vec<Vec<f32>>>,
    /// With diversity: each image's mean similarity to the others of its group.
    pub similarity: Option<Vec<Option<f32>>>,
}

/// The GPU side of one batch at one size.
pub(super) struct Stage {
    ctx: GpuContext,
    plan: Plan,
    images: ImageBatch,
    layer: usize,
    last_layer: bool,
    /// Each image's channel and its objective's weights on that channel's plane.
    units: Vec<(usize, Vec<(usize, f32)>)>,
    /// The image (normalized); rendered from the coefficients in the Fourier parameterization.
    x: wgpu::Buffer,
    target: wgpu::Buffer,
    schedule: wgpu::Buffer,
    current: wgpu::Buffer,
    blur_after: Vec<bool>,
    transform_rows: Option<TransformRows>,
    /// The image to the network's input: the roll, (the transform).
    jitter: Vec<Dispatch>,
    update: Vec<Dispatch>,
    blur: Vec<Dispatch>,
    fourier: Option<FourierParts>,
    diversity: Option<StageDiversity>,
    /// What a snapshot records: (render,) the image to the input, forward, (diversity).
    snapshot: Vec<StepOp>,
}

/// Bytes of one step's schedule rows for a batch.
fn row_bytes(batch: usize) -> u64 {
    (batch * size_of::<StepRow>()) as u64
}

impl Stage {
    pub fn new(net: &Network, spec: &StageSpec<'_>) -> Result<Self> {
        let ctx = net.context().clone();
        let batch = spec.settings.len();
        let (h, w) = (spec.size, spec.size);
        let plan = net.plan(batch, (h, w))?;
        let images = ImageBatch {
            batch,
            channels: 3,
            h,
            w,
        };
        let len = images.values();
        let x = ctx.storage("dream image", len)?;
        let g = ctx.storage("dream gradient", len)?;
        let target = ctx.storage("dream penalty target", len)?;
        let schedule = ctx.upload("dream schedule", bytemuck::cast_slice::<_, i32>(spec.rows))?;
        let current = ctx.storage("dream step row", batch * 4)?;

        let shapes = net.arch().shapes((h, w))?;
        let [c, ah, aw] = shapes[spec.layer + 1];
        let units: Vec<(usize, Vec<(usize, f32)>)> = spec
            .objectives
            .iter()
            .map(|o| (o.target(net.arch()).1, o.plane_weights((ah, aw))))
            .collect();
        let mut seed = vec![0.0; batch * c * ah * aw];
        for (n, (k, weights)) in units.iter().enumerate() {
            let start = (n * c + k) * ah * aw;
            for &(p, weight) in weights {
                seed[start + p] = weight;
            }
        }
        plan.activation_grad(spec.layer).write(&ctx, &seed)?;
        let diversity = match spec.diversity {
            None => None,
            Some((d, groups)) => {
                let [channels, dh, dw] = shapes[d.layer + 1];
                let shape = Gram {
                    batch,
                    channels,
                    plane: dh * dw,
                };
                let parts = DiversityParts::new(
                    &ctx,
                    shape,
                    groups,
                    d.weight,
                    &plan.activation(d.layer).buffer,
                    &plan.activation_grad(d.layer).buffer,
                )?;
                let count = |layer| {
                    plan.backward_dispatches_from(layer, GradientRule::Plain)
                        .count()
                };
                let seed = (d.layer == spec.layer)
                    .then(|| ctx.upload("dream objective seed", &seed))
                    .transpose()?;
                Some(StageDiversity {
                    parts,
                    split: count(spec.layer) - count(d.layer),
                    seed,
                    groups: groups.to_vec(),
                })
            }
        };

        let penalty: Vec<f32> = spec
            .settings
            .iter()
            .flat_map(|s| [s.l2, s.tv, 0.0, 0.0])
            .collect();
        let penalty = ctx.upload("dream penalty weights", &penalty)?;
        let rates: Vec<f32> = spec.settings.iter().map(|s| s.lr).collect();
        let rates = ctx.upload("dream step sizes", &rates)?;
        let norms = ctx.storage("dream gradient norms", batch)?;

        let input = &plan.input().buffer;
        let input_grad = &plan.input_grad().buffer;
        let (jitter, mut update, transform_rows) = match spec.transforms {
            None => (
                vec![images.roll(&ctx, RollDirection::Forward, &current, &x, input)],
                vec![images.roll(&ctx, RollDirection::Back, &current, input_grad, &g)],
                None,
            ),
            Some(t) => {
                let rows = TransformRows {
                    schedule: ctx.upload("dream transforms", bytemuck::cast_slice::<_, f32>(t))?,
                    current: ctx.storage("dream transform row", batch * 4)?,
                };
                let rolled = ctx.storage("dream rolled image", len)?;
                let (m, adjoint) = (&rows.current, TransformPass::Adjoint);
                (
                    vec![
                        images.roll(&ctx, RollDirection::Forward, &current, &x, &rolled),
                        images.transform(&ctx, TransformPass::Forward, m, &rolled, input),
                    ],
                    vec![
                        images.transform(&ctx, adjoint, m, input_grad, &rolled),
                        images.roll(&ctx, RollDirection::Back, &current, &rolled, &g),
                    ],
                    Some(rows),
                )
            }
        };
        update.push(images.regularize(&ctx, &penalty, &x, &target, &g));
        let mut blur = Vec::new();
        let mut fourier = None;
        match spec.parameterization {
            Parameterization::Pixels => {
                let bounds = upload_image_bounds(&ctx)?;
                update.extend([
                    images.sum_squares(&ctx, &g, &norms),
                    images.normalized_step(&ctx, 1.0, &g, &norms, &rates, &x),
                    images.clamp_channels(&ctx, &bounds, &x),
                ]);
                let radius = spec
                    .settings
                    .iter()
                    .map(|s| blur_radius(s.blur_sigma))
                    .max()
                    .unwrap_or(0);
                let taps: Vec<f32> = spec
                    .settings
                    .iter()
                    .flat_map(|s| blur_weights(s.blur_sigma, radius))
                    .collect();
                let taps = ctx.upload("dream blur weights", &taps)?;
                let tmp = ctx.storage("dream blur scratch", len)?;
                blur.extend(images.blur(&ctx, radius, &current, &taps, &x, &tmp));
            }
            Parameterization::Fourier => {
                let planes = MatrixStack {
                    planes: batch * 3,
                    rows: h,
                    cols: w,
                };
                let colours = Colours {
                    batch,
                    pixels: h * w,
                };
                let fh = ctx.upload("fourier basis (rows)", &basis(h))?;
                let fw = ctx.upload("fourier basis (columns)", &basis(w))?;
                let scale = spectrum_scale(h, w);
                let inverse: Vec<f32> = scale.iter().map(|s| 1.0 / s).collect();
                let scale = ctx.upload("spectrum scale", &scale)?;
                let inverse = ctx.upload("inverse spectrum scale", &inverse)?;
                let p = ctx.storage("fourier coefficients", len)?;
                let gp = ctx.storage("fourier coefficient gradient", len)?;
                let a = ctx.storage("fourier scaled spectrum", len)?;
                let t1 = ctx.storage("fourier half transform", len)?;
                let t = ctx.storage("fourier decorrelated image", len)?;
                update.extend([
                    colours.image_grad(&ctx, &t, &g, &a),
                    planes.multiply(&ctx, Side::Left, false, &fh, &a, &t1),
                    planes.multiply(&ctx, Side::Right, true, &fw, &t1, &a),
                    planes.scale(&ctx, &scale, &a, &gp),
                    images.sum_squares(&ctx, &gp, &norms),
                    images.normalized_step(&ctx, 1.0, &gp, &norms, &rates, &p),
                ]);
                fourier = Some(FourierParts {
                    render: vec![
                        planes.scale(&ctx, &scale, &p, &a),
                        planes.multiply(&ctx, Side::Left, true, &fh, &a, &t1),
                        planes.multiply(&ctx, Side::Right, false, &fw, &t1, &t),
                        colours.to_image(&ctx, &t, &x),
                    ],
                    from_image: vec![
                        colours.from_image(&ctx, &x, &t),
                        planes.multiply(&ctx, Side::Left, false, &fh, &t, &t1),
                        planes.multiply(&ctx, Side::Right, true, &fw, &t1, &a),
                        planes.scale(&ctx, &inverse, &a, &p),
                    ],
                    coefficients: p,
                });
            }
        }
        let render = fourier
            .iter()
            .map(|f| StepOp::Pass("render", f.render.clone()));
        let measure = diversity.iter().map(|d| d.parts.measure.to_vec());
        let snapshot = render
            .chain([
                StepOp::Copy(x.clone(), input.clone()),
                plan.forward_op_to(spec.layer),
            ])
            .chain(measure.map(|m| StepOp::Pass("diversity", m)))
            .collect();
        let blur_after = spec
            .rows
            .chunks(batch)
            .map(|step| !blur.is_empty() && step.iter().any(|r| r.blur != 0))
            .collect();
        Ok(Self {
            last_layer: spec.layer + 1 == net.arch().layers.len(),
            ctx,
            plan,
            images,
            layer: spec.layer,
            units,
            x,
            target,
            schedule,
            current,
            blur_after,
            transform_rows,
            jitter,
            update,
            blur,
            fourier,
            diversity,
            snapshot,
        })
    }

    /// The GPU context.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Images per batch.
    pub fn batch(&self) -> usize {
        self.images.batch
    }

    /// Input side.
    pub fn size(&self) -> usize {
        self.images.h
    }

    /// Sets the images to `images` (the batch's, normalized NCHW), and the coefficients to match.
    pub fn set_images(&self, images: &[f32]) {
        self.ctx.write(&self.x, images);
        if let Some(f) = &self.fourier {
            let mut encoder = self.ctx.encoder("dream start");
            record_all(&mut encoder, "from image", &f.from_image);
            self.ctx.submit(encoder);
        }
    }

    /// Sets the images' Fourier coefficients to `coefficients` (the batch's).
    pub fn set_coefficients(&self, coefficients: &[f32]) {
        if let Some(f) = &self.fourier {
            self.ctx.write(&f.coefficients, coefficients);
        }
    }

    /// Sets every image's L2 penalty target to `target` (one normalized CHW image).
    pub fn set_target(&self, target: &[f32]) {
        self.ctx.write(&self.target, &target.repeat(self.batch()));
    }

    /// Records the start of this stage from the last state of `previous` (a smaller octave):
    /// its image, resized.
    pub fn record_continue_from(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        previous: &Stage,
    ) -> Result<()> {
        previous.record_render(encoder);
        let resize = previous.images.resize(
            &self.ctx,
            (self.images.h, self.images.w),
            &previous.x,
            &self.x,
        )?;
        record_all(encoder, "octave resize", [&resize]);
        if let Some(f) = &self.fourier {
            record_all(encoder, "from image", &f.from_image);
        }
        Ok(())
    }

    /// Records the rendering of the image from the coefficients (nothing for pixels).
    fn record_render(&self, encoder: &mut wgpu::CommandEncoder) {
        if let Some(f) = &self.fourier {
            record_all(encoder, "render", &f.render);
        }
    }

    /// Records step `s` of this stage: copies of its schedule rows, then in one compute pass
    /// (render,) jitter, forward, backward, un-jitter and penalties, update, (clamp, and blur
    /// when due).
    pub fn record_step(&self, encoder: &mut wgpu::CommandEncoder, s: usize) {
        let bytes = row_bytes(self.batch());
        copy_buffer(
            encoder,
            (&self.schedule, s as u64 * bytes),
            (&self.current, 0),
            bytes,
        );
        if let Some(seed) = self.diversity.as_ref().and_then(|d| d.seed.as_ref()) {
            let grad = &self.plan.activation_grad(self.layer).buffer;
            copy_buffer(encoder, (seed, 0), (grad, 0), seed.size());
        }
        if let Some(t) = &self.transform_rows {
            let bytes = (self.batch() * size_of::<[f32; 4]>()) as u64;
            copy_buffer(
                encoder,
                (&t.schedule, s as u64 * bytes),
                (&t.current, 0),
                bytes,
            );
        }
        let render = self.fourier.iter().flat_map(|f| &f.render);
        let blur = if self.blur_after[s] {
            &self.blur[..]
        } else {
            &[]
        };
        // The diversity term's gradient joins the backward pass where it reaches its layer.
        let backward = || {
            self.plan
                .backward_dispatches_from(self.layer, GradientRule::Plain)
        };
        let split = self.diversity.as_ref().map_or(usize::MAX, |d| d.split);
        let diversity = self
            .diversity
            .iter()
            .flat_map(|d| d.parts.measure.iter().chain(&d.parts.gradient));
        let step = render
            .chain(&self.jitter)
            .chain(self.plan.forward_dispatches_to(self.layer))
            .chain(backward().take(split))
            .chain(diversity)
            .chain(backward().skip(split))
            .chain(&self.update)
            .chain(blur);
        record_all(encoder, "dream step", step);
    }

    /// Records what a snapshot needs: the image, and a forward pass on it unjittered.
    pub fn record_snapshot(&self, encoder: &mut wgpu::CommandEncoder) {
        record_ops(encoder, &self.snapshot);
    }

    /// Reads the images and objectives after [`Stage::record_snapshot`] was submitted.
    pub async fn read_snapshot(&self) -> Result<Readout> {
        let images = self.ctx.read_all(&self.x).await?;
        let similarity = match &self.diversity {
            Some(d) => Some(mean_similarity(
                &d.groups,
                &self.ctx.read_all(&d.parts.dots).await?,
            )),
            None => None,
        };
        let act = self.plan.activation(self.layer);
        let [batch, c, h, w] = act.shape;
        let plane = h * w;
        if self.last_layer && plane == 1 {
            let all = act.read(&self.ctx).await?;
            let logits: Vec<Vec<f32>> = all.chunks(c).map(<[f32]>::to_vec).collect();
            let objectives = (0..batch).map(|n| logits[n][self.units[n].0]).collect();
            return Ok(Readout {
                images,
                objectives,
                logits: Some(logits),
                similarity,
            });
        }
        let mut objectives = Vec::with_capacity(batch);
        for (n, (k, weights)) in self.units.iter().enumerate() {
            let start = (n * c + k) * plane;
            let v = self
                .ctx
                .read::<f32>(&act.buffer, start..start + plane)
                .await?;
            let sum: f64 = weights.iter().map(|&(p, w)| w as f64 * v[p] as f64).sum();
            objectives.push(sum as f32);
        }
        Ok(Readout {
            images,
            objectives,
            logits: None,
            similarity,
        })
    }
}
