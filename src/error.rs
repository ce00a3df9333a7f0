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
    #[error("{weights}: tensor `{name}` is missing (expected shape {expected:?}){hint}")]
    MissingTensor {
        /// The weights, e.g. "weights file path/x.safetensors" or "formula weights".
        weights: String,
        /// State-dict key.
        name: String,
        /// The shape the network needs.
        expected: Vec<usize>,
        /// A suggestion, starting with "; " (a close name in the file), or empty.
        hint: String,
    },
    /// A tensor has the wrong shape.
    #[error(
        "{weights}: tensor `{name}` has shape {found:?}, expected {expected:?} \
         (weights of another model or another number of classes?)"
    )]
    ShapeMismatch {
        /// The weights, e.g. "weights file path/x.safetensors" or "formula weights".
        weights: String,
        /// State-dict key.
        name: String,
        /// The shape the network needs.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor is stored in a type the loader does not convert.
    #[error(
        "{weights}: tensor `{name}` has dtype {dtype}; supported: F32, F16, BF16, F64 \
         (convert the file, e.g. with `tensor.float()` in PyTorch before saving)"
    )]
    UnsupportedDtype {
        /// The weights, e.g. "weights file path/x.safetensors".
        weights: String,
        /// State-dict key.
        name: String,
        /// The dtype in the file.
        dtype: String,
    },
    /// A tensor holds NaN or infinity.
    #[error("{weights}: tensor `{name}` holds a non-finite value ({value}) at element {index}")]
    NonFiniteWeight {
        /// The weights, e.g. "weights file path/x.safetensors" or "formula weights".
        weights: String,
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

/// Fails with [`Error::Diverged`] when `values` (read back from step `step` of the loop `what`)
/// hold NaN or an infinity; the error names the first bad element, how many are bad, and the
/// likely cause.
///
/// Gradient loops call it on whatever they read back (a snapshot, a periodic loss or norm) so
/// that a run that blows up stops at once, saying where, instead of drawing a black figure.
/// Check the optimized image itself, not only the logits: WGSL's `max` may return the other
/// operand for a NaN, so ReLUs can turn a NaN image into finite logits (lavapipe does).
///
///
/// ```
/// use netlens::error::{Error, check_finite};
///
/// assert!(check_finite("class visualization", 10, &[0.5, -1.0]).is_ok());
/// let err = check_finite("class visualization", 20, &[0.5, f32::NAN]).unwrap_err();
/// assert!(matches!(err, Error::Diverged { step: 20, .. }));
/// assert!(err.to_string().contains("element 1 of 2 is NaN"));
/// ```
pub fn check_finite(what: &str, step: usize, values: &[f32]) -> Result<()> {
    let Some(first) = values.iter().position(|v| !v.is_finite()) else {
        return Ok(());
    };
    let bad = values[first..].iter().filter(|v| !v.is_finite()).count();
    let value = values[first];
    let cause = if value.is_nan() {
        "NaN usually follows an overflow (an infinity minus an infinity, or zero times \
         infinity)"
    } else {
        "an infinity is an overflow of f32"
    };
    Err(Error::Diverged {
        what: what.to_string(),
        step,
        why: format!(
            "element {first} of {} is {value} ({bad} non-finite in all); {cause}: the step \
             size (learning rate) or a regularization weight is probably too large, try one \
             ten times smaller",
            values.len()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_values_pass() {
        assert!(check_finite("loop", 0, &[]).is_ok());
        assert!(check_finite("loop", 3, &[0.0, -1e30, f32::MAX, f32::MIN_POSITIVE]).is_ok());
    }

    #[test]
    fn non_finite_values_name_step_element_and_cause() {
        let mut values = vec![1.0f32; 100];
        values[42] = f32::INFINITY;
        values[57] = f32::NAN;
        values[99] = f32::NEG_INFINITY;
        let err = check_finite("fooling image", 17, &values).unwrap_err();
        let Error::Diverged { what, step, why } = &err else {
            panic!("{err:?}")
        };
        assert_eq!((what.as_str(), *step), ("fooling image", 17));
        assert!(
            why.starts_with("element 42 of 100 is inf (3 non-finite in all)"),
            "{why}"
        );
        assert!(why.contains("learning rate"), "{why}");
        let message = err.to_string();
        assert!(
            message.starts_with("fooling image became non-finite at step 17: element 42"),
            "{message}"
        );

        let err = check_finite("dream", 5, &[f32::NAN])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("element 0 of 1 is NaN (1 non-finite in all)"),
            "{err}"
        );
        assert!(err.contains("overflow"), "{err}");
        let err = check_finite("dream", 5, &[0.0, f32::NEG_INFINITY]).unwrap_err();
        assert!(err.to_string().contains("element 1 of 2 is -inf"), "{err}");
    }
}
