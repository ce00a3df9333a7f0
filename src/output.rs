//! Writing result files safely: atomically (never a half-written file), and never over an input.

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Distinguishes temporary files written by the same process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: into a temporary file beside it (created with its parent
/// directory if missing), synced to disk, then renamed over `path`. On failure the temporary file
/// is removed and `path` is left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let name = path.file_name().ok_or_else(|| {
        Error::InvalidInput(format!("cannot write {}: not a file name", path.display()))
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let temp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        // The write already failed; a temporary file that cannot be removed changes nothing.
        let _ = std::fs::remove_file(&temp);
    }
    written.map_err(io_err(path))
}

/// Encodes `img` as PNG and writes it with [`write_atomic`].
pub fn save_png(img: &image::RgbImage, path: &Path) -> Result<()> {
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| Error::Image {
            path: path.to_path_buf(),
            reason: format!("cannot encode PNG: {e}"),
        })?;
    write_atomic(path, png.get_ref())
}

/// `path` made absolute with `.` and `..` removed, without touching the file system.
fn lexical_absolute(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Where `path` points: canonical if it exists; else its canonical parent joined with its file
/// name; else its lexical absolute form.
fn resolve(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let lexical = lexical_absolute(path);
    match (lexical.parent(), lexical.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize()
            .map(|dir| dir.join(name))
            .unwrap_or(lexical),
        _ => lexical,
    }
}

/// Writes an f32 array of `shape` (C order) as a NumPy `.npy` file, atomically.
pub fn save_npy(data: &[f32], shape: &[usize], path: &Path) -> Result<()> {
    use npyz::WriterBuilder;
    if shape.iter().product::<usize>() != data.len() {
        return Err(Error::InvalidInput(format!(
            "cannot write {}: {} values do not fill shape {shape:?}",
            path.display(),
            data.len()
        )));
    }
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut bytes = Vec::new();
    let mut encode = || -> std::io::Result<()> {
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut bytes)
            .begin_nd()?;
        writer.extend(data.iter().copied())?;
        writer.finish()
    };
    encode().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(path, &bytes)
}

/// Writes a value as pretty-printed JSON, atomically.
pub fn save_json<T: serde::Serialize>(value: &T, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::InvalidInput(format!("cannot encode {}: {e}", path.display())))?;
    write_atomic(path, format!("{text}\n").as_bytes())
}

/// Refuses an output path that names one of the inputs (after resolving links, `.` and `..`).
pub fn check_not_input(output: &Path, inputs: &[PathBuf]) -> Result<()> {
    let target = resolve(output);
    match inputs.iter().find(|input| resolve(input) == target) {
        Some(input) => Err(Error::InvalidInput(format!(
            "refusing to write {}: it is one of the inputs ({})",
            output.display(),
            input.display()
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names in `dir`, sorted.
    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/deeper/out.bin");
        write_atomic(&path, b"first").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        write_atomic(&path, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
        assert_eq!(listing(path.parent().unwrap()), ["out.bin"]);
    }

    #[test]
    fn failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory cannot be replaced by a file.
        let path = dir.path().join("taken");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"x").unwrap();
        let err = write_atomic(&path, b"data").unwrap_err();
        assert!(
            matches!(&err, Error::Io { path: p, .. } if p == &path),
            "{err:?}"
        );
        assert_eq!(listing(dir.path()), ["taken"]);
        assert_eq!(listing(&path), ["inside"]);
    }

    #[test]
    fn parent_that_is_a_file_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let err = write_atomic(&file.join("out.png"), b"data").unwrap_err();
        assert!(
            matches!(&err, Error::Io { path, .. } if path == &file),
            "{err:?}"
        );
        assert!(write_atomic(Path::new("/"), b"data").is_err());
    }

    #[test]
    fn saves_png_that_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img.png");
        let img = image::RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8 * 40, y as u8, 7]));
        save_png(&img, &path).unwrap();
        assert_eq!(image::open(&path).unwrap().into_rgb8(), img);
    }

    #[test]
    fn refuses_to_overwrite_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("photo.jpg");
        std::fs::write(&input, b"x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let inputs = [dir.path().join("other.jpg"), input.clone()];

        let same = [
            input.clone(),
            dir.path().join("sub/../photo.jpg"),
            dir.path().join("./photo.jpg"),
        ];
        for output in same {
            let err = check_not_input(&output, &inputs).unwrap_err();
            let m = err.to_string();
            assert!(
                m.starts_with("refusing to write") && m.contains("one of the inputs"),
                "{m}"
            );
        }
        #[cfg(unix)]
        {
            let link = dir.path().join("link.jpg");
            std::os::unix::fs::symlink(&input, &link).unwrap();
            assert!(check_not_input(&link, &inputs).is_err());
        }
        // Inputs that do not exist (yet) are compared lexically.
        assert!(check_not_input(&dir.path().join("sub/../other.jpg"), &inputs).is_err());

        assert!(check_not_input(&dir.path().join("photo.png"), &inputs).is_ok());
        assert!(check_not_input(&dir.path().join("sub/photo.jpg"), &inputs).is_ok());
        assert!(check_not_input(&input, &[]).is_ok());
    }

    #[test]
    fn npy_files_carry_shape_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.npy");
        let data = [1.0f32, -2.5, 3.25, 0.0, 5.0, 6.0];
        save_npy(&data, &[2, 3], &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(npy.shape(), &[2, 3]);
        assert_eq!(npy.into_vec::<f32>().unwrap(), data);
        assert!(save_npy(&data, &[4], &path).is_err());
    }
}
