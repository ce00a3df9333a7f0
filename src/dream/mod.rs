//! Class visualization ("dreaming"): images that maximize a class score, or the mean activation
//! of one channel of a layer, found by gradient ascent on the image.
//!
//! The objective is `s(I) − λ‖I − I_t‖² − τ TV(I)` (`I_t` is zero, or the starting photo). Each
//! step, entirely on the GPU: roll the image by a random (ox, oy) within the jitter, run the
//! network forward to the objective's layer and back to the input, roll the gradient back, add
//! the penalties' gradients, take a normalized step `I += lr · g / ‖g‖`, clamp each channel to the
//! valid normalized range `[(0 − mean)/std, (1 − mean)/std]`, and every k steps blur with a
//! Gaussian of σ. The jitter offsets and blur steps come from a schedule drawn from the seed on
//! the host and uploaded once; before each step one `copy_buffer_to_buffer` puts its row in a
//! small buffer the kernels read. With [`Transforms`], the rolled image is also scaled and
//! rotated at random each step (bilinear sampling) before the forward pass, and the gradient is
//! brought back through the sampling's transpose; their rows come from the schedule the same way.
//! With [`Diversity`], the images of one objective in a batch start from different noise and are
//! pushed apart in the Gram space of a layer (see [`diversity`]): the gradient of that term is
//! added where the backward pass reaches the layer. Steps between two snapshots are recorded into one submission
//! (at most [`Request::steps_per_submit`] at a time); the host reads back only snapshots.
//!
//! Runs are batched: a sweep's values (per-image rates, penalties, blur and jitter) and several
//! classes run as one GPU batch. Octaves run the first steps at smaller sizes and upscale the
//! image between them. With [`Parameterization::Fourier`] the image is rendered each step from
//! 1/f-scaled Fourier coefficients and decorrelated colours (see [`fourier`]) and the step is
//! taken on the coefficients.

pub mod diversity;
pub mod figure;
pub mod fourier;
pub mod kernels;
mod run;
pub mod schedule;
pub mod settings;
mod stage;

pub use run::{
    DreamResult, FOURIER_NOISE_STD, Objective, PenaltyTarget, Request, Run, RunResult, Snapshot,
    Start, Timing, dream, dream_with,
};
pub use settings::{Diversity, DreamSettings, Parameterization, Sweep, SweepParam, Transforms};
