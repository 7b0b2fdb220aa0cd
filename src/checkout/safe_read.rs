//! Reading the checkout's files safely: only regular UTF-8 files of at most [`MAX_FILE`] bytes,
//! whose real path stays inside the checkout, opened so that a FIFO or device swapped in cannot
//! hang the read. Every file kfpatch reads from a checkout comes through here, and every writer
//! asks [`write_target`] where a write lands (the one symlink rule).

use std::fs;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Failure, Result};

/// Reads `path` as UTF-8 text after checking that its real path is inside `root` (canonical).
pub fn read_inside(root: &Path, path: &Path, shown: &str) -> Result<Option<String>> {
    match path.strip_prefix(root) {
        Ok(rel) => read_below(root, root, rel, shown),
        Err(_) => match fs::canonicalize(path) {
            Ok(real) => {
                ensure_inside(root, &real, shown)?;
                let rel = real.strip_prefix(root).unwrap_or(&real).to_path_buf();
                read_below(root, root, &rel, shown)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Failure::io("read", Path::new(shown), &e)),
        },
    }
}

/// The most kfpatch reads of one file: a ConfigMap holds at most 1 MiB, so a managed file larger
/// than that could never reach the cluster (and reading a huge one whole costs its size in
/// memory, several times over).
pub const MAX_FILE: u64 = 1 << 20;

/// Reads `base/rel`, where `base` is a canonical folder inside `root`: see [`resolve_below`].
/// The file is opened without blocking and checked again once open (a FIFO swapped in after the
/// check must not hang the read), and at most [`MAX_FILE`] bytes are read.
pub(super) fn read_below(
    root: &Path,
    base: &Path,
    rel: &Path,
    shown: &str,
) -> Result<Option<String>> {
    let Some(real) = resolve_below(root, base, rel, shown)? else {
        return Ok(None);
    };
    let failed = |e: std::io::Error| Failure::io("read", Path::new(shown), &e);
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&real)
        .map_err(failed)?;
    read_open(file, shown)
}

/// [`read_below`] of the entry `name` of `dir`, a real folder inside `root`, opened without
/// following a symlink: one `open` instead of an `lstat` then an `open`. A symlink (the open
/// refuses it) is resolved by [`read_below`].
pub(super) fn read_entry(
    root: &Path,
    dir: &Path,
    name: &str,
    shown: &str,
) -> Result<Option<String>> {
    let opened = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(dir.join(name));
    match opened {
        Ok(file) => read_open(file, shown),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            read_below(root, dir, Path::new(name), shown)
        }
        Err(e) => Err(Failure::io("read", Path::new(shown), &e)),
    }
}

/// The text of a file just opened: a regular file (checked once open: a FIFO swapped in after a
/// check must not hang the read) of at most [`MAX_FILE`] bytes, in UTF-8.
fn read_open(mut file: fs::File, shown: &str) -> Result<Option<String>> {
    let failed = |e: std::io::Error| Failure::io("read", Path::new(shown), &e);
    let meta = file.metadata().map_err(failed)?;
    check_kind(&meta, shown)?;
    // Sized from the file, with a byte to spare: a read that returns as many bytes as the file
    // has stopped at its end, so one call reads it (the second, which sees the end, only where
    // the file changed since `fstat`; grown from empty, a read takes one call per doubling).
    let mut bytes = vec![0; meta.len().min(MAX_FILE) as usize + 1];
    let first = loop {
        match file.read(&mut bytes) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other.map_err(failed)?,
        }
    };
    bytes.truncate(first);
    if first as u64 != meta.len() {
        file.take(MAX_FILE + 1 - first as u64)
            .read_to_end(&mut bytes)
            .map_err(failed)?;
    }
    if bytes.len() as u64 > MAX_FILE {
        return Err(too_large(shown, meta.len().max(bytes.len() as u64)));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            // `valid_up_to` is at most the length of the bytes, so the slice cannot panic.
            let line = e.as_bytes()[..offset]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            Err(Failure::new(format!(
                "{shown}:{line}: not valid UTF-8 (byte {offset}); kustomize refuses such files too. Re-save it as UTF-8"
            )))
        }
    }
}

/// Where `base/rel` really is, checked without opening it: `None` when it does not exist; an
/// error when it is not a regular file, is larger than [`MAX_FILE`], or its real path leaves
/// `root`. `base` is a canonical folder inside `root`: each component of `rel` is checked with
/// `lstat`, and only a symlink or `..` among them costs a full resolution (which must stay in
/// `root`).
pub(super) fn resolve_below(
    root: &Path,
    base: &Path,
    rel: &Path,
    shown: &str,
) -> Result<Option<PathBuf>> {
    let mut at = base.to_path_buf();
    let mut last = None;
    let mut through_link = false;
    for component in rel.components() {
        let Component::Normal(name) = component else {
            last = None;
            break;
        };
        at.push(name);
        let meta = match fs::symlink_metadata(&at) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Failure::io("read", Path::new(shown), &e)),
        };
        if meta.file_type().is_symlink() {
            last = None;
            through_link = true;
            break;
        }
        last = Some(meta);
    }
    let (real, meta) = match last {
        Some(meta) => (at, meta),
        None => {
            let full = base.join(rel);
            let real = match fs::canonicalize(&full) {
                Ok(real) => real,
                Err(e) if !through_link && e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(None);
                }
                Err(e) if !through_link => return Err(Failure::io("read", Path::new(shown), &e)),
                Err(e) => {
                    return Err(Failure::new(format!(
                        "{shown} is a symlink that cannot be followed ({e}); fix or remove the link"
                    )));
                }
            };
            ensure_inside(root, &real, shown)?;
            let meta =
                fs::metadata(&real).map_err(|e| Failure::io("read", Path::new(shown), &e))?;
            (real, meta)
        }
    };
    check_kind(&meta, shown)?;
    Ok(Some(real))
}

/// Refuses anything but a regular file of at most [`MAX_FILE`] bytes, naming what it is.
fn check_kind(meta: &fs::Metadata, shown: &str) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    let what = if kind.is_file() {
        if meta.len() > MAX_FILE {
            return Err(too_large(shown, meta.len()));
        }
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "something else"
    };
    Err(Failure::new(format!(
        "{shown} is {what}, not a regular file; kfpatch reads and writes regular files only\n  fix: put the upstream file back (git checkout -- {shown})"
    )))
}

fn too_large(shown: &str, len: u64) -> Failure {
    Failure::new(format!(
        "{shown} is {len} bytes; kfpatch reads managed files of at most 1 MiB ({MAX_FILE} bytes), the most a ConfigMap holds, so the cluster could never take this one\n  fix: shrink it to the settings it is meant to hold"
    ))
}

/// Refuses `real` unless it is inside `root`; both are canonical (every caller has just resolved
/// `real`, so resolving it again would only repeat a `readlink` per component).
pub(super) fn ensure_inside(root: &Path, real: &Path, shown: &str) -> Result<()> {
    if real.starts_with(root) {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "{shown} resolves to {}, outside the checkout {}; kfpatch does not read or write through symlinks that leave the checkout",
            real.display(),
            root.display()
        )))
    }
}

/// Where a write to `path` lands, under the one rule for every file kfpatch writes (managed
/// files, overlays, `access --output-dir`): a symlink is written through, to its target, only when
/// that target is inside `root` (canonical); a link that leaves `root`, or that cannot be followed,
/// is refused and nothing is written. A path that does not exist yet lands where its nearest
/// existing folder really is, which must be inside `root` too.
pub fn write_target(root: &Path, path: &Path, shown: &str) -> Result<PathBuf> {
    let mut missing = Vec::new();
    let mut at = path.to_path_buf();
    loop {
        match fs::symlink_metadata(&at) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (Some(parent), Some(name)) = (at.parent(), at.file_name()) else {
                    return Err(Failure::io("write", Path::new(shown), &e));
                };
                missing.push(name.to_os_string());
                at = parent.to_path_buf();
            }
            Err(e) => return Err(Failure::io("write", Path::new(shown), &e)),
        }
    }
    let real = fs::canonicalize(&at).map_err(|e| {
        Failure::new(format!(
            "{shown} is a symlink that cannot be followed ({e}); fix or remove the link; nothing was written"
        ))
    })?;
    ensure_inside(root, &real, shown)?;
    Ok(missing
        .iter()
        .rev()
        .fold(real, |path, name| path.join(name)))
}
