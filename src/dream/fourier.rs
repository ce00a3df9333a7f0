//! The decorrelated-colour Fourier image parameterization (after Lucid's `fft_image` and
//! `to_valid_rgb`), with real transforms only.
//!
//! An image of h × w is parameterized by a coefficient array `P` [3, h, w]. Each plane is a
//! real 2-D Fourier series: with `F_n` the real orthonormal Fourier basis of length n (rows:
//! the constant, cos and sin pairs of frequencies 1, 2, …, and the alternating Nyquist row when n
//! is even; see [`basis`]), the decorrelated image is `T = F_hᵀ (P ⊙ S) F_w`, two matrix products
//! per plane (`left_multiply`, `right_multiply`). `S` scales coefficient (ky, kx) by
//! `1 / max(f · max(h, w), 1)` with `f` the frequency in cycles per pixel (`sqrt(fy² + fx²)`), so
//! the constant term has scale 1 and fine detail costs more step length. Products of a cos/sin
//! pair along y and one along x span the same plane waves as the complex 2-D DFT, and they have
//! the same frequency magnitude, so this is Lucid's 1/f spectrum without complex numbers.
//!
//! Colours: `rgb = sigmoid(M · t)` per pixel, with `M` Lucid's square root of the ImageNet colour
//! covariance divided by its largest column norm ([`colour_mix`]); the network input is then
//! `(rgb − mean) / std`. The sigmoid keeps every pixel valid, so this parameterization needs no
//! clamp; the 1/f scale stands in for the blur. The gradient flows back through the same steps
//! transposed: `dL/dt = Mᵀ (dL/dx / std ⊙ s(1 − s))`, `dL/dP = S ⊙ (F_h (dL/dT) F_wᵀ)`. A photo is
//! brought in by the inverse (`t = M⁻¹ logit(rgb)`, `P = (F_h T F_wᵀ) / S`).

use crate::gpu::uniform::uniform_block;
use crate::gpu::{Dispatch, GpuContext, Kernel, Shader, grid_for};
use crate::preprocess::{MEAN, STD};

/// Lucid's square root of the ImageNet colour covariance (from its SVD), RGB rows.
pub const COLOUR_CORRELATION_SQRT: [[f32; 3]; 3] =
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]];

/// Colours are clamped to [EPS, 1 − EPS] before the logit when a photo is brought in.
pub const LOGIT_EPS: f32 = 1e-3;

/// The colour mixing matrix `M`: [`COLOUR_CORRELATION_SQRT`] divided by its largest column norm.
pub fn colour_mix() -> [[f32; 3]; 3] {
    let c = COLOUR_CORRELATION_SQRT;
    let max_norm = (0..3)
        .map(|j| (0..3).map(|i| c[i][j] * c[i][j]).sum::<f32>().sqrt())
        .fold(0.0f32, f32::max);
    c.map(|row| row.map(|v| v / max_norm))
}

/// The inverse of a 3 × 3 matrix (computed in f64).
///
/// # Panics
/// When the matrix is singular.
pub fn inverse3(m: [[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let a = m.map(|r| r.map(f64::from));
    let cof = |r: usize, c: usize| {
        let (r0, r1) = ((r + 1) % 3, (r + 2) % 3);
        let (c0, c1) = ((c + 1) % 3, (c + 2) % 3);
        a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]
    };
    let det: f64 = (0..3).map(|c| a[0][c] * cof(0, c)).sum();
    assert!(det.abs() > 1e-12, "inverse3: singular matrix {m:?}");
    std::array::from_fn(|r| std::array::from_fn(|c| (cof(c, r) / det) as f32))
}

/// The frequency (cycles per n samples) of row k of the basis of length n.
pub fn frequency(k: usize) -> usize {
    k.div_ceil(2)
}

/// The real orthonormal Fourier basis of length n, row-major `[n][n]`: row 0 is `1/√n`; rows
/// 2j − 1 and 2j are `√(2/n) cos(2π j i / n)` and `√(2/n) sin(2π j i / n)`; for even n the last
/// row is `(−1)^i / √n`. Its inverse is its transpose.
pub fn basis(n: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; n * n];
    let nf = n as f64;
    for k in 0..n {
        let j = frequency(k) as f64;
        for i in 0..n {
            let phase = 2.0 * std::f64::consts::PI * j * i as f64 / nf;
            let v = if k == 0 {
                1.0 / nf.sqrt()
            } else if n.is_multiple_of(2) && k == n - 1 {
                (if i % 2 == 0 { 1.0 } else { -1.0 }) / nf.sqrt()
            } else if k % 2 == 1 {
                (2.0 / nf).sqrt() * phase.cos()
            } else {
                (2.0 / nf).sqrt() * phase.sin()
            };
            out[k * n + i] = v as f32;
        }
    }
    out
}

/// The spectrum scale `S` `[h][w]`: `1 / max(f · max(h, w), 1)` for coefficient (ky, kx) of
/// frequency `f = sqrt((fy / h)² + (fx / w)²)` cycles per pixel.
pub fn spectrum_scale(h: usize, w: usize) -> Vec<f32> {
    let side = h.max(w) as f64;
    let mut out = Vec::with_capacity(h * w);
    for ky in 0..h {
        let fy = frequency(ky) as f64 / h as f64;
        for kx in 0..w {
            let fx = frequency(kx) as f64 / w as f64;
            let f = (fy * fy + fx * fx).sqrt();
            out.push((1.0 / (f * side).max(1.0)) as f32);
        }
    }
    out
}

uniform_block! {
    /// Uniform block of the matrix products.
    pub(crate) struct MatmulParams {
        planes: u32,
        rows: u32,
        cols: u32,
        transpose: u32,
    }
}

uniform_block! {
    /// Uniform block of `plane_multiply`.
    pub(crate) struct PlaneParams {
        len: u32,
        plane: u32,
        _pad0: u32,
        _pad1: u32,
    }
}

uniform_block! {
    /// Uniform block of the colour kernels: `mix` rows m0..m2 (the decorrelation matrix, or
    /// its inverse for the inverse map), then the normalization's mean and deviation.
    pub(crate) struct ColourParams {
        batch: u32,
        pixels: u32,
        /// image_to_decorrelated: colours are clamped to [eps, 1 - eps] before the logit.
        eps: f32,
        _pad: u32,
        m0: [f32; 4],
        m1: [f32; 4],
        m2: [f32; 4],
        mean: [f32; 4],
        deviation: [f32; 4],
    }
}

/// Which side a square matrix multiplies every plane from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `dst = op(M) · src`, M of rows × rows.
    Left,
    /// `dst = src · op(M)`, M of cols × cols.
    Right,
}

/// A stack of `planes` matrices of `rows` × `cols` (an image batch has batch · 3 planes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatrixStack {
    /// Number of planes.
    pub planes: usize,
    /// Rows per plane.
    pub rows: usize,
    /// Columns per plane.
    pub cols: usize,
}

impl MatrixStack {
    /// Values in all planes.
    pub fn len(&self) -> usize {
        self.planes * self.rows * self.cols
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `dst[p]` = op(M) `src[p]` (left) or `src[p]` op(M) (right); op transposes when `transpose`.
    pub fn multiply(
        &self,
        ctx: &GpuContext,
        side: Side,
        transpose: bool,
        matrix: &wgpu::Buffer,
        src: &wgpu::Buffer,
        dst: &wgpu::Buffer,
    ) -> Dispatch {
        let entry = match side {
            Side::Left => "left_multiply",
            Side::Right => "right_multiply",
        };
        ctx.dispatch_with(
            Kernel::new(Shader::Dream, entry),
            &MatmulParams {
                planes: self.planes as u32,
                rows: self.rows as u32,
                cols: self.cols as u32,
                transpose: transpose as u32,
            },
            &[matrix, src, dst],
            [
                self.cols.div_ceil(16) as u32,
                self.rows.div_ceil(16) as u32,
                self.planes as u32,
            ],
        )
    }

    /// `dst[p]` = `src[p]` ⊙ factor (one rows × cols factor for every plane).
    pub fn scale(
        &self,
        ctx: &GpuContext,
        factor: &wgpu::Buffer,
        src: &wgpu::Buffer,
        dst: &wgpu::Buffer,
    ) -> Dispatch {
        ctx.dispatch_with(
            Kernel::new(Shader::Dream, "plane_multiply"),
            &PlaneParams {
                len: self.len() as u32,
                plane: (self.rows * self.cols) as u32,
                ..PlaneParams::default()
            },
            &[factor, src, dst],
            grid_for(self.len()),
        )
    }
}

/// The colour kernels over `batch` RGB images of `pixels` pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Colours {
    /// Number of images.
    pub batch: usize,
    /// Pixels per image (h · w).
    pub pixels: usize,
}

impl Colours {
    fn dispatch(
        &self,
        ctx: &GpuContext,
        entry: &'static str,
        mix: [[f32; 3]; 3],
        buffers: &[&wgpu::Buffer],
    ) -> Dispatch {
        let pad = |v: [f32; 3]| [v[0], v[1], v[2], 0.0];
        ctx.dispatch_with(
            Kernel::new(Shader::Dream, entry),
            &ColourParams {
                batch: self.batch as u32,
                pixels: self.pixels as u32,
                eps: LOGIT_EPS,
                m0: pad(mix[0]),
                m1: pad(mix[1]),
                m2: pad(mix[2]),
                mean: pad(MEAN),
                deviation: pad(STD),
                ..ColourParams::default()
            },
            buffers,
            grid_for(self.batch * self.pixels),
        )
    }

    /// x = (sigmoid(M t) − mean) / std.
    pub fn to_image(&self, ctx: &GpuContext, t: &wgpu::Buffer, x: &wgpu::Buffer) -> Dispatch {
        self.dispatch(ctx, "decorrelated_to_image", colour_mix(), &[t, x])
    }

    /// dL/dt from dL/dx, at the point t.
    pub fn image_grad(
        &self,
        ctx: &GpuContext,
        t: &wgpu::Buffer,
        gx: &wgpu::Buffer,
        gt: &wgpu::Buffer,
    ) -> Dispatch {
        self.dispatch(
            ctx,
            "image_grad_to_decorrelated",
            colour_mix(),
            &[t, gx, gt],
        )
    }

    /// t = M⁻¹ logit(clamp(x · std + mean, ε, 1 − ε)): the inverse of [`Colours::to_image`].
    pub fn from_image(&self, ctx: &GpuContext, x: &wgpu::Buffer, t: &wgpu::Buffer) -> Dispatch {
        self.dispatch(
            ctx,
            "image_to_decorrelated",
            inverse3(colour_mix()),
            &[x, t],
        )
    }
}

/// Plain-Rust references of the kernels.
pub mod cpu {
    use super::{MatrixStack, Side, colour_mix, inverse3};
    use crate::preprocess::{MEAN, STD};

    /// `dst[p]` = op(M) `src[p]` or `src[p]` op(M) (f64 accumulation).
    pub fn multiply(
        shape: &MatrixStack,
        side: Side,
        transpose: bool,
        m: &[f32],
        src: &[f32],
    ) -> Vec<f32> {
        let (rows, cols) = (shape.rows, shape.cols);
        let n = match side {
            Side::Left => rows,
            Side::Right => cols,
        };
        let op = |r: usize, c: usize| {
            if transpose {
                m[c * n + r]
            } else {
                m[r * n + c]
            }
        };
        let mut dst = vec![0.0; src.len()];
        for (s, d) in src.chunks(rows * cols).zip(dst.chunks_mut(rows * cols)) {
            for r in 0..rows {
                for c in 0..cols {
                    let acc: f64 = (0..n)
                        .map(|k| match side {
                            Side::Left => op(r, k) as f64 * s[k * cols + c] as f64,
                            Side::Right => s[r * cols + k] as f64 * op(k, c) as f64,
                        })
                        .sum();
                    d[r * cols + c] = acc as f32;
                }
            }
        }
        dst
    }

    /// `dst[p]` = `src[p]` ⊙ factor.
    pub fn scale(factor: &[f32], src: &[f32]) -> Vec<f32> {
        src.iter()
            .enumerate()
            .map(|(i, v)| v * factor[i % factor.len()])
            .collect()
    }

    fn sigmoid(v: f32) -> f32 {
        1.0 / (1.0 + (-v).exp())
    }

    /// Applies `f(n, [value index of each channel])` to every pixel of [batch, 3, pixels].
    fn per_pixel(len: usize, pixels: usize, mut f: impl FnMut([usize; 3])) {
        for n in 0..len / (3 * pixels) {
            for p in 0..pixels {
                let base = n * 3 * pixels + p;
                f([base, base + pixels, base + 2 * pixels]);
            }
        }
    }

    fn apply(m: &[[f32; 3]; 3], v: [f32; 3]) -> [f32; 3] {
        m.map(|row| row[0] * v[0] + row[1] * v[1] + row[2] * v[2])
    }

    /// x = (sigmoid(M t) − mean) / std.
    pub fn to_image(t: &[f32], pixels: usize) -> Vec<f32> {
        let m = colour_mix();
        let mut x = vec![0.0; t.len()];
        per_pixel(t.len(), pixels, |k| {
            let rgb = apply(&m, k.map(|i| t[i]));
            for c in 0..3 {
                x[k[c]] = (sigmoid(rgb[c]) - MEAN[c]) / STD[c];
            }
        });
        x
    }

    /// dL/dt = Mᵀ (dL/dx / std ⊙ s (1 − s)), s = sigmoid(M t).
    pub fn image_grad(t: &[f32], gx: &[f32], pixels: usize) -> Vec<f32> {
        let m = colour_mix();
        let mut gt = vec![0.0; t.len()];
        per_pixel(t.len(), pixels, |k| {
            let s = apply(&m, k.map(|i| t[i])).map(sigmoid);
            let u: [f32; 3] = std::array::from_fn(|c| gx[k[c]] / STD[c] * s[c] * (1.0 - s[c]));
            for j in 0..3 {
                gt[k[j]] = (0..3).map(|i| m[i][j] * u[i]).sum();
            }
        });
        gt
    }

    /// t = M⁻¹ logit(clamp(x · std + mean, ε, 1 − ε)).
    pub fn from_image(x: &[f32], pixels: usize) -> Vec<f32> {
        let inv = inverse3(colour_mix());
        let eps = super::LOGIT_EPS;
        let mut t = vec![0.0; x.len()];
        per_pixel(x.len(), pixels, |k| {
            let logit: [f32; 3] = std::array::from_fn(|c| {
                let s = (x[k[c]] * STD[c] + MEAN[c]).clamp(eps, 1.0 - eps);
                (s / (1.0 - s)).ln()
            });
            let v = apply(&inv, logit);
            for c in 0..3 {
                t[k[c]] = v[c];
            }
        });
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basis_is_orthonormal() {
        for n in [1, 2, 5, 8, 9] {
            let f = basis(n);
            let eye = cpu::multiply(
                &MatrixStack {
                    planes: 1,
                    rows: n,
                    cols: n,
                },
                Side::Left,
                false,
                &f,
                &transpose(&f, n),
            );
            for r in 0..n {
                for c in 0..n {
                    let want = if r == c { 1.0 } else { 0.0 };
                    assert!(
                        (eye[r * n + c] - want).abs() < 1e-5,
                        "n = {n}: F Fᵀ[{r}][{c}] = {}",
                        eye[r * n + c]
                    );
                }
            }
        }
    }

    fn transpose(m: &[f32], n: usize) -> Vec<f32> {
        (0..n * n).map(|i| m[(i % n) * n + i / n]).collect()
    }

    #[test]
    fn spectrum_scale_is_one_over_frequency() {
        let s = spectrum_scale(8, 8);
        assert_eq!(s[0], 1.0);
        // Row 1 is frequency 1 along y: f = 1/8 cycles per pixel, times 8 = 1.
        assert_eq!(s[8], 1.0);
        // Coefficient (3, 3): frequency 2 along both axes: 1 / (sqrt(8) / 8 · 8).
        assert!((s[3 * 8 + 3] - 1.0 / 8f32.sqrt()).abs() < 1e-6);
        // Nyquist along x (column 7): 4 cycles per 8.
        assert!((s[7] - 0.25).abs() < 1e-6);
    }

    #[test]
    fn colour_mix_inverse_and_round_trip() {
        let m = colour_mix();
        let inv = inverse3(m);
        let product: [[f32; 3]; 3] = std::array::from_fn(|r| {
            std::array::from_fn(|c| (0..3).map(|k| m[r][k] * inv[k][c]).sum())
        });
        for (r, row) in product.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                assert!((v - if r == c { 1.0 } else { 0.0 }).abs() < 1e-5);
            }
        }
        // The largest column norm is 1 after normalization.
        let norm0 = (0..3).map(|i| m[i][0] * m[i][0]).sum::<f32>().sqrt();
        assert!((norm0 - 1.0).abs() < 1e-6);
        let pixels = 4;
        let x: Vec<f32> = (0..3 * pixels)
            .map(|i| (i as f32 * 0.37).sin() * 1.5)
            .collect();
        let back = cpu::to_image(&cpu::from_image(&x, pixels), pixels);
        for (a, b) in back.iter().zip(&x) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    #[test]
    fn image_grad_matches_finite_differences() {
        let pixels = 2;
        let t: Vec<f32> = (0..6).map(|i| (i as f32 * 0.9).cos()).collect();
        let gx: Vec<f32> = (0..6).map(|i| 1.0 + i as f32 * 0.25).collect();
        let loss = |t: &[f32]| -> f64 {
            cpu::to_image(t, pixels)
                .iter()
                .zip(&gx)
                .map(|(x, g)| *x as f64 * *g as f64)
                .sum()
        };
        let gt = cpu::image_grad(&t, &gx, pixels);
        for i in 0..6 {
            let h = 1e-2;
            let (mut up, mut down) = (t.clone(), t.clone());
            up[i] += h;
            down[i] -= h;
            let fd = (loss(&up) - loss(&down)) / (2.0 * h as f64);
            assert!((fd - gt[i] as f64).abs() < 1e-3, "{i}: {fd} vs {}", gt[i]);
        }
    }
}
