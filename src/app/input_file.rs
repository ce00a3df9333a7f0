//! Reading an input file (an image, a weights file, a class list) whole, with bounds: only a
//! regular file is read (never a FIFO, device, socket or directory, so nothing blocks or streams
//! forever), and at most a named number of bytes whatever the file's metadata says.

use std::fs::{File, FileType, Metadata};
use std::io::{self, ErrorKind, Read};
use std::path::Path;

/// The most bytes [`read_limited`] reads from one kind of file, and the name of that kind for
/// the error that refuses a larger file.
#[derive(Clone, Copy, Debug)]
pub struct SizeLimit {
    /// The largest accepted file, in bytes.
    pub bytes: u64,
    /// What the limit is for, e.g. "image files".
    pub what: &'static str,
}

impl SizeLimit {
    /// The error refusing a file over the limit; `size` is its length when known.
    fn exceeded(&self, size: Option<u64>) -> io::Error {
        let has = size.map_or(String::new(), |s| format!("the file has {s} bytes, "));
        let limit = if self.bytes >= 1 << 20 && self.bytes.is_multiple_of(1 << 20) {
            format!("{} MiB", self.bytes >> 20)
        } else {
            format!("{} bytes", self.bytes)
        };
        io::Error::new(
            ErrorKind::FileTooLarge,
            format!(
                "too large: {has}more than {limit}, the limit for {}",
                self.what
            ),
        )
    }
}

/// Reads the regular file at `path` (symbolic links followed) whole, refusing one over `limit`.
///
/// The error's message is the cause alone, without the path, for the caller to name the file
/// once: "not found", "permission denied", "too many levels of symbolic links (a symlink loop)",
/// "is a directory, not a file", "is a FIFO (named pipe), not a regular file" (likewise for
/// character and block devices and sockets), or "too large: … the limit for …" (kind
/// [`ErrorKind::FileTooLarge`]). Other I/O errors keep the system's message.
///
/// On unix the file is opened with `O_NONBLOCK`, so a FIFO that no one writes to is refused
/// instead of waited on, and the kind is checked on the opened handle, not only before opening.
pub fn read_limited(path: &Path, limit: SizeLimit) -> io::Result<Vec<u8>> {
    // Refuse what is plainly not a regular file before opening it: opening a device can have
    // effects of its own.
    check_regular(&std::fs::metadata(path).map_err(describe)?)?;
    let file = open(path).map_err(describe)?;
    let metadata = file.metadata().map_err(describe)?;
    check_regular(&metadata)?;
    if metadata.len() > limit.bytes {
        return Err(limit.exceeded(Some(metadata.len())));
    }
    // The length in the metadata is only a hint: read one byte past the limit to notice more.
    let mut bytes = Vec::with_capacity(metadata.len() as usize + 1);
    file.take(limit.bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(describe)?;
    if bytes.len() as u64 > limit.bytes {
        return Err(limit.exceeded(None));
    }
    Ok(bytes)
}

/// Opens `path` for reading without waiting for a writer when it is a FIFO.
#[cfg(unix)]
fn open(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// Opens `path` for reading.
#[cfg(not(unix))]
fn open(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// An error for anything but a regular file, naming what it is.
fn check_regular(metadata: &Metadata) -> io::Result<()> {
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok(());
    }
    let message = if kind.is_dir() {
        "is a directory, not a file".to_string()
    } else {
        format!("is {}, not a regular file", special_kind(kind))
    };
    let error_kind = if kind.is_dir() {
        ErrorKind::IsADirectory
    } else {
        ErrorKind::InvalidInput
    };
    Err(io::Error::new(error_kind, message))
}

/// The name of a special file's kind, with its article.
#[cfg(unix)]
fn special_kind(kind: FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// The name of a special file's kind, with its article.
#[cfg(not(unix))]
fn special_kind(_: FileType) -> &'static str {
    "a special file"
}

/// The error with a plain message for the usual causes, so that callers print it once beside the
/// path instead of the system's text and code.
fn describe(e: io::Error) -> io::Error {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP) {
        return io::Error::new(
            e.kind(),
            "too many levels of symbolic links (a symlink loop)",
        );
    }
    let message = match e.kind() {
        ErrorKind::NotFound => "not found",
        ErrorKind::PermissionDenied => "permission denied",
        ErrorKind::IsADirectory => "is a directory, not a file",
        ErrorKind::NotADirectory => "a folder on the path is not a directory",
        _ => return e,
    };
    io::Error::new(e.kind(), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: SizeLimit = SizeLimit {
        bytes: 8,
        what: "test files",
    };

    #[test]
    fn reads_a_file_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eight");
        std::fs::write(&path, b"12345678").unwrap();
        assert_eq!(read_limited(&path, LIMIT).unwrap(), b"12345678");
        std::fs::write(&path, b"123456789").unwrap();
        let err = read_limited(&path, LIMIT).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FileTooLarge);
        assert_eq!(
            err.to_string(),
            "too large: the file has 9 bytes, more than 8 bytes, the limit for test files"
        );
    }

    #[test]
    fn names_missing_files_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_limited(&dir.path().join("absent"), LIMIT).unwrap_err();
        assert_eq!(
            (err.kind(), err.to_string()),
            (ErrorKind::NotFound, "not found".into())
        );
        let err = read_limited(dir.path(), LIMIT).unwrap_err();
        assert_eq!(err.to_string(), "is a directory, not a file");
    }
}
