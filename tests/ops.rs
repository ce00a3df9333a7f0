//! Every op, forward and backward, on the GPU and in its CPU reference, against PyTorch's numbers
//! in `reference/ops_reference.safetensors` (relative L2 error at most 1e-4).

mod common;

use common::{assert_close, ctx, random, read, reference, run};
use netlens::ops::BackwardMode;
use netlens::ops::concat;
use netlens::ops::conv::{self, ChannelSlice, Conv2d, ConvAlgorithm, ConvGeometry};
use netlens::ops::linear::{self, Linear, LinearKernel};
use netlens::ops::pool::{self, AdaptiveAvgPool, MaxPool, MaxPoolGeometry};
use netlens::ops::relu::{self, BiasRelu};

const TOL: f64 = 1e-4;

type Tensors = std::collections::HashMap<String, (Vec<usize>, Vec<f32>)>;

fn tensor<'a>(refs: &'a Tensors, op: &str, part: &str) -> (&'a [usize], &'a [f32]) {
    let (shape, data) = &refs[&format!("{op}.{part}")];
    (shape, data)
}

fn check_conv(op: &str, stride: usize, pad: usize) {
    let refs = reference("ops_reference.safetensors");
    let ctx = ctx();
    let (xs, x) = tensor(&refs, op, "x");
    let (ws, w) = tensor(&refs, op, "arg0");
    let (_, b) = tensor(&refs, op, "arg1");
    let (_, y_ref) = tensor(&refs, op, "y");
    let (_, dy) = tensor(&refs, op, "dy");
    let (_, dx_ref) = tensor(&refs, op, "dx");
    let g = ConvGeometry {
        in_channels: ws[1],
        out_channels: ws[0],
        kernel_h: ws[2],
        kernel_w: ws[3],
        stride,
        pad,
    };
    let (batch, hw) = (xs[0], (xs[2], xs[3]));

    assert_close(
        &format!("{op} forward (cpu)"),
        &conv::cpu::forward(&g, batch, hw, x, w, b, false),
        y_ref,
        TOL,
    );
    assert_close(
        &format!("{op} backward (cpu)"),
        &conv::cpu::backward_input(&g, batch, hw, dy, None, w),
        dx_ref,
        TOL,
    );

    for algorithm in ConvAlgorithm::ALL {
        let layer = Conv2d::with_algorithm(ctx, op, g, w, b, false, algorithm).unwrap();
        let xb = ctx.upload("x", x).unwrap();
        let yb = ctx.storage("y", y_ref.len()).unwrap();
        let dyb = ctx.upload("dy", dy).unwrap();
        let dxb = ctx.storage("dx", x.len()).unwrap();
        run(&[
            layer.forward(ctx, batch, hw, &xb, &yb),
            layer.backward_input(ctx, batch, hw, &dyb, &yb, &dxb, BackwardMode::default()),
        ]);
        assert_close(
            &format!("{op} forward (gpu, {algorithm:?})"),
            &read(&yb),
            y_ref,
            TOL,
        );
        assert_close(
            &format!("{op} backward (gpu, {algorithm:?})"),
            &read(&dxb),
            dx_ref,
            TOL,
        );
    }
}

#[test]
fn conv3x3_s1_p1() {
    check_conv("conv3x3_s1_p1", 1, 1);
}

#[test]
fn conv1x1() {
    check_conv("conv1x1", 1, 0);
}

#[test]
fn conv3x3_s2_p0_three_channels() {
    check_conv("conv3x3_s2_p0", 2, 0);
}

#[test]
fn conv3x3_s1_p1_three_channels() {
    check_conv("conv3x3_s1_p1_c3", 1, 1);
}

/// The fused ReLU and the accumulate flag, against the CPU reference on random data, with odd
/// sizes that leave partial tiles on every edge and a rectangular kernel, for every algorithm.
#[test]
fn conv_fused_relu_and_accumulate() {
    let ctx = ctx();
    for (algorithm, (g, batch, hw)) in ConvAlgorithm::ALL.into_iter().flat_map(|a| {
        [
            (
                ConvGeometry {
                    in_channels: 70,
                    out_channels: 67,
                    kernel_h: 3,
                    kernel_w: 2,
                    stride: 2,
                    pad: 1,
                },
                2,
                (11, 9),
            ),
            (ConvGeometry::new(3, 5, 5, 3, 2), 3, (12, 10)),
            // The narrow input-gradient kernel's phases: stride 2, padding 1, odd sizes.
            (ConvGeometry::new(2, 9, 3, 2, 1), 2, (9, 11)),
            (ConvGeometry::new(9, 13, 3, 1, 1), 1, (7, 6)),
            // 3x3 stride 1 with padding 0 and 2 (Winograd's input gradient then pads by 2 and 0),
            // odd sizes leaving partial 2x2 tiles, channel counts leaving partial blocks of 8,
            // and a wide layer (16 channel blocks).
            (ConvGeometry::new(11, 10, 3, 1, 0), 2, (9, 7)),
            (ConvGeometry::new(6, 17, 3, 1, 2), 2, (5, 8)),
            (ConvGeometry::new(32, 128, 3, 1, 1), 1, (8, 8)),
        ]
        .map(|c| (a, c))
    }) {
        let x = random(batch * g.in_channels * hw.0 * hw.1, 1, 1.0);
        let w = random(g.weight_shape().iter().product(), 2, 0.2);
        let b = random(g.out_channels, 3, 0.1);
        let y_ref = conv::cpu::forward(&g, batch, hw, &x, &w, &b, true);
        let dy = random(y_ref.len(), 4, 1.0);
        let prior = random(x.len(), 5, 1.0);
        let dx_ref: Vec<f32> = conv::cpu::backward_input(&g, batch, hw, &dy, Some(&y_ref), &w)
            .iter()
            .zip(&prior)
            .map(|(a, b)| a + b)
            .collect();
        let layer = Conv2d::with_algorithm(ctx, "conv", g, &w, &b, true, algorithm).unwrap();
        let xb = ctx.upload("x", &x).unwrap();
        let yb = ctx.storage("y", y_ref.len()).unwrap();
        let dyb = ctx.upload("dy", &dy).unwrap();
        let dxb = ctx.upload("dx", &prior).unwrap();
        let mode = BackwardMode {
            accumulate: true,
            guided: false,
        };
        run(&[
            layer.forward(ctx, batch, hw, &xb, &yb),
            layer.backward_input(ctx, batch, hw, &dyb, &yb, &dxb, mode),
        ]);
        assert_close(
            &format!("conv+relu forward {g:?} {algorithm:?}"),
            &read(&yb),
            &y_ref,
            TOL,
        );
        assert_close(
            &format!("conv+relu backward, accumulated {g:?} {algorithm:?}"),
            &read(&dxb),
            &dx_ref,
            TOL,
        );

        // The same gradient the way network plans record it: dy masked once by the ReLU
        // kernel, then the convolution's backward reading the masked tensor only.
        let dzb = ctx.storage("dz", dy.len()).unwrap();
        let dx_masked = ctx.upload("dx", &prior).unwrap();
        let relu = BiasRelu::new(ctx, 1, None).unwrap();
        run(&[
            relu.backward(ctx, dy.len(), &dyb, &yb, &dzb, BackwardMode::default()),
            layer.backward_input_masked_from(ctx, batch, hw, &dzb, &dx_masked, layer.whole(), mode),
        ]);
        assert_close(
            &format!("conv backward from a masked gradient {g:?} {algorithm:?}"),
            &read(&dx_masked),
            &dx_ref,
            TOL,
        );
    }
}

/// The input gradient with the ReLU of its input fused in (a fire module's squeeze gradient,
/// masked by the expand 3x3 backward as the last to add into it): equal to the CPU convolution
/// backward added to the prior gradient, then through the ReLU whose output is x, for every
/// algorithm, the narrow, tiled, blocked and Winograd kernels, plain and guided.
#[test]
fn conv_backward_through_the_input_relu() {
    let ctx = ctx();
    let shapes = [
        (ConvGeometry::new(6, 9, 3, 1, 1), 2, (7, 5)),
        (ConvGeometry::new(70, 67, 3, 2, 1), 1, (9, 11)),
        (ConvGeometry::new(2, 9, 3, 2, 1), 2, (9, 11)),
    ];
    let modes = [(false, false), (true, false), (true, true)];
    for algorithm in ConvAlgorithm::ALL {
        for (g, batch, hw) in shapes {
            // x is a ReLU's output: about half of it zero.
            let x = random(batch * g.in_channels * hw.0 * hw.1, 51, 1.0)
                .iter()
                .map(|v| v.max(0.0))
                .collect::<Vec<_>>();
            let w = random(g.weight_shape().iter().product(), 52, 0.2);
            let b = random(g.out_channels, 53, 0.1);
            let (oh, ow) = g.output_size(hw.0, hw.1).unwrap();
            let dz = random(batch * g.out_channels * oh * ow, 54, 1.0);
            let prior = random(x.len(), 55, 1.0);
            let layer = Conv2d::with_algorithm(ctx, "conv", g, &w, &b, true, algorithm).unwrap();
            let xb = ctx.upload("x", &x).unwrap();
            let dzb = ctx.upload("dz", &dz).unwrap();
            for (accumulate, guided) in modes {
                let mut total = conv::cpu::backward_input(&g, batch, hw, &dz, None, &w);
                if accumulate {
                    total.iter_mut().zip(&prior).for_each(|(t, p)| *t += p);
                }
                let dx_ref: Vec<f32> = relu::cpu::backward(&total, &x)
                    .iter()
                    .map(|&v| if guided { v.max(0.0) } else { v })
                    .collect();
                let dxb = ctx.upload("dx", &prior).unwrap();
                let mode = BackwardMode { accumulate, guided };
                run(&[layer.backward_input_masked_through_relu(
                    ctx,
                    batch,
                    hw,
                    &dzb,
                    &xb,
                    &dxb,
                    layer.whole(),
                    mode,
                )]);
                assert_close(
                    &format!("conv backward through the input ReLU {g:?} {algorithm:?} {mode:?}"),
                    &read(&dxb),
                    &dx_ref,
                    TOL,
                );
            }
        }
    }
}

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
    let xb = ctx.upload("x", x).unwrap();
    let yb = ctx.storage("y", x.len()).unwrap();
    let dyb = ctx.upload("dy", dy).unwrap();
    let dxb = ctx.storage("dx", x.len()).unwrap();
    run(&[
        layer.forward(ctx, x.len(), plane, &xb, &yb),
        layer.backward(ctx, x.len(), &dyb, &yb, &dxb, BackwardMode::default()),
    ]);
    assert_close("relu forward (gpu)", &read(&yb), y_ref, TOL);
    assert_close("relu backward (gpu)", &read(&dxb), dx_ref, TOL);
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
    let xb = ctx.upload("x", &x).unwrap();
    let yb = ctx.storage("y", x.len()).unwrap();
    let dyb = ctx.upload("dy", &dy).unwrap();
    let dxb = ctx.storage("dx", x.len()).unwrap();
    let guided = BackwardMode {
        accumulate: false,
        guided: true,
    };
    run(&[
        layer.forward(ctx, x.len(), plane, &xb, &yb),
        layer.backward(ctx, x.len(), &dyb, &yb, &dxb, guided),
    ]);
    assert_close("bias+relu forward", &read(&yb), &y_ref, TOL);
    let guided_ref: Vec<f32> = relu::cpu::backward(&dy, &y_ref)
        .iter()
        .map(|g| g.max(0.0))
        .collect();
    assert_close("bias+relu guided backward", &read(&dxb), &guided_ref, TOL);
}

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

    let layer = MaxPool {
        geometry,
        planes,
        in_hw: hw,
    };
    assert_eq!(layer.output_len(), y_ref.len());
    let xb = ctx.upload("x", x).unwrap();
    let yb = ctx.storage("y", y_ref.len()).unwrap();
    let argb = ctx.storage("argmax", y_ref.len()).unwrap();
    let dyb = ctx.upload("dy", dy).unwrap();
    let dxb = ctx.storage("dx", x.len()).unwrap();
    run(&[
        layer.forward(ctx, &xb, &yb, &argb),
        layer.backward(ctx, &dyb, &argb, &dxb, BackwardMode::default()),
    ]);
    assert_close(&format!("{op} forward (gpu)"), &read(&yb), y_ref, TOL);
    assert_close(&format!("{op} backward (gpu)"), &read(&dxb), dx_ref, TOL);
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
    let ctx = ctx();
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

    let layer = AdaptiveAvgPool {
        planes,
        in_hw,
        out_hw,
    };
    let xb = ctx.upload("x", x).unwrap();
    let yb = ctx.storage("y", y_ref.len()).unwrap();
    let dyb = ctx.upload("dy", dy).unwrap();
    let dxb = ctx.storage("dx", x.len()).unwrap();
    run(&[
        layer.forward(ctx, &xb, &yb),
        layer.backward(ctx, &dyb, &dxb, BackwardMode::default()),
    ]);
    assert_close(&format!("{op} forward (gpu)"), &read(&yb), y_ref, TOL);
    assert_close(&format!("{op} backward (gpu)"), &read(&dxb), dx_ref, TOL);
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
    let ctx = ctx();
    let (planes, in_hw, out_hw) = (3, (2, 3), (7, 7));
    let x = random(planes * 6, 11, 1.0);
    let dy = random(planes * 49, 12, 1.0);
    let layer = AdaptiveAvgPool {
        planes,
        in_hw,
        out_hw,
    };
    let xb = ctx.upload("x", &x).unwrap();
    let yb = ctx.storage("y", planes * 49).unwrap();
    let dyb = ctx.upload("dy", &dy).unwrap();
    let dxb = ctx.storage("dx", x.len()).unwrap();
    run(&[
        layer.forward(ctx, &xb, &yb),
        layer.backward(ctx, &dyb, &dxb, BackwardMode::default()),
    ]);
    assert_close(
        "upsampling avgpool forward",
        &read(&yb),
        &pool::cpu::avg_forward(planes, in_hw, out_hw, &x),
        TOL,
    );
    assert_close(
        "upsampling avgpool backward",
        &read(&dxb),
        &pool::cpu::avg_backward(planes, in_hw, out_hw, &dy),
        TOL,
    );
}

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
        d.extend(layer.backward_input(ctx, batch, &dyb, &yb, &dxb, BackwardMode::default()));
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
        let dxb = ctx.storage("dx", x.len()).unwrap();
        let mut d = layer.forward(ctx, batch, &xb, &yb);
        d.extend(layer.backward_input(ctx, batch, &dyb, &yb, &dxb, BackwardMode::default()));
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

        // The way network plans record it: dy masked once, then the backward reading it alone.
        let dzb = ctx.storage("dz", dy.len()).unwrap();
        let dx_masked = ctx.storage("dx", x.len()).unwrap();
        let mut d = vec![BiasRelu::new(ctx, 1, None).unwrap().backward(
            ctx,
            dy.len(),
            &dyb,
            &yb,
            &dzb,
            BackwardMode::default(),
        )];
        d.extend(layer.backward_input_masked(
            ctx,
            batch,
            &dzb,
            &dx_masked,
            BackwardMode::default(),
        ));
        run(&d);
        assert_close(
            &format!("linear backward from a masked gradient, {what}"),
            &read(&dx_masked),
            &dx_ref,
            TOL,
        );
    }
}

/// Two convolutions writing their channels of one tensor (a fire module's expand layers) give
/// the CPU concatenation of their outputs, and their backward passes read their channels of
/// the concatenation's gradient, accumulating into one input gradient. With 4 input channels
/// the backward runs the narrow kernel, with 6 the blocked, tiled and Winograd ones.
#[test]
fn convolutions_into_a_channel_concatenation() {
    check_concatenation(4);
    check_concatenation(6);
}

fn check_concatenation(cin: usize) {
    let ctx = ctx();
    let (batch, hw) = (2, (6, 5));
    let g1 = ConvGeometry::new(cin, 3, 1, 1, 0);
    let g3 = ConvGeometry::new(cin, 5, 3, 1, 1);
    let x = random(batch * cin * 30, 31, 1.0);
    let (w1, b1) = (random(3 * cin, 32, 0.5), random(3, 33, 0.1));
    let (w3, b3) = (random(45 * cin, 34, 0.3), random(5, 35, 0.1));
    let y1 = conv::cpu::forward(&g1, batch, hw, &x, &w1, &b1, true);
    let y3 = conv::cpu::forward(&g3, batch, hw, &x, &w3, &b3, true);
    let whole_ref = concat::cpu::forward(&[(&y1, 3), (&y3, 5)], batch, 30);
    let d_whole = random(whole_ref.len(), 36, 1.0);
    let parts = concat::cpu::backward(&d_whole, &[3, 5], batch, 30);
    let dx_ref: Vec<f32> = conv::cpu::backward_input(&g1, batch, hw, &parts[0], Some(&y1), &w1)
        .iter()
        .zip(conv::cpu::backward_input(
            &g3,
            batch,
            hw,
            &parts[1],
            Some(&y3),
            &w3,
        ))
        .map(|(a, b)| a + b)
        .collect();

    for algorithm in ConvAlgorithm::ALL {
        let c1 = Conv2d::with_algorithm(ctx, "e1", g1, &w1, &b1, true, algorithm).unwrap();
        let c3 = Conv2d::with_algorithm(ctx, "e3", g3, &w3, &b3, true, algorithm).unwrap();
        let (s1, s3) = (
            ChannelSlice {
                offset: 0,
                total: 8,
            },
            ChannelSlice {
                offset: 3,
                total: 8,
            },
        );
        let xb = ctx.upload("x", &x).unwrap();
        let whole = ctx.storage("whole", whole_ref.len()).unwrap();
        let dwb = ctx.upload("d whole", &d_whole).unwrap();
        let dxb = ctx.storage("dx", x.len()).unwrap();
        let add = BackwardMode {
            accumulate: true,
            guided: false,
        };
        run(&[
            c1.forward_into(ctx, batch, hw, &xb, &whole, s1),
            c3.forward_into(ctx, batch, hw, &xb, &whole, s3),
            c1.backward_input_from(
                ctx,
                batch,
                hw,
                &dwb,
                &whole,
                &dxb,
                s1,
                BackwardMode::default(),
            ),
            c3.backward_input_from(ctx, batch, hw, &dwb, &whole, &dxb, s3, add),
        ]);
        assert_close(
            &format!("concatenated forward ({algorithm:?})"),
            &read(&whole),
            &whole_ref,
            TOL,
        );
        assert_close(
            &format!("concatenated backward ({algorithm:?})"),
            &read(&dxb),
            &dx_ref,
            TOL,
        );
    }
}

#[test]
fn step_kernels_match_cpu() {
    use netlens::ops::step::{self, ImageBatch};
    let ctx = ctx();
    let shape = ImageBatch {
        batch: 3,
        channels: 3,
        plane: 7 * 5,
    };
    let len = shape.len();
    let x = random(shape.batch * len, 41, 2.0);
    let g = random(shape.batch * len, 42, 1.0);
    let scale = vec![1.0, 0.0, 0.5];
    let bounds = [(-0.5f32, 0.5f32), (-1.0, 0.25), (0.0, 2.0)];
    let flat_bounds: Vec<f32> = bounds.iter().flat_map(|&(a, b)| [a, b]).collect();

    let mut want = x.clone();
    step::cpu::normalized_step(&mut want, &g, &scale, 0.7, len);
    let stepped = want.clone();
    step::cpu::clamp_channels(&mut want, &bounds, shape.plane);

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
        &step::cpu::sum_squares(&g, len),
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
