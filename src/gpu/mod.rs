//! The GPU layer: device and adapter, buffers, shaders and compiled kernels.

mod buffer;
mod context;
pub mod counts;
pub mod kernel;
mod oneshot;
pub mod shaders;
mod shape;
mod step;
mod tensor;
pub(crate) mod uniform;

pub use context::{GpuContext, GpuOptions, describe_adapter, list_adapters};
pub use counts::{CommandCounts, CommandRates, copy_buffer};
pub use kernel::{Dispatch, Kernel, grid, grid_for, record_all};
pub use shaders::Shader;
pub use shape::ImageBatch;
pub use step::{StepOp, record_ops};
pub use tensor::{ChannelView, Tensor};
