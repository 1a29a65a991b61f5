//! File-system helpers shared by every module that writes results.
//!
//! Every result, checkpoint and key file is written atomically: to a fresh temporary file
//! beside the target (a unique name, so two writers never share one), flushed to disk, then
//! renamed over the target, and the rename flushed too. A reader, or a run resumed after a
//! crash, never sees half a file; a failed write leaves only the old target behind.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` atomically (see the module documentation).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |out| out.write_all(bytes))
}

/// [`write_atomic`] for content streamed by `write` (files too large to hold in memory).
pub fn write_atomic_with<E: From<std::io::Error>>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), E>,
) -> Result<(), E> {
    write_through_temporary(path, None, write)
}

/// [`write_atomic_with`] for files that hold secret material: the temporary file is created
/// with permissions `mode` (Unix; 0o600 lets only the owner read it) before any byte is
/// written, so the content is never readable by others, not even during the write.
pub fn write_atomic_with_mode<E: From<std::io::Error>>(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), E>,
) -> Result<(), E> {
    write_through_temporary(path, Some(mode), write)
}

/// Checks that [`write_atomic`] can write `path`, before a long computation whose result goes
/// there: `path` is a regular file or does not exist yet, and a file can be created beside it
/// (it is removed again).
pub fn check_writable(path: &Path) -> std::io::Result<()> {
    check_target(path)?;
    let tmp = temporary(path);
    create_new(&tmp, None)?;
    std::fs::remove_file(&tmp)
}

/// Refuses targets an atomic rename would silently replace by a regular file: a directory, a
/// device such as `/dev/null`, a FIFO, a socket, or a symbolic link (the link itself would
/// become the file; its target would stay unchanged).
fn check_target(path: &Path) -> std::io::Result<()> {
    let kind = match std::fs::symlink_metadata(path) {
        Ok(m) => m.file_type(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let refuse = |what: &str| {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what}; write to a regular file instead"),
        ))
    };
    if kind.is_dir() {
        refuse("is a directory")
    } else if kind.is_symlink() {
        refuse("is a symbolic link (an atomic write would replace the link, not its target)")
    } else if !kind.is_file() {
        refuse("is not a regular file (an atomic write would replace it)")
    } else {
        Ok(())
    }
}

fn write_through_temporary<E: From<std::io::Error>>(
    path: &Path,
    mode: Option<u32>,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), E>,
) -> Result<(), E> {
    check_target(path)?;
    let tmp = temporary(path);
    let file = create_new(&tmp, mode)?;
    let result = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, file);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A temporary name beside `path`, unique to this process and call.
fn temporary(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".{}-{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    PathBuf::from(tmp)
}

/// Creates `tmp`, which must not exist, with permissions `mode` if given.
fn create_new(tmp: &Path, mode: Option<u32>) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if let Some(mode) = mode {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(tmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<std::ffi::OsString> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_failed_write_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a directory: refused before anything is written.
        let target = dir.path().join("out");
        std::fs::create_dir(&target).unwrap();
        assert!(write_atomic(&target, b"data").is_err());
        // The content fails half-way.
        let other = dir.path().join("other");
        let failed: Result<(), std::io::Error> = write_atomic_with(&other, |out| {
            out.write_all(b"half")?;
            Err(std::io::Error::other("no more"))
        });
        assert!(failed.is_err());
        assert_eq!(entries(dir.path()), vec![std::ffi::OsString::from("out")]);
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_links_are_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(Path::new("/dev/null"), b"x").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        use std::os::unix::fs::FileTypeExt;
        assert!(
            std::fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
        let real = dir.path().join("real");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = write_atomic(&link, b"new").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"old");
        assert!(check_writable(&link).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        write_atomic_with_mode(&path, 0o600, |out| out.write_all(b"key")).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        assert_eq!(std::fs::read(&path).unwrap(), b"key");
        assert_eq!(
            entries(dir.path()),
            vec![std::ffi::OsString::from("secret.key")]
        );
    }

    #[test]
    fn overwrites_are_whole_and_unwritable_outputs_are_found_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.json");
        check_writable(&out).unwrap();
        assert!(entries(dir.path()).is_empty());
        write_atomic(&out, b"first, longer").unwrap();
        write_atomic(&out, b"second").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"second");
        assert!(check_writable(dir.path()).is_err());
        assert!(check_writable(&dir.path().join("missing/out.json")).is_err());
    }
}
