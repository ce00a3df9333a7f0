//! SqueezeNet's fire module as one op: a 1x1 squeeze convolution and ReLU, then 1x1 and 3x3
//! expand convolutions (each with its ReLU) whose outputs are concatenated along channels.
//! Forward and gradient with respect to the input, built from [`Conv2d`]'s kernels, with the
//! plain-Rust reference in [`cpu`].

use crate::gpu::{Dispatch, GpuContext};
use crate::ops::BackwardMode;
use crate::ops::conv::{BackwardIo, ChannelSlice, Conv2d, ReluMask};
use crate::ops::relu::BiasRelu;

/// A fire module's three convolutions on the GPU (each with its ReLU).
#[derive(Debug)]
pub struct Fire {
    /// The 1x1 squeeze convolution.
    pub squeeze: Conv2d,
    /// The 1x1 expand convolution: the first channels of the output.
    pub expand1x1: Conv2d,
    /// The 3x3 expand convolution: the channels after those of `expand1x1`.
    pub expand3x3: Conv2d,
}

/// The tensors a fire module's dispatches read and write, all for `batch` images of `hw`.
#[derive(Clone, Copy, Debug)]
pub struct FireBuffers<'a> {
    /// The input x and its gradient dx.
    pub x: &'a wgpu::Buffer,
    /// The input's gradient.
    pub dx: &'a wgpu::Buffer,
    /// The squeeze convolution's output, and its gradient.
    pub squeezed: (&'a wgpu::Buffer, &'a wgpu::Buffer),
    /// The concatenated output y.
    pub y: &'a wgpu::Buffer,
    /// The output's gradient.
    pub dy: &'a wgpu::Buffer,
    /// Scratch as large as the output: dy masked by the expand ReLUs.
    pub masked: &'a wgpu::Buffer,
}

impl Fire {
    /// Channels of the concatenated output.
    pub fn out_channels(&self) -> usize {
        self.expand1x1.geometry().out_channels + self.expand3x3.geometry().out_channels
    }

    /// Where each expand convolution's channels sit in the output.
    fn slices(&self) -> [ChannelSlice; 2] {
        let total = self.out_channels();
        [
            ChannelSlice { offset: 0, total },
            ChannelSlice {
                offset: self.expand1x1.geometry().out_channels,
                total,
            },
        ]
    }

    /// The forward dispatches: squeeze into `b.squeezed.0`, then each expand convolution
    /// writing its channels of `b.y` directly.
    pub fn forward(
        &self,
        ctx: &GpuContext,
        batch: usize,
        hw: (usize, usize),
        b: &FireBuffers<'_>,
    ) -> Vec<Dispatch> {
        let [slice1, slice3] = self.slices();
        let squeezed = b.squeezed.0;
        vec![
            self.squeeze
                .forward(ctx, batch, hw, b.x, squeezed, self.squeeze.whole()),
            self.expand1x1
                .forward(ctx, batch, hw, squeezed, b.y, slice1),
            self.expand3x3
                .forward(ctx, batch, hw, squeezed, b.y, slice3),
        ]
    }

    /// The input-gradient dispatches: dy masked once by the expand ReLUs (with `relu`, a plain
    /// [`BiasRelu`]), both expand backward passes adding into the squeeze gradient (the 3x3,
    /// the last, applying the squeeze's ReLU as it writes it), then the squeeze backward.
    pub fn backward_input(
        &self,
        ctx: &GpuContext,
        (batch, hw): (usize, (usize, usize)),
        b: &FireBuffers<'_>,
        relu: &BiasRelu,
        mode: BackwardMode,
    ) -> Vec<Dispatch> {
        let [slice1, slice3] = self.slices();
        let (squeezed, squeezed_grad) = b.squeezed;
        let out_len = batch * self.out_channels() * hw.0 * hw.1;
        let add = BackwardMode {
            accumulate: true,
            ..mode
        };
        let backward = |conv: &Conv2d, (dy, dx), mask, slice, mode| {
            let io = BackwardIo {
                dy,
                dx,
                mask,
                slice,
                mode,
            };
            conv.backward_input(ctx, batch, hw, io)
        };
        vec![
            relu.backward(ctx, out_len, b.dy, b.y, b.masked, mode),
            backward(
                &self.expand1x1,
                (b.masked, squeezed_grad),
                ReluMask::None,
                slice1,
                mode,
            ),
            backward(
                &self.expand3x3,
                (b.masked, squeezed_grad),
                ReluMask::Input(squeezed),
                slice3,
                add,
            ),
            backward(
                &self.squeeze,
                (squeezed_grad, b.dx),
                ReluMask::None,
                self.squeeze.whole(),
                mode,
            ),
        ]
    }
}

/// Plain-Rust reference implementations.
pub mod cpu {
    use crate::ops::concat;
    use crate::ops::conv::{self, ConvGeometry};

    /// One convolution of the module: its shape, weight and bias.
    pub type ConvWeights<'a> = (ConvGeometry, &'a [f32], &'a [f32]);

    /// What the backward pass needs from the forward: each convolution's output.
    #[derive(Clone, Debug)]
    pub struct Saved {
        /// The squeeze output.
        pub squeeze: Vec<f32>,
        /// The expand 1x1 output.
        pub expand1x1: Vec<f32>,
        /// The expand 3x3 output.
        pub expand3x3: Vec<f32>,
    }

    /// Forward: x [n, in, h, w] -> y [n, e1 + e3, h, w] with the module's three convolutions
    /// (squeeze, expand 1x1, expand 3x3), each followed by a ReLU.
    pub fn forward(
        convs: &[ConvWeights<'_>; 3],
        batch: usize,
        hw: (usize, usize),
        x: &[f32],
    ) -> (Vec<f32>, Saved) {
        let run = |(g, w, b): &ConvWeights<'_>, input: &[f32]| {
            conv::cpu::forward(g, batch, hw, input, w, b, true)
        };
        let squeeze = run(&convs[0], x);
        let expand1x1 = run(&convs[1], &squeeze);
        let expand3x3 = run(&convs[2], &squeeze);
        let y = concat::cpu::forward(
            &[
                (&expand1x1, convs[1].0.out_channels),
                (&expand3x3, convs[2].0.out_channels),
            ],
            batch,
            hw.0 * hw.1,
        );
        let saved = Saved {
            squeeze,
            expand1x1,
            expand3x3,
        };
        (y, saved)
    }

    /// Input gradient from the output's gradient `dy`; `at_relu` is applied to each gradient
    /// a ReLU masks (the identity, or dropping negative values for guided backpropagation).
    pub fn backward_input(
        convs: &[ConvWeights<'_>; 3],
        batch: usize,
        hw: (usize, usize),
        dy: &[f32],
        saved: &Saved,
        at_relu: impl Fn(&[f32]) -> Vec<f32>,
    ) -> Vec<f32> {
        let back = |(g, w, _): &ConvWeights<'_>, dy: &[f32], y: &[f32]| {
            conv::cpu::backward_input(g, batch, hw, &at_relu(dy), Some(y), w)
        };
        let parts = concat::cpu::backward(
            dy,
            &[convs[1].0.out_channels, convs[2].0.out_channels],
            batch,
            hw.0 * hw.1,
        );
        let d_squeeze: Vec<f32> = back(&convs[1], &parts[0], &saved.expand1x1)
            .iter()
            .zip(back(&convs[2], &parts[1], &saved.expand3x3))
            .map(|(a, b)| a + b)
            .collect();
        back(&convs[0], &d_squeeze, &saved.squeeze)
    }
}
