//! Carlini-Wagner L2 (Carlini & Wagner 2017): the smallest L2 change that reaches the goal,
//! found by minimizing ‖x − x0‖² + c · max(margin, −κ) over a change of variable
//! x = (tanh(w) + 1) / 2 that keeps every pixel in [0, 1], with Adam; a binary search on the
//! constant c (each search step restarts from the original image) keeps the closest image that
//! reached its goal. Distances in the pixel domain's [0, 1] units; the margin is that of
//! [`Goal::margin`].

use crate::classify::argmax;
use crate::error::Result;
use crate::fooling::kernels::Goal;
use crate::fooling::oracle::{AttackLoss, Gradients};
use crate::fooling::robustness::Found;

/// Carlini-Wagner's settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CwConfig {
    /// Steps of the binary search on c.
    pub binary_steps: usize,
    /// Adam iterations per search step.
    pub iterations: usize,
    /// Adam's learning rate (in tanh space).
    pub lr: f32,
    /// The first constant c.
    pub initial_const: f32,
    /// Confidence κ: the margin is pushed down to −κ.
    pub confidence: f32,
}

impl Default for CwConfig {
    /// 5 search steps of 20 iterations, lr 0.01, c from 1, κ = 0.
    fn default() -> Self {
        Self {
            binary_steps: 5,
            iterations: 20,
            lr: 0.01,
            initial_const: 1.0,
            confidence: 0.0,
        }
    }
}

/// Above this, the search has no upper bound on c yet.
const UNBOUNDED: f32 = 1e10;

/// The binary search on c: the bounds (lower, upper) and the next c after a search step that
/// reached the goal (`success`: c may shrink) or not (c must grow: ×10 while no upper bound is
/// known, else the midpoint).
pub fn next_const(lower: f32, upper: f32, c: f32, success: bool) -> (f32, f32, f32) {
    if success {
        let upper = upper.min(c);
        (lower, upper, (lower + upper) / 2.0)
    } else {
        let lower = lower.max(c);
        let next = if upper < UNBOUNDED {
            (lower + upper) / 2.0
        } else {
            c * 10.0
        };
        (lower, upper, next)
    }
}

/// Per-image state.
struct Image {
    w0: Vec<f32>,
    w: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    bounds: (f32, f32),
    c: f32,
    success: bool,
    best: Option<(f32, Vec<f32>)>,
}

fn pixels(w: &[f32]) -> Vec<f32> {
    w.iter().map(|&v| (v.tanh() + 1.0) / 2.0).collect()
}

/// Runs Carlini-Wagner L2 on pixel-domain images `x0s` toward `goals`, all images batched
/// together in each query; returns for each image the closest image found that reaches its goal
/// (`None` if none did), the gradient queries spent (binary_steps × iterations) and the last c.
pub async fn carlini_wagner(
    model: &mut impl Gradients,
    x0s: &[&[f32]],
    goals: &[Goal],
    config: &CwConfig,
) -> Result<Vec<(Option<Found>, usize, f32)>> {
    const BETA1: f32 = 0.9;
    const BETA2: f32 = 0.999;
    let mut images: Vec<Image> = x0s
        .iter()
        .map(|x0| {
            let w0: Vec<f32> = x0
                .iter()
                .map(|&v| ((2.0 * v - 1.0) * 0.999_999).atanh())
                .collect();
            Image {
                w: w0.clone(),
                m: vec![0.0; w0.len()],
                v: vec![0.0; w0.len()],
                w0,
                bounds: (0.0, UNBOUNDED),
                c: config.initial_const,
                success: false,
                best: None,
            }
        })
        .collect();
    for _ in 0..config.binary_steps {
        for im in &mut images {
            im.w.clone_from(&im.w0);
            im.m.iter_mut().for_each(|a| *a = 0.0);
            im.v.iter_mut().for_each(|a| *a = 0.0);
            im.success = false;
        }
        for t in 1..=config.iterations {
            let xs: Vec<Vec<f32>> = images.iter().map(|im| pixels(&im.w)).collect();
            let refs: Vec<&[f32]> = xs.iter().map(Vec::as_slice).collect();
            let results = model.gradients(&refs, goals, AttackLoss::Margin).await?;
            let (c1, c2) = (1.0 - BETA1.powi(t as i32), 1.0 - BETA2.powi(t as i32));
            for (n, ((im, x), (logits, g))) in images.iter_mut().zip(xs).zip(results).enumerate() {
                let x0 = x0s[n];
                let dist2: f64 = x
                    .iter()
                    .zip(x0)
                    .map(|(&a, &b)| ((a - b) as f64).powi(2))
                    .sum();
                if goals[n].reached_by(argmax(&logits)) {
                    im.success = true;
                    if im.best.as_ref().is_none_or(|(d, _)| (dist2 as f32) < *d) {
                        im.best = Some((dist2 as f32, x.clone()));
                    }
                }
                // g ascends minus the margin; the loss descends the margin while it is above −κ.
                let active = goals[n].margin(&logits).1 > -config.confidence;
                let weight = if active { -im.c } else { 0.0 };
                for i in 0..x.len() {
                    let dx = 2.0 * (x[i] - x0[i]) + weight * g[i];
                    let dw = dx * (1.0 - (2.0 * x[i] - 1.0).powi(2)) / 2.0;
                    im.m[i] = BETA1 * im.m[i] + (1.0 - BETA1) * dw;
                    im.v[i] = BETA2 * im.v[i] + (1.0 - BETA2) * dw * dw;
                    let step = (im.m[i] / c1) / ((im.v[i] / c2).sqrt() + 1e-8);
                    im.w[i] -= config.lr * step;
                }
            }
        }
        for im in &mut images {
            let (lower, upper, c) = next_const(im.bounds.0, im.bounds.1, im.c, im.success);
            im.bounds = (lower, upper);
            im.c = c;
        }
    }
    let queries = config.binary_steps * config.iterations;
    Ok(images
        .into_iter()
        .map(|im| (im.best.map(|(_, x)| Found::new(x)), queries, im.c))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fooling::oracle::linear::Linear;
    use crate::fooling::pixels::distances;

    #[test]
    fn binary_search_brackets_the_constant() {
        // Failures grow c tenfold until one succeeds, then the search bisects.
        let (l, u, c) = next_const(0.0, UNBOUNDED, 1.0, false);
        assert_eq!((l, u, c), (1.0, UNBOUNDED, 10.0));
        let (l, u, c) = next_const(l, u, c, true);
        assert_eq!((l, u, c), (1.0, 10.0, 5.5));
        let (l, u, c) = next_const(l, u, c, false);
        assert_eq!((l, u, c), (5.5, 10.0, 7.75));
        let (l, u, c) = next_const(l, u, c, true);
        assert_eq!((l, u, c), (5.5, 7.75, 6.625));
    }

    /// Two classes, logits (a · x + b, 0) with a margin of 0.3 at x0: the closest image of
    /// the other class lies at 0.3 / ‖a‖ along −a (the box does not bind there); CW must not beat that distance and
    /// should come near it, and must raise c from a constant too small to succeed.
    #[test]
    fn cw_finds_a_near_minimal_change_on_a_linear_model() {
        let len = 12;
        let a: Vec<f32> = (0..len).map(|i| 0.5 + (i % 3) as f32 * 0.25).collect();
        let x0: Vec<f32> = (0..len).map(|i| 0.45 + 0.01 * (i % 5) as f32).collect();
        let score: f32 = a.iter().zip(&x0).map(|(p, q)| p * q).sum();
        let mut model = Linear {
            w: vec![a.clone(), vec![0.0; len]],
            b: vec![0.3 - score, 0.0],
            score_queries: 0,
            gradient_queries: 0,
        };
        let minimal = 0.3 / a.iter().map(|v| v * v).sum::<f32>().sqrt() * 255.0;
        let config = CwConfig {
            binary_steps: 8,
            iterations: 200,
            lr: 0.05,
            initial_const: 0.01,
            confidence: 0.0,
        };
        let out = pollster::block_on(carlini_wagner(
            &mut model,
            &[&x0],
            &[Goal::Away(0)],
            &config,
        ))
        .unwrap();
        let (found, queries, c) = &out[0];
        assert_eq!(*queries, 8 * 200);
        assert_eq!(model.gradient_queries, 8 * 200);
        let found = found.as_ref().expect("CW reaches the other class");
        let (l2, _) = distances(&found.image, &x0);
        assert!(l2 >= minimal * 0.999, "{l2} beats the minimum {minimal}");
        assert!(
            l2 <= minimal * 1.1,
            "{l2} is far from the minimum {minimal}"
        );
        assert!(found.image.iter().all(|v| (0.0..=1.0).contains(v)));
        // c started too small to succeed and ended above its start.
        assert!(*c > 0.01, "{c}");
    }
}
