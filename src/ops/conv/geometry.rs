//! The shape of a convolution layer, independent of batch and image size.

use crate::error::{Error, Result};

/// The shape of a convolution layer, independent of batch and image size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Stride, both axes.
    pub stride: usize,
    /// Zero padding, both axes.
    pub pad: usize,
}

impl ConvGeometry {
    /// A square kernel.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> Self {
        Self {
            in_channels,
            out_channels,
            kernel_h: kernel,
            kernel_w: kernel,
            stride,
            pad,
        }
    }

    /// Output height and width for an input of `h` x `w`, or `None` when the kernel does not fit.
    pub fn output_size(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let hp = h + 2 * self.pad;
        let wp = w + 2 * self.pad;
        if hp < self.kernel_h || wp < self.kernel_w || self.stride == 0 {
            return None;
        }
        Some((
            (hp - self.kernel_h) / self.stride + 1,
            (wp - self.kernel_w) / self.stride + 1,
        ))
    }

    /// The output's shape [n, out, oh, ow] for an input of shape `x` [n, c, h, w], or an error
    /// naming what does not fit.
    pub fn output_shape(&self, [n, c, h, w]: [usize; 4]) -> Result<[usize; 4]> {
        if c != self.in_channels {
            return Err(Error::InvalidInput(format!(
                "conv input: {c} channels where the layer takes {}",
                self.in_channels
            )));
        }
        let (oh, ow) = self.output_size(h, w).ok_or_else(|| {
            Error::InvalidInput(format!(
                "conv input: a {}x{} kernel (stride {}) does not fit a {h}x{w} input padded by {}",
                self.kernel_h, self.kernel_w, self.stride, self.pad
            ))
        })?;
        Ok([n, self.out_channels, oh, ow])
    }

    /// The weight tensor's shape in PyTorch's layout: [out, in, kh, kw].
    pub fn weight_shape(&self) -> [usize; 4] {
        [
            self.out_channels,
            self.in_channels,
            self.kernel_h,
            self.kernel_w,
        ]
    }

    pub(super) fn taps(&self) -> usize {
        self.kernel_h * self.kernel_w
    }

    /// Multiply-adds of one forward pass over an `h` x `w` input, per image.
    pub fn macs(&self, h: usize, w: usize) -> u64 {
        let (oh, ow) = self.output_size(h, w).unwrap_or((0, 0));
        (oh * ow * self.out_channels * self.in_channels * self.taps()) as u64
    }
}
