//! A GPU buffer of f32 with its NCHW shape, and a view of a range of its channels.

use crate::error::{Error, Result};
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

    /// `buffer` seen as a tensor of `shape`; an error if it holds fewer values (scratch sized
    /// for the largest tensor can be seen as each smaller one).
    pub fn over(buffer: wgpu::Buffer, shape: [usize; 4]) -> Result<Self> {
        let t = Self { buffer, shape };
        t.check_capacity("tensor")?;
        Ok(t)
    }

    /// A tensor of `shape` holding `data` (as many values as the shape has).
    pub fn upload(ctx: &GpuContext, what: &str, shape: [usize; 4], data: &[f32]) -> Result<Self> {
        check_values(what, shape, data)?;
        Ok(Self {
            buffer: ctx.upload(what, data)?,
            shape,
        })
    }

    /// An error naming `what` unless the buffer holds the shape's values: kernels index their
    /// buffers without bounds checks, so a dispatch is only built over tensors that fit.
    pub fn check_capacity(&self, what: &str) -> Result<()> {
        let needed = (self.len() * 4) as u64;
        if self.buffer.size() < needed {
            return Err(Error::InvalidInput(format!(
                "{what}: a buffer of {} bytes cannot hold a tensor of shape {:?} ({needed} bytes)",
                self.buffer.size(),
                self.shape
            )));
        }
        Ok(())
    }

    /// Number of images (N).
    pub fn batch(&self) -> usize {
        self.shape[0]
    }

    /// Channels per image (C).
    pub fn channels(&self) -> usize {
        self.shape[1]
    }

    /// Height and width of a plane (H, W).
    pub fn hw(&self) -> (usize, usize) {
        (self.shape[2], self.shape[3])
    }

    /// Channels `offset..` of this tensor, as one layer writing or reading its part of a
    /// channel concatenation sees them.
    pub fn channels_from(&self, offset: usize) -> ChannelView<'_> {
        ChannelView {
            tensor: self,
            offset,
        }
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
        check_values("tensor", self.shape, data)?;
        ctx.write(&self.buffer, data);
        Ok(())
    }
}

/// An error naming `what` unless `data` holds as many values as a tensor of `shape`.
fn check_values(what: &str, shape: [usize; 4], data: &[f32]) -> Result<()> {
    let len: usize = shape.iter().product();
    if data.len() != len {
        return Err(Error::InvalidInput(format!(
            "{what}: {} values for a tensor of shape {shape:?} ({len} values)",
            data.len()
        )));
    }
    Ok(())
}

/// Channels `offset..` of a tensor: the part of a channel concatenation that one layer writes in
/// place (forward) or reads (backward), as a fire module's expand convolutions do.
#[derive(Clone, Copy, Debug)]
pub struct ChannelView<'a> {
    /// The whole tensor.
    pub tensor: &'a Tensor,
    /// The first channel of the part.
    pub offset: usize,
}

impl<'a> From<&'a Tensor> for ChannelView<'a> {
    /// All of `tensor`, from channel 0.
    fn from(tensor: &'a Tensor) -> Self {
        tensor.channels_from(0)
    }
}
