//! The update steps the gradient loops share (`update`): per-image squared norms, normalized
//! steps, per-channel clamping and axpy on the GPU against their CPU references.

mod common;

use common::{assert_close, ctx, random, read, run};
use netlens::gpu::ImageBatch;
use netlens::update;

#[test]
fn step_kernels_match_cpu() {
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
