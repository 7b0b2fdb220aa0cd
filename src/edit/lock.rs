//! One lock per checkout, held by every command that writes from before it reads the files it
//! plans from until the last file is renamed, so that two kfpatch runs (`multiuser off` and `on`
//! started together) take turns instead of mixing their edits.
//!
//! The lock is an advisory `flock`. In a git repository it is taken on `kfpatch.lock` in the git
//! directory (`.git/kfpatch.lock`, which `git status` never shows), into which the holder writes
//! its process id, and which it removes when it ends. Without git it is taken on the checkout's
//! folder itself, so nothing is ever created in the checkout; the holder is then found in
//! `/proc/locks`. The kernel drops the lock of a process that is gone, so a run killed while it
//! held the lock never blocks the next one, which takes over and says so when a lock file was
//! left.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::edit::outcome::WriteChoice;
use crate::error::{Failure, Result};

/// How long a second run waits for the first, unless `KFPATCH_LOCK_WAIT` (seconds) says otherwise.
const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// The lock file's name in the git directory.
const IN_GIT_DIR: &str = "kfpatch.lock";

/// The held lock; dropping it releases the lock (and removes the lock file, if there is one).
#[derive(Debug)]
pub struct Lock {
    file: Option<PathBuf>,
    _held: File,
}

/// What is locked: the lock file in the git directory, or the checkout's folder.
enum Target {
    File(PathBuf),
    Folder(PathBuf),
}

fn target(folder: &Path) -> Target {
    match git2::Repository::discover(folder) {
        Ok(repo) if repo.workdir().is_some() => Target::File(repo.path().join(IN_GIT_DIR)),
        _ => Target::Folder(folder.to_path_buf()),
    }
}

/// Takes the lock of the checkout around `folder`, waiting (bounded) while another kfpatch holds
/// it; says on `err` whom it waits for, and when it takes over a lock file left by a run that is
/// gone.
pub fn take(folder: &Path, err: &mut dyn Write) -> Result<Lock> {
    let target = target(folder);
    let path = match &target {
        Target::File(path) | Target::Folder(path) => path.clone(),
    };
    let wait = std::env::var("KFPATCH_LOCK_WAIT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(DEFAULT_WAIT, Duration::from_secs);
    let deadline = Instant::now() + wait;
    let mut said = false;
    loop {
        let opened = match &target {
            Target::File(path) => OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path),
            Target::Folder(path) => File::open(path),
        };
        let mut file = opened.map_err(|e| Failure::io("open the lock", &path, &e))?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(Failure::io("lock", &path, &e));
            }
            let holder = holder(&target, &mut file);
            if Instant::now() >= deadline {
                return Err(Failure::new(format!(
                    "{} is changing this checkout and still holds its lock ({}) after {} s; nothing was written. Run again once it has finished (KFPATCH_LOCK_WAIT sets the wait in seconds)",
                    who(holder),
                    path.display(),
                    wait.as_secs()
                )));
            }
            if !said {
                let _ = writeln!(
                    err,
                    "kfpatch: {} is changing this checkout; waiting for it (up to {} s)",
                    who(holder),
                    wait.as_secs()
                );
                said = true;
            }
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let Target::File(path) = &target else {
            return Ok(Lock {
                file: None,
                _held: file,
            });
        };
        // The holder before may have removed the file after this run opened it: a lock on a
        // removed file locks nothing, so open the file at the path again.
        let same = match (file.metadata(), fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        if !same {
            continue;
        }
        if let Some(pid) = pid_in(&mut file) {
            let _ = writeln!(
                err,
                "kfpatch: took over the lock of kfpatch process {pid}, which no longer runs"
            );
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(|e| Failure::io("write the lock", path, &e))?;
        return Ok(Lock {
            file: Some(path.clone()),
            _held: file,
        });
    }
}

/// [`take`] when the run will write (neither `--check` nor `--dry-run`); `None` otherwise.
pub fn for_writing(
    folder: &Path,
    choice: WriteChoice,
    err: &mut dyn Write,
) -> Result<Option<Lock>> {
    if choice.check || choice.dry_run {
        return Ok(None);
    }
    take(folder, err).map(Some)
}

/// Who holds the lock: the process id in the lock file, or the one `/proc/locks` names for the
/// folder.
fn holder(target: &Target, file: &mut File) -> Option<u32> {
    match target {
        Target::File(_) => pid_in(file),
        Target::Folder(_) => {
            let meta = file.metadata().ok()?;
            let dev = meta.dev();
            // /proc/locks names a file as `major:minor:inode`, the device numbers in hex.
            let id = format!(
                "{:02x}:{:02x}:{}",
                libc::major(dev),
                libc::minor(dev),
                meta.ino()
            );
            fs::read_to_string("/proc/locks")
                .ok()?
                .lines()
                .find_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    (fields.get(1) == Some(&"FLOCK") && fields.get(5) == Some(&id.as_str()))
                        .then(|| fields.get(4)?.parse().ok())
                        .flatten()
                })
        }
    }
}

/// The process id written in the lock file, if any.
fn pid_in(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn who(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("another kfpatch, pid {pid},"),
        None => "another kfpatch".to_string(),
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still locked: a run waiting on this file sees it gone and opens anew.
        if let Some(path) = &self.file {
            let _ = fs::remove_file(path);
        }
    }
}
