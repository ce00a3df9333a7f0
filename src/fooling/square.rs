//! The Square attack (Andriushchenko et al. 2020, the score-based attack of AutoAttack), L∞:
//! a random search that needs only the network's scores. It starts from vertical stripes of
//! ±ε (one sign per column and channel) and then, once per query, redraws one square window of
//! the perturbation as ±ε per channel, keeping the change when it lowers the goal's margin. The
//! square's side follows the schedule p of the share of pixels it covers, from 0.8 down to
//! 0.8/512 (AutoAttack's schedule, rescaled to the query budget). An image stops at the first
//! query that reaches its goal. The L2 variant (centered "meta-square" perturbations) is not
//! implemented: [`square`] refuses an L2 budget.

use crate::classify::argmax;
use crate::error::{Error, Result};
use crate::fooling::config::Norm;
use crate::fooling::kernels::Goal;
use crate::fooling::oracle::Scores;
use crate::fooling::pixels::eps_unit;
use crate::fooling::robustness::Found;
use crate::hash::Rng;

/// Square's settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SquareConfig {
    /// Norm of the budget (only L∞ is implemented).
    pub norm: Norm,
    /// Budget in pixel levels.
    pub eps: f32,
    /// Most forward passes per image, the initialization included.
    pub queries: usize,
    /// The share of the image the first squares cover.
    pub p_init: f32,
    /// Seed of the stripes, windows and signs.
    pub seed: u64,
}

impl SquareConfig {
    /// AutoAttack's settings: p_init 0.8.
    pub fn standard(norm: Norm, eps: f32, queries: usize) -> Self {
        Self {
            norm,
            eps,
            queries,
            p_init: 0.8,
            seed: 0,
        }
    }
}

/// The share of pixels a square covers at iteration `it` of `queries` (AutoAttack's
/// `p_selection`: the iteration is rescaled to a budget of 10 000, then p_init is halved at
/// 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000).
pub fn p_selection(p_init: f32, it: usize, queries: usize) -> f32 {
    let it = (it as f64 / queries.max(1) as f64 * 10_000.0) as usize;
    let halvings = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000]
        .iter()
        .filter(|&&t| it > t)
        .count();
    p_init / (1u32 << halvings) as f32
}

/// The side of a square covering a share `p` of an h × w image: round(√(p · h · w)), at least 1
/// and at most h − 1.
pub fn side(p: f32, h: usize, w: usize) -> usize {
    let s = ((p as f64 * (h * w) as f64).sqrt().round() as usize).max(1);
    s.min(h.saturating_sub(1)).max(1)
}

fn sign(rng: &mut Rng) -> f32 {
    if rng.next_u64() & 1 == 0 { -1.0 } else { 1.0 }
}

/// Per-image state of the search.
struct Search {
    /// The perturbation (x − x0 before clamping), ±ε everywhere.
    delta: Vec<f32>,
    /// The best image so far and its margin.
    best: Vec<f32>,
    margin: f32,
    queries: usize,
    found: bool,
}

/// x0 + delta clamped to [0, 1].
fn apply(x0: &[f32], delta: &[f32]) -> Vec<f32> {
    x0.iter()
        .zip(delta)
        .map(|(&a, &d)| (a + d).clamp(0.0, 1.0))
        .collect()
}

/// Runs Square on pixel-domain CHW images `x0s` of `side_len`² pixels toward `goals`, using
/// only the model's scores; returns for each image the first image that reaches its goal (or
/// `None`) and the forward passes spent on it (at most `config.queries`).
pub async fn square(
    model: &mut impl Scores,
    x0s: &[&[f32]],
    goals: &[Goal],
    side_len: usize,
    config: &SquareConfig,
) -> Result<Vec<(Option<Found>, usize)>> {
    if config.norm != Norm::Linf {
        return Err(Error::InvalidInput(
            "the Square attack is implemented for L∞ budgets only; use --norm linf, or leave \
             square out of --attack for L2"
                .into(),
        ));
    }
    if config.queries == 0 {
        return Err(Error::InvalidInput(
            "the Square attack needs a query budget of at least 1".into(),
        ));
    }
    let (h, w) = (side_len, side_len);
    let plane = h * w;
    if let Some(bad) = x0s.iter().find(|x| x.len() != 3 * plane) {
        return Err(Error::InvalidInput(format!(
            "an image has {} values, not 3 × {side_len} × {side_len}",
            bad.len()
        )));
    }
    let eps = eps_unit(config.eps);
    let mut rng = Rng::new(config.seed, 0x5351_5541);
    let mut searches: Vec<Search> = x0s
        .iter()
        .map(|x0| {
            let mut delta = vec![0.0; x0.len()];
            for c in 0..3 {
                for col in 0..w {
                    let s = eps * sign(&mut rng);
                    for row in 0..h {
                        delta[c * plane + row * w + col] = s;
                    }
                }
            }
            let best = apply(x0, &delta);
            Search {
                delta,
                best,
                margin: f32::INFINITY,
                queries: 0,
                found: false,
            }
        })
        .collect();
    let refs: Vec<&[f32]> = searches.iter().map(|s| s.best.as_slice()).collect();
    let logits = model.logits(&refs).await?;
    for ((s, l), &goal) in searches.iter_mut().zip(&logits).zip(goals) {
        s.queries = 1;
        s.margin = goal.margin(l).1;
        s.found = goal.reached_by(argmax(l));
    }
    for it in 0..config.queries - 1 {
        let active: Vec<usize> = (0..searches.len())
            .filter(|&n| !searches[n].found)
            .collect();
        if active.is_empty() {
            break;
        }
        let s_side = side(p_selection(config.p_init, it, config.queries), h, w);
        let candidates: Vec<Vec<f32>> = active
            .iter()
            .map(|&n| {
                let search = &searches[n];
                let (top, left) = (
                    (rng.next_u64() % (h - s_side + 1) as u64) as usize,
                    (rng.next_u64() % (w - s_side + 1) as u64) as usize,
                );
                let window = |c: usize| {
                    (top..top + s_side).flat_map(move |r| {
                        (left..left + s_side).map(move |col| c * plane + r * w + col)
                    })
                };
                let mut delta = search.delta.clone();
                // Redraw until the window differs from the best image (AutoAttack's loop), a
                // few times at most.
                for _ in 0..16 {
                    for c in 0..3 {
                        let s = eps * sign(&mut rng);
                        for i in window(c) {
                            delta[i] = s;
                        }
                    }
                    let changed = (0..3).flat_map(window).any(|i| {
                        ((x0s[n][i] + delta[i]).clamp(0.0, 1.0) - search.best[i]).abs() > 1e-7
                    });
                    if changed {
                        break;
                    }
                }
                delta
            })
            .collect();
        let images: Vec<Vec<f32>> = active
            .iter()
            .zip(&candidates)
            .map(|(&n, d)| apply(x0s[n], d))
            .collect();
        let refs: Vec<&[f32]> = images.iter().map(Vec::as_slice).collect();
        let logits = model.logits(&refs).await?;
        for (((&n, delta), image), l) in active.iter().zip(candidates).zip(images).zip(logits) {
            let s = &mut searches[n];
            s.queries += 1;
            let m = goals[n].margin(&l).1;
            let reached = goals[n].reached_by(argmax(&l));
            if m < s.margin || reached {
                s.margin = m;
                s.delta = delta;
                s.best = image;
                s.found = reached;
            }
        }
    }
    Ok(searches
        .into_iter()
        .map(|s| {
            let queries = s.queries;
            (s.found.then(|| Found::new(s.best)), queries)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fooling::oracle::linear::Linear;
    use crate::fooling::pixels::distances;

    #[test]
    fn schedule_halves_at_autoattack_steps() {
        assert_eq!(p_selection(0.8, 0, 10_000), 0.8);
        assert_eq!(p_selection(0.8, 11, 10_000), 0.4);
        assert_eq!(p_selection(0.8, 9000, 10_000), 0.8 / 512.0);
        // With 1000 queries, iteration 1 is iteration 10 of 10 000 (not yet halved), 2 is 20.
        assert_eq!(p_selection(0.8, 1, 1000), 0.8);
        assert_eq!(p_selection(0.8, 2, 1000), 0.4);
        assert_eq!(side(0.8, 224, 224), 200);
        assert_eq!(side(0.8 / 512.0, 224, 224), 9);
        assert_eq!(side(0.9, 4, 4), 3);
    }

    #[test]
    fn square_queries_only_scores_within_budget_and_eps() {
        let (side_len, len) = (6, 3 * 36);
        let mut model = Linear::random(4, len, 5);
        let mut rng = Rng::new(2, 1);
        let x0s: Vec<Vec<f32>> = (0..3)
            .map(|_| (0..len).map(|_| rng.uniform() as f32).collect())
            .collect();
        let refs: Vec<&[f32]> = x0s.iter().map(Vec::as_slice).collect();
        let logits = pollster::block_on(model.logits(&refs)).unwrap();
        let goals: Vec<Goal> = logits.iter().map(|l| Goal::Away(argmax(l))).collect();
        model.score_queries = 0;
        for eps in [1.0, 80.0] {
            let config = SquareConfig::standard(Norm::Linf, eps, 50);
            let before = model.score_queries;
            let out =
                pollster::block_on(square(&mut model, &refs, &goals, side_len, &config)).unwrap();
            assert_eq!(model.gradient_queries, 0);
            let counted: usize = out.iter().map(|o| o.1).sum();
            assert_eq!(model.score_queries - before, counted);
            for (n, (found, q)) in out.iter().enumerate() {
                assert!((1..=50).contains(q), "{q}");
                if let Some(f) = found {
                    let (_, linf) = distances(&f.image, &x0s[n]);
                    assert!(linf <= eps + 1e-3, "{linf} > {eps}");
                    assert!(f.image.iter().all(|v| (0.0..=1.0).contains(v)));
                    // A found image is really misclassified.
                    let l = pollster::block_on(model.logits(&[&f.image])).unwrap();
                    model.score_queries -= 1;
                    assert!(goals[n].reached_by(argmax(&l[0])));
                } else {
                    assert_eq!(*q, 50);
                }
            }
            if eps == 80.0 {
                assert!(out.iter().all(|o| o.0.is_some()));
            }
        }
        let l2 = SquareConfig::standard(Norm::L2, 1.0, 10);
        let err = pollster::block_on(square(&mut model, &refs, &goals, side_len, &l2)).unwrap_err();
        assert!(err.to_string().contains("L∞ budgets only"));
        let short = [0.5; 5];
        let config = SquareConfig::standard(Norm::Linf, 1.0, 10);
        let err = pollster::block_on(square(
            &mut model,
            &[&short],
            &goals[..1],
            side_len,
            &config,
        ))
        .unwrap_err();
        assert!(err.to_string().contains("5 values"), "{err}");
    }
}
