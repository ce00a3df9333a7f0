//! The ReLU layer: ReLU and bias + ReLU, on the GPU and in the CPU reference, against PyTorch's
//! numbers in `reference/ops_reference.safetensors` (relative L2 error at most 1e-4).

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
