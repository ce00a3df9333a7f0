//! The diversity objective (Lucid's `diversity`): the images of one objective in a batch are
//! pushed apart in the Gram space of a layer's activations. With `G[n] = A[n] A[n]ᵀ / P` (`A[n]`:
//! C channels × P positions of image n), the term subtracted from the objective is
//! `weight · D`, `D` the mean cosine similarity `⟨G[i], G[j]⟩ / (|G[i]| |G[j]|)` over the ordered
//! pairs i ≠ j of the group (Lucid's sum over pairs divided by the batch is (B − 1) D). Its
//! gradient with respect to the layer's activations is added to the gradient the backward pass
//! carries there (see [`Gram::gradient`]); the kernels are in `shaders/dream.wgsl`, their CPU
//! references in [`cpu`].

use crate::error::Result;
use crate::gpu::uniform::uniform_block;
use crate::gpu::{Dispatch, GpuContext, Kernel, Shader, grid, grid_for};

uniform_block! {
    /// Uniform block of the Gram kernels.
    pub(crate) struct GramParams {
        batch: u32,
        channels: u32,
        plane: u32,
        _pad: u32,
    }
}

/// A batch of activations [batch, channels, plane] whose Gram matrices the kernels work on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gram {
    /// Images.
    pub batch: usize,
    /// Channels C (a Gram matrix is C × C).
    pub channels: usize,
    /// Positions P per channel (height × width).
    pub plane: usize,
}

/// The coefficient of each ordered pair (n, j), `batch × batch` row-major: `−weight / (B (B − 1))`
/// for j ≠ n in the same group of B ≥ 2 images, 0 otherwise; `groups[n]` names image n's group.
/// With these, `Σ k[n, j] cos(n, j)` over all pairs is `−weight · Σ_groups D`.
pub fn pair_coefficients(groups: &[usize], weight: f32) -> Vec<f32> {
    let size = |g: usize| groups.iter().filter(|&&h| h == g).count();
    let mut k = vec![0.0; groups.len() * groups.len()];
    for (n, &g) in groups.iter().enumerate() {
        let b = size(g) as f32;
        for (j, &h) in groups.iter().enumerate() {
            if j != n && h == g {
                k[n * groups.len() + j] = -weight / (b * (b - 1.0));
            }
        }
    }
    k
}

impl Gram {
    /// Values of one batch of Gram matrices.
    pub fn gram_len(&self) -> usize {
        self.batch * self.channels * self.channels
    }

    /// Values of the activations.
    pub fn len(&self) -> usize {
        self.batch * self.channels * self.plane
    }

    /// Whether the activations hold no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn params(&self) -> GramParams {
        GramParams {
            batch: self.batch as u32,
            channels: self.channels as u32,
            plane: self.plane as u32,
            ..GramParams::default()
        }
    }

    fn dispatch(
        &self,
        ctx: &GpuContext,
        entry: &'static str,
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) -> Dispatch {
        ctx.dispatch_with(
            Kernel::new(Shader::Dream, entry),
            &self.params(),
            buffers,
            workgroups,
        )
    }

    /// `gram[n] = act[n] act[n]ᵀ / P`.
    pub fn matrices(&self, ctx: &GpuContext, act: &wgpu::Buffer, gram: &wgpu::Buffer) -> Dispatch {
        let grid = grid_for(self.gram_len());
        self.dispatch(ctx, "gram_matrices", &[act, gram], grid)
    }

    /// `dots[i · batch + j] = ⟨gram[i], gram[j]⟩`.
    pub fn dots(&self, ctx: &GpuContext, gram: &wgpu::Buffer, dots: &wgpu::Buffer) -> Dispatch {
        let pairs = grid((self.batch * self.batch) as u32);
        self.dispatch(ctx, "gram_dots", &[gram, dots], pairs)
    }

    /// `v[n]`: the gradient of `Σ k[n, j] cos(n, j)` with respect to `gram[n]`, from the pairs'
    /// coefficients ([`pair_coefficients`]) and [`Gram::dots`].
    pub fn gradient(
        &self,
        ctx: &GpuContext,
        pairs: &wgpu::Buffer,
        dots: &wgpu::Buffer,
        gram: &wgpu::Buffer,
        v: &wgpu::Buffer,
    ) -> Dispatch {
        let grid = grid_for(self.gram_len());
        self.dispatch(ctx, "gram_grad", &[pairs, dots, gram, v], grid)
    }

    /// `grad[n] += 2 v[n] act[n] / P`: [`Gram::gradient`] brought through the Gram matrix.
    pub fn backprop(
        &self,
        ctx: &GpuContext,
        v: &wgpu::Buffer,
        act: &wgpu::Buffer,
        grad: &wgpu::Buffer,
    ) -> Dispatch {
        self.dispatch(ctx, "gram_backprop", &[v, act, grad], grid_for(self.len()))
    }
}

/// The diversity term's buffers and dispatches for one batch at one size.
pub(super) struct DiversityParts {
    /// Gram matrices and dot products, from the activations (also what a snapshot reads).
    pub measure: [Dispatch; 2],
    /// The gradient, added into the activations' gradient.
    pub gradient: [Dispatch; 2],
    /// [`Gram::dots`]' output.
    pub dots: wgpu::Buffer,
}

impl DiversityParts {
    /// The dispatches for activations `act` and their gradient `grad` of `shape`, with images
    /// in `groups` pushed apart by `weight`.
    pub fn new(
        ctx: &GpuContext,
        shape: Gram,
        groups: &[usize],
        weight: f32,
        act: &wgpu::Buffer,
        grad: &wgpu::Buffer,
    ) -> Result<Self> {
        let gram = ctx.storage("diversity gram matrices", shape.gram_len())?;
        let v = ctx.storage("diversity gram gradient", shape.gram_len())?;
        let dots = ctx.storage("diversity gram dots", shape.batch * shape.batch)?;
        let pairs = ctx.upload("diversity pairs", &pair_coefficients(groups, weight))?;
        Ok(Self {
            measure: [
                shape.matrices(ctx, act, &gram),
                shape.dots(ctx, &gram, &dots),
            ],
            gradient: [
                shape.gradient(ctx, &pairs, &dots, &gram, &v),
                shape.backprop(ctx, &v, act, grad),
            ],
            dots,
        })
    }
}

/// Each image's mean cosine similarity to the others of its group, from the Gram matrices' dot
/// products (`batch × batch`); `None` for an image alone in its group.
pub fn mean_similarity(groups: &[usize], dots: &[f32]) -> Vec<Option<f32>> {
    let b = groups.len();
    let norm = |n: usize| (dots[n * b + n] as f64).max(1e-10).sqrt();
    (0..b)
        .map(|n| {
            let others: Vec<f64> = (0..b)
                .filter(|&j| j != n && groups[j] == groups[n])
                .map(|j| dots[n * b + j] as f64 / (norm(n) * norm(j)))
                .collect();
            (!others.is_empty()).then(|| (others.iter().sum::<f64>() / others.len() as f64) as f32)
        })
        .collect()
}

/// Plain-Rust references of the kernels, in f64.
pub mod cpu {
    use super::Gram;

    /// `G[n] = A[n] A[n]ᵀ / P`.
    pub fn matrices(shape: &Gram, act: &[f32]) -> Vec<f64> {
        let (c, p) = (shape.channels, shape.plane);
        let mut g = vec![0.0; shape.gram_len()];
        for n in 0..shape.batch {
            let a = &act[n * c * p..(n + 1) * c * p];
            for i in 0..c {
                for j in 0..c {
                    let dot: f64 = (0..p)
                        .map(|q| a[i * p + q] as f64 * a[j * p + q] as f64)
                        .sum();
                    g[(n * c + i) * c + j] = dot / p as f64;
                }
            }
        }
        g
    }

    /// `Σ k[n, j] cos(G[n], G[j])` over all pairs: the diversity term as the objective adds it.
    pub fn term(shape: &Gram, pairs: &[f32], act: &[f32]) -> f64 {
        let g = matrices(shape, act);
        let cc = shape.channels * shape.channels;
        let block = |n: usize| &g[n * cc..(n + 1) * cc];
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let norm = |n: usize| dot(block(n), block(n)).max(1e-10).sqrt();
        let b = shape.batch;
        (0..b * b)
            .filter(|&e| pairs[e] != 0.0)
            .map(|e| {
                let (n, j) = (e / b, e % b);
                pairs[e] as f64 * dot(block(n), block(j)) / (norm(n) * norm(j))
            })
            .sum()
    }

    /// The gradient of [`term`] with respect to the activations, as `gram_grad` then
    /// `gram_backprop` add it to a zero gradient.
    pub fn gradient(shape: &Gram, pairs: &[f32], act: &[f32]) -> Vec<f64> {
        let g = matrices(shape, act);
        let (b, c, p) = (shape.batch, shape.channels, shape.plane);
        let cc = c * c;
        let dot =
            |i: usize, j: usize| -> f64 { (0..cc).map(|e| g[i * cc + e] * g[j * cc + e]).sum() };
        let norm = |n: usize| dot(n, n).max(1e-10).sqrt();
        let mut grad = vec![0.0; shape.len()];
        for n in 0..b {
            let mut v = vec![0.0; cc];
            let (mut u, mut coef) = (vec![0.0; cc], 0.0);
            for j in (0..b).filter(|&j| pairs[n * b + j] != 0.0) {
                let k = pairs[n * b + j] as f64;
                for e in 0..cc {
                    u[e] += k * g[j * cc + e] / norm(j);
                }
                coef += k * dot(n, j) / (norm(n) * norm(j));
            }
            for e in 0..cc {
                // k is symmetric: cos(n, j) appears as (n, j) and as (j, n).
                v[e] = 2.0 * (u[e] - coef * g[n * cc + e] / norm(n)) / norm(n);
            }
            for a in 0..c {
                for q in 0..p {
                    let s: f64 = (0..c)
                        .map(|k| v[a * c + k] * act[(n * c + k) * p + q] as f64)
                        .sum();
                    grad[(n * c + a) * p + q] = 2.0 * s / p as f64;
                }
            }
        }
        grad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo(len: usize, seed: u64) -> Vec<f32> {
        crate::bench::numerics::pseudo_random(len, seed, 1.0)
    }

    #[test]
    fn pairs_are_within_groups() {
        let k = pair_coefficients(&[0, 0, 1, 0], 3.0);
        // Group 0 has 3 images: 6 ordered pairs, each -3 / 6.
        assert_eq!(k[1], -0.5);
        assert_eq!(k[3 * 4], -0.5);
        assert_eq!(k[2], 0.0);
        assert_eq!(k[0], 0.0);
        assert!(
            k[2 * 4..3 * 4].iter().all(|&v| v == 0.0),
            "image 2 is alone"
        );
        let total: f32 = k.iter().sum();
        assert!(
            (total + 3.0).abs() < 1e-6,
            "the pairs of one group sum to -weight"
        );
    }

    /// The reference gradient against central differences of the reference term.
    #[test]
    fn gradient_matches_finite_differences() {
        let shape = Gram {
            batch: 3,
            channels: 4,
            plane: 5,
        };
        let act: Vec<f32> = pseudo(shape.len(), 3).iter().map(|v| v + 0.5).collect();
        let pairs = pair_coefficients(&[0, 0, 0], 2.0);
        let grad = cpu::gradient(&shape, &pairs, &act);
        let h = 1e-3;
        for i in [0, 7, 19, 33, 59] {
            let mut up = act.clone();
            up[i] += h;
            let mut down = act.clone();
            down[i] -= h;
            let fd = (cpu::term(&shape, &pairs, &up) - cpu::term(&shape, &pairs, &down))
                / (2.0 * h as f64);
            assert!(
                (fd - grad[i]).abs() <= 1e-3 * grad[i].abs().max(1e-2),
                "element {i}: finite difference {fd}, gradient {}",
                grad[i]
            );
        }
    }

    #[test]
    fn similarity_is_one_for_equal_grams() {
        let dots = [4.0, 4.0, 0.0, 4.0, 4.0, 0.0, 0.0, 0.0, 9.0];
        let s = mean_similarity(&[0, 0, 1], &dots);
        assert_eq!(s, vec![Some(1.0), Some(1.0), None]);
    }
}
