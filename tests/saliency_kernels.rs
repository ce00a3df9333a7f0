//! The attribution kernels of `shaders/saliency.wgsl` against their CPU references
//! (`netlens::saliency::kernels::cpu`), on small random data.

mod common;

use common::{assert_close, ctx, random};
use netlens::gpu::{Dispatch, ImageBatch, Tensor, record_all};
use netlens::ops::resample::resize_bilinear;
use netlens::saliency::Reduce;
use netlens::saliency::kernels::{AttributionKernel, CamKernel, SampleJob, SampleKernel, cpu};

/// Every kernel here is elementwise or a short loop: f32 rounding differs from the CPU only in
/// summation order and the transcendental functions of the noise.
const TOL: f64 = 1e-5;

fn run(dispatches: &[&Dispatch]) {
    let ctx = ctx();
    let mut encoder = ctx.encoder("test");
    record_all(&mut encoder, "test", dispatches.iter().copied());
    ctx.submit(encoder);
    ctx.wait().unwrap();
}

fn read(buffer: &wgpu::Buffer, len: usize) -> Vec<f32> {
    pollster::block_on(ctx().read(buffer, 0..len)).unwrap()
}

#[test]
fn channel_reduction_matches_cpu() {
    let ctx = ctx();
    let shape = ImageBatch {
        batch: 3,
        channels: 3,
        h: 37,
        w: 29,
    };
    let src = random(shape.values(), 1, 2.0);
    let srcb = ctx.upload("src", &src).unwrap();
    for reduce in [Reduce::Max, Reduce::Sum] {
        let dst = ctx.storage("dst", shape.batch * shape.plane()).unwrap();
        let kernel = AttributionKernel::ReduceChannels(reduce);
        run(&[&shape.attribution(ctx, kernel, &[&srcb, &dst])]);
        let want = cpu::reduce_channels(shape, reduce, &src);
        assert_close(
            &format!("reduce {reduce:?}"),
            &read(&dst, want.len()),
            &want,
            TOL,
        );
    }
    // By hand: max |.| and sum |.| of (-1, 0.5, 2) in one pixel.
    let one = ImageBatch {
        batch: 1,
        channels: 3,
        h: 1,
        w: 1,
    };
    assert_eq!(
        cpu::reduce_channels(one, Reduce::Max, &[-1.0, 0.5, 2.0]),
        [2.0]
    );
    assert_eq!(
        cpu::reduce_channels(one, Reduce::Sum, &[-1.0, 0.5, 2.0]),
        [3.5]
    );
}

/// A job of 3 images x 5 samples in passes of 4 slots: passes mix images, and the last pass
/// has inactive slots.
fn job() -> SampleJob {
    SampleJob {
        images: 3,
        samples: 5,
        batch: 4,
        len: 2 * 50,
        classes: 7,
    }
}

#[test]
fn sampled_inputs_seeds_and_accumulation_match_cpu_over_every_pass() {
    let ctx = ctx();
    let job = job();
    assert_eq!(job.passes(), 4);
    let images = random(job.images * job.len, 2, 2.0);
    let base = random(job.images * job.len, 3, 1.0);
    let sigma = [0.3f32, 0.0, 1.5];
    let targets = [4u32, 0, 6];
    let seed = 0x1234_5678_9abc_def0;
    let (imagesb, baseb) = (
        ctx.upload("images", &images).unwrap(),
        ctx.upload("base", &base).unwrap(),
    );
    let sigmab = ctx.upload("sigma", &sigma).unwrap();
    let targetsb = ctx.upload("targets", &targets).unwrap();
    let state = ctx.upload("state", &[0u32]).unwrap();
    let noisy = ctx.storage("noisy", job.batch * job.len).unwrap();
    let path = ctx.storage("path", job.batch * job.len).unwrap();
    let seeds = ctx.storage("seeds", job.batch * job.classes).unwrap();
    let acc = ctx.storage("acc", job.images * job.len).unwrap();
    let smooth_inputs = SampleKernel::SmoothInputs(seed);
    let smooth = job.sampled(ctx, smooth_inputs, &[&state, &imagesb, &sigmab, &noisy]);
    let along = job.sampled(
        ctx,
        SampleKernel::PathInputs,
        &[&state, &imagesb, &baseb, &path],
    );
    let seed_targets = job.sampled(ctx, SampleKernel::SeedTargets, &[&state, &targetsb, &seeds]);
    // The "gradient" accumulated is the noisy input itself.
    let accumulate = job.sampled(ctx, SampleKernel::Accumulate, &[&state, &noisy, &acc]);
    let advance = job.sampled(ctx, SampleKernel::Advance, &[&state]);
    let mut acc_cpu = vec![0.0f32; job.images * job.len];
    for pass in 0..job.passes() {
        run(&[&smooth, &along, &seed_targets, &accumulate]);
        let noisy_cpu = cpu::smooth_inputs(&job, pass, seed, &images, &sigma);
        assert_close(
            &format!("smooth_inputs pass {pass}"),
            &read(&noisy, noisy_cpu.len()),
            &noisy_cpu,
            TOL,
        );
        let path_cpu = cpu::path_inputs(&job, pass, &images, &base);
        assert_close(
            &format!("path_inputs pass {pass}"),
            &read(&path, path_cpu.len()),
            &path_cpu,
            TOL,
        );
        let seeds_cpu = cpu::seed_targets(&job, pass, &targets);
        assert_eq!(
            read(&seeds, seeds_cpu.len()),
            seeds_cpu,
            "seed_targets pass {pass}"
        );
        cpu::accumulate(&job, pass, &noisy_cpu, &mut acc_cpu);
        assert_close(
            &format!("accumulate after pass {pass}"),
            &read(&acc, acc_cpu.len()),
            &acc_cpu,
            TOL,
        );
        run(&[&advance]);
    }
    assert_eq!(
        pollster::block_on(ctx.read::<u32>(&state, 0..1)).unwrap(),
        [4]
    );
    // Past the last pass, advancing changes nothing.
    run(&[&advance]);
    assert_eq!(
        pollster::block_on(ctx.read::<u32>(&state, 0..1)).unwrap(),
        [4]
    );
    // The last pass holds pairs 12..16 of 15: slot 3 is inactive, zero input and seed.
    let last = cpu::smooth_inputs(&job, 3, seed, &images, &sigma);
    assert!(last[3 * job.len..].iter().all(|&v| v == 0.0));
    assert_eq!(
        cpu::seed_targets(&job, 3, &targets)[3 * job.classes..]
            .iter()
            .sum::<f32>(),
        0.0
    );
    // Image 1 has no noise: its mean "gradient" is the image; the path's mean is the midpoint.
    let one = &acc_cpu[job.len..2 * job.len];
    assert_close("noise-free mean", one, &images[job.len..2 * job.len], 1e-6);
}

#[test]
fn noise_is_standard_normal_and_independent_of_the_pass_layout() {
    let draws: Vec<f64> = (0..200_000u32)
        .map(|e| f64::from(cpu::gaussian(7, e / 1000, e % 1000)))
        .collect();
    let mean = draws.iter().sum::<f64>() / draws.len() as f64;
    let var = draws.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / draws.len() as f64;
    let within_one = draws.iter().filter(|v| v.abs() < 1.0).count() as f64 / draws.len() as f64;
    assert!(mean.abs() < 0.01, "mean {mean}");
    assert!((var - 1.0).abs() < 0.02, "variance {var}");
    assert!(
        (within_one - 0.6827).abs() < 0.005,
        "P(|z| < 1) = {within_one}"
    );
    assert_ne!(cpu::gaussian(7, 0, 0), cpu::gaussian(8, 0, 0));
    // The same pair gets the same noise whatever batch size runs it.
    let a = SampleJob { batch: 2, ..job() };
    let b = SampleJob { batch: 5, ..job() };
    let images = random(a.images * a.len, 4, 1.0);
    let sigma = [1.0f32; 3];
    let pair_6_in_a = &cpu::smooth_inputs(&a, 3, 9, &images, &sigma)[..a.len];
    let pair_6_in_b = &cpu::smooth_inputs(&b, 1, 9, &images, &sigma)[a.len..2 * a.len];
    assert_eq!(pair_6_in_a, pair_6_in_b);
}

#[test]
fn times_difference_matches_cpu() {
    let ctx = ctx();
    let shape = ImageBatch {
        batch: 2,
        channels: 3,
        h: 7,
        w: 11,
    };
    let n = shape.values();
    let (x, b, a) = (random(n, 5, 2.0), random(n, 6, 2.0), random(n, 7, 1.0));
    let (xb, bb, ab) = (
        ctx.upload("x", &x).unwrap(),
        ctx.upload("b", &b).unwrap(),
        ctx.upload("a", &a).unwrap(),
    );
    run(&[&shape.attribution(ctx, AttributionKernel::TimesDifference, &[&xb, &bb, &ab])]);
    let mut want = a.clone();
    cpu::times_difference(&x, &b, &mut want);
    assert_close("times_difference", &read(&ab, n), &want, TOL);
}

#[test]
fn grad_cam_weights_map_and_upsampling_match_cpu() {
    let ctx = ctx();
    let shape = ImageBatch {
        batch: 2,
        channels: 24,
        h: 13,
        w: 13,
    };
    let act = random(shape.values(), 8, 1.0)
        .iter()
        .map(|v| v.max(0.0))
        .collect::<Vec<_>>();
    let grad = random(shape.values(), 9, 1.0);
    let (actb, gradb) = (
        ctx.upload("act", &act).unwrap(),
        ctx.upload("grad", &grad).unwrap(),
    );
    let alpha = ctx.storage("alpha", shape.batch * shape.channels).unwrap();
    let cam = Tensor::zeros(ctx, "cam", [shape.batch, 1, 13, 13]).unwrap();
    let up = Tensor::zeros(ctx, "up", [shape.batch, 1, 224, 224]).unwrap();
    run(&[
        &shape.cam(ctx, CamKernel::Weights, &[&gradb, &alpha]),
        &shape.cam(ctx, CamKernel::Map, &[&actb, &alpha, &cam.buffer]),
        &resize_bilinear(ctx, &cam, &up).unwrap(),
    ]);
    let alpha_cpu = cpu::cam_weights(shape, &grad);
    assert_close(
        "cam_weights",
        &read(&alpha, alpha_cpu.len()),
        &alpha_cpu,
        TOL,
    );
    let cam_cpu = cpu::cam_map(shape, &act, &alpha_cpu);
    assert_close("cam_map", &read(&cam.buffer, cam_cpu.len()), &cam_cpu, TOL);
    assert!(cam_cpu.iter().all(|&v| v >= 0.0) && cam_cpu.iter().any(|&v| v > 0.0));
    let up_cpu =
        netlens::ops::resample::cpu::resize_bilinear(shape.batch, (13, 13), (224, 224), &cam_cpu);
    assert_close(
        "upsample 13 -> 224",
        &read(&up.buffer, up_cpu.len()),
        &up_cpu,
        TOL,
    );

    // Non-square, and shrinking on one axis.
    let src = random(3 * 4 * 6, 10, 1.0);
    let srcb = Tensor::upload(ctx, "src", [1, 3, 4, 6], &src).unwrap();
    let dst = Tensor::zeros(ctx, "dst", [1, 3, 9, 5]).unwrap();
    run(&[&resize_bilinear(ctx, &srcb, &dst).unwrap()]);
    let want = netlens::ops::resample::cpu::resize_bilinear(3, (4, 6), (9, 5), &src);
    assert_close(
        "upsample 4x6 -> 9x5",
        &read(&dst.buffer, want.len()),
        &want,
        TOL,
    );
}

#[test]
fn bilinear_upsampling_matches_pytorch_by_hand() {
    // torch.nn.functional.interpolate(torch.tensor([[[[0., 1.], [2., 3.]]]]), size=(4, 4),
    // mode="bilinear", align_corners=False):
    let want = [
        0.0, 0.25, 0.75, 1.0, //
        0.5, 0.75, 1.25, 1.5, //
        1.5, 1.75, 2.25, 2.5, //
        2.0, 2.25, 2.75, 3.0,
    ];
    assert_eq!(
        netlens::ops::resample::cpu::resize_bilinear(1, (2, 2), (4, 4), &[0.0, 1.0, 2.0, 3.0]),
        want
    );
    // Grad-CAM by hand: two channels weighted 1 and -1; the ReLU clips the negative pixel.
    let shape = ImageBatch {
        batch: 1,
        channels: 2,
        h: 1,
        w: 2,
    };
    let alpha = cpu::cam_weights(shape, &[1.0, 1.0, -2.0, 0.0]);
    assert_eq!(alpha, [1.0, -1.0]);
    assert_eq!(
        cpu::cam_map(shape, &[3.0, 1.0, 1.0, 2.0], &alpha),
        [2.0, 0.0]
    );
}
