//! The choice of kernels for a convolution.

use super::direct::CHANNEL_PAD;
use crate::gpu::{GpuContext, Kernel, grid};

/// Which kernels compute a convolution (each is checked against the CPU reference by the tests
/// and timed by `netlens bench --conv-variants`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvAlgorithm {
    /// Implicit GEMM over 64 x 64 tiles staged in workgroup memory, 4 x 4 outputs per invocation.
    Tiled,
    /// Implicit GEMM without workgroup memory: 8 channels x `pixels` (1, 2 or 4) pixels per
    /// invocation from vec4 weight loads.
    RegisterBlocked {
        /// Consecutive output pixels per invocation.
        pixels: u32,
    },
    /// Winograd F(2×2, 3×3) for 3×3 stride-1 layers ([`winograd`](crate::ops::conv::winograd)); other layers,
    /// and the input gradient of layers with at most 4 input channels, as `Auto` computes them.
    Winograd,
    /// Register-blocked, with the pixels per invocation chosen per layer: as many as keep the
    /// device busy (see [`GpuContext::target_invocations`]).
    #[default]
    Auto,
}

impl ConvAlgorithm {
    /// Every concrete algorithm.
    pub const ALL: [ConvAlgorithm; 5] = [
        ConvAlgorithm::Tiled,
        ConvAlgorithm::RegisterBlocked { pixels: 1 },
        ConvAlgorithm::RegisterBlocked { pixels: 2 },
        ConvAlgorithm::RegisterBlocked { pixels: 4 },
        ConvAlgorithm::Winograd,
    ];

    /// The concrete algorithm for an output of `pixels` x `channels` on `ctx`.
    pub(super) fn resolve(self, ctx: &GpuContext, pixels: usize, channels: usize) -> ConvAlgorithm {
        match self {
            ConvAlgorithm::Auto | ConvAlgorithm::Winograd => {
                let blocks = channels.div_ceil(CHANNEL_PAD);
                let pixels_per_invocation = [4, 2]
                    .into_iter()
                    .find(|&ppi| pixels.div_ceil(ppi) * blocks >= ctx.target_invocations())
                    .unwrap_or(1);
                ConvAlgorithm::RegisterBlocked {
                    pixels: pixels_per_invocation as u32,
                }
            }
            other => other,
        }
    }

    /// The blocked kernel `kernel` with `ppi` (1 to 4) pixels per invocation, and its grid.
    pub(super) fn blocked(
        kernel: Kernel,
        ppi: u32,
        pixels: usize,
        channels: usize,
    ) -> (Kernel, [u32; 3]) {
        let ppi = ppi.clamp(1, 4);
        let [x, z, _] = grid(pixels.div_ceil(64 * ppi as usize) as u32);
        (
            kernel.with("BLOCK_PIXELS", ppi),
            [x, channels.div_ceil(CHANNEL_PAD) as u32, z],
        )
    }
}

impl std::fmt::Display for ConvAlgorithm {
    /// The name [`ConvAlgorithm::from_str`](std::str::FromStr) reads: `tiled`, `blocked1`,
    /// `blocked2`, `blocked4`, `winograd` or `auto`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvAlgorithm::Tiled => write!(f, "tiled"),
            ConvAlgorithm::RegisterBlocked { pixels } => write!(f, "blocked{pixels}"),
            ConvAlgorithm::Winograd => write!(f, "winograd"),
            ConvAlgorithm::Auto => write!(f, "auto"),
        }
    }
}

impl std::str::FromStr for ConvAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let names = std::iter::once(ConvAlgorithm::Auto).chain(ConvAlgorithm::ALL);
        names.clone().find(|a| a.to_string() == s).ok_or_else(|| {
            let known: Vec<String> = names.map(|a| a.to_string()).collect();
            format!(
                "unknown convolution algorithm {s:?}: expected one of {}",
                known.join(", ")
            )
        })
    }
}
