//! Saliency maps and attribution methods: which pixels of an image a network's class score
//! depends on. The gradient (Simonyan et al.), SmoothGrad, Integrated Gradients, Grad-CAM and
//! guided backpropagation run batched on the GPU ([`Attributor`], kernels in
//! `shaders/saliency.wgsl`); the model-randomization sanity check ([`sanity`]) tells the methods
//! that explain the model from those that do not.

pub mod faithfulness;
pub mod figures;
pub mod kernels;
pub mod method;
pub mod perturbation;
pub mod run;
pub mod sanity;
pub mod stats;
pub mod views;

pub use kernels::Reduce;
pub use method::{Baseline, Method, Settings};
pub use run::{AttributionRequest, Attributor};
