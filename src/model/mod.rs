//! Networks: architectures, weights, and their GPU execution plans.

pub mod arch;
pub mod network;
pub mod reference;
pub mod weights;
pub mod zoo;

pub use arch::{Arch, Layer};
pub use network::{GradientRule, Network, Plan};
pub use weights::Weights;
pub use zoo::ModelKind;
