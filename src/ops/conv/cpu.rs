//! Plain-Rust reference implementations of the convolution, for tests and kernel checks.

use super::ConvGeometry;

/// What output value `o` (flat index of [n, out, oh, ow]) reads: the (input index, weight index)
/// of every tap inside the image, over input channels, then kernel rows, then columns.
fn taps(
    g: &ConvGeometry,
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    o: usize,
) -> impl Iterator<Item = (usize, usize)> {
    let g = *g;
    let (ox, oy) = (o % ow, o / ow % oh);
    let co = o / (oh * ow) % g.out_channels;
    let n = o / (oh * ow * g.out_channels);
    (0..g.in_channels).flat_map(move |ci| {
        (0..g.kernel_h).flat_map(move |ky| {
            (0..g.kernel_w).filter_map(move |kx| {
                let iy = (oy * g.stride + ky).checked_sub(g.pad).filter(|&i| i < h)?;
                let ix = (ox * g.stride + kx).checked_sub(g.pad).filter(|&i| i < w)?;
                Some((
                    ((n * g.in_channels + ci) * h + iy) * w + ix,
                    ((co * g.in_channels + ci) * g.kernel_h + ky) * g.kernel_w + kx,
                ))
            })
        })
    })
}

/// Forward: x [n, in, h, w] -> y [n, out, oh, ow], with bias and optional ReLU.
pub fn forward(
    g: &ConvGeometry,
    batch: usize,
    (h, w): (usize, usize),
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    relu: bool,
) -> Vec<f32> {
    let (oh, ow) = g.output_size(h, w).expect("kernel larger than input");
    (0..batch * g.out_channels * oh * ow)
        .map(|o| {
            let co = o / (oh * ow) % g.out_channels;
            let acc = taps(g, (h, w), (oh, ow), o).fold(bias[co] as f64, |acc, (i, k)| {
                acc + x[i] as f64 * weight[k] as f64
            });
            let v = acc as f32;
            if relu { v.max(0.0) } else { v }
        })
        .collect()
}

/// Input gradient: dy [n, out, oh, ow] -> dx [n, in, h, w]. With `relu_output`, dy is first
/// masked by (y > 0).
pub fn backward_input(
    g: &ConvGeometry,
    batch: usize,
    (h, w): (usize, usize),
    dy: &[f32],
    relu_output: Option<&[f32]>,
    weight: &[f32],
) -> Vec<f32> {
    let (oh, ow) = g.output_size(h, w).expect("kernel larger than input");
    let mut dx = vec![0.0f64; batch * g.in_channels * h * w];
    for o in 0..batch * g.out_channels * oh * ow {
        let gv = match relu_output {
            Some(y) if y[o] <= 0.0 => continue,
            _ => dy[o] as f64,
        };
        for (i, k) in taps(g, (h, w), (oh, ow), o) {
            dx[i] += gv * weight[k] as f64;
        }
    }
    dx.into_iter().map(|v| v as f32).collect()
}
