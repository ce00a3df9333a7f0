//! netlens: a wgpu engine that runs image classifiers (SqueezeNet 1.1, VGG16) forward and
//! backward to the input image in WGSL compute shaders, and the gradient loops built on it:
//! saliency maps, fooling images and class visualization.
//!
//! The engine does no file or terminal I/O and awaits the GPU: everything that waits for a
//! readback is `async`, so it runs natively (drive it with `pollster::block_on`) and in a browser
//! on WebGPU (wasm32, built with `--no-default-features`). Long loops report through
//! [`progress::Progress`]. The command line's file jobs live in [`app`], behind the default `cli`
//! feature.

#![warn(missing_docs)]

#[cfg(feature = "cli")]
pub mod app;
pub mod bench;
pub mod classes;
pub mod classify;
pub mod dream;
pub mod error;
pub mod figure;
pub mod fooling;
pub mod gpu;
pub mod hash;
#[cfg(feature = "libjpeg-turbo")]
mod jpeg;
pub mod merge;
pub mod model;
pub mod ops;
pub mod preprocess;
pub mod progress;
pub mod saliency;
pub mod shard;
pub mod update;

pub use error::{Error, Result};
pub use gpu::{GpuContext, GpuOptions};

/// The README's library example, compiled by `cargo test`.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
