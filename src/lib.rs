//! netlens: a wgpu engine that runs image classifiers (SqueezeNet 1.1, VGG16) forward and
//! backward to the input image in WGSL compute shaders, and the gradient loops built on it:
//! saliency maps, fooling images and class visualization.

#![warn(missing_docs)]

pub mod bench;
pub mod classes;
pub mod classify;
pub mod data;
pub mod dream;
pub mod error;
pub mod figure;
pub mod fooling;
pub mod gpu;
pub mod hash;
pub mod input_file;
pub mod manifest;
pub mod merge;
pub mod model;
pub mod ops;
pub mod output;
pub mod preprocess;
pub mod progress;
pub mod saliency;
pub mod shard;

pub use error::{Error, Result};
pub use gpu::{GpuContext, GpuOptions};

/// The README's library example, compiled by `cargo test`.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
