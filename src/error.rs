//! The error type of the library: every failure names its cause (file, tensor, shape, limit, step).

use std::path::PathBuf;

/// Errors returned by netlens.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No GPU adapter matched the request.
    #[error(
        "no GPU adapter found (backends tried: {backends}){found}\n\
         hint: for a software adapter install Mesa's lavapipe, e.g. \
         `apt-get install libvulkan1 mesa-vulkan-drivers`, or choose another backend with \
         --backend / NETLENS_BACKEND (vulkan, metal, dx12, gl)"
    )]
    NoAdapter {
        /// The backends that were searched.
        backends: String,
        /// What was found instead, already formatted (empty when nothing was found).
        found: String,
    },
    /// The adapter could not create a device with the limits the networks need.
    #[error("the adapter `{adapter}` could not open a device: {reason}")]
    Device {
        /// Adapter name.
        adapter: String,
        /// Why the request failed.
        reason: String,
    },
    /// The adapter lacks a limit the engine needs.
    #[error("the adapter `{adapter}` offers {limit} = {offered}, netlens needs at least {needed}")]
    AdapterLimit {
        /// Adapter name.
        adapter: String,
        /// The name of the wgpu limit.
        limit: &'static str,
        /// The adapter's value.
        offered: u64,
        /// The value netlens needs.
        needed: u64,
    },
    /// A buffer would be larger than the device allows.
    #[error(
        "{what} needs {bytes} bytes, over the device's {limit} of {max} bytes; \
         use a smaller batch or input size"
    )]
    BufferTooLarge {
        /// What the buffer holds.
        what: String,
        /// Bytes it would need.
        bytes: u64,
        /// The name of the wgpu limit.
        limit: &'static str,
        /// The limit's value.
        max: u64,
    },
    /// The GPU reported an error (validation, out of memory) or the device was lost.
    #[error("GPU error: {0}")]
    Gpu(String),
    /// A weights file could not be read or parsed.
    #[error("weights file {path}: {reason}")]
    WeightsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A tensor the network needs is absent.
    #[error("weights: tensor `{name}` is missing (expected shape {expected:?})")]
    MissingTensor {
        /// State-dict key.
        name: String,
        /// The shape the network needs.
        expected: Vec<usize>,
    },
    /// A tensor has the wrong shape.
    #[error("weights: tensor `{name}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// State-dict key.
        name: String,
        /// The shape the network needs.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor is stored in a type the loader does not convert.
    #[error("weights: tensor `{name}` has dtype {dtype}; supported: F32, F16, BF16, F64")]
    UnsupportedDtype {
        /// State-dict key.
        name: String,
        /// The dtype in the file.
        dtype: String,
    },
    /// A tensor holds NaN or infinity.
    #[error("weights: tensor `{name}` holds a non-finite value ({value}) at element {index}")]
    NonFiniteWeight {
        /// State-dict key.
        name: String,
        /// Flat index of the first bad element.
        index: usize,
        /// The value.
        value: f32,
    },
    /// An image could not be read or decoded.
    #[error("image {path}: {reason}")]
    Image {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A class given by index or name does not exist.
    #[error("{0}")]
    UnknownClass(String),
    /// Inputs given to a call do not fit together (lengths, shapes, sizes).
    #[error("{0}")]
    InvalidInput(String),
    /// An iterative loop produced NaN or infinity.
    #[error("{what} became non-finite at step {step}: {why}")]
    Diverged {
        /// The loop.
        what: String,
        /// The step at which it was noticed.
        step: usize,
        /// The likely reason.
        why: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
