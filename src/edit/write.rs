//! Writing files safely: the guard that refuses to overwrite somebody else's uncommitted edits,
//! and the atomic write (temporary file, sync, rename) that a reader or a crash sees as the old or
//! the new file, never a part, with the old file's owner, group and mode. Every file kfpatch
//! changes goes through here; so does undoing a write that a signal interrupts, and removing the
//! temporary files of killed runs.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::checkout::catalogue::{self, CATALOGUE, Place, Reading, Setting, holds};
use crate::checkout::git::{self, Tracked};
use crate::checkout::install::Install;
use crate::checkout::parsed::Parsed;
use crate::checkout::paths;
use crate::edit::splice;
use crate::error::{Failure, Result};
use crate::interrupt;
use crate::syntax::yamledit;

/// One file's old and new bytes.
#[derive(Debug, Clone)]
pub struct FilePlan {
    /// The file relative to the install (`api-service/params.env`).
    pub file: String,
    /// The file relative to the checkout root, for the diff.
    pub shown: String,
    /// The real path to write.
    pub path: PathBuf,
    pub old: String,
    pub new: String,
}

/// Refuses to write files that hold somebody's uncommitted work: changes beyond the settings
/// kfpatch manages (`extra_keys`: keys a `set` command manages too; both the committed and the
/// working copy are brought to the multi-user values of every managed setting, and if they still
/// differ, somebody else's edit is in the file), or a file its repository never committed. Each file is judged by the repository
/// that contains it (a nested clone, a submodule, a worktree); a file that repository ignores is
/// not under version control, and is written as in a checkout without git.
pub fn check_clean(files: &[FilePlan], install: &Install, extra_keys: &[&str]) -> Result<()> {
    let paths: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
    let mut dirty = Vec::new();
    let mut not_committed = Vec::new();
    for group in git::holding(&install.dir, &paths)? {
        let Some(checkout) = group.checkout else {
            continue;
        };
        let tracked = checkout.tracked(&group.files);
        for (path, state) in group.files.iter().zip(tracked) {
            let Some(file) = files.iter().find(|f| f.path == *path) else {
                continue;
            };
            match state {
                Tracked::Ignored => {}
                Tracked::NotCommitted => not_committed.push(file.shown.clone()),
                Tracked::Committed { .. } => {
                    let same = match checkout.at_head(&file.path) {
                        Some(bytes) if bytes == file.old.as_bytes() => true,
                        // The edit brings the file back to what is committed (`on` after
                        // `off`): the plan changes only managed settings, so the uncommitted
                        // change was only in them too.
                        Some(bytes) if bytes == file.new.as_bytes() => true,
                        Some(bytes) => match String::from_utf8(bytes) {
                            Ok(head) => normalise(&file.file, &head, extra_keys)
                                .zip(normalise(&file.file, &file.old, extra_keys))
                                .is_some_and(|(a, b)| a == b),
                            Err(_) => false,
                        },
                        None => false,
                    };
                    if !same {
                        dirty.push(file.shown.clone());
                    }
                }
            }
        }
    }
    if dirty.is_empty() && not_committed.is_empty() {
        return Ok(());
    }
    let mut message = String::new();
    if !dirty.is_empty() {
        message.push_str(&format!(
            "these files have uncommitted changes beyond the settings kfpatch manages:\n  {}\n",
            dirty.join("\n  ")
        ));
    }
    if !not_committed.is_empty() {
        message.push_str(&format!(
            "these files are not committed (untracked in their git repository):\n  {}\n",
            not_committed.join("\n  ")
        ));
    }
    message.push_str(if not_committed.is_empty() {
        "commit or stash them first, or pass --allow-dirty to edit them anyway; nothing was written"
    } else {
        "commit them first (or list their folder in .gitignore, if a script writes it), or pass --allow-dirty to edit them anyway; nothing was written"
    });
    Err(Failure::new(message))
}

/// `text` with every managed setting of `file` at its multi-user value (or blanked, for keys
/// only `set` manages); `None` when the file cannot be brought there.
fn normalise(file: &str, text: &str, extra_keys: &[&str]) -> Option<String> {
    let parsed = Parsed::parse(file, file, text).ok()?;
    let rows: Vec<&Setting> = CATALOGUE.iter().filter(|s| s.file == file).collect();
    match &parsed {
        Parsed::Env(env) => {
            let mut env = env.clone();
            for setting in &rows {
                if let Place::EnvKey(key) = setting.place {
                    env.set(key, "", true).ok()?;
                }
            }
            for key in extra_keys {
                env.set(key, "", true).ok()?;
            }
            Some(env.text().to_string())
        }
        Parsed::Yaml(yaml) => {
            let mut splices = Vec::new();
            for setting in &rows {
                let reading = catalogue::read(setting, file, &parsed).ok()?;
                if holds(setting, &reading, setting.multi)
                    || matches!(reading, Reading::NotApplicable(_))
                {
                    continue;
                }
                let edit = splice::edit_yaml(setting, yaml, setting.multi, file).ok()?;
                splices.extend(edit.splices);
            }
            yamledit::apply(text, &splices).ok()
        }
    }
}

/// Writes every file atomically, each only if it still holds the bytes the plan was made from
/// (see [`replace`]). If one write fails or finds its file changed, the files already written are
/// put back (each only if it still holds what kfpatch wrote) and the other writer's bytes are
/// left; an interrupt (SIGINT, SIGTERM, SIGHUP) puts them back too.
pub fn write_all(files: &[FilePlan]) -> Result<()> {
    for (i, file) in files.iter().enumerate() {
        if let Err(e) = replace(
            &file.path,
            file.new.as_bytes(),
            Some(file.old.as_bytes()),
            true,
            true,
        ) {
            let mut restored = true;
            for done in files[..i].iter().rev() {
                restored &= replace(
                    &done.path,
                    done.old.as_bytes(),
                    Some(done.new.as_bytes()),
                    false,
                    true,
                )
                .is_ok();
            }
            journal().written.clear();
            let put_back = match (i, restored) {
                (0, _) => "nothing was written",
                (_, true) => "the files written before it were put back, so nothing changed",
                (_, false) => {
                    "some files written before it could not be put back: check git status"
                }
            };
            return Err(Failure::new(format!(
                "cannot write {}: {e}; {put_back}",
                file.shown
            )));
        }
    }
    // Every file is written: an interrupt from here on has nothing to put back.
    journal().written.clear();
    Ok(())
}

/// What an interrupt must undo: this run's temporary files, and the files it renamed into place
/// with the bytes they held before.
struct Journal {
    temps: Vec<PathBuf>,
    /// Each renamed file with its old bytes and the new ones kfpatch wrote.
    written: Vec<(PathBuf, Vec<u8>, Vec<u8>)>,
}

static JOURNAL: Mutex<Journal> = Mutex::new(Journal {
    temps: Vec::new(),
    written: Vec::new(),
});

fn journal() -> MutexGuard<'static, Journal> {
    JOURNAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The interrupt hook: removes the temporary files and puts back the files written so far. The
/// journal stays locked until the process exits, so the main thread can neither rename another
/// file nor create another temporary one after this looked.
fn undo_on_interrupt() -> Option<String> {
    let journal = journal();
    let said = if journal.temps.is_empty() && journal.written.is_empty() {
        None
    } else {
        for temp in &journal.temps {
            let _ = fs::remove_file(temp);
        }
        let mut restored = true;
        for (path, old, new) in journal.written.iter().rev() {
            restored &= replace(path, old, Some(new), false, false).is_ok();
        }
        Some(if restored {
            "the files already written were put back and the temporary files removed, so nothing changed".to_string()
        } else {
            "some files already written could not be put back: check git status".to_string()
        })
    };
    std::mem::forget(journal);
    said
}

/// Writes `content` to a temporary file beside `path` (created with `path`'s permissions, given
/// its owner and group, as `sed -i` does), syncs it and renames it over `path`, so a reader (or a
/// crash) sees the old or the new file, never a part.
pub fn write_atomic(path: &Path, content: &[u8]) -> std::io::Result<()> {
    replace(path, content, None, false, true)
}

/// [`write_atomic`], comparing before the rename: with `expect`, `path` must still be the file
/// this write started from (same device and inode) and hold exactly `expect`, or nothing is
/// renamed and the error says another program changed it. With `record`, the journal records
/// the file once renamed, so that an interrupt puts `expect` back. `journal_on` is false only for
/// the interrupt's own put-back, which holds the journal already.
fn replace(
    path: &Path,
    content: &[u8],
    expect: Option<&[u8]>,
    record: bool,
    journal_on: bool,
) -> std::io::Result<()> {
    let meta = fs::metadata(path)?;
    let temp = temp_beside(path);
    let result = (|| {
        let mut file = create_temp(&temp, journal_on, Some(meta.permissions().mode()))?;
        file.write_all(content)?;
        keep_owner(&file, &meta)?;
        file.sync_all()?;
        pause_for_crash_test();
        if let Some(expect) = expect {
            unchanged_since(path, &meta, expect)?;
        }
        let journal = expect.filter(|_| record).map(|old| (old, content));
        rename_into_place(&temp, path, journal, journal_on)
    })();
    if result.is_err() {
        forget_temp(&temp, journal_on);
    }
    result
}

/// Refuses (as an I/O error naming the cause) unless `path` is still the file `meta` describes
/// and holds exactly `expect`: another writer that replaced or edited it after kfpatch read it
/// keeps its bytes.
fn unchanged_since(path: &Path, meta: &fs::Metadata, expect: &[u8]) -> std::io::Result<()> {
    let changed = || {
        std::io::Error::other(
            "another program changed it after kfpatch read it; its bytes were left as they are. Run kfpatch again to plan from them",
        )
    };
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let now = file.metadata()?;
    if (now.dev(), now.ino()) != (meta.dev(), meta.ino()) || now.len() != expect.len() as u64 {
        return Err(changed());
    }
    let mut bytes = Vec::with_capacity(expect.len() + 1);
    (&mut file)
        .take(expect.len() as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes != expect {
        return Err(changed());
    }
    Ok(())
}

/// `.NAME.kfpatch-PID.tmp` beside `path`.
fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.kfpatch-{}.tmp", std::process::id()))
}

/// Creates the temporary file, recorded in the journal in the same step. With `mode`, the file is
/// created with exactly that mode (the umask is cleared for the one `open`), so it is never more
/// open than the file it replaces, not even until a `chmod`; without, it gets a new file's mode.
fn create_temp(temp: &Path, journal_on: bool, mode: Option<u32>) -> std::io::Result<File> {
    if journal_on {
        interrupt::on_interrupt(undo_on_interrupt);
    }
    let mut held = journal_on.then(journal);
    let create = || {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        let Some(mode) = mode else {
            return options.open(temp);
        };
        options.mode(mode & 0o7777);
        // SAFETY: umask only sets this process's file creation mask; kfpatch writes files from
        // one thread, and the old mask is restored right after the one `open`.
        let umask = unsafe { libc::umask(0) };
        let opened = options.open(temp);
        unsafe { libc::umask(umask) };
        opened
    };
    let file = match create() {
        // Left by a run that was killed and had this process id: no live process can own it, so
        // it is replaced (a CI container often gives kfpatch the same id every time).
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            fs::remove_file(temp)?;
            create()?
        }
        other => other?,
    };
    if let Some(journal) = held.as_mut() {
        journal.temps.push(temp.to_path_buf());
    }
    Ok(file)
}

/// Renames `temp` over `path` and records it, under one lock of the journal, so that an
/// interrupt sees the file either not yet renamed or renamed and recorded.
fn rename_into_place(
    temp: &Path,
    path: &Path,
    old_new: Option<(&[u8], &[u8])>,
    journal_on: bool,
) -> std::io::Result<()> {
    let mut held = journal_on.then(journal);
    fs::rename(temp, path)?;
    if let Some(journal) = held.as_mut() {
        journal.temps.retain(|t| t != temp);
        if let Some((old, new)) = old_new {
            journal
                .written
                .push((path.to_path_buf(), old.to_vec(), new.to_vec()));
        }
    }
    drop(held);
    // The new file is in place: a failed directory sync only weakens durability against power
    // loss, and reporting it as a failed write would make `write_all` put the earlier files back
    // while this one stays new.
    let dir = path.parent().unwrap_or(Path::new("."));
    let _ = File::open(dir).and_then(|d| d.sync_all());
    Ok(())
}

fn forget_temp(temp: &Path, journal_on: bool) {
    let mut held = journal_on.then(journal);
    let _ = fs::remove_file(temp);
    if let Some(journal) = held.as_mut() {
        journal.temps.retain(|t| t != temp);
    }
}

/// Gives the new file the owner and group of the file it replaces. Only root can give a file to
/// another user: anyone else gets an error that says whose file it is, instead of a file that
/// silently changed hands.
fn keep_owner(file: &File, old: &fs::Metadata) -> std::io::Result<()> {
    let new = file.metadata()?;
    if (new.uid(), new.gid()) == (old.uid(), old.gid()) {
        return Ok(());
    }
    std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid())).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            std::io::Error::new(
                e.kind(),
                format!(
                    "it belongs to uid {} (group {}) and kfpatch runs as uid {}, which cannot give the new file that owner; run kfpatch as uid {} or as root",
                    old.uid(),
                    old.gid(),
                    new.uid(),
                    old.uid()
                ),
            )
        } else {
            e
        }
    })
}

/// Writes `content` to `path` atomically whether or not the file exists: an existing file is
/// replaced by [`write_atomic`] (keeping its owner and permissions); a new one is written to a
/// temporary file beside it, synced and renamed into place, with the permissions a new file gets.
pub fn write_file(path: &Path, content: &[u8]) -> std::io::Result<()> {
    write_file_from(path, content, None)
}

/// [`write_file`]; with `expect`, an existing file is replaced only if it still holds `expect`
/// (see [`replace`]).
pub fn write_file_from(path: &Path, content: &[u8], expect: Option<&[u8]>) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(_) => return replace(path, content, expect, false, true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let temp = temp_beside(path);
    let result = (|| {
        let mut file = create_temp(&temp, true, None)?;
        file.write_all(content)?;
        file.sync_all()?;
        rename_into_place(&temp, path, None, true)
    })();
    if result.is_err() {
        forget_temp(&temp, true);
    }
    result
}

/// Removes the temporary files (`.NAME.kfpatch-PID.tmp`) in `dirs` that a kfpatch process which
/// no longer runs left behind (killed with SIGKILL, or the machine went down); returns each
/// removed file with that process id. Files of a kfpatch running now are left alone.
pub fn remove_stale_temps(dirs: &[PathBuf]) -> Vec<(PathBuf, u32)> {
    let mut removed = Vec::new();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(temp_pid) else {
                continue;
            };
            if !kfpatch_runs(pid) && fs::remove_file(entry.path()).is_ok() {
                removed.push((entry.path(), pid));
            }
        }
    }
    removed.sort();
    removed
}

/// [`remove_stale_temps`], saying on `err` what was removed (relative to `root`).
pub fn clean_stale_temps(dirs: &[PathBuf], root: &Path, err: &mut dyn Write) {
    for (path, pid) in remove_stale_temps(dirs) {
        let _ = writeln!(
            err,
            "kfpatch: removed {}, left behind by kfpatch process {pid}, which no longer runs",
            crate::output::escape::quoted(&paths::relative(root, &path))
        );
    }
}

/// The process id in a kfpatch temporary file's name.
fn temp_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (_, pid) = rest.rsplit_once(".kfpatch-")?;
    pid.parse().ok()
}

/// Whether `pid` is a kfpatch process other than this one, run as `kfpatch` or as the kubectl
/// plugin `kubectl-kfpatch` (whose name just fits the 15 characters of `comm`). This run has not
/// written yet when it looks, so a file with its own id was left by an earlier process.
fn kfpatch_runs(pid: u32) -> bool {
    pid != std::process::id()
        && fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|comm| matches!(comm.trim(), "kfpatch" | "kubectl-kfpatch"))
}

/// The crash-safety and concurrency tests set `KFPATCH_TEST_PAUSE_BEFORE_RENAME` to a number of
/// milliseconds, so that they can kill kfpatch, or write a file as another program, between the
/// temporary write and the rename. Only a debug build (the one `cargo test` runs) honours it: a
/// release build never waits on its environment.
fn pause_for_crash_test() {
    if !cfg!(debug_assertions) {
        return;
    }
    if let Some(ms) = std::env::var_os("KFPATCH_TEST_PAUSE_BEFORE_RENAME")
        .and_then(|v| v.to_str().and_then(|s| s.parse::<u64>().ok()))
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
