//! The page's jobs: classification, saliency maps, fooling images and class visualization. Each
//! returns a promise that resolves when the GPU work is done; results come back as small
//! objects holding RGBA images and numbers.

use js_sys::{Function, Promise};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use netlens::classify::{argmax, logits, softmax, top_k};
use netlens::dream::{self, Objective, PenaltyTarget, Request, Run, Start};
use netlens::figure::colormap::Colormap;
use netlens::fooling::run::{Attacker, Verdict};
use netlens::fooling::config::AttackConfig;
use netlens::fooling::figure::{DIFFERENCE_GAINS, difference_image};
use netlens::saliency::run::{AttributionRequest, Attributor};
use netlens::saliency::method::{Method, Settings};

use crate::photo::{Photo, SIZE, input_rgba, rgba};
use crate::progress::Reporter;
use crate::{Lens, Model, js_error};

/// Images per GPU pass of the saliency methods (SmoothGrad's samples run this many at a time).
const SALIENCY_BATCH: usize = 5;

/// One class of a top-5 list, as `netlens classify --json` writes it.
#[derive(Serialize)]
struct Entry {
    index: usize,
    name: String,
    prob: f32,
}

/// Runs `job` as a promise; its error rejects the promise with a JavaScript `Error`.
fn promise<T: Into<JsValue>>(
    job: impl std::future::Future<Output = netlens::Result<T>> + 'static,
) -> Promise {
    future_to_promise(async move { job.await.map(Into::into).map_err(|e| js_error(e).into()) })
}

/// The softmax probabilities of one input.
async fn probabilities(model: &Model, input: &[f32]) -> netlens::Result<Vec<f32>> {
    let rows = logits(&model.net, &[input.to_vec()], (SIZE, SIZE), 1).await?;
    Ok(softmax(&rows[0]))
}

/// A saliency map of one photo.
#[wasm_bindgen]
pub struct SaliencyMap {
    values: Vec<f32>,
    target: usize,
}

#[wasm_bindgen]
impl SaliencyMap {
    /// The class the map explains.
    #[wasm_bindgen(getter)]
    pub fn target(&self) -> u32 {
        self.target as u32
    }

    /// The largest value.
    #[wasm_bindgen(getter)]
    pub fn max(&self) -> f32 {
        self.values
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max)
    }

    /// The mean value.
    #[wasm_bindgen(getter)]
    pub fn mean(&self) -> f32 {
        (self.values.iter().map(|&v| f64::from(v)).sum::<f64>() / self.values.len() as f64) as f32
    }

    /// The map in the `hot` colormap over its own range, 224×224 RGBA.
    pub fn heat(&self) -> Vec<u8> {
        rgba(&Colormap::Hot.render(&self.values, SIZE, SIZE, None))
    }
}

/// A fooling run's result.
#[wasm_bindgen]
pub struct Fooled {
    image: Vec<f32>,
    original: Vec<f32>,
    reached: bool,
    iterations: usize,
    summary: String,
}

#[wasm_bindgen]
impl Fooled {
    /// Whether the 8-bit fooled image is classified as the target.
    #[wasm_bindgen(getter)]
    pub fn reached(&self) -> bool {
        self.reached
    }

    /// Steps taken.
    #[wasm_bindgen(getter)]
    pub fn iterations(&self) -> u32 {
        self.iterations as u32
    }

    /// The run in words: the verdict, the classes before and after, the size of the change.
    #[wasm_bindgen(getter)]
    pub fn summary(&self) -> String {
        self.summary.clone()
    }

    /// The fooled image as 8-bit RGBA, what a PNG stores.
    pub fn image(&self) -> Vec<u8> {
        input_rgba(&self.image)
    }

    /// The difference to the original, magnified ×10 around mid-gray as the command line's
    /// figure draws it, as RGBA.
    pub fn difference(&self) -> Vec<u8> {
        rgba(&difference_image(
            &self.image,
            &self.original,
            SIZE,
            DIFFERENCE_GAINS[1],
        ))
    }
}

/// A class visualization at some step.
#[wasm_bindgen]
pub struct DreamImage {
    image: Vec<f32>,
    step: usize,
    prob: f32,
}

#[wasm_bindgen]
impl DreamImage {
    /// Steps taken.
    #[wasm_bindgen(getter)]
    pub fn step(&self) -> u32 {
        self.step as u32
    }

    /// The class probability of the (unrounded) image.
    #[wasm_bindgen(getter)]
    pub fn prob(&self) -> f32 {
        self.prob
    }

    /// The image as 8-bit RGBA.
    pub fn image(&self) -> Vec<u8> {
        input_rgba(&self.image)
    }
}

impl DreamImage {
    fn of(snapshot: &dream::Snapshot) -> Self {
        Self {
            image: snapshot.image.clone(),
            step: snapshot.step,
            prob: snapshot.probability.unwrap_or(f32::NAN),
        }
    }
}

#[wasm_bindgen]
impl Lens {
    /// The five most probable classes of `photo`: a JSON array of `{index, name, prob}`.
    pub fn classify(&self, photo: &Photo) -> Result<Promise, JsError> {
        let model = self.loaded()?;
        let shared = self.shared.clone();
        let input = photo.input.clone();
        Ok(promise(async move {
            let probs = probabilities(&model, &input).await?;
            let top: Vec<Entry> = top_k(&probs, 5)
                .into_iter()
                .map(|p| Entry {
                    index: p.index,
                    name: shared.classes.name(p.index).to_string(),
                    prob: p.prob,
                })
                .collect();
            Ok(serde_json::to_string(&top).expect("plain data serializes"))
        }))
    }

    /// The probability of class `class` on `photo`.
    pub fn probability(&self, photo: &Photo, class: u32) -> Result<Promise, JsError> {
        let model = self.loaded()?;
        let input = photo.input.clone();
        let class = self.class_index(class)?;
        Ok(promise(async move {
            Ok(probabilities(&model, &input).await?[class])
        }))
    }

    /// The saliency map of `method` (`vanilla`, `smoothgrad`, `gradcam`, `guided`, `ig`) for
    /// class `target`, or the network's top class when none is given; SmoothGrad averages
    /// `samples` noisy copies (default 25). `progress(done, total)` counts GPU passes.
    pub fn saliency(
        &self,
        photo: &Photo,
        method: &str,
        target: Option<u32>,
        samples: Option<u32>,
        progress: Option<Function>,
    ) -> Result<Promise, JsError> {
        let model = self.loaded()?;
        let method: Method = method.parse().map_err(js_error)?;
        let target = target.map(|t| self.class_index(t)).transpose()?;
        let mut settings = Settings::default();
        if let Some(samples) = samples {
            settings.samples = samples as usize;
        }
        settings.check().map_err(js_error)?;
        let input = photo.input.clone();
        Ok(promise(async move {
            let target = match target {
                Some(t) => t,
                None => argmax(&probabilities(&model, &input).await?),
            };
            let attributor = Attributor::new(&model.net, (SIZE, SIZE), SALIENCY_BATCH)?;
            let (inputs, targets) = ([input.to_vec()], [target]);
            let reporter = Reporter::new(progress);
            let request = AttributionRequest::new(&settings, &inputs, &targets, &reporter);
            let values = attributor.maps(method, &request).await?;
            Ok(SaliencyMap { values, target })
        }))
    }

    /// Fools the network: steps of `lr · g / ‖g‖` on the target's logit until the photo's 8-bit
    /// rounding is classified as `target`, at most `max_iters`. `progress(done, total)` counts
    /// steps.
    pub fn fool(
        &self,
        photo: &Photo,
        target: u32,
        lr: f32,
        max_iters: u32,
        progress: Option<Function>,
    ) -> Result<Promise, JsError> {
        let model = self.loaded()?;
        let shared = self.shared.clone();
        let target = self.class_index(target)?;
        let input = photo.input.clone();
        let config = AttackConfig::fool(lr, max_iters as usize);
        Ok(promise(async move {
            let attacker = Attacker::new(&model.net, 1, SIZE, config)?;
            let run = attacker
                .run(&[input.to_vec()], &[Some(target)], &Reporter::new(progress))
                .await?;
            let o = &run.outcomes[0];
            let name = |i: usize| shared.classes.name(i).to_string();
            let summary = format!(
                "{}: {} ({:.1} %) became {} ({:.1} %); change L2 {:.1}, L\u{221e} {:.0} levels",
                o.verdict.describe(o.iterations),
                name(o.clean.index),
                100.0 * o.clean.prob,
                name(o.rounded.prediction.index),
                100.0 * o.rounded.prediction.prob,
                o.rounded.l2_px,
                o.rounded.linf_px,
            );
            Ok(Fooled {
                image: o.image.clone(),
                original: input.to_vec(),
                reached: o.verdict == Verdict::Fooled,
                iterations: o.iterations,
                summary,
            })
        }))
    }

    /// Visualizes class `class` from noise as `settings` say; `preview(image)` gets a
    /// [`DreamImage`] every `settings.every` steps and `progress(done, total)` counts steps.
    /// Resolves to the final [`DreamImage`].
    pub fn dream(
        &self,
        class: u32,
        settings: &DreamSettings,
        preview: Option<Function>,
        progress: Option<Function>,
    ) -> Result<Promise, JsError> {
        self.dream_job(class, settings, None, preview, progress)
    }

    /// [`Lens::dream`] from `photo` instead of noise; the L2 penalty then pulls toward the photo.
    #[wasm_bindgen(js_name = dreamFrom)]
    pub fn dream_from(
        &self,
        photo: &Photo,
        class: u32,
        settings: &DreamSettings,
        preview: Option<Function>,
        progress: Option<Function>,
    ) -> Result<Promise, JsError> {
        self.dream_job(class, settings, Some(&photo.image), preview, progress)
    }
}

impl Lens {
    /// Runs a class visualization from `start`, or from noise.
    fn dream_job(
        &self,
        class: u32,
        settings: &DreamSettings,
        start: Option<&image::RgbImage>,
        preview: Option<Function>,
        progress: Option<Function>,
    ) -> Result<Promise, JsError> {
        let model = self.loaded()?;
        let class = self.class_index(class)?;
        let mut request = Request::new(vec![Run {
            objective: Objective::Class(class),
            settings: settings.settings,
            label: self.shared.classes.name(class).to_string(),
        }]);
        request.iterations = settings.steps;
        if let Some(image) = start {
            request.start = Start::Image(image.clone());
            request.penalty_target = PenaltyTarget::Start;
        }
        if settings.every > 0 {
            request.snapshots = (settings.every..settings.steps)
                .step_by(settings.every)
                .collect();
        }
        request.validate(model.net.arch()).map_err(js_error)?;
        Ok(promise(async move {
            let mut show = |_run: usize, snapshot: &dream::Snapshot| {
                if let Some(f) = &preview {
                    // A failing preview must not stop the GPU work.
                    let _ = f.call1(&JsValue::NULL, &DreamImage::of(snapshot).into());
                }
            };
            let result =
                dream::dream_with(&model.net, &request, &Reporter::new(progress), &mut show)
                    .await?;
            Ok(DreamImage::of(result.runs[0].last()))
        }))
    }

    /// `class` as an index, or an error naming the range.
    fn class_index(&self, class: u32) -> Result<usize, JsError> {
        let n = self.shared.classes.len();
        let class = class as usize;
        if class < n {
            Ok(class)
        } else {
            Err(JsError::new(&format!(
                "class index {class} is out of range 0..{}",
                n - 1
            )))
        }
    }
}

/// How a class visualization runs: steps, previews, step size and regularization.
#[wasm_bindgen]
pub struct DreamSettings {
    settings: dream::DreamSettings,
    steps: usize,
    every: usize,
}

#[wasm_bindgen]
impl DreamSettings {
    /// The classic settings of the loaded model (SqueezeNet: 100 steps of lr 25, L2 1e-3, blur
    /// σ 0.5 every 10 steps, jitter 16), a preview every 5 steps.
    #[wasm_bindgen(constructor)]
    pub fn new(lens: &Lens) -> Result<DreamSettings, JsError> {
        let kind = lens.loaded()?.kind;
        Ok(Self {
            settings: dream::DreamSettings::for_model(kind, dream::Parameterization::Pixels),
            steps: dream::DreamSettings::iterations_for(kind),
            every: 5,
        })
    }

    /// Steps to take.
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> u32 {
        self.steps as u32
    }
    /// Sets the steps to take.
    #[wasm_bindgen(setter)]
    pub fn set_steps(&mut self, v: u32) {
        self.steps = v as usize;
    }
    /// A preview every this many steps (0: none).
    #[wasm_bindgen(getter)]
    pub fn every(&self) -> u32 {
        self.every as u32
    }
    /// Sets how often to preview.
    #[wasm_bindgen(setter)]
    pub fn set_every(&mut self, v: u32) {
        self.every = v as usize;
    }
    /// Step length: I += lr · g / ‖g‖.
    #[wasm_bindgen(getter)]
    pub fn lr(&self) -> f32 {
        self.settings.lr
    }
    /// Sets the step length.
    #[wasm_bindgen(setter)]
    pub fn set_lr(&mut self, v: f32) {
        self.settings.lr = v;
    }
    /// Weight of the L2 penalty.
    #[wasm_bindgen(getter)]
    pub fn l2(&self) -> f32 {
        self.settings.l2
    }
    /// Sets the weight of the L2 penalty.
    #[wasm_bindgen(setter)]
    pub fn set_l2(&mut self, v: f32) {
        self.settings.l2 = v;
    }
    /// Standard deviation of the blur, in pixels.
    #[wasm_bindgen(getter)]
    pub fn blur(&self) -> f32 {
        self.settings.blur_sigma
    }
    /// Sets the standard deviation of the blur.
    #[wasm_bindgen(setter)]
    pub fn set_blur(&mut self, v: f32) {
        self.settings.blur_sigma = v;
    }
    /// Blur after every this many steps (0: never).
    #[wasm_bindgen(getter = blurEvery)]
    pub fn blur_every(&self) -> u32 {
        self.settings.blur_every as u32
    }
    /// Sets how often to blur.
    #[wasm_bindgen(setter = blurEvery)]
    pub fn set_blur_every(&mut self, v: u32) {
        self.settings.blur_every = v as usize;
    }
    /// The largest random roll, in pixels.
    #[wasm_bindgen(getter)]
    pub fn jitter(&self) -> u32 {
        self.settings.jitter as u32
    }
    /// Sets the largest random roll.
    #[wasm_bindgen(setter)]
    pub fn set_jitter(&mut self, v: u32) {
        self.settings.jitter = v as usize;
    }
}
