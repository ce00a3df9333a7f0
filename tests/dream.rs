//! Class visualization: the dreaming kernels against their CPU references, and the loop's
//! claims on SqueezeNet (real weights): 100 default steps from noise make the class probable,
//! a seed fixes the output, a larger L2 weight gives a smaller image, sweeps batch correctly,
//! channel objectives, the Fourier parameterization and octaves work, divergence is reported.

mod common;

use common::{assert_close, ctx, data_dir, random, read, run, upload};
use indicatif::ProgressBar;
use netlens::dream::fourier::{self, Colours, Planes, Side};
use netlens::dream::kernels::{self, Images, RollDirection, StepRow};
use netlens::dream::{
    DreamResult, Objective, Parameterization, PenaltyTarget, Request, Run, Settings, Snapshot,
    Start, dream, dream_with,
};
use netlens::model::{Arch, ModelKind, Network, Weights};

const ROWS: [StepRow; 2] = [
    StepRow {
        ox: 3,
        oy: -2,
        blur: 1,
        pad: 0,
    },
    StepRow {
        ox: -20,
        oy: 7,
        blur: 0,
        pad: 0,
    },
];

#[test]
fn pixel_kernels_match_cpu() {
    let ctx = ctx();
    let shape = Images {
        batch: 2,
        channels: 3,
        h: 13,
        w: 17,
    };
    let x = random(shape.len(), 1, 2.0);
    let step = ctx
        .upload("rows", bytemuck::cast_slice::<_, i32>(&ROWS))
        .unwrap();
    let (xb, yb) = (upload(&x), ctx.storage("y", shape.len()).unwrap());

    for (direction, sign) in [(RollDirection::Forward, 1), (RollDirection::Back, -1)] {
        run(&[shape.roll(ctx, direction, &step, &xb, &yb)]);
        let want = kernels::cpu::roll(&shape, &ROWS, sign, &x);
        assert_eq!(read(&yb), want, "roll {direction:?}");
    }

    let target = random(shape.len(), 2, 1.0);
    let g = random(shape.len(), 3, 1.0);
    let weights = [(0.3, 0.0), (0.05, 0.7)];
    let wb = upload(&[0.3, 0.0, 0.0, 0.0, 0.05, 0.7, 0.0, 0.0]);
    let gb = upload(&g);
    run(&[shape.regularize(ctx, &wb, &xb, &upload(&target), &gb)]);
    let want = kernels::cpu::regularize(&shape, &weights, &x, &target, &g);
    assert_close("regularize (L2 and TV)", &read(&gb), &want, 1e-6);

    // Image 0 blurs with sigma 0.8 (radius 3), image 1 has its blur flag off.
    let radius = kernels::blur_radius(0.8);
    let mut taps = kernels::blur_weights(0.8, radius);
    taps.extend(kernels::blur_weights(0.5, radius));
    let bx = upload(&x);
    run(&shape.blur(
        ctx,
        radius,
        &step,
        &upload(&taps),
        &bx,
        &ctx.storage("tmp", shape.len()).unwrap(),
    ));
    let want = kernels::cpu::blur(&shape, &ROWS, &taps, radius, &x);
    assert_close("gaussian blur", &read(&bx), &want, 1e-6);
    let per = shape.per_image();
    assert_eq!(&want[per..], &x[per..], "image 1 must not be blurred");
    // Blurring a constant changes nothing (the taps sum to 1, the border reflects).
    let flat = vec![0.7; shape.len()];
    let want_flat = kernels::cpu::blur(&shape, &ROWS, &taps, radius, &flat);
    assert!(want_flat.iter().all(|v| (v - 0.7).abs() < 1e-6));

    let to = (29, 22);
    let rb = ctx
        .storage("resized", shape.batch * 3 * to.0 * to.1)
        .unwrap();
    run(&[shape.resize(ctx, to, &xb, &rb)]);
    assert_close(
        "bilinear resize",
        &read(&rb),
        &kernels::cpu::resize(&shape, to, &x),
        1e-6,
    );
}

#[test]
fn fourier_kernels_match_cpu() {
    let ctx = ctx();
    let shape = Planes {
        planes: 3,
        rows: 20,
        cols: 37,
    };
    let src = random(shape.len(), 4, 1.0);
    let (sb, db) = (upload(&src), ctx.storage("dst", shape.len()).unwrap());
    for side in [Side::Left, Side::Right] {
        let n = match side {
            Side::Left => shape.rows,
            Side::Right => shape.cols,
        };
        let m = random(n * n, 5, 1.0);
        for transpose in [false, true] {
            run(&[shape.multiply(ctx, side, transpose, &upload(&m), &sb, &db)]);
            let want = fourier::cpu::multiply(&shape, side, transpose, &m, &src);
            assert_close(
                &format!("{side:?} multiply, transpose {transpose}"),
                &read(&db),
                &want,
                1e-5,
            );
        }
    }
    let factor = random(shape.rows * shape.cols, 6, 1.0);
    run(&[shape.scale(ctx, &upload(&factor), &sb, &db)]);
    assert_close(
        "plane multiply",
        &read(&db),
        &fourier::cpu::scale(&factor, &src),
        1e-6,
    );

    let colours = Colours {
        batch: 2,
        pixels: 11,
    };
    let len = 2 * 3 * 11;
    let t = random(len, 7, 3.0);
    let gx = random(len, 8, 1.0);
    let (tb, out) = (upload(&t), ctx.storage("out", len).unwrap());
    run(&[colours.to_image(ctx, &tb, &out)]);
    let x = fourier::cpu::to_image(&t, 11);
    assert_close("decorrelated to image", &read(&out), &x, 1e-5);
    run(&[colours.image_grad(ctx, &tb, &upload(&gx), &out)]);
    assert_close(
        "image gradient to decorrelated",
        &read(&out),
        &fourier::cpu::image_grad(&t, &gx, 11),
        1e-5,
    );
    run(&[colours.from_image(ctx, &upload(&x), &out)]);
    assert_close(
        "image to decorrelated",
        &read(&out),
        &fourier::cpu::from_image(&x, 11),
        1e-4,
    );
}

fn squeezenet() -> &'static Network {
    static NET: std::sync::OnceLock<Network> = std::sync::OnceLock::new();
    NET.get_or_init(|| {
        let weights = Weights::load(&data_dir().join("weights/squeezenet1_1.safetensors")).unwrap();
        Network::new(ctx(), Arch::squeezenet1_1(1000), &weights).unwrap()
    })
}

const TARANTULA: usize = 76;

fn class_run(class: usize, settings: Settings) -> Run {
    Run {
        objective: Objective::Class(class),
        settings,
        label: format!("class {class}"),
    }
}

fn quick(runs: Vec<Run>, size: usize, iterations: usize) -> Request {
    let mut request = Request::new(runs);
    request.size = size;
    request.iterations = iterations;
    request
}

fn go(request: &Request) -> DreamResult {
    pollster::block_on(dream(squeezenet(), request, &ProgressBar::hidden())).unwrap()
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&a| a as f64 * a as f64).sum::<f64>().sqrt()
}

/// The headline claim, at the defaults (224 x 224, 100 steps, lr 25, L2 1e-3, blur 0.5 every 10,
/// jitter 16, seed 0). About 100 SqueezeNet steps: a minute or two on lavapipe.
#[test]
fn hundred_default_steps_from_noise_make_the_class_probable() {
    let mut request = Request::new(vec![class_run(TARANTULA, Settings::default())]);
    request.snapshots = vec![0];
    let result = go(&request);
    let snaps = &result.runs[0].snapshots;
    let (start, end) = (&snaps[0], &snaps[1]);
    eprintln!(
        "tarantula from noise: p {:.4} -> {:.4} (logit {:.2} -> {:.2}) in 100 steps, {:.0} ms/step",
        start.probability.unwrap(),
        end.probability.unwrap(),
        start.objective,
        end.objective,
        result.timing.ms_per_step()
    );
    assert_eq!(end.step, 100);
    assert!(start.probability.unwrap() < 0.01);
    assert!(
        end.probability.unwrap() > 0.9,
        "p(tarantula) after 100 steps = {}",
        end.probability.unwrap()
    );
    assert_eq!(end.top1, Some(TARANTULA));
}

#[test]
fn the_same_seed_gives_the_same_image() {
    let settings = Settings {
        blur_every: 2,
        ..Settings::default()
    };
    let mut request = quick(vec![class_run(TARANTULA, settings)], 112, 4);
    request.seed = 5;
    let a = go(&request);
    let b = go(&request);
    request.seed = 6;
    let c = go(&request);
    let (ia, ib, ic) = (
        &a.runs[0].last().image,
        &b.runs[0].last().image,
        &c.runs[0].last().image,
    );
    assert!(ia == ib, "two runs with seed 5 differ");
    assert!(
        common::rel_l2(ia, ic) > 0.1,
        "seeds 5 and 6 gave nearly the same image"
    );
}

#[test]
fn a_larger_l2_weight_gives_a_smaller_image_and_sweeps_batch() {
    let small = Settings {
        l2: 1e-4,
        ..Settings::default()
    };
    let large = Settings {
        l2: 0.5,
        ..Settings::default()
    };
    let request = quick(
        vec![class_run(TARANTULA, small), class_run(TARANTULA, large)],
        112,
        6,
    );
    let both = go(&request);
    assert_eq!(both.timing.batches, 1, "the sweep should run as one batch");
    let norms: Vec<f64> = both.runs.iter().map(|r| norm(&r.last().image)).collect();
    eprintln!("image norms for L2 1e-4 and 0.5: {norms:?}");
    assert!(
        norms[1] < 0.7 * norms[0],
        "L2 0.5 gave norm {} against {} for 1e-4",
        norms[1],
        norms[0]
    );
    // The batched run gives what a run of its own does.
    let alone = go(&quick(vec![class_run(TARANTULA, large)], 112, 6));
    assert_close(
        "L2 0.5 batched vs alone",
        &both.runs[1].last().image,
        &alone.runs[0].last().image,
        1e-4,
    );
}

#[test]
fn a_channel_objective_raises_the_channel_mean() {
    let arch = squeezenet().arch();
    let layer = arch.layer_index("features.12").unwrap();
    let run = Run {
        objective: Objective::Channel { layer, channel: 7 },
        settings: Settings::default(),
        label: "features.12 channel 7".into(),
    };
    let mut request = quick(vec![run], 112, 5);
    request.snapshots = vec![0];
    let result = go(&request);
    let s = &result.runs[0].snapshots;
    eprintln!(
        "features.12 channel 7 mean: {} -> {}",
        s[0].objective, s[1].objective
    );
    assert!(s[0].probability.is_none());
    assert!(
        s[1].objective > s[0].objective + 0.1,
        "{} -> {}",
        s[0].objective,
        s[1].objective
    );
}

#[test]
fn the_fourier_parameterization_starts_from_the_photo_and_raises_the_score() {
    let photo =
        netlens::preprocess::load_rgb(&data_dir().join("data/gallery/n03544143_hourglass.jpg"))
            .unwrap();
    let settings = Settings::for_model(ModelKind::SqueezeNet, Parameterization::Fourier);
    let mut request = quick(vec![class_run(TARANTULA, settings)], 112, 5);
    request.parameterization = Parameterization::Fourier;
    request.start = Start::Image(photo.clone());
    request.penalty_target = PenaltyTarget::Start;
    request.snapshots = vec![0];
    let result = go(&request);
    let s = &result.runs[0].snapshots;
    // Rendering the coefficients of the photo gives the photo back, but for pixels at 0 or 255
    // (clamped to 1e-3 from the ends before the logit).
    let want = netlens::preprocess::to_input(&photo, 112).unwrap();
    assert_close(
        "photo through the Fourier round trip",
        &s[0].image,
        &want,
        1e-2,
    );
    eprintln!(
        "fourier: tarantula logit {} -> {}",
        s[0].objective, s[1].objective
    );
    assert!(s[1].objective > s[0].objective + 1.0);
}

/// `dream_with` hands each snapshot to its observer as it is read back, with its run's index: the
/// snapshots the result holds, in step order (what a live preview shows is what the run keeps).
#[test]
fn dream_with_shows_every_snapshot_as_it_is_read() {
    let runs = vec![
        class_run(TARANTULA, Settings::default()),
        class_run(1, Settings::default()),
    ];
    let mut request = quick(runs, 56, 4);
    request.snapshots = vec![0, 2];
    let mut seen = Vec::new();
    let mut observe = |run: usize, s: &Snapshot| seen.push((run, s.step, s.image.clone()));
    let result = pollster::block_on(dream_with(
        squeezenet(),
        &request,
        &ProgressBar::hidden(),
        &mut observe,
    ))
    .unwrap();
    let mut kept = Vec::new();
    for step in [0, 2, 4] {
        for (run, r) in result.runs.iter().enumerate() {
            let s = r.snapshots.iter().find(|s| s.step == step).unwrap();
            kept.push((run, step, s.image.clone()));
        }
    }
    assert_eq!(seen, kept);
}

#[test]
fn octaves_run_smaller_sizes_first() {
    let mut request = quick(vec![class_run(TARANTULA, Settings::default())], 112, 5);
    request.octaves = 2;
    request.octave_scale = 2.0;
    request.snapshots = vec![0, 5, 6];
    let result = go(&request);
    let s = &result.runs[0].snapshots;
    let steps_sizes: Vec<(usize, usize)> = s.iter().map(|s| (s.step, s.size)).collect();
    assert_eq!(steps_sizes, vec![(0, 56), (5, 56), (6, 112), (10, 112)]);
    eprintln!(
        "octaves: logit {} -> {} (56 x 56), then {} -> {} (112 x 112)",
        s[0].objective, s[1].objective, s[2].objective, s[3].objective
    );
    // Logits at different sizes are not comparable: each octave must raise its own.
    assert!(s[1].objective > s[0].objective + 1.0);
    assert!(s[3].objective > s[2].objective + 1.0);
}

#[test]
fn vgg16_dreams_with_formula_weights() {
    let arch = Arch::vgg16(1000);
    let net = Network::new(ctx(), arch.clone(), &Weights::formula(&arch.tensor_specs())).unwrap();
    let settings = Settings::for_model(ModelKind::Vgg16, Parameterization::Pixels);
    let mut request = quick(vec![class_run(1, settings)], 64, 2);
    request.snapshots = vec![0];
    let result = pollster::block_on(dream(&net, &request, &ProgressBar::hidden())).unwrap();
    let s = &result.runs[0].snapshots;
    assert_eq!(s[1].image.len(), 3 * 64 * 64);
    eprintln!(
        "vgg16 (formula weights): logit {} -> {}",
        s[0].objective, s[1].objective
    );
    assert!(s[1].objective > s[0].objective);
}

#[test]
fn overflowing_logits_stop_with_diverged() {
    let arch = Arch::squeezenet1_1(1000);
    let mut weights = Weights::load(&data_dir().join("weights/squeezenet1_1.safetensors")).unwrap();
    weights.insert(
        "classifier.1.weight",
        vec![1000, 512, 1, 1],
        vec![1e38; 512_000],
    );
    let net = Network::new(ctx(), arch, &weights).unwrap();
    let request = quick(vec![class_run(TARANTULA, Settings::default())], 64, 1);
    let err = pollster::block_on(dream(&net, &request, &ProgressBar::hidden())).unwrap_err();
    assert!(
        matches!(err, netlens::Error::Diverged { step: 1, .. }),
        "expected Diverged at step 1, got {err}"
    );
}

#[test]
fn requests_that_cannot_run_are_refused() {
    let arch = Arch::squeezenet1_1(1000);
    let mut request = quick(vec![class_run(1000, Settings::default())], 224, 1);
    assert!(matches!(
        request.validate(&arch),
        Err(netlens::Error::UnknownClass(_))
    ));
    request.runs[0] = class_run(1, Settings::default());
    request.penalty_target = PenaltyTarget::Start;
    let e = request.validate(&arch).unwrap_err().to_string();
    assert!(e.contains("starting image"), "{e}");
    request.penalty_target = PenaltyTarget::Zero;
    request.snapshots = vec![2];
    let e = request.validate(&arch).unwrap_err().to_string();
    assert!(e.contains("step 2"), "{e}");
    request.snapshots.clear();
    request.size = 8;
    let e = request.validate(&arch).unwrap_err().to_string();
    assert!(e.contains("8x8"), "{e}");
}
