//! Linear layers, forward and input gradient, for every kernel, on the GPU and in the CPU
//! reference, against PyTorch's numbers in `reference/ops_reference.safetensors` (relative L2
//! error at most 1e-4), with the fused ReLU at batch sizes that use each batch block.

mod common;

use common::ops_reference::{TOL, tensor};
use common::{assert_close, ctx, random, read, reference, run};
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

    let xb = ctx.upload("x", x).unwrap();
    let dyb = ctx.upload("dy", dy).unwrap();
    for kernel in LinearKernel::ALL {
        // Fresh outputs, so that a kernel that wrote nothing cannot pass on another's result.
        let yb = ctx.storage("y", y_ref.len()).unwrap();
        let dxb = ctx.storage("dx", x.len()).unwrap();
        let layer = Linear::with_kernel(ctx, "linear", w, b, false, kernel).unwrap();
        let mut d = layer.forward(ctx, batch, &xb, &yb);
        d.extend(layer.backward_input(ctx, batch, &dyb, &dxb, BackwardMode::default()));
        run(&d);
        let name = layer.kernel();
        assert_close(&format!("linear forward ({name})"), &read(&yb), y_ref, TOL);
        assert_close(
            &format!("linear backward ({name})"),
            &read(&dxb),
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
        let xb = ctx.upload("x", &x).unwrap();
        let yb = ctx.storage("y", y_ref.len()).unwrap();
        let dyb = ctx.upload("dy", &dy).unwrap();
        let dzb = ctx.storage("dz", dy.len()).unwrap();
        let dxb = ctx.storage("dx", x.len()).unwrap();
        // As network plans record it: dy masked once by the ReLU, then the backward reading it.
        let mut d = layer.forward(ctx, batch, &xb, &yb);
        d.push(BiasRelu::new(ctx, 1, None).unwrap().backward(
            ctx,
            dy.len(),
            &dyb,
            &yb,
            &dzb,
            BackwardMode::default(),
        ));
        d.extend(layer.backward_input(ctx, batch, &dzb, &dxb, BackwardMode::default()));
        run(&d);
        assert_close(
            &format!("linear+relu forward, {what}"),
            &read(&yb),
            &y_ref,
            TOL,
        );
        assert_close(
            &format!("linear+relu backward, {what}"),
            &read(&dxb),
            &dx_ref,
            TOL,
        );
    }
}
