//! APGD-CE (Croce & Hein 2020, the gradient attack of AutoAttack): projected gradient ascent
//! on the cross-entropy with momentum 0.75 and a step size that starts at 2ε and halves at a
//! checkpoint when too few of the steps since the last one raised the loss, or when the step
//! was not halved and the best loss did not improve there (the iterate then restarts from the
//! best point). L∞ steps follow the gradient's sign, L2 steps its direction. Each image stops
//! at the first iterate its network no longer classifies as it should.

use crate::classify::argmax;
use crate::error::Result;
use crate::fooling::config::Norm;
use crate::fooling::kernels::{Goal, sign};
use crate::fooling::oracle::{AttackLoss, Gradients};
use crate::fooling::pixels::{eps_unit, l2_norm, project};
use crate::fooling::robustness::Found;
use crate::hash::Rng;

/// APGD's settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ApgdConfig {
    /// Norm of the budget.
    pub norm: Norm,
    /// Budget in pixel levels.
    pub eps: f32,
    /// Iterations (gradient queries after the first).
    pub iterations: usize,
    /// Seed of the random start.
    pub seed: u64,
}

/// Momentum weight α of the update.
const ALPHA: f32 = 0.75;
/// ρ: a checkpoint halves the step when at most this share of the steps since the last one
/// raised the loss.
const RHO: f32 = 0.75;

/// The checkpoints w_j of `n` iterations: w_j = ⌈p_j n⌉ with p_0 = 0, p_1 = 0.22,
/// p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06), computed as AutoAttack does in whole
/// iterations (intervals of ⌈0.22 n⌉ shrinking by ⌈0.03 n⌉ down to ⌈0.06 n⌉), up to `n`.
pub fn checkpoints(n: usize) -> Vec<usize> {
    let part = |p: f64| ((p * n as f64).ceil() as usize).max(1);
    let (decrease, least) = (part(0.03), part(0.06));
    let mut interval = part(0.22);
    let mut at = vec![0];
    while at[at.len() - 1] + interval <= n {
        at.push(at[at.len() - 1] + interval);
        interval = interval.saturating_sub(decrease).max(least);
    }
    at
}

/// Per-image state of the loop.
struct Track {
    x: Vec<f32>,
    previous: Vec<f32>,
    grad: Vec<f32>,
    loss: f32,
    best: (f32, Vec<f32>, Vec<f32>),
    step: f32,
    raised: usize,
    best_at_check: f32,
    halved_at_check: bool,
    found: Option<Found>,
}

/// The cross-entropy of a goal (the loss APGD-CE ascends): −log p_y to leave y, log p_t to reach
/// t.
fn loss(logits: &[f32], goal: Goal) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&v| (v as f64 - max).exp()).sum();
    let log_p = logits[goal.class()] as f64 - max - sum.ln();
    match goal {
        Goal::Away(_) => -log_p as f32,
        Goal::Target(_) => log_p as f32,
    }
}

/// x + step · d(g), where d is sign(g) for L∞ and g / ‖g‖₂ for L2.
fn ascend(x: &[f32], g: &[f32], step: f32, norm: Norm) -> Vec<f32> {
    match norm {
        Norm::Linf => x.iter().zip(g).map(|(&v, &d)| v + step * sign(d)).collect(),
        Norm::L2 => {
            let n = l2_norm(g.iter().copied()).max(1e-12) as f32;
            x.iter().zip(g).map(|(&v, &d)| v + step * d / n).collect()
        }
    }
}

/// A random point of the ball around `x0` (L∞: uniform; L2: a random direction at distance ε),
/// clamped to [0, 1].
fn random_start(x0: &[f32], eps: f32, norm: Norm, rng: &mut Rng) -> Vec<f32> {
    let mut x: Vec<f32> = match norm {
        Norm::Linf => x0
            .iter()
            .map(|&v| v + eps * (2.0 * rng.uniform() as f32 - 1.0))
            .collect(),
        Norm::L2 => {
            let d: Vec<f32> = x0.iter().map(|_| rng.normal() as f32).collect();
            let n = l2_norm(d.iter().copied()).max(1e-12) as f32;
            x0.iter().zip(&d).map(|(&v, &e)| v + eps * e / n).collect()
        }
    };
    project(&mut x, x0, eps, norm);
    x
}

/// Runs APGD-CE on pixel-domain images `x0s` toward `goals`, all images batched together in
/// each query; returns for each image the first iterate that reaches its goal (within the
/// budget and [0, 1]) or `None`, with the gradient queries it took.
pub async fn apgd(
    model: &mut impl Gradients,
    x0s: &[&[f32]],
    goals: &[Goal],
    config: &ApgdConfig,
) -> Result<Vec<(Option<Found>, usize)>> {
    let eps = eps_unit(config.eps);
    let norm = config.norm;
    let mut rng = Rng::new(config.seed, 0x4150_4744);
    let starts: Vec<Vec<f32>> = x0s
        .iter()
        .map(|x0| random_start(x0, eps, norm, &mut rng))
        .collect();
    let refs: Vec<&[f32]> = starts.iter().map(Vec::as_slice).collect();
    let first = model
        .gradients(&refs, goals, AttackLoss::CrossEntropy)
        .await?;
    let mut queries = vec![1usize; x0s.len()];
    let mut tracks: Vec<Track> = starts
        .into_iter()
        .zip(first)
        .zip(goals)
        .map(|((x, (logits, grad)), &goal)| {
            let l = loss(&logits, goal);
            let found = goal
                .reached_by(argmax(&logits))
                .then(|| Found::new(x.clone()));
            Track {
                previous: x.clone(),
                best: (l, x.clone(), grad.clone()),
                x,
                grad,
                loss: l,
                step: 2.0 * eps,
                raised: 0,
                best_at_check: l,
                halved_at_check: true,
                found,
            }
        })
        .collect();
    let checks = checkpoints(config.iterations);
    for k in 0..config.iterations {
        let active: Vec<usize> = (0..tracks.len())
            .filter(|&n| tracks[n].found.is_none())
            .collect();
        if active.is_empty() {
            break;
        }
        let alpha = if k == 0 { 1.0 } else { ALPHA };
        let moved: Vec<Vec<f32>> = active
            .iter()
            .map(|&n| {
                let t = &tracks[n];
                let mut z = ascend(&t.x, &t.grad, t.step, norm);
                project(&mut z, x0s[n], eps, norm);
                let mut next: Vec<f32> = (0..z.len())
                    .map(|i| {
                        let x = t.x[i];
                        x + alpha * (z[i] - x) + (1.0 - alpha) * (x - t.previous[i])
                    })
                    .collect();
                project(&mut next, x0s[n], eps, norm);
                next
            })
            .collect();
        let refs: Vec<&[f32]> = moved.iter().map(Vec::as_slice).collect();
        let active_goals: Vec<Goal> = active.iter().map(|&n| goals[n]).collect();
        let results = model
            .gradients(&refs, &active_goals, AttackLoss::CrossEntropy)
            .await?;
        for ((&n, x), (logits, grad)) in active.iter().zip(moved).zip(results) {
            queries[n] += 1;
            let t = &mut tracks[n];
            let l = loss(&logits, goals[n]);
            if goals[n].reached_by(argmax(&logits)) {
                t.found = Some(Found::new(x));
                continue;
            }
            if l > t.loss {
                t.raised += 1;
            }
            if l > t.best.0 {
                t.best = (l, x.clone(), grad.clone());
            }
            t.previous = std::mem::replace(&mut t.x, x);
            t.grad = grad;
            t.loss = l;
        }
        if let Some(j) = checks.iter().position(|&c| c == k + 1).filter(|&j| j > 0) {
            let interval = checks[j] - checks[j - 1];
            for &n in &active {
                let t = &mut tracks[n];
                if t.found.is_some() {
                    continue;
                }
                let oscillating = (t.raised as f32) <= RHO * interval as f32;
                let stalled = !t.halved_at_check && t.best_at_check >= t.best.0;
                let halve = oscillating || stalled;
                t.halved_at_check = halve;
                t.best_at_check = t.best.0;
                t.raised = 0;
                if halve {
                    t.step /= 2.0;
                    t.x = t.best.1.clone();
                    t.grad = t.best.2.clone();
                    t.loss = t.best.0;
                }
            }
        }
    }
    Ok(tracks
        .into_iter()
        .zip(queries)
        .map(|(t, q)| (t.found, q))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fooling::oracle::linear::Linear;
    use crate::fooling::pixels::distances;

    #[test]
    fn checkpoints_follow_the_schedule() {
        // p_j = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 for 100 iterations.
        assert_eq!(checkpoints(100), vec![0, 22, 41, 57, 70, 80, 87, 93, 99]);
        assert_eq!(checkpoints(10), vec![0, 3, 5, 6, 7, 8, 9, 10]);
        assert_eq!(checkpoints(1), vec![0, 1]);
    }

    #[test]
    fn apgd_stays_in_budget_and_breaks_a_linear_model() {
        let len = 3 * 6 * 6;
        let mut model = Linear::random(4, len, 3);
        let mut rng = Rng::new(9, 1);
        let x0s: Vec<Vec<f32>> = (0..3)
            .map(|_| (0..len).map(|_| rng.uniform() as f32).collect())
            .collect();
        let refs: Vec<&[f32]> = x0s.iter().map(Vec::as_slice).collect();
        let logits =
            pollster::block_on(crate::fooling::oracle::Scores::logits(&mut model, &refs)).unwrap();
        let goals: Vec<Goal> = logits.iter().map(|l| Goal::Away(argmax(l))).collect();
        for (norm, eps) in [(Norm::Linf, 2.0), (Norm::Linf, 40.0), (Norm::L2, 300.0)] {
            let config = ApgdConfig {
                norm,
                eps,
                iterations: 20,
                seed: 1,
            };
            model.gradient_queries = 0;
            let out = pollster::block_on(apgd(&mut model, &refs, &goals, &config)).unwrap();
            let total: usize = out.iter().map(|o| o.1).sum();
            assert_eq!(total, model.gradient_queries);
            for ((found, q), x0) in out.iter().zip(&x0s) {
                assert!(*q <= 21);
                if let Some(f) = found {
                    let (l2, linf) = distances(&f.image, x0);
                    let d = if norm == Norm::Linf { linf } else { l2 };
                    assert!(d <= eps + 1e-3, "{norm} {d} > {eps}");
                    assert!(f.image.iter().all(|v| (0.0..=1.0).contains(v)));
                }
            }
            if eps >= 40.0 {
                // Wide budgets break every image of a linear model with logits of order 10.
                assert!(out.iter().all(|o| o.0.is_some()), "{norm} {eps}");
            }
        }
    }
}
