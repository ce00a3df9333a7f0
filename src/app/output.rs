//! Writing result files safely: every output of a run planned and checked before the run
//! starts ([`OutputPlan`]), written whole or not at all, and never over an input.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Distinguishes temporary files written by the same process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What a temporary file's name holds between `.NAME` and the counter.
const TEMP_MARK: &str = ".tmp-";

/// The folder a path's file goes in (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Writes `bytes` into a new temporary file beside `path` (creating the folder if missing),
/// synced to disk, and returns the temporary file's path: `.NAME.tmp-PID-N`. On failure nothing
/// is left behind.
fn write_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        Error::InvalidInput(format!("cannot write {}: not a file name", path.display()))
    })?;
    let dir = folder_of(path);
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let temp = dir.join(format!(
        ".{}{TEMP_MARK}{}-{}",
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
        });
    match written {
        Ok(()) => Ok(temp),
        Err(source) => {
            // The write already failed; a temporary file that cannot be removed changes nothing.
            let _ = std::fs::remove_file(&temp);
            Err(Error::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    }
}

/// Renames the temporary file `temp` over `path`; removes it if that fails.
fn rename_into_place(temp: &Path, path: &Path) -> Result<()> {
    std::fs::rename(temp, path).map_err(|source| {
        // The rename already failed; a temporary file that cannot be removed changes nothing.
        let _ = std::fs::remove_file(temp);
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Writes `bytes` to `path` atomically: into a temporary file beside it (created with its parent
/// directory if missing), synced to disk, then renamed over `path`. On failure the temporary file
/// is removed and `path` is left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = write_temp(path, bytes)?;
    rename_into_place(&temp, path)
}

/// The encoding of an output file, which fixes its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A PNG image (figures and images).
    Png,
    /// JSON (manifests, tables, records).
    Json,
    /// A NumPy array.
    Npy,
    /// Comma-separated values.
    Csv,
}

impl Format {
    /// The format's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Png => "PNG",
            Format::Json => "JSON",
            Format::Npy => "NumPy (.npy)",
            Format::Csv => "CSV",
        }
    }

    /// The extension a file of this format must have.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Json => "json",
            Format::Npy => "npy",
            Format::Csv => "csv",
        }
    }
}

/// One planned output.
#[derive(Debug)]
struct Planned {
    /// What it is, for messages: "the figure (--out)".
    what: String,
    path: PathBuf,
    /// Its written, not yet renamed, temporary file.
    temp: Option<PathBuf>,
}

/// Every file a run writes, planned before any work and written whole or not at all.
///
/// A command adds each output ([`OutputPlan::add`]) at its start, before loading weights or
/// touching the GPU; each is checked at once: the extension its format needs, not an input (by
/// path, symbolic link or hard link), not another output of the run, not a folder, and its folder
/// writable (probed by creating and removing a file). Stale temporary files of killed runs
/// beside it are removed. The writes then go into temporary files
/// ([`OutputPlan::write`]); [`OutputPlan::commit`] renames them all into place, the one added
/// with [`OutputPlan::add_last`] (the manifest) last. A plan dropped without committing removes
/// its temporary files, so a failed run leaves no output.
#[derive(Debug)]
pub struct OutputPlan {
    inputs: Vec<PathBuf>,
    files: Vec<Planned>,
    /// The index of the file renamed last.
    last: Option<usize>,
    /// Folders already probed.
    probed: HashSet<PathBuf>,
}

impl OutputPlan {
    /// An empty plan for a run that reads `inputs`.
    pub fn new(inputs: &[PathBuf]) -> Self {
        Self {
            inputs: inputs.to_vec(),
            files: Vec::new(),
            last: None,
            probed: HashSet::new(),
        }
    }

    /// Plans the output `path` of `format`, described as `what` in messages ("the figure
    /// (--out)"), and checks it; returns the path.
    pub fn add(&mut self, what: &str, path: impl Into<PathBuf>, format: Format) -> Result<PathBuf> {
        let path = path.into();
        let refuse = |why: String| {
            Error::InvalidInput(format!("cannot write {what} {}: {why}", path.display()))
        };
        if let Some(input) = self.inputs.iter().find(|i| same_file(i, &path)) {
            return Err(refuse(format!(
                "it is one of the inputs ({}); refusing to write over it",
                input.display()
            )));
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !ext.eq_ignore_ascii_case(format.extension()) {
            return Err(refuse(format!(
                "it is written as {}, so its name must end in .{}",
                format.name(),
                format.extension()
            )));
        }
        if let Some(other) = self.files.iter().find(|f| same_file(&f.path, &path)) {
            return Err(refuse(format!(
                "{} is written there too; give them different names",
                other.what
            )));
        }
        if let Ok(meta) = std::fs::symlink_metadata(&path) {
            if meta.is_dir() {
                return Err(refuse("it is a folder".into()));
            }
            if meta.is_symlink()
                && let Err(e) = std::fs::metadata(&path)
            {
                return Err(refuse(format!(
                    "it is a symbolic link that leads nowhere (dangling, or a loop: {e})"
                )));
            }
        }
        let folder = existing_folder(folder_of(&path)).map_err(refuse)?;
        if self.probed.insert(folder.clone()) {
            probe_writable(&folder).map_err(refuse)?;
        }
        remove_stale_temps(&path);
        self.files.push(Planned {
            what: what.to_string(),
            path: path.clone(),
            temp: None,
        });
        Ok(path)
    }

    /// Like [`OutputPlan::add`], for the file renamed into place after all the others: the
    /// manifest, whose presence says that the run's other outputs are whole.
    pub fn add_last(
        &mut self,
        what: &str,
        path: impl Into<PathBuf>,
        format: Format,
    ) -> Result<PathBuf> {
        let path = self.add(what, path, format)?;
        self.last = Some(self.files.len() - 1);
        Ok(path)
    }

    /// The planned paths, in the order they were added.
    pub fn paths(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.files.iter().map(|f| f.path.clone())
    }

    /// The planned file at `path`.
    fn planned(&mut self, path: &Path) -> Result<&mut Planned> {
        self.files
            .iter_mut()
            .find(|f| f.path == path)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{} is not among the run's planned outputs",
                    path.display()
                ))
            })
    }

    /// Writes `bytes` for the planned output `path` into a temporary file, which
    /// [`OutputPlan::commit`] renames into place; returns the temporary file's path (to read the
    /// result back before the run ends).
    pub fn write(&mut self, path: &Path, bytes: &[u8]) -> Result<PathBuf> {
        let file = self.planned(path)?;
        let temp = write_temp(path, bytes)?;
        if let Some(old) = file.temp.replace(temp.clone()) {
            // Replaced by the new temporary file; a leftover would be removed by the next run.
            let _ = std::fs::remove_file(old);
        }
        Ok(temp)
    }

    /// Encodes `img` as PNG for the planned output `path`, as [`OutputPlan::write`].
    pub fn save_png(&mut self, path: &Path, img: &image::RgbImage) -> Result<PathBuf> {
        self.write(path, &png_bytes(img, path)?)
    }

    /// Encodes an f32 array of `shape` (C order) as `.npy` for the planned output `path`, as
    /// [`OutputPlan::write`].
    pub fn save_npy(&mut self, path: &Path, data: &[f32], shape: &[usize]) -> Result<PathBuf> {
        self.write(path, &npy_bytes(data, shape, path)?)
    }

    /// Encodes `value` as pretty-printed JSON for the planned output `path`, as
    /// [`OutputPlan::write`].
    pub fn save_json<T: serde::Serialize>(&mut self, path: &Path, value: &T) -> Result<PathBuf> {
        self.write(path, &json_bytes(value, path)?)
    }

    /// Renames every written file into place, the last-added one last; returns their paths in
    /// that order. Fails, leaving the run's files as they were, when a planned file was not
    /// written.
    pub fn commit(mut self) -> Result<Vec<PathBuf>> {
        if let Some(missing) = self.files.iter().find(|f| f.temp.is_none()) {
            return Err(Error::InvalidInput(format!(
                "{} {} was planned but not written",
                missing.what,
                missing.path.display()
            )));
        }
        let mut order: Vec<usize> = (0..self.files.len())
            .filter(|&i| Some(i) != self.last)
            .collect();
        order.extend(self.last);
        let mut done = Vec::new();
        for i in order {
            let file = &mut self.files[i];
            if let Some(temp) = file.temp.take() {
                rename_into_place(&temp, &file.path)?;
                done.push(file.path.clone());
            }
        }
        Ok(done)
    }
}

impl Drop for OutputPlan {
    /// Removes the temporary files of a run that did not commit.
    fn drop(&mut self) {
        for temp in self.files.iter_mut().filter_map(|f| f.temp.take()) {
            // Nothing more can be done here; the next run writing there removes it.
            let _ = std::fs::remove_file(temp);
        }
    }
}

/// `paths` with every repeat of an earlier one numbered before its extension: `a_x.png`,
/// `a_x-2.png`, `a_x-3.png`, … (for names made from inputs, which may share a stem).
pub fn unique_names(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut seen: HashSet<PathBuf> = HashSet::new();
    paths
        .into_iter()
        .map(|path| {
            let mut name = path.clone();
            let mut n = 1;
            while !seen.insert(name.clone()) {
                n += 1;
                let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                name = match path.extension() {
                    Some(ext) => {
                        path.with_file_name(format!("{stem}-{n}.{}", ext.to_string_lossy()))
                    }
                    None => path.with_file_name(format!("{stem}-{n}")),
                };
            }
            name
        })
        .collect()
}

/// Whether `a` and `b` name the same file: the same place after resolving links, `.` and `..`,
/// or (both existing) the same device and inode, as hard links do.
fn same_file(a: &Path, b: &Path) -> bool {
    if resolve(a) == resolve(b) {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return (a.dev(), a.ino()) == (b.dev(), b.ino());
        }
    }
    false
}

/// The nearest existing folder at or above `dir` (where the missing ones will be created), or
/// why there is none.
fn existing_folder(dir: &Path) -> std::result::Result<PathBuf, String> {
    let mut at = dir.to_path_buf();
    loop {
        match std::fs::metadata(&at) {
            Ok(meta) if meta.is_dir() => return Ok(at),
            Ok(_) => return Err(format!("{} is not a folder", at.display())),
            Err(e) if std::fs::symlink_metadata(&at).is_ok() => {
                return Err(format!(
                    "{} is a symbolic link that leads nowhere (dangling, or a loop: {e})",
                    at.display()
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match at.parent() {
                Some(up) if !up.as_os_str().is_empty() => at = up.to_path_buf(),
                _ => return Ok(PathBuf::from(".")),
            },
            Err(e) => return Err(format!("cannot reach {}: {e}", at.display())),
        }
    }
}

/// Checks that files can be created in `folder` by creating and removing one.
fn probe_writable(folder: &Path) -> std::result::Result<(), String> {
    let probe = folder.join(format!(
        ".netlens-probe{TEMP_MARK}{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| format!("cannot create files in {}: {e}", folder.display()))?;
    // The probe was created, so it can be removed; if not, the next run's clean-up takes it.
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Removes the temporary files that runs killed while writing `path` left beside it:
/// `.NAME.tmp-PID-N` of processes that no longer run. (Where processes cannot be looked up,
/// they stay; being hidden, they are not taken for results.)
fn remove_stale_temps(path: &Path) {
    let (Some(name), Ok(entries)) = (path.file_name(), std::fs::read_dir(folder_of(path))) else {
        return;
    };
    let prefix = format!(".{}{TEMP_MARK}", name.to_string_lossy());
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, n)| n.parse::<u64>().ok().and(pid.parse::<u32>().ok()))
        else {
            continue;
        };
        if !process_runs(pid) {
            // Best effort: a temporary file that cannot be removed harms no result.
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether the process `pid` runs (always true where that cannot be told).
fn process_runs(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// `img` encoded as PNG (`path` names it in errors).
fn png_bytes(img: &image::RgbImage, path: &Path) -> Result<Vec<u8>> {
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| Error::Image {
            path: path.to_path_buf(),
            reason: format!("cannot encode PNG: {e}"),
        })?;
    Ok(png.into_inner())
}

/// Encodes `img` as PNG and writes it with [`write_atomic`].
pub fn save_png(img: &image::RgbImage, path: &Path) -> Result<()> {
    write_atomic(path, &png_bytes(img, path)?)
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

/// An f32 array of `shape` (C order) encoded as a NumPy `.npy` file (`path` names it in errors).
fn npy_bytes(data: &[f32], shape: &[usize], path: &Path) -> Result<Vec<u8>> {
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
    Ok(bytes)
}

/// `value` as pretty-printed JSON (`path` names it in errors).
fn json_bytes<T: serde::Serialize>(value: &T, path: &Path) -> Result<Vec<u8>> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::InvalidInput(format!("cannot encode {}: {e}", path.display())))?;
    Ok(format!("{text}\n").into_bytes())
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

    /// The message of a refused output.
    fn refusal(plan: &mut OutputPlan, path: &Path, format: Format) -> String {
        let err = plan.add("the figure", path, format).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
        err.to_string()
    }

    #[test]
    fn refuses_to_overwrite_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("photo.png");
        std::fs::write(&input, b"x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let mut plan = OutputPlan::new(&[dir.path().join("other.png"), input.clone()]);

        let same = [
            input.clone(),
            dir.path().join("sub/../photo.png"),
            dir.path().join("./photo.png"),
            // Inputs that do not exist (yet) are compared lexically.
            dir.path().join("sub/../other.png"),
        ];
        for output in same {
            let m = refusal(&mut plan, &output, Format::Png);
            assert!(
                m.starts_with("cannot write the figure") && m.contains("one of the inputs"),
                "{m}"
            );
        }
        #[cfg(unix)]
        {
            let link = dir.path().join("link.png");
            std::os::unix::fs::symlink(&input, &link).unwrap();
            assert!(refusal(&mut plan, &link, Format::Png).contains("one of the inputs"));
            let hard = dir.path().join("hard.png");
            std::fs::hard_link(&input, &hard).unwrap();
            let m = refusal(&mut plan, &hard, Format::Png);
            assert!(m.contains(&format!("({})", input.display())), "{m}");
        }
        assert_eq!(std::fs::read(&input).unwrap(), b"x");

        assert!(
            plan.add("a", dir.path().join("photo.json"), Format::Json)
                .is_ok()
        );
        assert!(
            plan.add("b", dir.path().join("sub/photo.png"), Format::Png)
                .is_ok()
        );
        assert!(OutputPlan::new(&[]).add("c", &input, Format::Png).is_ok());
    }

    #[test]
    fn refuses_wrong_extensions_collisions_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let mut plan = OutputPlan::new(&[]);
        for (name, format) in [
            ("d.npy", Format::Png),
            ("d", Format::Png),
            ("d.png", Format::Csv),
        ] {
            let m = refusal(&mut plan, &dir.path().join(name), format);
            assert!(
                m.contains(&format!("its name must end in .{}", format.extension())),
                "{m}"
            );
        }
        plan.add("the figure", dir.path().join("d.png"), Format::Png)
            .unwrap();
        assert!(plan.add("X", dir.path().join("e.PNG"), Format::Png).is_ok());
        let err = plan
            .add("the image", dir.path().join("./d.png"), Format::Png)
            .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("the figure is written there too; give them different names"),
            "{err}"
        );
        std::fs::create_dir(dir.path().join("taken.png")).unwrap();
        let m = refusal(&mut plan, &dir.path().join("taken.png"), Format::Png);
        assert!(m.ends_with("it is a folder"), "{m}");
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let m = refusal(&mut plan, &file.join("x.png"), Format::Png);
        assert!(
            m.ends_with(&format!("{} is not a folder", file.display())),
            "{m}"
        );
        #[cfg(unix)]
        {
            let looped = dir.path().join("loop");
            std::os::unix::fs::symlink(&looped, &looped).unwrap();
            let m = refusal(&mut plan, &looped.join("x.png"), Format::Png);
            assert!(m.contains("symbolic link that leads nowhere"), "{m}");
            let out = dir.path().join("loop.png");
            std::os::unix::fs::symlink(&out, &out).unwrap();
            let m = refusal(&mut plan, &out, Format::Png);
            assert!(m.contains("symbolic link that leads nowhere"), "{m}");
        }
        // Nothing was written by planning.
        let mut names = listing(dir.path());
        names.retain(|n| !n.starts_with("loop"));
        assert_eq!(names, ["file", "taken.png"]);
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_folder_it_cannot_write() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
        if std::fs::write(locked.join("probe"), b"").is_ok() {
            // Permissions do not bind this user (root): nothing to test.
            return;
        }
        let m = refusal(
            &mut OutputPlan::new(&[]),
            &locked.join("new/fig.png"),
            Format::Png,
        );
        assert!(m.contains("cannot create files in"), "{m}");
        assert!(m.contains(&locked.display().to_string()), "{m}");
        assert!(listing(&locked).is_empty());
    }

    #[test]
    fn commits_whole_manifest_last_or_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let figure = dir.path().join("out/fig.png");
        let manifest = dir.path().join("out/fig.json");
        let npy = dir.path().join("out/fig.npy");
        let mut plan = OutputPlan::new(&[]);
        plan.add_last("the manifest", &manifest, Format::Json)
            .unwrap();
        plan.add("the figure", &figure, Format::Png).unwrap();
        plan.add("the maps", &npy, Format::Npy).unwrap();
        let img = image::RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8 * 40, y as u8, 7]));
        let temp = plan.save_png(&figure, &img).unwrap();
        let staged = image::load_from_memory(&std::fs::read(&temp).unwrap()).unwrap();
        assert_eq!(staged.into_rgb8(), img);
        let data = [1.0f32, -2.5, 3.25, 0.0, 5.0, 6.0];
        plan.save_npy(&npy, &data, &[2, 3]).unwrap();
        assert!(plan.save_npy(&npy, &data, &[4]).is_err());
        plan.save_json(&manifest, &["fig.png"]).unwrap();
        let unplanned = plan
            .write(&dir.path().join("out/other.csv"), b"x")
            .unwrap_err();
        assert!(
            unplanned
                .to_string()
                .contains("not among the run's planned outputs")
        );
        // Before the commit only hidden temporary files exist.
        assert!(
            listing(&figure.with_file_name(""))
                .iter()
                .all(|n| n.starts_with('.'))
        );
        let done = plan.commit().unwrap();
        assert_eq!(done, [figure.clone(), npy.clone(), manifest.clone()]);
        assert_eq!(
            listing(&dir.path().join("out")),
            ["fig.json", "fig.npy", "fig.png"]
        );
        assert_eq!(image::open(&figure).unwrap().into_rgb8(), img);
        let npy_bytes = std::fs::read(&npy).unwrap();
        let npy = npyz::NpyFile::new(&npy_bytes[..]).unwrap();
        assert_eq!(npy.shape(), &[2, 3]);
        assert_eq!(npy.into_vec::<f32>().unwrap(), data);
        assert_eq!(
            std::fs::read_to_string(&manifest).unwrap(),
            "[\n  \"fig.png\"\n]\n"
        );

        // A run that fails before committing leaves the old results and no temporary file.
        let mut plan = OutputPlan::new(&[]);
        plan.add("the figure", &figure, Format::Png).unwrap();
        plan.add_last("the manifest", &manifest, Format::Json)
            .unwrap();
        plan.write(&figure, b"new").unwrap();
        assert!(
            plan.commit()
                .unwrap_err()
                .to_string()
                .contains("planned but not written")
        );
        assert_eq!(
            listing(&dir.path().join("out")),
            ["fig.json", "fig.npy", "fig.png"]
        );
        assert_eq!(image::open(&figure).unwrap().into_rgb8(), img);
    }

    #[test]
    fn repeated_names_are_numbered() {
        let p = |s: &str| PathBuf::from(s);
        let named = unique_names(vec![
            p("d/s_a.png"),
            p("d/s_b.png"),
            p("d/s_a.png"),
            p("d/s_a.png"),
        ]);
        assert_eq!(
            named,
            [
                p("d/s_a.png"),
                p("d/s_b.png"),
                p("d/s_a-2.png"),
                p("d/s_a-3.png")
            ]
        );
    }

    #[test]
    fn removes_temporary_files_of_dead_runs() {
        let dir = tempfile::tempdir().unwrap();
        let live = format!(".fig.png.tmp-{}-0", std::process::id());
        let mut names = vec![
            live.clone(),
            ".other.png.tmp-1-0".into(),
            "fig.png.tmp-1-0".into(),
        ];
        if Path::new("/proc/self").exists() {
            // No process has this id (above Linux's largest).
            std::fs::write(dir.path().join(".fig.png.tmp-4294967295-3"), b"x").unwrap();
        }
        for n in &names {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        OutputPlan::new(&[])
            .add("the figure", dir.path().join("fig.png"), Format::Png)
            .unwrap();
        names.sort();
        assert_eq!(listing(dir.path()), names);
    }
}
