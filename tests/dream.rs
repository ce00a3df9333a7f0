//! Class visualization: the dreaming kernels against their CPU references, and the loop's
//! claims on SqueezeNet (real weights): 100 default steps from noise make the class probable,
//! a seed fixes the output, a larger L2 weight gives a smaller image, sweeps batch correctly,
//! channel and neuron objectives, random scales and rotations, diversity, the Fourier
//! parameterization and octaves work, divergence is reported.

mod common;

use common::{assert_close, ctx, data_dir, random, read, run, upload};
use indicatif::ProgressBar;
use netlens::dream::diversity::{self, Gram};
use netlens::dream::fourier::{self, Colours, MatrixStack, Side};
use netlens::dream::kernels::{self, RollDirection, StepRow, TransformPass};
use netlens::dream::{
    Diversity, DreamResult, DreamSettings, Objective, Parameterization, PenaltyTarget, Request,
    Run, Snapshot, Start, Transforms, dream, dream_with,
};
use netlens::gpu::ImageBatch;
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

/// The batch the pixel-space kernels are checked on.
const IMAGES: ImageBatch = ImageBatch {
    batch: 2,
    channels: 3,
    h: 13,
    w: 17,
};

#[test]
fn pixel_kernels_match_cpu() {
    let ctx = ctx();
    let shape = IMAGES;
    let x = random(shape.values(), 1, 2.0);
    let step = ctx
        .upload("rows", bytemuck::cast_slice::<_, i32>(&ROWS))
        .unwrap();
    let (xb, yb) = (upload(&x), ctx.storage("y", shape.values()).unwrap());

    for (direction, sign) in [(RollDirection::Forward, 1), (RollDirection::Back, -1)] {
        run(&[shape.roll(ctx, direction, &step, &xb, &yb)]);
        let want = kernels::cpu::roll(&shape, &ROWS, sign, &x);
        assert_eq!(read(&yb), want, "roll {direction:?}");
    }

    let target = random(shape.values(), 2, 1.0);
    let g = random(shape.values(), 3, 1.0);
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
        &ctx.storage("tmp", shape.values()).unwrap(),
    ));
    let want = kernels::cpu::blur(&shape, &ROWS, &taps, radius, &x);
    assert_close("gaussian blur", &read(&bx), &want, 1e-6);
    let per = shape.per_image();
    assert_eq!(&want[per..], &x[per..], "image 1 must not be blurred");
    // Blurring a constant changes nothing (the taps sum to 1, the border reflects).
    let flat = vec![0.7; shape.values()];
    let want_flat = kernels::cpu::blur(&shape, &ROWS, &taps, radius, &flat);
    assert!(want_flat.iter().all(|v| (v - 0.7).abs() < 1e-6));

    let to = (29, 22);
    let rb = ctx
        .storage("resized", shape.batch * 3 * to.0 * to.1)
        .unwrap();
    run(&[shape.resize(ctx, to, &xb, &rb).unwrap()]);
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
    let shape = MatrixStack {
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

fn class_run(class: usize, settings: DreamSettings) -> Run {
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
    let mut request = Request::new(vec![class_run(TARANTULA, DreamSettings::default())]);
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
    let settings = DreamSettings {
        blur_every: 2,
        ..DreamSettings::default()
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
    let small = DreamSettings {
        l2: 1e-4,
        ..DreamSettings::default()
    };
    let large = DreamSettings {
        l2: 0.5,
        ..DreamSettings::default()
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
        settings: DreamSettings::default(),
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
    let settings = DreamSettings::for_model(ModelKind::SqueezeNet, Parameterization::Fourier);
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
        class_run(TARANTULA, DreamSettings::default()),
        class_run(1, DreamSettings::default()),
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
    let mut request = quick(vec![class_run(TARANTULA, DreamSettings::default())], 112, 5);
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
    let settings = DreamSettings::for_model(ModelKind::Vgg16, Parameterization::Pixels);
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
    let request = quick(vec![class_run(TARANTULA, DreamSettings::default())], 64, 1);
    let err = pollster::block_on(dream(&net, &request, &ProgressBar::hidden())).unwrap_err();
    assert!(
        matches!(err, netlens::Error::Diverged { step: 1, .. }),
        "expected Diverged at step 1, got {err}"
    );
}

#[test]
fn requests_that_cannot_run_are_refused() {
    let arch = Arch::squeezenet1_1(1000);
    let mut request = quick(vec![class_run(1000, DreamSettings::default())], 224, 1);
    assert!(matches!(
        request.validate(&arch),
        Err(netlens::Error::UnknownClass(_))
    ));
    request.runs[0] = class_run(1, DreamSettings::default());
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

/// The random scale and rotation: both kernels against the CPU reference, and the adjoint is the
/// forward pass's transpose: <T x, y> = <x, T^T y> (on the CPU reference and on the kernels).
#[test]
fn transform_kernels_match_cpu_and_are_each_others_transpose() {
    let ctx = ctx();
    let shape = IMAGES;
    let rows = [
        kernels::transform_row(1.1, 10.0),
        kernels::transform_row(0.9, -7.0),
    ];
    let rb = upload(bytemuck::cast_slice(&rows));
    let x = random(shape.values(), 11, 1.0);
    let y = random(shape.values(), 12, 1.0);
    let out = ctx.storage("transformed", shape.values()).unwrap();
    run(&[shape.transform(ctx, TransformPass::Forward, &rb, &upload(&x), &out)]);
    let tx = kernels::cpu::transform(&shape, &rows, &x);
    assert_close("transform", &read(&out), &tx, 1e-6);
    let tx_gpu = read(&out);
    run(&[shape.transform(ctx, TransformPass::Adjoint, &rb, &upload(&y), &out)]);
    let ty = kernels::cpu::transform_adjoint(&shape, &rows, &y);
    assert_close("transform adjoint", &read(&out), &ty, 1e-6);
    let ty_gpu = read(&out);

    let dot = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(&p, &q)| p as f64 * q as f64)
            .sum::<f64>()
    };
    for (what, forward, adjoint) in [("cpu", &tx, &ty), ("gpu", &tx_gpu, &ty_gpu)] {
        let (a, b) = (dot(forward, &y), dot(&x, adjoint));
        eprintln!("{what}: <Tx, y> = {a:.6}, <x, T^T y> = {b:.6}");
        assert!(
            (a - b).abs() <= 1e-5 * a.abs().max(1.0),
            "{what}: {a} vs {b}"
        );
    }
    // The identity samples every pixel exactly; a scale by 1.1 maps the centre onto itself.
    let id = [kernels::transform_row(1.0, 0.0); 2];
    assert_eq!(kernels::cpu::transform(&shape, &id, &x), x);
    let grown = kernels::cpu::transform(&shape, &[kernels::transform_row(1.1, 0.0); 2], &x);
    let centre = 6 * 17 + 8;
    assert!((grown[centre] - x[centre]).abs() < 1e-6);
}

/// A neuron objective raises that one activation (units 0 to 7 of features.7, one batch; a unit
/// dead at the start gets no gradient), and the snapshot reports the activation at the centre of
/// the layer's output, as a separate forward pass reads it.
#[test]
fn a_neuron_objective_raises_the_centre_unit() {
    let net = squeezenet();
    let layer = net.arch().layer_index("features.7").unwrap();
    let neuron = |channel: usize, position| Run {
        objective: Objective::Neuron {
            layer,
            channel,
            position,
        },
        // The unit is at a fixed place: a roll would move the image under it at each step.
        settings: DreamSettings {
            jitter: 0,
            ..DreamSettings::default()
        },
        label: format!("features.7 neuron {channel}"),
    };
    let mut request = quick((0..8).map(|c| neuron(c, None)).collect(), 112, 5);
    request.snapshots = vec![0];
    let result = go(&request);
    let alive: Vec<(usize, &[Snapshot])> = result
        .runs
        .iter()
        .enumerate()
        .map(|(c, r)| (c, &r.snapshots[..]))
        .filter(|(_, s)| s[0].objective > 0.0)
        .collect();
    assert!(!alive.is_empty(), "every unit is dead at the start");
    for (c, s) in &alive {
        eprintln!(
            "features.7 neuron {c} at the centre: {} -> {}",
            s[0].objective, s[1].objective
        );
        assert!(
            s[1].objective > s[0].objective + 0.1,
            "{c}: {} -> {}",
            s[0].objective,
            s[1].objective
        );
    }

    let (channel, s) = alive[0];
    let plan = net.plan(1, (112, 112)).unwrap();
    plan.input().write(ctx(), &s[1].image).unwrap();
    let mut encoder = ctx().encoder("neuron check");
    plan.record_forward_to(&mut encoder, layer);
    ctx().submit(encoder);
    let act = plan.activation(layer);
    let [_, _, h, w] = act.shape;
    let values = pollster::block_on(act.read(ctx())).unwrap();
    let want = values[(channel * h + h / 2) * w + w / 2];
    let got = s[1].objective;
    assert!(
        (got - want).abs() <= 1e-5 * want.abs().max(1.0),
        "{got} vs {want}"
    );

    let outside = quick(vec![neuron(7, Some((w, 0)))], 112, 5);
    let e = outside.validate(net.arch()).unwrap_err().to_string();
    assert!(e.contains("outside layer"), "{e}");
}

/// With random scales and rotations the loop still raises the class, a seed fixes the result,
/// and the steps differ from those without them.
#[test]
fn random_scale_and_rotation_raise_the_class_reproducibly() {
    let mut request = quick(vec![class_run(TARANTULA, DreamSettings::default())], 112, 5);
    request.transforms = Transforms {
        scale: 0.1,
        rotate: 10.0,
    };
    request.snapshots = vec![0];
    let a = go(&request);
    let s = &a.runs[0].snapshots;
    eprintln!(
        "with transforms: logit {} -> {}",
        s[0].objective, s[1].objective
    );
    assert!(s[1].objective > s[0].objective + 1.0);
    assert!(
        go(&request).runs[0].last().image == s[1].image,
        "same seed, other image"
    );
    request.transforms = Transforms::default();
    let plain = go(&request);
    assert!(common::rel_l2(&plain.runs[0].last().image, &s[1].image) > 1e-3);
    request.transforms.rotate = 200.0;
    let e = request
        .validate(squeezenet().arch())
        .unwrap_err()
        .to_string();
    assert!(e.contains("random rotation"), "{e}");
}

/// The diversity kernels (Gram matrices, their dot products, the gradient through both) against
/// the CPU reference, whose gradient the unit tests hold to finite differences.
#[test]
fn diversity_kernels_match_cpu() {
    let ctx = ctx();
    let shape = Gram {
        batch: 4,
        channels: 6,
        plane: 9,
    };
    let groups = [0, 0, 1, 0];
    let act: Vec<f32> = random(shape.len(), 21, 1.0)
        .iter()
        .map(|v| v.max(0.0))
        .collect();
    let pairs = diversity::pair_coefficients(&groups, 3.0);
    let actb = upload(&act);
    let gram = ctx.storage("gram", shape.gram_len()).unwrap();
    let dots = ctx.storage("dots", 16).unwrap();
    let v = ctx.storage("v", shape.gram_len()).unwrap();
    let grad = upload(&vec![0.0; shape.len()]);
    run(&[
        shape.matrices(ctx, &actb, &gram),
        shape.dots(ctx, &gram, &dots),
        shape.gradient(ctx, &upload(&pairs), &dots, &gram, &v),
        shape.backprop(ctx, &v, &actb, &grad),
    ]);
    let want: Vec<f32> = diversity::cpu::matrices(&shape, &act)
        .iter()
        .map(|&g| g as f32)
        .collect();
    assert_close("gram matrices", &read(&gram), &want, 1e-6);
    let cc = 36;
    let want_dots: Vec<f32> = (0..16)
        .map(|e| {
            let (i, j) = (e / 4, e % 4);
            (0..cc)
                .map(|k| want[i * cc + k] as f64 * want[j * cc + k] as f64)
                .sum::<f64>() as f32
        })
        .collect();
    assert_close("gram dot products", &read(&dots), &want_dots, 1e-6);
    let want_grad: Vec<f32> = diversity::cpu::gradient(&shape, &pairs, &act)
        .iter()
        .map(|&g| g as f32)
        .collect();
    assert_close("diversity gradient", &read(&grad), &want_grad, 1e-5);
    let per = shape.channels * shape.plane;
    assert!(
        want_grad[2 * per..3 * per].iter().all(|&g| g == 0.0),
        "image 2 is alone"
    );
}

/// Three copies of a class from different noise: with a diversity weight their Gram matrices at
/// features.12 end up less alike than without (weight 0, same starts), and the class still rises.
#[test]
fn diversity_pushes_copies_apart() {
    let arch = squeezenet().arch();
    let layer = arch.layer_index("features.12").unwrap();
    let copies = || {
        (0..3)
            .map(|_| class_run(TARANTULA, DreamSettings::default()))
            .collect()
    };
    let similarity = |weight: f32| {
        let mut request = quick(copies(), 112, 8);
        request.diversity = Some(Diversity { layer, weight });
        request.snapshots = vec![0];
        let result = go(&request);
        assert_eq!(result.timing.batches, 1);
        let first = &result.runs[0].snapshots;
        assert!(first[1].objective > first[0].objective, "the class rises");
        let mean = |k: usize| {
            result
                .runs
                .iter()
                .map(|r| r.snapshots[k].similarity.unwrap())
                .sum::<f32>()
                / 3.0
        };
        (mean(0), mean(1))
    };
    let (start, plain) = similarity(0.0);
    let (start_d, diverse) = similarity(1e3);
    eprintln!(
        "mean Gram cosine similarity: start {start:.4}, after 8 steps {plain:.4} without \
         diversity, {diverse:.4} with weight 1e3"
    );
    assert_eq!(start, start_d, "the same starts");
    assert!(diverse < plain - 0.01, "{diverse} vs {plain}");
}

/// Diversity at the objective's own layer (a channel of features.12): the objective's gradient
/// seed is restored before each step (one copy more per step), so the term does not pile up in
/// it, and the copies still end up less alike than without it.
#[test]
fn diversity_at_the_objective_layer_restores_the_seed_each_step() {
    let layer = squeezenet().arch().layer_index("features.12").unwrap();
    let channel = |_| Run {
        objective: Objective::Channel { layer, channel: 7 },
        settings: DreamSettings::default(),
        label: "features.12 channel 7".into(),
    };
    let steps = 4;
    let mut request = quick((0..2).map(channel).collect(), 112, steps);
    let mut similarity = Vec::new();
    for weight in [0.0, 1e3] {
        request.diversity = Some(Diversity { layer, weight });
        let result = go(&request);
        assert_eq!(
            result.timing.commands.copies,
            2 * steps as u64,
            "row and seed per step"
        );
        similarity.push(result.runs[0].last().similarity.unwrap());
    }
    eprintln!("features.12 channel 7, 2 copies: similarity {similarity:?} for weights 0, 1e3");
    assert!(similarity[1] < similarity[0] - 0.01, "{similarity:?}");
}
