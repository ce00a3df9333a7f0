//! A GPU buffer of f32 with its NCHW shape.

use crate::error::Result;
use crate::gpu::GpuContext;

/// A tensor on the GPU: a storage buffer of f32 in NCHW order (vectors are N x C x 1 x 1).
#[derive(Clone, Debug)]
pub struct Tensor {
    /// The storage buffer.
    pub buffer: wgpu::Buffer,
    /// Batch, channels, height, width.
    pub shape: [usize; 4],
}

impl Tensor {
    /// A zero-filled tensor.
    pub fn zeros(ctx: &GpuContext, what: &str, shape: [usize; 4]) -> Result<Self> {
        Ok(Self {
            buffer: ctx.storage(what, shape.iter().product())?,
            shape,
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements per image (C x H x W).
    pub fn per_image(&self) -> usize {
        self.shape[1] * self.shape[2] * self.shape[3]
    }

    /// Copies the tensor to the host once the GPU is done with it.
    pub async fn read(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        ctx.read(&self.buffer, 0..self.len()).await
    }

    /// Overwrites the tensor with host data of the same length.
    pub fn write(&self, ctx: &GpuContext, data: &[f32]) -> Result<()> {
        if data.len() != self.len() {
            return Err(crate::Error::InvalidInput(format!(
                "expected {} values for a tensor of shape {:?}, got {}",
                self.len(),
                self.shape,
                data.len()
            )));
        }
        ctx.write(&self.buffer, data);
        Ok(())
    }
}
