//! The kernels of Grad-CAM++, Score-CAM, occlusion and the deletion / insertion curves
//! (`shaders/saliency.wgsl`) against their CPU references (`netlens::saliency::kernels::cpu`) on
//! small random data, and the references against values worked out by hand.

mod common;

use common::{assert_close, ctx, random, read, run, upload};
use netlens::gpu::{Dispatch, ImageBatch};
use netlens::saliency::kernels::{
    CamKernel, Patches, PerturbKernel, Resize, SampleJob, SampleKernel, cpu,
};

/// Elementwise kernels and short loops: f32 results differ from the CPU only in summation
/// order and in exp.
const TOL: f64 = 1e-5;

/// A storage buffer holding u32 `data`.
fn upload_u32(data: &[u32]) -> wgpu::Buffer {
    ctx().upload("test data", data).unwrap()
}

/// A job of `images` x `samples` in passes of `batch` slots over 3-channel inputs of `hw`.
fn job(images: usize, samples: usize, batch: usize, hw: (usize, usize)) -> SampleJob {
    SampleJob {
        images,
        samples,
        batch,
        len: 3 * hw.0 * hw.1,
        classes: 11,
    }
}

/// Runs `make` and `extra` for every pass of `job`, advancing `state`, and compares the input
/// buffer with `want(pass)` after each.
fn check_passes(
    what: &str,
    job: &SampleJob,
    state: &wgpu::Buffer,
    make: &Dispatch,
    input: &wgpu::Buffer,
    want: impl Fn(usize) -> Vec<f32>,
) {
    let advance = job.sampled(ctx(), SampleKernel::Advance, &[state]);
    for pass in 0..job.passes() {
        run(std::slice::from_ref(make));
        let want = want(pass);
        assert_eq!(want.len(), job.batch * job.len);
        assert_close(&format!("{what} pass {pass}"), &read(input), &want, TOL);
        run(std::slice::from_ref(&advance));
    }
}

#[test]
fn grad_cam_plus_plus_weights_match_cpu_and_by_hand() {
    let ctx = ctx();
    let shape = ImageBatch {
        batch: 2,
        channels: 20,
        h: 7,
        w: 7,
    };
    let act: Vec<f32> = random(shape.values(), 21, 1.0)
        .iter()
        .map(|v| v.max(0.0))
        .collect();
    let mut grad = random(shape.values(), 22, 0.5);
    grad[3] = 0.0;
    let alpha = ctx.storage("alpha", shape.batch * shape.channels).unwrap();
    let (grad_b, act_b) = (upload(&grad), upload(&act));
    run(&[shape.cam(ctx, CamKernel::PlusPlusWeights, &[&grad_b, &act_b, &alpha])]);
    let want = cpu::campp_weights(shape, &grad, &act);
    assert_close("campp_weights", &read(&alpha), &want, TOL);
    assert!(want.iter().all(|&a| a >= 0.0) && want.iter().any(|&a| a > 0.0));

    // By hand: activations (1, 3) sum to 4; g = 0.5 gives 0.5 * 0.25 / (0.5 + 4 * 0.125 +
    // 1e-6); g = -1 is cut by the ReLU; g = 0 counts nothing.
    let one = ImageBatch {
        batch: 1,
        channels: 1,
        h: 1,
        w: 3,
    };
    let got = cpu::campp_weights(one, &[0.5, -1.0, 0.0], &[1.0, 3.0, 0.0])[0];
    let by_hand = 0.5 * 0.25 / (0.5 + 4.0 * 0.125 + 1e-6);
    assert!(
        (f64::from(got) - by_hand).abs() < 1e-7,
        "{got} vs {by_hand}"
    );
}

#[test]
fn score_cam_ranges_inputs_and_weights_match_cpu() {
    let ctx = ctx();
    let (low, hw) = ((5, 4), (23, 19));
    let shape = ImageBatch {
        batch: 2,
        channels: 3,
        h: low.0,
        w: low.1,
    };
    let mut act = random(shape.values(), 31, 1.0);
    // Channel 1 of image 0 is flat: its mask is 0 and its weight 0.
    act[shape.plane()..2 * shape.plane()].fill(0.25);
    let actb = upload(&act);
    let range = ctx
        .storage("range", 2 * shape.batch * shape.channels)
        .unwrap();
    let resize = Resize { from: low, to: hw };
    run(&[shape.cam(ctx, CamKernel::MaskRange(resize), &[&actb, &range])]);
    let range_cpu = cpu::mask_range(shape, low, hw, &act);
    assert_close("mask_range", &read(&range), &range_cpu, TOL);
    assert_eq!(range_cpu[2], range_cpu[3]);

    // Passes of 4 slots over 2 images x 3 channels: the second pass has 2 inactive slots.
    let job = job(shape.batch, shape.channels, 4, hw);
    let images = random(job.images * job.len, 32, 2.0);
    let state = upload_u32(&[0u32]);
    let input = ctx.storage("input", job.batch * job.len).unwrap();
    let buffers = [&state, &upload(&images), &actb, &range, &input];
    let make = job
        .perturbed(ctx, PerturbKernel::ScoreInputs(resize), &buffers)
        .unwrap();
    check_passes("score_inputs", &job, &state, &make, &input, |pass| {
        cpu::score_inputs(&job, pass, low, hw, &images, &act, &range_cpu)
    });
    let first = cpu::score_inputs(&job, 0, low, hw, &images, &act, &range_cpu);
    assert!(first[job.len..2 * job.len].iter().all(|&v| v == 0.0));

    let scores = random(shape.batch * shape.channels, 33, 1.0);
    let alpha = ctx.storage("alpha", scores.len()).unwrap();
    let buffers = [&range, &upload(&scores), &alpha];
    run(&[shape.cam(ctx, CamKernel::ScoreWeights, &buffers)]);
    let want = cpu::score_weights(&range_cpu, &scores);
    assert_eq!(read(&alpha), want);
    assert_eq!(want[1], 0.0);
    assert_eq!(want[0], scores[0]);

    // By hand: a 2x2 channel upsampled to itself, values 0, 1, 2, 4, scales to 0, 1/4, 1/2, 1.
    let one = ImageBatch {
        batch: 1,
        channels: 1,
        h: 2,
        w: 2,
    };
    let act = [0.0, 1.0, 2.0, 4.0];
    let range = cpu::mask_range(one, (2, 2), (2, 2), &act);
    assert_eq!(range, [0.0, 4.0]);
    let single = SampleJob {
        images: 1,
        samples: 1,
        batch: 1,
        len: 12,
        classes: 1,
    };
    let masked = cpu::score_inputs(&single, 0, (2, 2), (2, 2), &[2.0; 12], &act, &range);
    assert_eq!(&masked[..4], [0.0, 0.5, 1.0, 2.0]);
    assert_eq!(&masked[8..], [0.0, 0.5, 1.0, 2.0]);
}

#[test]
fn class_scores_match_cpu_and_by_hand() {
    let ctx = ctx();
    let job = job(3, 2, 4, (1, 1));
    let targets = [4u32, 0, 10];
    let logits = random(job.batch * job.classes, 41, 6.0);
    let logitsb = upload(&logits);
    let targetsb = upload_u32(&targets);
    for softmax in [true, false] {
        let state = upload_u32(&[0u32]);
        let scores = ctx.storage("scores", job.images * job.samples).unwrap();
        let buffers = [&state, &targetsb, &logitsb, &scores];
        let score = job.sampled(ctx, SampleKernel::ClassScores(softmax), &buffers);
        let advance = job.sampled(ctx, SampleKernel::Advance, &[&state]);
        let mut want = vec![0.0f32; job.images * job.samples];
        for pass in 0..job.passes() {
            run(&[score.clone(), advance.clone()]);
            cpu::class_scores(&job, pass, softmax, &targets, &logits, &mut want);
        }
        assert_close(
            &format!("class_scores (softmax {softmax})"),
            &read(&scores),
            &want,
            TOL,
        );
    }
    // By hand: logits (0, ln 3): the second class has probability 3 / 4.
    let pair = SampleJob {
        images: 1,
        samples: 1,
        batch: 1,
        len: 3,
        classes: 2,
    };
    let mut score = [0.0f32];
    cpu::class_scores(&pair, 0, true, &[1], &[0.0, 3f32.ln()], &mut score);
    assert!((score[0] - 0.75).abs() < 1e-6, "{}", score[0]);
    cpu::class_scores(&pair, 0, false, &[1], &[0.0, 3f32.ln()], &mut score);
    assert_eq!(score[0], 3f32.ln());
}

#[test]
fn occlusion_inputs_and_maps_match_cpu_and_by_hand() {
    let ctx = ctx();
    // 5 x 4 patches of 4 on 13 x 11 with stride 2 (the last row and column stay uncovered).
    let patches = Patches {
        hw: (13, 11),
        patch: 4,
        stride: 2,
    };
    assert_eq!(patches.grid().unwrap(), (4, 5));
    let windows = patches.count().unwrap();
    let job = job(2, windows + 1, 8, patches.hw);
    let images = random(job.images * job.len, 51, 2.0);
    let state = upload_u32(&[0u32]);
    let input = ctx.storage("input", job.batch * job.len).unwrap();
    let buffers = [&state, &upload(&images), &input];
    let make = job
        .perturbed(ctx, PerturbKernel::OcclusionInputs(patches), &buffers)
        .unwrap();
    check_passes("occlusion_inputs", &job, &state, &make, &input, |pass| {
        cpu::occlusion_inputs(&job, pass, &patches, &images)
    });
    let scores = random(job.images * job.samples, 52, 3.0);
    let map = ctx.storage("map", job.images * 13 * 11).unwrap();
    run(&[patches
        .occlusion_map(ctx, job.images, &upload(&scores), &map)
        .unwrap()]);
    let want = cpu::occlusion_map(job.images, &patches, &scores);
    assert_close("occlusion_map", &read(&map), &want, TOL);
    assert_eq!(want[12 * 11 + 10], 0.0, "an uncovered pixel");

    // By hand: 2 x 2 patches with stride 1 on 3 x 3 (four patches); the image's own score is 10
    // and the patches score 9, 8, 7, 6. The centre lies under all four: mean drop 2.5; the
    // top-left corner under the first only: 1; the top edge's middle under the first two: 1.5.
    let small = Patches {
        hw: (3, 3),
        patch: 2,
        stride: 1,
    };
    let map = cpu::occlusion_map(1, &small, &[9.0, 8.0, 7.0, 6.0, 10.0]);
    assert_eq!((map[4], map[0], map[1]), (2.5, 1.0, 1.5));
    // Patch 3 (bottom right) hides pixels (1..3, 1..3) in every channel; the last sample none.
    let single = SampleJob {
        images: 1,
        samples: 5,
        batch: 5,
        len: 27,
        classes: 1,
    };
    let inputs = cpu::occlusion_inputs(&single, 0, &small, &[1.0; 27]);
    let hidden = &inputs[3 * 27..4 * 27];
    assert_eq!(&hidden[..9], [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
    assert_eq!(hidden[..9], hidden[18..]);
    assert!(inputs[4 * 27..].iter().all(|&v| v == 1.0));
    // A patch larger than the input is refused.
    let too_big = Patches {
        patch: 14,
        ..patches
    };
    assert!(too_big.grid().unwrap_err().to_string().contains("14"));
}

#[test]
fn reveal_inputs_match_cpu_and_by_hand() {
    let ctx = ctx();
    let hw = (6, 7);
    let plane = hw.0 * hw.1;
    let steps = 5;
    // 2 images: 4 curves x 6 steps in passes of 7 slots (the last pass partly inactive).
    let job = job(4, steps + 1, 7, hw);
    let photo = random(2 * job.len, 61, 2.0);
    let blurred = random(2 * job.len, 62, 0.5);
    let rank: Vec<u32> = (0..2)
        .flat_map(|n| {
            netlens::saliency::faithfulness::ranks(&random(plane, 63 + n, 1.0)).into_iter()
        })
        .collect();
    let state = upload_u32(&[0u32]);
    let input = ctx.storage("input", job.batch * job.len).unwrap();
    let buffers = [
        &state,
        &upload(&photo),
        &upload(&blurred),
        &upload_u32(&rank),
        &input,
    ];
    let make = job
        .perturbed(ctx, PerturbKernel::RevealInputs, &buffers)
        .unwrap();
    check_passes("reveal_inputs", &job, &state, &make, &input, |pass| {
        cpu::reveal_inputs(&job, pass, &photo, &blurred, &rank)
    });

    // By hand: 4 pixels, 2 steps; the order is pixel 2, 0, 3, 1. Step 1 changes
    // round(4 / 2) = 2 pixels: 2 and 0. Deletion takes them from the blurred copy (0s),
    // insertion from the photo (1s); step 0 and step 2 are the photo and the blurred copy.
    let small = SampleJob {
        images: 2,
        samples: 3,
        batch: 6,
        len: 12,
        classes: 1,
    };
    let rank = [1u32, 3, 0, 2];
    let all = cpu::reveal_inputs(&small, 0, &[1.0; 12], &[0.0; 12], &rank);
    let pixels = |pair: usize| all[pair * 12..pair * 12 + 4].to_vec();
    assert_eq!(pixels(0), [1.0; 4], "deletion, step 0");
    assert_eq!(pixels(1), [0.0, 1.0, 0.0, 1.0], "deletion, step 1");
    assert_eq!(pixels(2), [0.0; 4], "deletion, step 2");
    assert_eq!(pixels(3), [0.0; 4], "insertion, step 0");
    assert_eq!(pixels(4), [1.0, 0.0, 1.0, 0.0], "insertion, step 1");
    assert_eq!(pixels(5), [1.0; 4], "insertion, step 2");
}
