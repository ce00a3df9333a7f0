//! The network as the pixel-domain attacks query it: logits of a batch of images (all that the
//! score-based Square attack may ask), and for the gradient attacks (APGD, Carlini-Wagner) the
//! gradient of a loss on the logits with respect to the pixels. [`NetworkOracle`] runs both on
//! the GPU; the attacks count their calls as queries.

use crate::error::{Error, Result};
use crate::fooling::config::Loss;
use crate::fooling::kernels::{Goal, LogitsBatch};
use crate::fooling::pixels::{gradient_to_pixels, to_input};
use crate::gpu::{Dispatch, GpuContext, record_all};
use crate::model::{GradientRule, Network, Plan};

/// The loss whose gradient [`Gradients::gradients`] returns, to be ascended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttackLoss {
    /// Cross-entropy of the class to leave, or the target's log-probability.
    CrossEntropy,
    /// Minus the goal's margin ([`Goal::margin`]).
    Margin,
}

/// A classifier seen through its scores only: logits of pixel-domain images.
// The traits' futures carry no Send bound: the GPU's futures in a browser have none.
#[allow(async_fn_in_trait)]
pub trait Scores {
    /// Values per image (3 · h · w).
    fn image_len(&self) -> usize;

    /// The logits of each pixel-domain CHW image.
    async fn logits(&mut self, images: &[&[f32]]) -> Result<Vec<Vec<f32>>>;
}

/// Images, the goal of each and the loss whose gradients a [`Gradients`] model is asked for.
#[derive(Clone, Copy, Debug)]
pub struct GradientQuery<'a> {
    /// Pixel-domain CHW images.
    pub images: &'a [&'a [f32]],
    /// The goal of each image, as many as images ([`GradientQuery::new`] checks).
    pub goals: &'a [Goal],
    /// The loss whose gradient is asked for.
    pub objective: AttackLoss,
}

impl<'a> GradientQuery<'a> {
    /// The query, or an error when `images` and `goals` differ in number.
    pub fn new(images: &'a [&'a [f32]], goals: &'a [Goal], objective: AttackLoss) -> Result<Self> {
        if images.len() != goals.len() {
            return Err(Error::InvalidInput(format!(
                "{} images but {} goals",
                images.len(),
                goals.len()
            )));
        }
        Ok(Self {
            images,
            goals,
            objective,
        })
    }
}

/// A classifier that also gives input gradients.
#[allow(async_fn_in_trait)]
pub trait Gradients: Scores {
    /// For each image: its logits and the gradient of `objective` for its goal with respect to
    /// its pixels. Fails when images and goals differ in number.
    async fn gradients(
        &mut self,
        images: &[&[f32]],
        goals: &[Goal],
        objective: AttackLoss,
    ) -> Result<Vec<(Vec<f32>, Vec<f32>)>> {
        self.answer(GradientQuery::new(images, goals, objective)?)
            .await
    }

    /// [`Gradients::gradients`] of a checked query.
    async fn answer(&mut self, query: GradientQuery<'_>) -> Result<Vec<(Vec<f32>, Vec<f32>)>>;
}

/// A network on the GPU for one input size and batch, with its loss seeds recorded between the
/// forward and the backward pass (one submit and two reads per batch).
#[derive(Debug)]
pub struct NetworkOracle {
    ctx: GpuContext,
    plan: Plan,
    goals: wgpu::Buffer,
    cross_entropy: Dispatch,
    margin: Dispatch,
}

impl NetworkOracle {
    /// The oracle for `size`×`size` images in batches of up to `batch` (fewer when the device's
    /// binding limit demands).
    pub fn new(net: &Network, batch: usize, size: usize) -> Result<Self> {
        let hw = (size, size);
        let ctx = net.context().clone();
        let batch = batch.clamp(1, net.max_batch(hw)?.max(1));
        let plan = net.plan(batch, hw)?;
        let logits = LogitsBatch {
            batch,
            classes: plan.logits().per_image(),
        };
        let goals = ctx.storage("oracle goals", batch)?;
        let (out, grad) = (&plan.logits().buffer, &plan.logits_grad().buffer);
        let cross_entropy = logits.seed_loss(&ctx, Loss::CrossEntropy, out, &goals, grad);
        let margin = logits.seed_margin(&ctx, out, &goals, grad);
        Ok(Self {
            ctx,
            plan,
            goals,
            cross_entropy,
            margin,
        })
    }

    /// Images per GPU batch.
    pub fn batch(&self) -> usize {
        self.plan.batch()
    }

    /// The normalized inputs of `images` padded to a whole batch with copies of the last.
    fn padded_input(&self, images: &[&[f32]]) -> Result<Vec<f32>> {
        let len = self.image_len();
        if let Some(bad) = images.iter().find(|x| x.len() != len) {
            return Err(Error::InvalidInput(format!(
                "an image has {} values, the network's input size needs {len}",
                bad.len()
            )));
        }
        let mut x = Vec::with_capacity(self.batch() * len);
        for n in 0..self.batch() {
            x.extend(to_input(images[n.min(images.len() - 1)]));
        }
        Ok(x)
    }

    fn rows(&self, values: Vec<f32>, count: usize) -> Vec<Vec<f32>> {
        let per = values.len() / self.batch();
        values
            .chunks(per)
            .take(count)
            .map(<[f32]>::to_vec)
            .collect()
    }
}

impl Scores for NetworkOracle {
    fn image_len(&self) -> usize {
        let (h, w) = self.plan.input_size();
        3 * h * w
    }

    async fn logits(&mut self, images: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(self.batch()) {
            let logits = self.plan.forward(&self.padded_input(chunk)?).await?;
            out.extend(self.rows(logits, chunk.len()));
        }
        Ok(out)
    }
}

impl Gradients for NetworkOracle {
    async fn answer(&mut self, query: GradientQuery<'_>) -> Result<Vec<(Vec<f32>, Vec<f32>)>> {
        let GradientQuery {
            images,
            goals,
            objective,
        } = query;
        let ctx = &self.ctx;
        let mut out = Vec::with_capacity(images.len());
        for (chunk, gs) in images.chunks(self.batch()).zip(goals.chunks(self.batch())) {
            let encoded: Vec<u32> = (0..self.batch())
                .map(|n| gs[n.min(gs.len() - 1)].encode())
                .collect();
            ctx.write(&self.goals, &encoded);
            self.plan.input().write(ctx, &self.padded_input(chunk)?)?;
            let seed = match objective {
                AttackLoss::CrossEntropy => &self.cross_entropy,
                AttackLoss::Margin => &self.margin,
            };
            let mut encoder = ctx.encoder("oracle gradient");
            self.plan.record_forward(&mut encoder);
            record_all(&mut encoder, "loss seed", [seed]);
            self.plan.record_backward(&mut encoder, GradientRule::Plain);
            ctx.submit(encoder);
            let logits = self.rows(self.plan.logits().read(ctx).await?, chunk.len());
            let grads = self.rows(self.plan.input_grad().read(ctx).await?, chunk.len());
            out.extend(logits.into_iter().zip(grads).map(|(l, mut g)| {
                gradient_to_pixels(&mut g);
                (l, g)
            }));
        }
        Ok(out)
    }
}

/// A linear classifier on the host (logits = W x + b), for testing the attacks exactly.
#[cfg(test)]
pub(crate) mod linear {
    use super::*;
    use crate::fooling::kernels::cpu;

    /// Logits `w[k] · x + b[k]`, counting the calls of each kind.
    pub struct Linear {
        pub w: Vec<Vec<f32>>,
        pub b: Vec<f32>,
        pub score_queries: usize,
        pub gradient_queries: usize,
    }

    impl Linear {
        /// `classes` random rows over `len` pixels, seeded.
        pub fn random(classes: usize, len: usize, seed: u64) -> Self {
            let mut rng = crate::hash::Rng::new(seed, 7);
            let w = (0..classes)
                .map(|_| (0..len).map(|_| rng.normal() as f32).collect())
                .collect();
            let b = (0..classes).map(|_| rng.normal() as f32).collect();
            Self {
                w,
                b,
                score_queries: 0,
                gradient_queries: 0,
            }
        }

        fn row(&self, x: &[f32]) -> Vec<f32> {
            self.w
                .iter()
                .zip(&self.b)
                .map(|(w, b)| w.iter().zip(x).map(|(a, v)| a * v).sum::<f32>() + b)
                .collect()
        }
    }

    impl Scores for Linear {
        fn image_len(&self) -> usize {
            self.w[0].len()
        }

        async fn logits(&mut self, images: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
            self.score_queries += images.len();
            Ok(images.iter().map(|x| self.row(x)).collect())
        }
    }

    impl Gradients for Linear {
        async fn answer(&mut self, query: GradientQuery<'_>) -> Result<Vec<(Vec<f32>, Vec<f32>)>> {
            self.gradient_queries += query.images.len();
            let classes = self.b.len();
            Ok(query
                .images
                .iter()
                .zip(query.goals)
                .map(|(x, &goal)| {
                    let logits = self.row(x);
                    let seed = match query.objective {
                        AttackLoss::CrossEntropy => {
                            cpu::seed_loss(&logits, classes, &[goal], Loss::CrossEntropy)
                        }
                        AttackLoss::Margin => cpu::seed_margin(&logits, classes, &[goal]),
                    };
                    let mut g = vec![0.0; x.len()];
                    for (s, w) in seed.iter().zip(&self.w) {
                        for (gi, wi) in g.iter_mut().zip(w) {
                            *gi += s * wi;
                        }
                    }
                    (logits, g)
                })
                .collect())
        }
    }
}
