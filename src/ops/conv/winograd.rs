//! 3×3 stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3): forward, and gradient
//! with respect to the input (the same kernel on the rotated, channel-swapped weights). Kernel in
//! `shaders/winograd.wgsl`; the CPU reference is the direct convolution's ([`crate::ops::conv::cpu`]).
//!
//! Each 2×2 output tile costs 16 multiplications per channel pair instead of 36, for a transform
//! of the input patch shared by 8 output channels.

use super::{ConvGeometry, ConvParams};
use crate::gpu::uniform::uniform_block;
use crate::gpu::{Dispatch, GpuContext, Kernel, Shader, grid};

uniform_block! {
    /// Uniform block of `winograd.wgsl`.
    pub(crate) struct WinogradParams {
        batch: u32,
        /// The input: channels `in_offset..in_offset + in_c` of a tensor of `in_total`.
        in_c: u32,
        in_h: u32,
        in_w: u32,
        in_total: u32,
        in_offset: u32,
        /// The output: channels `out_offset..out_offset + out_c` of a tensor of `out_total`.
        out_c: u32,
        out_h: u32,
        out_w: u32,
        out_total: u32,
        out_offset: u32,
        pad: u32,
        tiles_h: u32,
        tiles_w: u32,
        /// Add aux[co] to each output (forward: the bias).
        bias: u32,
        /// Apply a ReLU to the output (forward).
        relu: u32,
        /// Add into the output instead of overwriting it (backward: a tensor read by several
        /// layers).
        accumulate: u32,
        /// With `MASK_DX`: guided backpropagation, also drop negative gradients.
        guided: u32,
    }
}

/// Output channels per invocation (two vec4 weight loads per transformed position).
const CHANNEL_BLOCK: usize = 8;

/// G, the weight transform of F(2×2, 3×3): U = G g Gᵀ.
const G: [[f64; 3]; 4] = [
    [1.0, 0.0, 0.0],
    [0.5, 0.5, 0.5],
    [0.5, -0.5, 0.5],
    [0.0, 0.0, 1.0],
];

/// G g Gᵀ for one 3×3 kernel `g` (row-major), as 16 values (row-major 4×4).
fn transform_kernel(g: impl Fn(usize, usize) -> f32) -> [f32; 16] {
    let mut u = [0.0f32; 16];
    for (i, gi) in G.iter().enumerate() {
        for (j, gj) in G.iter().enumerate() {
            let mut acc = 0.0f64;
            for (a, &ga) in gi.iter().enumerate() {
                for (b, &gb) in gj.iter().enumerate() {
                    acc += ga * g(a, b) as f64 * gb;
                }
            }
            u[i * 4 + j] = acc as f32;
        }
    }
    u
}

/// Transformed weights for a convolution from `inputs` to `outputs` channels, packed as the
/// kernel reads them: `[inputs][16][outputs padded to 8]`. `kernel(o, i, ky, kx)` is the 3×3
/// weight from input channel i to output channel o.
fn pack(
    inputs: usize,
    outputs: usize,
    kernel: impl Fn(usize, usize, usize, usize) -> f32,
) -> Vec<f32> {
    let stride = outputs.div_ceil(CHANNEL_BLOCK) * CHANNEL_BLOCK;
    let mut out = vec![0.0; inputs * 16 * stride];
    for i in 0..inputs {
        for o in 0..outputs {
            let u = transform_kernel(|ky, kx| kernel(o, i, ky, kx));
            for (k, v) in u.into_iter().enumerate() {
                out[(i * 16 + k) * stride + o] = v;
            }
        }
    }
    out
}

/// Forward weights: the layer's kernels `[out, in, 3, 3]` (PyTorch layout) transformed.
pub fn pack_forward(g: &ConvGeometry, weight: &[f32]) -> Vec<f32> {
    let (cin, cout) = (g.in_channels, g.out_channels);
    pack(cin, cout, |co, ci, ky, kx| {
        weight[((co * cin + ci) * 3 + ky) * 3 + kx]
    })
}

/// Input-gradient weights: each kernel rotated by 180° with input and output channels swapped,
/// transformed.
pub fn pack_backward(g: &ConvGeometry, weight: &[f32]) -> Vec<f32> {
    let (cin, cout) = (g.in_channels, g.out_channels);
    pack(cout, cin, |ci, co, ky, kx| {
        weight[((co * cin + ci) * 3 + 2 - ky) * 3 + 2 - kx]
    })
}

/// Whether F(2×2, 3×3) computes a convolution of this shape: a 3×3 kernel, stride 1, padding
/// at most 2 (the input gradient is then a convolution with padding 2 - pad).
pub fn supports(g: &ConvGeometry) -> bool {
    g.kernel_h == 3 && g.kernel_w == 3 && g.stride == 1 && g.pad <= 2
}

/// The forward of the convolution `p` describes, on weights packed by [`pack_forward`]:
/// x -> channels `out_offset..` of y, with bias and, when `p.relu`, a ReLU. The caller
/// ([`crate::ops::conv::Conv2d`]) has checked the buffers against `p`.
pub(crate) fn forward(
    ctx: &GpuContext,
    p: &ConvParams,
    x: &wgpu::Buffer,
    weights: &wgpu::Buffer,
    bias: &wgpu::Buffer,
    y: &wgpu::Buffer,
) -> Dispatch {
    let wp = WinogradParams {
        batch: p.batch,
        in_c: p.in_c,
        in_h: p.in_h,
        in_w: p.in_w,
        in_total: p.in_c,
        in_offset: 0,
        out_c: p.out_c,
        out_h: p.out_h,
        out_w: p.out_w,
        out_total: p.out_total,
        out_offset: p.out_offset,
        pad: p.pad,
        tiles_h: p.out_h.div_ceil(2),
        tiles_w: p.out_w.div_ceil(2),
        bias: 1,
        relu: p.relu,
        accumulate: 0,
        guided: 0,
    };
    let buffers = [x, weights, bias, y];
    ctx.dispatch_with(KERNEL, &wp, &buffers, groups(&wp))
}

/// The input gradient of the convolution `p` describes, on weights packed by
/// [`pack_backward`]: a convolution of channels `out_offset..` of dy with padding 2 - pad, into
/// dx, from dy already masked by the layer's ReLU; with `mask_dx`, dx masked by the ReLU whose
/// output is `aux` (x).
pub(crate) fn backward_input(
    ctx: &GpuContext,
    p: &ConvParams,
    dy: &wgpu::Buffer,
    weights: &wgpu::Buffer,
    aux: &wgpu::Buffer,
    dx: &wgpu::Buffer,
    mask_dx: bool,
) -> Dispatch {
    let wp = WinogradParams {
        batch: p.batch,
        in_c: p.out_c,
        in_h: p.out_h,
        in_w: p.out_w,
        in_total: p.out_total,
        in_offset: p.out_offset,
        out_c: p.in_c,
        out_h: p.in_h,
        out_w: p.in_w,
        out_total: p.in_c,
        out_offset: 0,
        pad: 2 - p.pad,
        tiles_h: p.in_h.div_ceil(2),
        tiles_w: p.in_w.div_ceil(2),
        bias: 0,
        relu: 0,
        accumulate: p.accumulate,
        guided: p.guided,
    };
    let buffers = [dy, weights, aux, dx];
    let kernel = KERNEL.with("MASK_DX", mask_dx as u32);
    ctx.dispatch_with(kernel, &wp, &buffers, groups(&wp))
}

/// The kernel of `winograd.wgsl`.
const KERNEL: Kernel = Kernel::new(Shader::Winograd, "winograd");

/// Tiles of 64 on x (then z), blocks of 8 output channels on y.
fn groups(p: &WinogradParams) -> [u32; 3] {
    let tiles = p.batch * p.tiles_h * p.tiles_w;
    let [x, z, _] = grid(tiles.div_ceil(64));
    [x, p.out_c.div_ceil(CHANNEL_BLOCK as u32), z]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A equals the direct 3×3 correlation of d with g, on the CPU:
    /// the transforms are right before any kernel uses them.
    #[test]
    fn transforms_compute_a_correlation() {
        let g: Vec<f32> = (0..9).map(|i| (i as f32 * 0.37).sin()).collect();
        let d: Vec<f32> = (0..16).map(|i| (i as f32 * 0.71).cos()).collect();
        let u = transform_kernel(|a, b| g[a * 3 + b]);
        let bt = [
            [1.0, 0.0, -1.0, 0.0],
            [0.0, 1.0, 1.0, 0.0],
            [0.0, -1.0, 1.0, 0.0],
            [0.0, 1.0, 0.0, -1.0],
        ];
        let at = [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]];
        let mut v = [0.0f32; 16];
        for i in 0..4 {
            for j in 0..4 {
                v[i * 4 + j] = (0..4)
                    .flat_map(|a| (0..4).map(move |b| (a, b)))
                    .map(|(a, b)| bt[i][a] * d[a * 4 + b] * bt[j][b])
                    .sum();
            }
        }
        for y in 0..2 {
            for x in 0..2 {
                let winograd: f32 = (0..4)
                    .flat_map(|a| (0..4).map(move |b| (a, b)))
                    .map(|(a, b)| at[y][a] * u[a * 4 + b] * v[a * 4 + b] * at[x][b])
                    .sum();
                let direct: f32 = (0..3)
                    .flat_map(|a| (0..3).map(move |b| (a, b)))
                    .map(|(a, b)| d[(y + a) * 4 + x + b] * g[a * 3 + b])
                    .sum();
                assert!(
                    (winograd - direct).abs() < 1e-5,
                    "output ({y}, {x}): {winograd} vs {direct}"
                );
            }
        }
    }

    #[test]
    fn supported_shapes() {
        assert!(supports(&ConvGeometry::new(64, 64, 3, 1, 1)));
        assert!(supports(&ConvGeometry::new(3, 8, 3, 1, 0)));
        assert!(!supports(&ConvGeometry::new(3, 64, 3, 2, 0)));
        assert!(!supports(&ConvGeometry::new(64, 16, 1, 1, 0)));
    }
}
