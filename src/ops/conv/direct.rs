//! The direct kernels (`shaders/conv.wgsl`: tiled, register-blocked, narrow): their weight
//! layouts and grids.

use super::ConvGeometry;
use crate::gpu::grid;

/// Input channels up to which the backward pass uses the per-pixel kernel.
pub(super) const NARROW_MAX_CHANNELS: usize = 4;
/// Output tile edge of the tiled kernels.
const TILE: usize = 64;

/// Channel counts are padded to a multiple of this in packed weight rows (two vec4 loads).
pub(super) const CHANNEL_PAD: usize = 8;

fn padded(channels: usize) -> usize {
    channels.div_ceil(CHANNEL_PAD) * CHANNEL_PAD
}

/// Weight layout for the forward kernels: `A[k][co]` with k = (ci, kh, kw), rows padded to a
/// multiple of 8 output channels.
pub fn pack_forward(g: &ConvGeometry, weight: &[f32]) -> Vec<f32> {
    let k_total = g.in_channels * g.taps();
    let stride = padded(g.out_channels);
    let mut out = vec![0.0; k_total * stride];
    for co in 0..g.out_channels {
        for k in 0..k_total {
            out[k * stride + co] = weight[co * k_total + k];
        }
    }
    out
}

/// Weight layout for the backward kernels: `A[k][ci]` with k = (co, kh, kw), rows padded to a
/// multiple of 8 input channels.
pub fn pack_backward(g: &ConvGeometry, weight: &[f32]) -> Vec<f32> {
    let taps = g.taps();
    let stride = padded(g.in_channels);
    let mut out = vec![0.0; g.out_channels * taps * stride];
    for co in 0..g.out_channels {
        for ci in 0..g.in_channels {
            for t in 0..taps {
                out[(co * taps + t) * stride + ci] = weight[(co * g.in_channels + ci) * taps + t];
            }
        }
    }
    out
}

/// Grid of the tiled kernels: pixel tiles on x (then z), channel tiles on y.
pub(super) fn tile_grid(pixels: usize, channels: usize) -> [u32; 3] {
    let [x, z, _] = grid(pixels.div_ceil(TILE) as u32);
    [x, channels.div_ceil(TILE) as u32, z]
}
