//! Convolutions, forward and input gradient, for every algorithm (direct, tiled, blocked,
//! Winograd), on the GPU and in the CPU reference, against PyTorch's numbers in
//! `reference/ops_reference.safetensors` (relative L2 error at most 1e-4), with the fused ReLU,
//! accumulation and a fire module's channel concatenation.

mod common;

use common::ops_reference::{TOL, tensor};
use common::{assert_close, ctx, random, read, reference, run, tensor_of, zeros};
use netlens::GpuContext;
use netlens::ops::BackwardMode;
use netlens::ops::concat;
use netlens::ops::conv::{self, BackwardIo, Conv2d, ConvAlgorithm, ConvGeometry, ReluMask};
use netlens::ops::relu::{self, BiasRelu};

/// `layer`'s forward on `x`, then its input gradient of `dy` masked by its own ReLU (the ReLU's
/// backward pass, then the convolution's), added to (with `mode.accumulate`) or written over
/// `dx0`: (y, dx) as read back.
fn forward_backward(
    ctx: &GpuContext,
    layer: &Conv2d,
    (batch, hw): (usize, (usize, usize)),
    x: &[f32],
    dy: &[f32],
    dx0: &[f32],
    mode: BackwardMode,
) -> (Vec<f32>, Vec<f32>) {
    let g = layer.geometry();
    let xb = tensor_of([batch, g.in_channels, hw.0, hw.1], x);
    let y_shape = g.output_shape(xb.shape).unwrap();
    let yb = zeros(y_shape);
    let dyb = tensor_of(y_shape, dy);
    let dzb = zeros(y_shape);
    let dxb = tensor_of(xb.shape, dx0);
    let mut passes = vec![layer.forward(ctx, &xb, &yb).unwrap()];
    // dy through the layer's ReLU (the one masking pass), then the convolution's backward.
    let masked = if layer.relu() {
        let relu_mode = BackwardMode {
            accumulate: false,
            ..mode
        };
        let relu = BiasRelu::new(ctx, 1, None).unwrap();
        passes.push(relu.backward(ctx, &dyb, &yb, &dzb, relu_mode).unwrap());
        &dzb
    } else {
        &dyb
    };
    let io = BackwardIo {
        dy: masked.into(),
        dx: &dxb,
        mask: ReluMask::None,
        mode,
    };
    passes.push(layer.backward_input(ctx, io).unwrap());
    run(&passes);
    (read(&yb.buffer), read(&dxb.buffer))
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
        let zeros = vec![0.0; x.len()];
        let (y, dx) = forward_backward(
            ctx,
            &layer,
            (batch, hw),
            x,
            dy,
            &zeros,
            BackwardMode::default(),
        );
        assert_close(
            &format!("{op} forward (gpu, {algorithm:?})"),
            &y,
            y_ref,
            TOL,
        );
        assert_close(
            &format!("{op} backward (gpu, {algorithm:?})"),
            &dx,
            dx_ref,
            TOL,
        );
    }
}

/// Every convolution case of the PyTorch references (name, stride, padding): 3×3 stride 1,
/// 1×1, 3×3 stride 2 and 3×3 stride 1 on three channels.
#[test]
fn conv_matches_pytorch() {
    for (op, stride, pad) in [
        ("conv3x3_s1_p1", 1, 1),
        ("conv1x1", 1, 0),
        ("conv3x3_s2_p0", 2, 0),
        ("conv3x3_s1_p1_c3", 1, 1),
    ] {
        check_conv(op, stride, pad);
    }
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
        let mode = BackwardMode {
            accumulate: true,
            guided: false,
        };
        let (y, dx) = forward_backward(ctx, &layer, (batch, hw), &x, &dy, &prior, mode);
        assert_close(
            &format!("conv+relu forward {g:?} {algorithm:?}"),
            &y,
            &y_ref,
            TOL,
        );
        assert_close(
            &format!("conv+relu backward, accumulated {g:?} {algorithm:?}"),
            &dx,
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
            let xb = tensor_of([batch, g.in_channels, hw.0, hw.1], &x);
            let dzb = tensor_of([batch, g.out_channels, oh, ow], &dz);
            for (accumulate, guided) in modes {
                let mut total = conv::cpu::backward_input(&g, batch, hw, &dz, None, &w);
                if accumulate {
                    total.iter_mut().zip(&prior).for_each(|(t, p)| *t += p);
                }
                let dx_ref: Vec<f32> = relu::cpu::backward(&total, &x)
                    .iter()
                    .map(|&v| if guided { v.max(0.0) } else { v })
                    .collect();
                let dxb = tensor_of(xb.shape, &prior);
                let mode = BackwardMode { accumulate, guided };
                let io = BackwardIo {
                    dy: (&dzb).into(),
                    dx: &dxb,
                    mask: ReluMask::Input(&xb),
                    mode,
                };
                run(&[layer.backward_input(ctx, io).unwrap()]);
                assert_close(
                    &format!("conv backward through the input ReLU {g:?} {algorithm:?} {mode:?}"),
                    &read(&dxb.buffer),
                    &dx_ref,
                    TOL,
                );
            }
        }
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
        let x_shape = [batch, cin, hw.0, hw.1];
        let whole_shape = [batch, 8, hw.0, hw.1];
        let xb = tensor_of(x_shape, &x);
        let whole = zeros(whole_shape);
        let dwb = tensor_of(whole_shape, &d_whole);
        let d_masked = zeros(whole_shape);
        let dxb = zeros(x_shape);
        let add = BackwardMode {
            accumulate: true,
            guided: false,
        };
        let plain = BackwardMode::default();
        let relu = BiasRelu::new(ctx, 1, None).unwrap();
        let io = |dy, mode| BackwardIo {
            dy,
            dx: &dxb,
            mask: ReluMask::None,
            mode,
        };
        run(&[
            c1.forward(ctx, &xb, &whole).unwrap(),
            c3.forward(ctx, &xb, whole.channels_from(3)).unwrap(),
            // The concatenation's gradient masked once by both convolutions' ReLUs.
            relu.backward(ctx, &dwb, &whole, &d_masked, plain).unwrap(),
            c1.backward_input(ctx, io((&d_masked).into(), plain))
                .unwrap(),
            c3.backward_input(ctx, io(d_masked.channels_from(3), add))
                .unwrap(),
        ]);
        assert_close(
            &format!("concatenated forward ({algorithm:?})"),
            &read(&whole.buffer),
            &whole_ref,
            TOL,
        );
        assert_close(
            &format!("concatenated backward ({algorithm:?})"),
            &read(&dxb.buffer),
            &dx_ref,
            TOL,
        );
    }
}

/// Mismatched tensors are errors naming the mismatch, not panics or out-of-bounds dispatches: an
/// input with the wrong channels, an output of the wrong plane, a channel view past the end, a
/// mask of another shape, and a buffer too small for the shape it is seen as.
#[test]
fn mismatched_shapes_are_errors() {
    let ctx = ctx();
    let g = ConvGeometry::new(4, 6, 3, 1, 1);
    let layer = Conv2d::new(ctx, "conv", g, &random(216, 1, 0.1), &[0.0; 6], true).unwrap();
    let x = zeros([2, 4, 5, 5]);
    let error = |r: netlens::Result<_>| r.unwrap_err().to_string();
    let wrong_channels = zeros([2, 3, 5, 5]);
    assert!(error(layer.forward(ctx, &wrong_channels, &zeros([2, 6, 5, 5]))).contains("channels"));
    assert!(error(layer.forward(ctx, &x, &zeros([2, 6, 4, 5]))).contains("[2, 6, 5, 5]"));
    let whole = zeros([2, 8, 5, 5]);
    assert!(error(layer.forward(ctx, &x, whole.channels_from(3))).contains("3..9"));
    let io = BackwardIo {
        dy: whole.channels_from(2),
        dx: &x,
        mask: ReluMask::Input(&wrong_channels),
        mode: BackwardMode::default(),
    };
    assert!(error(layer.backward_input(ctx, io)).contains("mask"));
    let small = ctx.storage("small", 10).unwrap();
    let too_small = netlens::gpu::Tensor::over(small, [1, 1, 4, 4]).unwrap_err();
    assert!(too_small.to_string().contains("cannot hold"), "{too_small}");
    // What fits is accepted.
    assert!(layer.forward(ctx, &x, whole.channels_from(2)).is_ok());
}
