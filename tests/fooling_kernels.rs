//! The kernels of `shaders/fooling.wgsl` on the GPU against their CPU references.

mod common;

use common::{assert_close, ctx, random, read, run, upload};
use netlens::fooling::config::{level_table, pixel_unit};
use netlens::fooling::kernels::{CheckMode, Goal, LogitsBatch, Noise, cpu, initial_state};
use netlens::fooling::{Loss, Norm};
use netlens::gpu::ImageBatch;
use netlens::preprocess::{MEAN, STD, to_input, to_rgb};

/// Three images of 3 × 7 × 9 (a plane that is not a multiple of the workgroup size, and 189
/// values per image so that a 256-wide reduction sees idle invocations).
const SHAPE: ImageBatch = ImageBatch {
    batch: 3,
    channels: 3,
    h: 7,
    w: 9,
};

fn len() -> usize {
    SHAPE.values()
}

/// A larger batch for the per-image reductions: 2 images of 3 × 40 × 40 (several values per
/// invocation).
const WIDE: ImageBatch = ImageBatch {
    batch: 2,
    channels: 3,
    h: 40,
    w: 40,
};

#[test]
fn check_goal_matches_cpu() {
    let ctx = ctx();
    let classes = 1000;
    let mut logits = random(6 * classes, 11, 5.0);
    let top = |row: usize, l: &[f32]| cpu::top_class(&l[row * classes..(row + 1) * classes]).0;
    // Row 2 has a tie for the top at 3 and 900 (the first index must win); row 5 holds a NaN,
    // row 4 an infinity.
    logits[2 * classes + 900] = 100.0;
    logits[2 * classes + 3] = 100.0;
    logits[4 * classes + 17] = f32::INFINITY;
    logits[5 * classes + 400] = f32::NAN;
    let goals = [
        Goal::Target(top(0, &logits).unwrap()),
        Goal::Target((top(1, &logits).unwrap() + 1) % classes),
        Goal::Target(3),
        Goal::Away(top(3, &logits).unwrap()),
        Goal::Away(0),
        Goal::Target(top(5, &logits).unwrap()),
    ];
    let encoded: Vec<u32> = goals.iter().map(|g| g.encode()).collect();
    let batch = LogitsBatch { batch: 6, classes };
    let mut state = initial_state(6);
    state[4] = 7; // image 1 has taken 7 steps already
    let mut scale = vec![1.0, 1.0, 1.0, 1.0, 0.0, 1.0];
    let logits_b = upload(&logits);
    let goals_b = ctx.upload("goals", &encoded).unwrap();
    let state_b = ctx.upload("state", &state).unwrap();
    let scale_b = upload(&scale);
    for mode in [
        CheckMode {
            freeze: false,
            count: true,
        },
        CheckMode {
            freeze: true,
            count: true,
        },
        CheckMode {
            freeze: true,
            count: false,
        },
    ] {
        cpu::check_goal(&logits, classes, &goals, mode, &mut state, &mut scale);
        run(&[batch.check_goal(ctx, mode, &logits_b, &goals_b, &state_b, &scale_b)]);
        assert_eq!(
            pollster::block_on(ctx.read_all::<u32>(&state_b)).unwrap(),
            state,
            "{mode:?}"
        );
        assert_eq!(read(&scale_b), scale, "{mode:?}");
    }
    // Reached: 0 (its top), 2 (tie won by index 3), 4 (away from 0, but infinite: no);
    // frozen after the freeze pass; nonfinite flagged for 4 and 5.
    let reached: Vec<u32> = state.chunks(4).map(|s| s[2]).collect();
    assert_eq!(reached, [1, 0, 1, 0, 0, 0]);
    let nonfinite: Vec<u32> = state.chunks(4).map(|s| s[3]).collect();
    assert_eq!(nonfinite, [0, 0, 0, 0, 1, 1]);
    assert_eq!(scale, [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
    assert_eq!(&state[..2], &[1, 0]);
    assert_eq!(&state[4..6], &[9, u32::MAX]);
}

#[test]
fn seed_loss_matches_cpu() {
    let ctx = ctx();
    let classes = 1000;
    let logits = random(3 * classes, 5, 8.0);
    let goals = [Goal::Target(7), Goal::Away(999), Goal::Target(500)];
    let encoded: Vec<u32> = goals.iter().map(|g| g.encode()).collect();
    let batch = LogitsBatch { batch: 3, classes };
    let logits_b = upload(&logits);
    let goals_b = ctx.upload("goals", &encoded).unwrap();
    for loss in [Loss::Logit, Loss::CrossEntropy] {
        let grad = ctx.storage("grad", 3 * classes).unwrap();
        run(&[batch.seed_loss(ctx, loss, &logits_b, &goals_b, &grad)]);
        let want = cpu::seed_loss(&logits, classes, &goals, loss);
        assert_close(&format!("seed {loss:?}"), &read(&grad), &want, 1e-5);
    }
    let ce = cpu::seed_loss(&logits, classes, &goals, Loss::CrossEntropy);
    // A log-probability's gradient sums to zero over the classes.
    assert!(ce[..classes].iter().sum::<f32>().abs() < 1e-5);
    // Ascending it raises a target's score and lowers the score of a class to leave.
    assert!(ce[7] > 0.0 && ce[classes + 999] < 0.0);
}

#[test]
fn sign_step_and_scale_channels_match_cpu() {
    let ctx = ctx();
    let mut g = random(len(), 3, 1.0);
    for i in (0..len()).step_by(17) {
        g[i] = 0.0;
    }
    let x0 = random(len(), 4, 2.0);
    let unit = pixel_unit();
    let scale = [1.0, 0.0, 0.5];
    let (gb, xb, ub, sb) = (upload(&g), upload(&x0), upload(&unit), upload(&scale));
    run(&[SHAPE.sign_step(ctx, 3.0, &gb, &sb, &ub, &xb)]);
    let mut want = x0.clone();
    cpu::sign_step(&mut want, &g, &scale, &unit, 3.0, SHAPE.plane());
    assert_close("sign step", &read(&xb), &want, 1e-6);
    // A frozen image does not move; a zero gradient does not move its value.
    assert_eq!(
        &want[SHAPE.per_image()..2 * SHAPE.per_image()],
        &x0[SHAPE.per_image()..2 * SHAPE.per_image()]
    );
    assert_eq!(want[17], x0[17]);

    run(&[SHAPE.scale_channels(ctx, &ub, &gb)]);
    let mut want = g.clone();
    cpu::scale_channels(&mut want, &unit, SHAPE.plane());
    assert_close("scale channels", &read(&gb), &want, 1e-6);
}

#[test]
fn projections_match_cpu_and_stay_in_the_ball() {
    let ctx = ctx();
    let unit = pixel_unit();
    let x0 = random(WIDE.values(), 6, 2.0);
    // Image 0 far outside any small ball, image 1 within 0.3 levels of its original.
    let mut x = x0.clone();
    let noise = random(x.len(), 7, 1.0);
    let per = WIDE.per_image();
    for (i, v) in x.iter_mut().enumerate() {
        let c = (i % per) / WIDE.plane();
        let size = if i < per { 20.0 } else { 0.3 };
        *v += size * unit[c] * noise[i];
    }
    let (x0b, ub) = (upload(&x0), upload(&unit));

    let xb = upload(&x);
    run(&[WIDE.project(ctx, Norm::Linf, 4.0, &x0b, &ub, &xb)]);
    let mut want = x.clone();
    cpu::project_linf(&mut want, &x0, &unit, 4.0, WIDE.plane());
    let got = read(&xb);
    assert_close("project linf", &got, &want, 1e-6);
    let linf = |a: &[f32], b: &[f32]| netlens::fooling::config::pixel_distances(a, b).1;
    assert!(linf(&got[..per], &x0[..per]) <= 4.0 + 1e-3);
    assert_eq!(&got[per..], &x[per..]);

    let xb = upload(&x);
    let radius = 300.0;
    run(&[WIDE.project(ctx, Norm::L2, radius, &x0b, &ub, &xb)]);
    let mut want = x.clone();
    cpu::project_l2(&mut want, &x0, &unit, radius, WIDE.plane());
    let got = read(&xb);
    assert_close("project l2", &got, &want, 1e-6);
    let l2 = |a: &[f32], b: &[f32]| netlens::fooling::config::pixel_distances(a, b).0;
    assert!(
        l2(&x[..per], &x0[..per]) > 2.0 * radius,
        "image 0 starts outside"
    );
    assert!((l2(&got[..per], &x0[..per]) - radius).abs() < 1e-3 * radius);
    assert_eq!(
        &got[per..],
        &x[per..],
        "an image inside the ball is left alone"
    );
}

#[test]
fn l1_norms_and_momentum_match_cpu() {
    let ctx = ctx();
    let n = WIDE.values();
    let g = random(n, 8, 3.0);
    let m0 = random(n, 9, 1e-3);
    let (gb, mb) = (upload(&g), upload(&m0));
    let sums = ctx.storage("sums", WIDE.batch).unwrap();
    run(&[
        WIDE.sum_abs(ctx, &gb, &sums),
        WIDE.momentum(ctx, 0.9, &gb, &sums, &mb),
    ]);
    assert_close(
        "sum abs",
        &read(&sums),
        &cpu::sum_abs(&g, WIDE.per_image()),
        1e-6,
    );
    let mut want = m0.clone();
    cpu::momentum(&mut want, &g, 0.9, WIDE.per_image());
    assert_close("momentum", &read(&mb), &want, 1e-5);
}

#[test]
fn noise_matches_cpu_and_has_the_right_moments() {
    let ctx = ctx();
    let n = WIDE.values();
    for (kind, variance, tol) in [
        (Noise::Uniform, 1.0 / 3.0, 1e-6),
        (Noise::Gaussian, 1.0, 1e-3),
    ] {
        let v = ctx.storage("noise", n).unwrap();
        run(&[WIDE.noise(ctx, kind, 1234, &v)]);
        let got = read(&v);
        // WGSL allows log and cos some absolute error, hence the looser Gaussian tolerance.
        assert_close(
            &format!("{kind:?} noise"),
            &got,
            &cpu::noise(kind, 1234, n),
            tol,
        );
        let mean = got.iter().map(|&a| a as f64).sum::<f64>() / n as f64;
        let var = got.iter().map(|&a| (a as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.03, "{kind:?} mean {mean}");
        assert!(
            (var / variance - 1.0).abs() < 0.05,
            "{kind:?} variance {var}"
        );
        let other = ctx.storage("noise", n).unwrap();
        run(&[WIDE.noise(ctx, kind, 1235, &other)]);
        assert_ne!(read(&other), got, "another seed draws other numbers");
    }
}

#[test]
fn quantize_matches_8_bit_round_trip() {
    let ctx = ctx();
    let size = 40;
    let shape = ImageBatch {
        batch: 2,
        channels: 3,
        h: size,
        w: size,
    };
    // Values across and beyond the image range.
    let x = random(2 * 3 * size * size, 10, 2.6);
    let stats: Vec<f32> = (0..3).flat_map(|c| [STD[c], MEAN[c]]).collect();
    let (xb, sb, lb) = (upload(&x), upload(&stats), upload(&level_table()));
    let dst = ctx.storage("quantized", x.len()).unwrap();
    run(&[shape.quantize(ctx, &xb, &sb, &lb, &dst)]);
    let got = read(&dst);
    let per = shape.per_image();
    let want: Vec<f32> = x
        .chunks(per)
        .flat_map(|image| to_input(&to_rgb(image, size), size).unwrap())
        .collect();
    let pairs: Vec<(f32, f32)> = (0..3).map(|c| (STD[c], MEAN[c])).collect();
    assert_eq!(
        cpu::quantize(&x, &pairs, &level_table(), shape.plane()),
        want
    );
    // Exact, except where a value lies within 1e-3 of a level boundary (x · std + mean may be
    // fused on the GPU and round the other way there).
    let mut mismatches = 0;
    for (i, (&a, &b)) in got.iter().zip(&want).enumerate() {
        if a != b {
            let c = (i % per) / shape.plane();
            let p = (x[i] * STD[c] + MEAN[c]) * 255.0;
            assert!(
                (p - p.floor() - 0.5).abs() < 1e-3,
                "element {i}: level {p} quantized to {a}, expected {b}"
            );
            mismatches += 1;
        }
    }
    assert!(mismatches <= 2, "{mismatches} mismatches");
}
