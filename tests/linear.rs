//! Linear layers, forward and input gradient, for every kernel, on the GPU and in the CPU
//! reference, against PyTorch's numbers in `reference/ops_reference.safetensors` (relative L2
//! error at most 1e-4), with the fused ReLU at batch sizes that use each batch block.

mod common;

use common::ops_reference::{TOL, tensor};
use common::{assert_close, ctx, random, read, reference, run, tensor_of, zeros};
use netlens::ops::BackwardMode;
use netlens::ops::linear::{self, Linear, LinearKernel};
use netlens::ops::relu::BiasRelu;

#[test]
fn linear() {
    let refs = reference("ops_reference.safetensors");
    let ctx = ctx();
    let (xs, x) = tensor(&refs, "linear", "x");
    let (_, w) = tensor(&refs, "linear", "arg0");
    let (_, b) = tensor(&refs, "linear", "arg1");
    let (_, y_ref) = tensor(&refs, "linear", "y");
    let (_, dy) = tensor(&refs, "linear", "dy");
    let (_, dx_ref) = tensor(&refs, "linear", "dx");
    let batch = xs[0];
    assert_close(
        "linear forward (cpu)",
        &linear::cpu::forward(batch, x, w, b, false),
        y_ref,
        TOL,
    );
    assert_close(
        "linear backward (cpu)",
        &linear::cpu::backward_input(batch, dy, None, w, xs[1]),
        dx_ref,
        TOL,
    );

    let rows = |features: usize| [batch, features, 1, 1];
    let xb = tensor_of(rows(xs[1]), x);
    let dyb = tensor_of(rows(y_ref.len() / batch), dy);
    for kernel in LinearKernel::ALL {
        // Fresh outputs, so that a kernel that wrote nothing cannot pass on another's result.
        let yb = zeros(dyb.shape);
        let dxb = zeros(xb.shape);
        let layer = Linear::with_kernel(ctx, "linear", w, b, false, kernel).unwrap();
        let mut d = layer.forward(ctx, &xb, &yb).unwrap();
        d.extend(
            layer
                .backward_input(ctx, &dyb, &dxb, BackwardMode::default())
                .unwrap(),
        );
        run(&d);
        let name = layer.kernel();
        assert_close(
            &format!("linear forward ({name})"),
            &read(&yb.buffer),
            y_ref,
            TOL,
        );
        assert_close(
            &format!("linear backward ({name})"),
            &read(&dxb.buffer),
            dx_ref,
            TOL,
        );
    }
}

/// Widths a multiple of 4 run the kernel asked for (the subgroup one where the adapter has
/// subgroups); other widths fall back to the scalar kernels.
#[test]
fn linear_kernel_choice() {
    let ctx = ctx();
    let subgroups = ctx.device().features().contains(wgpu::Features::SUBGROUP);
    let best = if subgroups {
        LinearKernel::Subgroups
    } else {
        LinearKernel::Vec4
    };
    assert_eq!(LinearKernel::Auto.resolve(ctx, 300), best);
    assert_eq!(LinearKernel::Subgroups.resolve(ctx, 300), best);
    assert_eq!(LinearKernel::Vec4.resolve(ctx, 300), LinearKernel::Vec4);
    assert_eq!(LinearKernel::Scalar.resolve(ctx, 300), LinearKernel::Scalar);
    for kernel in LinearKernel::ALL {
        assert_eq!(kernel.resolve(ctx, 302), LinearKernel::Scalar);
    }
}

/// Linear + ReLU at batch sizes that use each batch block, with every kernel, against the CPU
/// reference; a width that is not a multiple of 4 too.
#[test]
fn linear_relu_large_batch() {
    for kernel in LinearKernel::ALL {
        check_linear_relu(300, kernel);
    }
    check_linear_relu(302, LinearKernel::Auto);
}

fn check_linear_relu(in_f: usize, kernel: LinearKernel) {
    let ctx = ctx();
    let out_f = 37;
    // Batches of one, of a partial block of 4 and of a full block of 8 plus a remainder.
    for batch in [1, 3, 11] {
        let x = random(batch * in_f, 21, 1.0);
        let w = random(in_f * out_f, 22, 0.1);
        let b = random(out_f, 23, 0.1);
        let dy = random(batch * out_f, 24, 1.0);
        let y_ref = linear::cpu::forward(batch, &x, &w, &b, true);
        let dx_ref = linear::cpu::backward_input(batch, &dy, Some(&y_ref), &w, in_f);
        let layer = Linear::with_kernel(ctx, "linear", &w, &b, true, kernel).unwrap();
        let what = format!("{in_f} features, batch {batch}, {} kernel", layer.kernel());
        let (x_shape, y_shape) = ([batch, in_f, 1, 1], [batch, out_f, 1, 1]);
        let xb = tensor_of(x_shape, &x);
        let yb = zeros(y_shape);
        let dyb = tensor_of(y_shape, &dy);
        let dzb = zeros(y_shape);
        let dxb = zeros(x_shape);
        // As network plans record it: dy masked once by the ReLU, then the backward reading it.
        let relu = BiasRelu::new(ctx, 1, None).unwrap();
        let mode = BackwardMode::default();
        let mut d = layer.forward(ctx, &xb, &yb).unwrap();
        d.push(relu.backward(ctx, &dyb, &yb, &dzb, mode).unwrap());
        d.extend(layer.backward_input(ctx, &dzb, &dxb, mode).unwrap());
        run(&d);
        assert_close(
            &format!("linear+relu forward, {what}"),
            &read(&yb.buffer),
            &y_ref,
            TOL,
        );
        assert_close(
            &format!("linear+relu backward, {what}"),
            &read(&dxb.buffer),
            &dx_ref,
            TOL,
        );
    }
}
