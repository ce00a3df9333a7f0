//! Input files that are not plain files are refused promptly, naming what they are: a FIFO (which
//! would block a reader forever), `/dev/zero` (which would be read until memory runs out), a
//! directory, a symlink loop, a missing file, a file over its size limit; as images, weights and
//! `--init` images, and inside a folder given to `netlens classify`.

// Most cases need unix (FIFOs, /dev/zero, symlinks); elsewhere their helpers go unused.
#![cfg_attr(not(unix), allow(dead_code, unused_imports))]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use netlens::model::{ModelKind, Weights};
use netlens::preprocess::load_rgb;

/// How long a refusal may take before the test calls it a hang.
const PROMPT: Duration = Duration::from_secs(20);
/// How long a `netlens` run may take (classify opens the GPU and uploads SqueezeNet first).
const RUN_LIMIT: Duration = Duration::from_secs(240);

/// `f()`'s error message, failing the test if `f` succeeds or takes longer than [`PROMPT`].
fn prompt_error<T, E: std::fmt::Display>(
    what: &str,
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> String {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f().err().map(|e| e.to_string()));
    });
    match rx.recv_timeout(PROMPT) {
        Ok(Some(message)) => message,
        Ok(None) => panic!("{what}: read without an error"),
        Err(_) => panic!("{what}: no answer within {PROMPT:?} (blocked?)"),
    }
}

/// Runs `netlens` with `args`, killing it and failing the test after [`RUN_LIMIT`].
fn netlens(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netlens"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netlens runs");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > RUN_LIMIT {
            child.kill().unwrap();
            panic!("netlens {args:?} still running after {RUN_LIMIT:?} (blocked?)");
        }
        thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that `message` names `path` and says `cause`, each exactly once.
fn assert_names(message: &str, path: &Path, cause: &str) {
    for part in [&path.display().to_string(), cause] {
        assert_eq!(
            message.matches(part).count(),
            1,
            "`{part}` should appear once in: {message}"
        );
    }
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
}

#[test]
fn missing_files_and_directories_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.jpg");
    let message = load_rgb(&missing).unwrap_err().to_string();
    assert_names(&message, &missing, "cannot read the file: not found");
    assert!(!message.contains("os error"), "{message}");

    let message = load_rgb(dir.path()).unwrap_err().to_string();
    assert_names(&message, dir.path(), "is a directory");
    let message = Weights::load(dir.path()).unwrap_err().to_string();
    assert_names(&message, dir.path(), "is a directory");
}

#[test]
fn files_over_their_limit_are_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // Sparse files: their length is over the limit, their blocks are not written.
    let sparse = |name: &str, len: u64| {
        let path = dir.path().join(name);
        std::fs::File::create(&path).unwrap().set_len(len).unwrap();
        path
    };
    let image = sparse("huge.png", (512 << 20) + 1);
    let message = load_rgb(&image).unwrap_err().to_string();
    assert_names(
        &message,
        &image,
        "too large: the file has 536870913 bytes, more than 512 MiB, the limit for image files",
    );
    let weights = sparse("huge.safetensors", (1536 << 20) + 1);
    let message = Weights::load(&weights).unwrap_err().to_string();
    assert_names(
        &message,
        &weights,
        "more than 1536 MiB, the limit for weights files (VGG16 stored as F64 takes 1056 MiB)",
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_promptly_as_image_and_weights() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.jpg");
    mkfifo(&fifo);
    let path = fifo.clone();
    let message = prompt_error("image FIFO", move || load_rgb(&path));
    assert_names(
        &message,
        &fifo,
        "is a FIFO (named pipe), not a regular file",
    );
    let path = fifo.clone();
    let message = prompt_error("weights FIFO", move || Weights::load(&path));
    assert_names(
        &message,
        &fifo,
        "is a FIFO (named pipe), not a regular file",
    );
}

#[cfg(target_os = "linux")]
#[test]
fn dev_zero_is_refused_however_small_its_size_looks() {
    let zero = PathBuf::from("/dev/zero");
    let message = prompt_error("/dev/zero image", || load_rgb(Path::new("/dev/zero")));
    assert_names(&message, &zero, "is a character device, not a regular file");
    let message = prompt_error("/dev/zero weights", || {
        Weights::load(Path::new("/dev/zero"))
    });
    assert_names(&message, &zero, "is a character device, not a regular file");
}

#[cfg(unix)]
#[test]
fn a_symlink_loop_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.jpg"), dir.path().join("b.jpg"));
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let message = load_rgb(&a).unwrap_err().to_string();
    assert_names(&message, &a, "symlink loop");
    assert!(!message.contains("not found"), "{message}");
    // Not "not found, export the weights" either.
    let message = ModelKind::SqueezeNet
        .load_weights(Some(&a))
        .unwrap_err()
        .to_string();
    assert_names(&message, &a, "too many levels of symbolic links");
    assert!(!message.contains("not found"), "{message}");
}

#[cfg(unix)]
#[test]
fn classify_reports_a_fifo_in_a_folder_and_classifies_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let photo = "n01443537_goldfish.jpg";
    std::fs::copy(
        netlens::app::data::gallery_dir().join(photo),
        dir.path().join(photo),
    )
    .unwrap();
    let fifo = dir.path().join("pipe.jpg");
    mkfifo(&fifo);
    let out = netlens(&[
        "--quiet",
        "classify",
        "--json",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 2);
    let by_name = |name: &str| {
        results
            .iter()
            .find(|r| r["file"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} missing from {results:?}"))
    };
    assert_eq!(by_name(photo)["top5"][0]["index"], 1, "{results:?}");
    let error = by_name("pipe.jpg")["error"].as_str().unwrap();
    assert_names(error, &fifo, "is a FIFO (named pipe), not a regular file");
}

#[cfg(unix)]
#[test]
fn dream_refuses_a_fifo_as_init_image() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("start.png");
    mkfifo(&fifo);
    let out_png = dir.path().join("dream.png");
    let out = netlens(&[
        "--quiet",
        "dream",
        "--class",
        "daisy",
        "--init",
        fifo.to_str().unwrap(),
        "--out",
        out_png.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert_names(
        &text(&out.stderr),
        &fifo,
        "is a FIFO (named pipe), not a regular file",
    );
    assert!(!out_png.exists());
}

#[cfg(unix)]
#[test]
fn classify_refuses_a_fifo_as_weights() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("weights.safetensors");
    mkfifo(&fifo);
    let photo = netlens::app::data::gallery_dir().join("n01443537_goldfish.jpg");
    let out = netlens(&[
        "--quiet",
        "classify",
        "--weights",
        fifo.to_str().unwrap(),
        photo.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert_names(
        &text(&out.stderr),
        &fifo,
        "is a FIFO (named pipe), not a regular file",
    );
}
