//! The elementwise kernels: ReLU and bias + ReLU, on the GPU and in the CPU reference, against
//! PyTorch's numbers in `reference/ops_reference.safetensors` (relative L2 error at most 1e-4),
//! and the per-image step kernels of the loops (`update`) against their CPU references.

mod common;

use common::ops_reference::{TOL, tensor};
use common::{assert_close, ctx, random, read, reference, run, tensor_of, zeros};
use netlens::ops::BackwardMode;
use netlens::ops::relu::{self, BiasRelu};

#[test]
fn relu() {
    let refs = reference("ops_reference.safetensors");
    let ctx = ctx();
    let (xs, x) = tensor(&refs, "relu", "x");
    let (_, y_ref) = tensor(&refs, "relu", "y");
    let (_, dy) = tensor(&refs, "relu", "dy");
    let (_, dx_ref) = tensor(&refs, "relu", "dx");
    let plane = xs[2] * xs[3];
    assert_close(
        "relu forward (cpu)",
        &relu::cpu::forward(x, xs[1], plane, &[]),
        y_ref,
        TOL,
    );
    assert_close(
        "relu backward (cpu)",
        &relu::cpu::backward(dy, y_ref),
        dx_ref,
        TOL,
    );

    let layer = BiasRelu::new(ctx, xs[1], None).unwrap();
    let shape = [xs[0], xs[1], xs[2], xs[3]];
    let xb = tensor_of(shape, x);
    let yb = zeros(shape);
    let dyb = tensor_of(shape, dy);
    let dxb = zeros(shape);
    run(&[
        layer.forward(ctx, &xb, &yb).unwrap(),
        layer
            .backward(ctx, &dyb, &yb, &dxb, BackwardMode::default())
            .unwrap(),
    ]);
    assert_close("relu forward (gpu)", &read(&yb.buffer), y_ref, TOL);
    assert_close("relu backward (gpu)", &read(&dxb.buffer), dx_ref, TOL);
}

#[test]
fn bias_relu_against_cpu() {
    let ctx = ctx();
    let (channels, plane, batch) = (5, 13, 3);
    let x = random(batch * channels * plane, 7, 1.0);
    let bias = random(channels, 8, 0.5);
    let y_ref = relu::cpu::forward(&x, channels, plane, &bias);
    let dy = random(x.len(), 9, 1.0);
    let layer = BiasRelu::new(ctx, channels, Some(&bias)).unwrap();
    // Planes of 13 values as 1 x 13.
    let shape = [batch, channels, 1, plane];
    let xb = tensor_of(shape, &x);
    let yb = zeros(shape);
    let dyb = tensor_of(shape, &dy);
    let dxb = zeros(shape);
    let guided = BackwardMode {
        accumulate: false,
        guided: true,
    };
    run(&[
        layer.forward(ctx, &xb, &yb).unwrap(),
        layer.backward(ctx, &dyb, &yb, &dxb, guided).unwrap(),
    ]);
    assert_close("bias+relu forward", &read(&yb.buffer), &y_ref, TOL);
    let guided_ref: Vec<f32> = relu::cpu::backward(&dy, &y_ref)
        .iter()
        .map(|g| g.max(0.0))
        .collect();
    assert_close(
        "bias+relu guided backward",
        &read(&dxb.buffer),
        &guided_ref,
        TOL,
    );
}

#[test]
fn step_kernels_match_cpu() {
    use netlens::gpu::ImageBatch;
    use netlens::update;
    let ctx = ctx();
    let shape = ImageBatch {
        batch: 3,
        channels: 3,
        h: 7,
        w: 5,
    };
    let len = shape.per_image();
    let x = random(shape.batch * len, 41, 2.0);
    let g = random(shape.batch * len, 42, 1.0);
    let scale = vec![1.0, 0.0, 0.5];
    let bounds = [(-0.5f32, 0.5f32), (-1.0, 0.25), (0.0, 2.0)];
    let flat_bounds: Vec<f32> = bounds.iter().flat_map(|&(a, b)| [a, b]).collect();

    let mut want = x.clone();
    update::cpu::normalized_step(&mut want, &g, &scale, 0.7, len);
    let stepped = want.clone();
    update::cpu::clamp_channels(&mut want, &bounds, shape.plane());

    let (xb, gb) = (ctx.upload("x", &x).unwrap(), ctx.upload("g", &g).unwrap());
    let sums = ctx.storage("sums", shape.batch).unwrap();
    let scaleb = ctx.upload("scale", &scale).unwrap();
    let bb = ctx.upload("bounds", &flat_bounds).unwrap();
    run(&[
        shape.sum_squares(ctx, &gb, &sums),
        shape.normalized_step(ctx, 0.7, &gb, &sums, &scaleb, &xb),
    ]);
    assert_close(
        "sum of squares",
        &read(&sums),
        &update::cpu::sum_squares(&g, len),
        1e-6,
    );
    assert_close("normalized step", &read(&xb), &stepped, 1e-6);
    assert_eq!(
        &read(&xb)[len..2 * len],
        &x[len..2 * len],
        "a zero scale must leave the image alone"
    );
    run(&[shape.clamp_channels(ctx, &bb, &xb)]);
    assert_close("clamp", &read(&xb), &want, 1e-6);
    run(&[shape.axpy(ctx, -2.0, &gb, &xb)]);
    let axpy: Vec<f32> = want.iter().zip(&g).map(|(a, b)| a - 2.0 * b).collect();
    assert_close("axpy", &read(&xb), &axpy, 1e-6);
}
