//! Where the shared data lives: weights, photos, class names and reference tensors.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

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

/// Fails, naming the variable, when `$NETLENS_DATA` is set but names no folder (every file
/// looked up in it would then be "not found" without saying why).
pub fn check_data_env() -> Result<()> {
    let Some(dir) = std::env::var_os("NETLENS_DATA").filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    check_data_folder(&PathBuf::from(dir))
}

/// Fails unless `dir`, the value of `$NETLENS_DATA`, is a folder.
fn check_data_folder(dir: &Path) -> Result<()> {
    let why = match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => "it is a file, not a folder".to_string(),
        Err(e) => e.to_string(),
    };
    Err(Error::InvalidInput(format!(
        "NETLENS_DATA is {}: {why}; set it to the data folder (the one holding weights/ and \
         data/) or unset it",
        dir.display()
    )))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_variable_that_names_no_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let check = |value: &Path| check_data_folder(value).map_err(|e| e.to_string());
        assert!(check(dir.path()).is_ok());
        let err = check(&file).unwrap_err();
        assert!(err.starts_with(&format!("NETLENS_DATA is {}: it is a file", file.display())));
        let err = check(&dir.path().join("nowhere")).unwrap_err();
        assert!(err.contains("nowhere: No such file or directory"), "{err}");
    }
}
