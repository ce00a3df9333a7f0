//! Max pooling and adaptive average pooling, forward and backward, on the GPU and in the CPU
//! reference, against PyTorch's numbers in `reference/ops_reference.safetensors` (relative L2
//! error at most 1e-4).

mod common;

use common::ops_reference::{TOL, tensor};
use common::{assert_close, ctx, random, read, reference, run, tensor_of, zeros};
use netlens::gpu::{Dispatch, Tensor};
use netlens::ops::BackwardMode;
use netlens::ops::pool::{self, AdaptiveAvgPool, MaxPool, MaxPoolGeometry};

fn check_maxpool(op: &str, geometry: MaxPoolGeometry) {
    let refs = reference("ops_reference.safetensors");
    let ctx = ctx();
    let (xs, x) = tensor(&refs, op, "x");
    let (_, y_ref) = tensor(&refs, op, "y");
    let (_, dy) = tensor(&refs, op, "dy");
    let (_, dx_ref) = tensor(&refs, op, "dx");
    let planes = xs[0] * xs[1];
    let hw = (xs[2], xs[3]);
    let (y_cpu, arg) = pool::cpu::max_forward(&geometry, planes, hw, x);
    assert_close(&format!("{op} forward (cpu)"), &y_cpu, y_ref, TOL);
    assert_close(
        &format!("{op} backward (cpu)"),
        &pool::cpu::max_backward(dy, &arg, x.len()),
        dx_ref,
        TOL,
    );

    let layer = MaxPool { geometry };
    let x_shape = [xs[0], xs[1], xs[2], xs[3]];
    let y_shape = layer.output_shape(x_shape).unwrap();
    assert_eq!(y_shape.iter().product::<usize>(), y_ref.len());
    let argb = ctx.storage("argmax", y_ref.len()).unwrap();
    check_on_gpu(
        op,
        (x_shape, x),
        (y_shape, dy),
        (y_ref, dx_ref),
        |x, y, dy, dx| {
            vec![
                layer.forward(ctx, x, y, &argb).unwrap(),
                layer
                    .backward(ctx, dy, &argb, dx, BackwardMode::default())
                    .unwrap(),
            ]
        },
    );
}

/// Records `passes` (the forward of x into y, the backward of dy into dx) over fresh tensors
/// and compares y and dx with the references.
fn check_on_gpu(
    op: &str,
    (x_shape, x): ([usize; 4], &[f32]),
    (y_shape, dy): ([usize; 4], &[f32]),
    (y_ref, dx_ref): (&[f32], &[f32]),
    passes: impl Fn(&Tensor, &Tensor, &Tensor, &Tensor) -> Vec<Dispatch>,
) {
    let (xb, yb) = (tensor_of(x_shape, x), zeros(y_shape));
    let (dyb, dxb) = (tensor_of(y_shape, dy), zeros(x_shape));
    run(&passes(&xb, &yb, &dyb, &dxb));
    let forward = read(&yb.buffer);
    assert_close(&format!("{op} forward (gpu)"), &forward, y_ref, TOL);
    let backward = read(&dxb.buffer);
    assert_close(&format!("{op} backward (gpu)"), &backward, dx_ref, TOL);
}

#[test]
fn maxpool3x3_s2_ceil() {
    check_maxpool(
        "maxpool3x3_s2_ceil",
        MaxPoolGeometry {
            kernel: 3,
            stride: 2,
            pad: 0,
            ceil_mode: true,
        },
    );
}

#[test]
fn maxpool2x2_s2() {
    check_maxpool(
        "maxpool2x2_s2",
        MaxPoolGeometry {
            kernel: 2,
            stride: 2,
            pad: 0,
            ceil_mode: false,
        },
    );
}

fn check_avgpool(op: &str) {
    let refs = reference("ops_reference.safetensors");
    let (xs, x) = tensor(&refs, op, "x");
    let (ys, y_ref) = tensor(&refs, op, "y");
    let (_, dy) = tensor(&refs, op, "dy");
    let (_, dx_ref) = tensor(&refs, op, "dx");
    let planes = xs[0] * xs[1];
    let (in_hw, out_hw) = ((xs[2], xs[3]), (ys[2], ys[3]));
    assert_close(
        &format!("{op} forward (cpu)"),
        &pool::cpu::avg_forward(planes, in_hw, out_hw, x),
        y_ref,
        TOL,
    );
    assert_close(
        &format!("{op} backward (cpu)"),
        &pool::cpu::avg_backward(planes, in_hw, out_hw, dy),
        dx_ref,
        TOL,
    );

    let layer = AdaptiveAvgPool { out_hw };
    let x_shape = [xs[0], xs[1], xs[2], xs[3]];
    let y_shape = [ys[0], ys[1], ys[2], ys[3]];
    assert_eq!(layer.output_shape(x_shape), y_shape);
    check_on_gpu(
        op,
        (x_shape, x),
        (y_shape, dy),
        (y_ref, dx_ref),
        |x, y, dy, dx| avgpool_passes(&layer, x, y, dy, dx),
    );
}

/// The average pooling's forward and backward over the given tensors.
fn avgpool_passes(
    layer: &AdaptiveAvgPool,
    x: &Tensor,
    y: &Tensor,
    dy: &Tensor,
    dx: &Tensor,
) -> Vec<Dispatch> {
    let plain = BackwardMode::default();
    vec![
        layer.forward(ctx(), x, y).unwrap(),
        layer.backward(ctx(), dy, dx, plain).unwrap(),
    ]
}

#[test]
fn adaptive_avgpool7() {
    check_avgpool("adaptive_avgpool7");
}

#[test]
fn global_avgpool() {
    check_avgpool("global_avgpool");
}

/// Adaptive pooling that upsamples (VGG16's 7 x 7 pooling of a 2 x 2 map, at 64 x 64 inputs).
#[test]
fn adaptive_avgpool_upsampling() {
    let (planes, in_hw, out_hw) = (3, (2, 3), (7, 7));
    let x = random(planes * 6, 11, 1.0);
    let dy = random(planes * 49, 12, 1.0);
    let layer = AdaptiveAvgPool { out_hw };
    check_on_gpu(
        "upsampling avgpool",
        ([1, planes, in_hw.0, in_hw.1], &x),
        ([1, planes, out_hw.0, out_hw.1], &dy),
        (
            &pool::cpu::avg_forward(planes, in_hw, out_hw, &x),
            &pool::cpu::avg_backward(planes, in_hw, out_hw, &dy),
        ),
        |x, y, dy, dx| avgpool_passes(&layer, x, y, dy, dx),
    );
}
