//! Where the shared data lives: weights, photos, class names and reference tensors.

use std::path::PathBuf;

/// The data folder: `$NETLENS_DATA`, else `../shared` (beside the checkout, as in development and
/// CI) when it exists, else `shared` in the current directory.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("NETLENS_DATA").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let beside_crate = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    [
        PathBuf::from("../shared"),
        beside_crate,
        PathBuf::from("shared"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
    .unwrap_or_else(|| PathBuf::from("../shared"))
}

/// The default SqueezeNet weights: `$NETLENS_WEIGHTS`, else `<data>/weights/squeezenet1_1.safetensors`.
pub fn default_weights() -> PathBuf {
    std::env::var_os("NETLENS_WEIGHTS")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| data_dir().join("weights/squeezenet1_1.safetensors"))
}

/// The bundled gallery of 25 photos.
pub fn gallery_dir() -> PathBuf {
    data_dir().join("data/gallery")
}
