//! SqueezeNet's fire module as one op: a 1x1 squeeze convolution and ReLU, then 1x1 and 3x3
//! expand convolutions (each with its ReLU) whose outputs are concatenated along channels.
//! Forward and gradient with respect to the input, built from [`Conv2d`]'s kernels, with the
//! plain-Rust reference in [`cpu`].

use crate::error::Result;
use crate::gpu::{Dispatch, GpuContext, Tensor};
use crate::ops::BackwardMode;
use crate::ops::conv::{BackwardIo, Conv2d, ReluMask};
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

/// The tensors a fire module's dispatches read and write.
#[derive(Clone, Copy, Debug)]
pub struct FireTensors<'a> {
    /// The input x.
    pub x: &'a Tensor,
    /// The input's gradient.
    pub dx: &'a Tensor,
    /// The squeeze convolution's output, and its gradient.
    pub squeezed: (&'a Tensor, &'a Tensor),
    /// The concatenated output y.
    pub y: &'a Tensor,
    /// The output's gradient.
    pub dy: &'a Tensor,
    /// Scratch shaped as the output: dy masked by the expand ReLUs.
    pub masked: &'a Tensor,
}

impl Fire {
    /// Channels of the concatenated output.
    pub fn out_channels(&self) -> usize {
        self.expand1x1.geometry().out_channels + self.expand3x3.geometry().out_channels
    }

    /// Where the 3x3 expand convolution's channels start in the output.
    fn expand3x3_offset(&self) -> usize {
        self.expand1x1.geometry().out_channels
    }

    /// The forward dispatches: squeeze into `t.squeezed.0`, then each expand convolution
    /// writing its channels of `t.y` directly.
    pub fn forward(&self, ctx: &GpuContext, t: &FireTensors<'_>) -> Result<Vec<Dispatch>> {
        let squeezed = t.squeezed.0;
        Ok(vec![
            self.squeeze.forward(ctx, t.x, squeezed)?,
            self.expand1x1.forward(ctx, squeezed, t.y)?,
            self.expand3x3
                .forward(ctx, squeezed, t.y.channels_from(self.expand3x3_offset()))?,
        ])
    }

    /// The input-gradient dispatches: dy masked once by the expand ReLUs (with `relu`, a plain
    /// [`BiasRelu`]), both expand backward passes adding into the squeeze gradient (the 3x3,
    /// the last, applying the squeeze's ReLU as it writes it), then the squeeze backward.
    pub fn backward_input(
        &self,
        ctx: &GpuContext,
        t: &FireTensors<'_>,
        relu: &BiasRelu,
        mode: BackwardMode,
    ) -> Result<Vec<Dispatch>> {
        let (squeezed, squeezed_grad) = t.squeezed;
        let add = BackwardMode {
            accumulate: true,
            ..mode
        };
        let io = |dy, dx, mask, mode| BackwardIo { dy, dx, mask, mode };
        Ok(vec![
            relu.backward(ctx, t.dy, t.y, t.masked, mode)?,
            self.expand1x1.backward_input(
                ctx,
                io(t.masked.into(), squeezed_grad, ReluMask::None, mode),
            )?,
            self.expand3x3.backward_input(
                ctx,
                io(
                    t.masked.channels_from(self.expand3x3_offset()),
                    squeezed_grad,
                    ReluMask::Input(squeezed),
                    add,
                ),
            )?,
            self.squeeze
                .backward_input(ctx, io(squeezed_grad.into(), t.dx, ReluMask::None, mode))?,
        ])
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
