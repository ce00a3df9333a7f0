//! Fully connected layer with an optional fused ReLU: forward, and gradient with respect to the
//! input. Kernels in `shaders/linear.wgsl` (and `shaders/linear_subgroups.wgsl` for a forward
//! reduced with subgroup operations). A weight matrix larger than the device's storage binding
//! limit (VGG16's 25088 x 4096, 411 MB) is split into row chunks that each fit.

use crate::error::{Error, Result};
use crate::gpu::uniform::uniform_block;
use crate::gpu::{Dispatch, GpuContext, Kernel, Shader, Tensor, grid};
use crate::ops::BackwardMode;

uniform_block! {
    /// Uniform block of `linear.wgsl`.
    pub(crate) struct LinearParams {
        batch: u32,
        in_features: u32,
        out_features: u32,
        /// First row of this chunk of the weights, and its number of rows.
        row0: u32,
        rows: u32,
        relu: u32,
        accumulate: u32,
        _pad0: u32,
    }
}

/// Which kernels compute a linear layer (each is checked against the CPU reference by the tests
/// and timed by `netlens bench --linear-variants`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinearKernel {
    /// One weight and one input per load, a tree reduction in workgroup memory; any width.
    Scalar,
    /// Four weights and four inputs per load (`in_features` a multiple of 4), the input gradient
    /// four features per invocation.
    Vec4,
    /// `Vec4` with the forward's reduction done by subgroup operations (adapters with
    /// [`wgpu::Features::SUBGROUP`]).
    Subgroups,
    /// The fastest of the above that the layer's width and the device allow.
    #[default]
    Auto,
}

impl LinearKernel {
    /// Every concrete kernel choice.
    pub const ALL: [LinearKernel; 3] = [
        LinearKernel::Scalar,
        LinearKernel::Vec4,
        LinearKernel::Subgroups,
    ];

    /// The kernel actually used for `in_features` on `ctx`: a choice the width or the device
    /// does not allow falls back to the next simpler one.
    pub fn resolve(self, ctx: &GpuContext, in_features: usize) -> LinearKernel {
        let subgroups = ctx
            .device()
            .features()
            .contains(Shader::LinearSubgroups.required_features());
        match self {
            _ if !in_features.is_multiple_of(4) => LinearKernel::Scalar,
            LinearKernel::Subgroups | LinearKernel::Auto if subgroups => LinearKernel::Subgroups,
            LinearKernel::Scalar => LinearKernel::Scalar,
            _ => LinearKernel::Vec4,
        }
    }

    /// The forward kernel and the input-gradient kernel (before the batch block is set).
    fn kernels(self) -> (Kernel, Kernel) {
        match self {
            LinearKernel::Scalar | LinearKernel::Auto => (
                Kernel::new(Shader::Linear, "forward"),
                Kernel::new(Shader::Linear, "backward_input"),
            ),
            LinearKernel::Vec4 => (
                Kernel::new(Shader::Linear, "forward_vec4"),
                Kernel::new(Shader::Linear, "backward_input_vec4"),
            ),
            LinearKernel::Subgroups => (
                Kernel::new(Shader::LinearSubgroups, "forward_subgroups"),
                Kernel::new(Shader::Linear, "backward_input_vec4"),
            ),
        }
    }
}

impl std::fmt::Display for LinearKernel {
    /// `scalar`, `vec4`, `subgroups` or `auto`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LinearKernel::Scalar => "scalar",
            LinearKernel::Vec4 => "vec4",
            LinearKernel::Subgroups => "subgroups",
            LinearKernel::Auto => "auto",
        })
    }
}

/// One block of consecutive weight rows in its own buffer.
#[derive(Debug)]
struct Chunk {
    row0: usize,
    rows: usize,
    weights: wgpu::Buffer,
}

/// A linear layer's weights on the GPU, split into chunks that fit one storage binding.
#[derive(Debug)]
pub struct Linear {
    in_features: usize,
    out_features: usize,
    relu: bool,
    chunks: Vec<Chunk>,
    bias: wgpu::Buffer,
    kernel: LinearKernel,
}

/// Rows per chunk so that a chunk of `in_features`-wide f32 rows fits `max_bytes`.
pub fn rows_per_chunk(in_features: usize, out_features: usize, max_bytes: u64) -> usize {
    let row_bytes = (in_features * 4) as u64;
    ((max_bytes / row_bytes.max(1)) as usize).clamp(1, out_features.max(1))
}

impl Linear {
    /// Uploads weights `[out, in]` (PyTorch layout) and bias `[out]`. With `relu`, the forward applies
    /// a ReLU and the backward masks by it. The kernels are the fastest the width and the device
    /// allow ([`LinearKernel::Auto`]).
    pub fn new(
        ctx: &GpuContext,
        name: &str,
        weight: &[f32],
        bias: &[f32],
        relu: bool,
    ) -> Result<Self> {
        Self::with_kernel(ctx, name, weight, bias, relu, LinearKernel::Auto)
    }

    /// [`Linear::new`] computed by `kernel` (or by what it falls back to, see
    /// [`LinearKernel::resolve`]).
    pub fn with_kernel(
        ctx: &GpuContext,
        name: &str,
        weight: &[f32],
        bias: &[f32],
        relu: bool,
        kernel: LinearKernel,
    ) -> Result<Self> {
        let out_features = bias.len();
        let in_features = weight.len() / out_features.max(1);
        assert_eq!(weight.len(), in_features * out_features);
        let rows = rows_per_chunk(in_features, out_features, ctx.max_binding());
        if (in_features * 4) as u64 > ctx.max_binding() {
            return Err(Error::BufferTooLarge {
                what: format!("one row of `{name}`"),
                bytes: (in_features * 4) as u64,
                limit: "max_storage_buffer_binding_size",
                max: ctx.max_binding(),
            });
        }
        let chunks = (0..out_features)
            .step_by(rows)
            .map(|row0| {
                let rows = rows.min(out_features - row0);
                let data = &weight[row0 * in_features..(row0 + rows) * in_features];
                Ok(Chunk {
                    row0,
                    rows,
                    weights: ctx.upload(name, data)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if chunks.len() > 1 {
            log::info!(
                "{name}: {} rows split into {} chunks",
                out_features,
                chunks.len()
            );
        }
        Ok(Self {
            in_features,
            out_features,
            relu,
            chunks,
            bias: ctx.upload(name, bias)?,
            kernel: kernel.resolve(ctx, in_features),
        })
    }

    /// Replaces the weights in place; dispatches made earlier see the new values.
    pub fn set_weights(&self, ctx: &GpuContext, weight: &[f32], bias: &[f32]) {
        for c in &self.chunks {
            ctx.write(
                &c.weights,
                &weight[c.row0 * self.in_features..(c.row0 + c.rows) * self.in_features],
            );
        }
        ctx.write(&self.bias, bias);
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// The kernels this layer runs.
    pub fn kernel(&self) -> LinearKernel {
        self.kernel
    }

    /// Number of weight chunks (1 unless the matrix exceeds a storage binding).
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    fn params(&self, batch: usize, chunk: &Chunk, mode: BackwardMode) -> LinearParams {
        LinearParams {
            batch: batch as u32,
            in_features: self.in_features as u32,
            out_features: self.out_features as u32,
            row0: chunk.row0 as u32,
            rows: chunk.rows as u32,
            relu: self.relu as u32,
            accumulate: mode.accumulate as u32,
            ..Default::default()
        }
    }

    /// An error naming `what` unless `t` holds images of `features` values each, as many as
    /// `batch` (the input's, or `t`'s own when `None`); returns the batch.
    fn check_rows(what: &str, t: &Tensor, features: usize, batch: Option<usize>) -> Result<usize> {
        let rows = t.batch();
        let want = batch.unwrap_or(rows);
        if t.per_image() != features || rows != want {
            return Err(Error::InvalidInput(format!(
                "{what}: a tensor of shape {:?} where {want} rows of {features} values are \
                 expected",
                t.shape
            )));
        }
        t.check_capacity(what)?;
        Ok(rows)
    }

    /// y = act(W x + b) for each image of x (its values flattened); one dispatch per chunk.
    pub fn forward(&self, ctx: &GpuContext, x: &Tensor, y: &Tensor) -> Result<Vec<Dispatch>> {
        let batch = Self::check_rows("linear input", x, self.in_features, None)?;
        Self::check_rows("linear output", y, self.out_features, Some(batch))?;
        Ok(self
            .chunks
            .iter()
            .map(|c| {
                ctx.dispatch_with(
                    with_batch_block(self.kernel.kernels().0, batch),
                    &self.params(batch, c, BackwardMode::default()),
                    &[&x.buffer, &c.weights, &self.bias, &y.buffer],
                    grid(c.rows as u32),
                )
            })
            .collect())
    }

    /// dx (+)= W^T dz, from a gradient `dz` that already went through this layer's ReLU (the
    /// backward of [`crate::ops::relu::BiasRelu`]; dy itself for a layer without one); one
    /// dispatch per chunk, all but the first adding. Of `mode`, only `accumulate` applies here:
    /// the ReLU's backward is where guided backpropagation drops gradients.
    pub fn backward_input(
        &self,
        ctx: &GpuContext,
        dz: &Tensor,
        dx: &Tensor,
        mode: BackwardMode,
    ) -> Result<Vec<Dispatch>> {
        let batch = Self::check_rows("linear output gradient", dz, self.out_features, None)?;
        Self::check_rows("linear input gradient", dx, self.in_features, Some(batch))?;
        Ok(self
            .chunks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let chunk_mode = BackwardMode {
                    accumulate: mode.accumulate || i > 0,
                    ..mode
                };
                // The backward kernels read no `aux` (binding 3).
                ctx.dispatch_slots(
                    with_batch_block(self.kernel.kernels().1, batch),
                    &self.params(batch, c, chunk_mode),
                    &[Some(&dz.buffer), Some(&c.weights), None, Some(&dx.buffer)],
                    grid(self.in_features.div_ceil(FEATURES_PER_BACKWARD_WORKGROUP) as u32),
                )
            })
            .collect())
    }

    /// Whether the layer ends in a ReLU.
    pub fn relu(&self) -> bool {
        self.relu
    }
}

/// Input features one input-gradient workgroup covers (every backward kernel).
const FEATURES_PER_BACKWARD_WORKGROUP: usize = 64;

/// `kernel` compiled for `batch` images: as many per pass over the weights as the batch has, up
/// to 8, in powers of two.
fn with_batch_block(kernel: Kernel, batch: usize) -> Kernel {
    kernel.with("BATCH_BLOCK", batch.clamp(1, 8).next_power_of_two() as u32)
}

/// Plain-Rust reference implementations.
pub mod cpu {
    /// y [n, out] = act(x [n, in] W^T + b).
    pub fn forward(batch: usize, x: &[f32], weight: &[f32], bias: &[f32], relu: bool) -> Vec<f32> {
        let out_f = bias.len();
        let in_f = weight.len() / out_f;
        let mut y = Vec::with_capacity(batch * out_f);
        for n in 0..batch {
            let xr = &x[n * in_f..(n + 1) * in_f];
            for o in 0..out_f {
                let wr = &weight[o * in_f..(o + 1) * in_f];
                let v = (bias[o] as f64
                    + xr.iter()
                        .zip(wr)
                        .map(|(&a, &b)| a as f64 * b as f64)
                        .sum::<f64>()) as f32;
                y.push(if relu { v.max(0.0) } else { v });
            }
        }
        y
    }

    /// dx [n, in] = dz W with dz = dy masked by (y > 0) when `relu_output` is given.
    pub fn backward_input(
        batch: usize,
        dy: &[f32],
        relu_output: Option<&[f32]>,
        weight: &[f32],
        in_f: usize,
    ) -> Vec<f32> {
        let out_f = weight.len() / in_f;
        let mut dx = vec![0.0f64; batch * in_f];
        for n in 0..batch {
            for o in 0..out_f {
                let i = n * out_f + o;
                if relu_output.is_some_and(|y| y[i] <= 0.0) {
                    continue;
                }
                let g = dy[i] as f64;
                for (d, &w) in dx[n * in_f..(n + 1) * in_f]
                    .iter_mut()
                    .zip(&weight[o * in_f..(o + 1) * in_f])
                {
                    *d += g * w as f64;
                }
            }
        }
        dx.into_iter().map(|v| v as f32).collect()
    }
}
