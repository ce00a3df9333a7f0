//! The robustness attacks on SqueezeNet 1.1 with its real weights, on small images: the margin
//! seed kernel against its CPU reference, the pixel-domain gradients of the oracle against
//! finite differences, APGD, Square and Carlini-Wagner within their budgets and [0, 1], Square
//! within its query budget, and a whole robustness run's records and summary.

mod common;

use common::{ctx, data_dir, random, read, run, upload};
use indicatif::ProgressBar;
use netlens::classify::argmax;
use netlens::fooling::Norm;
use netlens::fooling::apgd::{ApgdConfig, apgd};
use netlens::fooling::cw::{CwConfig, carlini_wagner};
use netlens::fooling::kernels::{Goal, LogitsBatch, cpu};
use netlens::fooling::oracle::{AttackLoss, Gradients, NetworkOracle, Scores};
use netlens::fooling::pixels::{distances, from_input};
use netlens::fooling::robustness::{
    LabelledImages, RobustAttack, RobustnessConfig, evaluate, summarize,
};
use netlens::fooling::square::{SquareConfig, square};
use netlens::model::{ModelKind, Network};
use netlens::preprocess::load_input;

const SIZE: usize = 64;
const PHOTOS: [&str; 2] = ["n01443537_goldfish.jpg", "n09472597_volcano.jpg"];

fn squeezenet() -> Network {
    ModelKind::SqueezeNet.network(ctx(), None).unwrap()
}

/// Gallery photos in the pixel domain at `SIZE`.
fn photos() -> Vec<Vec<f32>> {
    PHOTOS
        .iter()
        .map(|p| from_input(&load_input(&data_dir().join("data/gallery").join(p), SIZE).unwrap()))
        .collect()
}

/// Goals away from the network's own predictions.
fn away(oracle: &mut NetworkOracle, xs: &[&[f32]]) -> Vec<Goal> {
    pollster::block_on(oracle.logits(xs))
        .unwrap()
        .iter()
        .map(|l| Goal::Away(argmax(l)))
        .collect()
}

#[test]
fn seed_margin_matches_cpu() {
    let ctx = ctx();
    let classes = 1000;
    let mut logits = random(4 * classes, 21, 6.0);
    // Row 1: a tie for the top other class at 3 and 700 (the first must win); row 3: the goal
    // class is the largest.
    logits[classes + 3] = 50.0;
    logits[classes + 700] = 50.0;
    logits[3 * classes + 5] = 60.0;
    let goals = [
        Goal::Away(10),
        Goal::Target(999),
        Goal::Away(0),
        Goal::Target(5),
    ];
    let encoded: Vec<u32> = goals.iter().map(|g| g.encode()).collect();
    let batch = LogitsBatch { batch: 4, classes };
    let (lb, gb) = (upload(&logits), ctx.upload("goals", &encoded).unwrap());
    let grad = ctx.storage("grad", 4 * classes).unwrap();
    run(&[batch.seed_margin(ctx, &lb, &gb, &grad)]);
    let want = cpu::seed_margin(&logits, classes, &goals);
    assert_eq!(read(&grad), want);
    // Leaving class 10: +1 on the top other class, −1 on 10; reaching 999: +1 on it, −1 on the
    // first of the tied top others.
    assert_eq!(want[10], -1.0);
    assert_eq!(want[classes + 999], 1.0);
    assert_eq!(want[classes + 3], -1.0);
    assert_eq!(want[classes + 700], 0.0);
    assert_eq!(want.iter().filter(|v| **v != 0.0).count(), 8);
    let (other, margin) = Goal::Target(5).margin(&logits[3 * classes..]);
    assert!(
        other != 5 && margin < 0.0,
        "a target already on top has a negative margin"
    );
}

/// The oracle's pixel gradient against central differences of its own logits along random
/// directions (minus the margin is piecewise linear in a ReLU network, so small steps are
/// exact up to float error unless a kink is crossed).
#[test]
fn oracle_gradients_are_pixel_gradients() {
    let net = squeezenet();
    let mut oracle = NetworkOracle::new(&net, 2, SIZE).unwrap();
    let xs = photos();
    let refs: Vec<&[f32]> = xs.iter().map(Vec::as_slice).collect();
    let goals = away(&mut oracle, &refs);
    let out = pollster::block_on(oracle.gradients(&refs, &goals, AttackLoss::Margin)).unwrap();
    for (n, (logits, g)) in out.iter().enumerate() {
        let direction = random(xs[n].len(), 40 + n as u64, 1.0);
        let h = 0.2 / 255.0;
        let shifted = |s: f32| -> Vec<f32> {
            xs[n]
                .iter()
                .zip(&direction)
                .map(|(x, d)| x + s * h * d)
                .collect()
        };
        let (plus, minus) = (shifted(1.0), shifted(-1.0));
        let l = pollster::block_on(oracle.logits(&[&plus, &minus])).unwrap();
        let loss = |l: &[f32]| -goals[n].margin(l).1 as f64;
        let numeric = (loss(&l[0]) - loss(&l[1])) / (2.0 * h as f64);
        let analytic: f64 = g.iter().zip(&direction).map(|(a, d)| (a * d) as f64).sum();
        eprintln!("image {n}: directional derivative {analytic:.4} vs differences {numeric:.4}");
        assert!(
            (analytic - numeric).abs() <= 0.05 * numeric.abs().max(analytic.abs()),
            "{analytic} vs {numeric}"
        );
        assert_eq!(logits.len(), 1000);
    }
}

#[test]
fn apgd_square_and_cw_respect_their_budgets() {
    let net = squeezenet();
    let mut oracle = NetworkOracle::new(&net, 2, SIZE).unwrap();
    let xs = photos();
    let refs: Vec<&[f32]> = xs.iter().map(Vec::as_slice).collect();
    let goals = away(&mut oracle, &refs);
    let check = |what: &str, found: &[Vec<f32>], norm: Norm, eps: f32| {
        for (x, x0) in found.iter().zip(&xs) {
            assert!(
                x.iter().all(|v| (0.0..=1.0).contains(v)),
                "{what}: out of [0, 1]"
            );
            let (l2, linf) = distances(x, x0);
            let d = if norm == Norm::Linf { linf } else { l2 };
            assert!(d <= eps + 1e-3, "{what}: {norm} distance {d} > {eps}");
        }
    };
    let mut broken = 0;
    for (norm, eps) in [(Norm::Linf, 2.0), (Norm::L2, 60.0)] {
        let config = ApgdConfig {
            norm,
            eps,
            iterations: 5,
            seed: 3,
        };
        let out = pollster::block_on(apgd(&mut oracle, &refs, &goals, &config)).unwrap();
        let found: Vec<Vec<f32>> = out
            .iter()
            .flat_map(|o| o.0.clone())
            .map(|f| f.image)
            .collect();
        broken += found.len();
        assert!(out.iter().all(|o| (1..=6).contains(&o.1)));
        check("apgd", &found, norm, eps);
    }
    assert!(
        broken > 0,
        "APGD breaks a photo at 64 px within 2 levels L∞ or 60 L2"
    );
    let config = SquareConfig::standard(Norm::Linf, 4.0, 12);
    let out = pollster::block_on(square(&mut oracle, &refs, &goals, SIZE, &config)).unwrap();
    assert!(out.iter().all(|o| (1..=12).contains(&o.1)), "query budget");
    let found: Vec<Vec<f32>> = out
        .iter()
        .flat_map(|o| o.0.clone())
        .map(|f| f.image)
        .collect();
    check("square", &found, Norm::Linf, 4.0);
    let cw = CwConfig {
        binary_steps: 2,
        iterations: 4,
        lr: 0.05,
        ..CwConfig::default()
    };
    let out = pollster::block_on(carlini_wagner(&mut oracle, &refs, &goals, &cw)).unwrap();
    for ((found, queries, _), x0) in out.iter().zip(&refs) {
        assert_eq!(*queries, 8);
        if let Some(f) = found {
            assert!(f.image.iter().all(|v| (0.0..=1.0).contains(v)));
            let l = pollster::block_on(oracle.logits(&[&f.image])).unwrap();
            assert_ne!(
                argmax(&l[0]),
                argmax(&pollster::block_on(oracle.logits(&[x0])).unwrap()[0])
            );
        }
    }
}

#[test]
fn robustness_run_gives_consistent_records() {
    let net = squeezenet();
    let set = LabelledImages {
        names: PHOTOS.iter().map(|s| s.to_string()).collect(),
        images: photos(),
        labels: None,
        size: SIZE,
    };
    let config = RobustnessConfig {
        attacks: RobustAttack::ALL.to_vec(),
        norm: Norm::Linf,
        eps: vec![1.0, 4.0],
        target: None,
        pgd_steps: 3,
        apgd_iterations: 3,
        queries: 5,
        cw: CwConfig {
            binary_steps: 1,
            iterations: 3,
            ..CwConfig::default()
        },
        batch: 2,
        seed: 1,
    };
    let records =
        pollster::block_on(evaluate(&net, &set, &config, &ProgressBar::hidden())).unwrap();
    let summary = summarize(&records).unwrap();
    // Labels from clean predictions: every image is clean-correct.
    assert_eq!(summary.clean_accuracy, 1.0);
    assert_eq!(summary.images, 2);
    for attack in RobustAttack::ALL {
        let accs = &summary.attacks[attack.name()];
        assert!(
            accs["4"] <= accs["1"],
            "{}: larger budgets break more",
            attack.name()
        );
        for r in &records {
            for (key, a) in &r.attacks[attack.name()] {
                let eps: f32 = key.parse().unwrap();
                assert_eq!(a.correct, a.distance.is_none());
                if let Some(d) = a.distance {
                    assert!(d <= eps + 1e-3 && a.linf == Some(d));
                }
                if attack == RobustAttack::Square {
                    assert!(a.queries <= 5);
                }
            }
        }
    }
    let bad = RobustnessConfig {
        norm: Norm::L2,
        ..config
    };
    let err = pollster::block_on(evaluate(&net, &set, &bad, &ProgressBar::hidden())).unwrap_err();
    assert!(err.to_string().contains("L∞ budgets only"), "{err}");
}
