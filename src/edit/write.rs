//! Writing files safely: the guard that refuses to overwrite somebody else's uncommitted edits,
//! and the atomic write (temporary file, sync, rename) that a reader or a crash sees as the old or
//! the new file, never a part. Every file kfpatch changes goes through here.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::checkout::catalogue::{self, CATALOGUE, Parsed, Place, Reading, Setting, holds};
use crate::checkout::git::{self, Tracked};
use crate::checkout::install::Install;
use crate::edit::splice;
use crate::error::{Failure, Result};
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
    for group in git::holding(&install.dir, &paths) {
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

/// Writes every file atomically. If one write fails, the files already written are put back.
pub fn write_all(files: &[FilePlan]) -> Result<()> {
    for (i, file) in files.iter().enumerate() {
        if let Err(e) = write_atomic(&file.path, file.new.as_bytes()) {
            let mut restored = true;
            for done in &files[..i] {
                restored &= write_atomic(&done.path, done.old.as_bytes()).is_ok();
            }
            return Err(Failure::new(format!(
                "cannot write {}: {e}; {}",
                file.shown,
                if restored {
                    "the files written before it were put back, so nothing changed"
                } else {
                    "some files written before it could not be put back: check git status"
                }
            )));
        }
    }
    Ok(())
}

/// Writes `content` to a temporary file beside `path`, syncs it, gives it `path`'s permissions and
/// renames it over `path`, so a reader (or a crash) sees the old or the new file, never a part.
pub fn write_atomic(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let permissions = fs::metadata(path)?.permissions();
    let temp = dir.join(format!(".{name}.kfpatch-{}.tmp", std::process::id()));
    let result = (|| {
        let create = || OpenOptions::new().write(true).create_new(true).open(&temp);
        let mut file = match create() {
            // Left by a run that was killed and had this process id: no live process can own
            // it, so it is replaced (a CI container often gives kfpatch the same id every time).
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                fs::remove_file(&temp)?;
                create()?
            }
            other => other?,
        };
        file.write_all(content)?;
        file.set_permissions(permissions)?;
        file.sync_all()?;
        pause_for_crash_test();
        fs::rename(&temp, path)?;
        // The new file is in place: a failed directory sync only weakens durability against
        // power loss, and reporting it as a failed write would make `Plan::write` put the
        // earlier files back while this one stays new.
        let _ = File::open(dir).and_then(|d| d.sync_all());
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Writes `content` to `path` atomically whether or not the file exists: an existing file is
/// replaced by [`write_atomic`] (keeping its permissions); a new one is written to a temporary file
/// beside it, synced and renamed into place, with the permissions a new file gets.
pub fn write_file(path: &Path, content: &[u8]) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(_) => return write_atomic(path, content),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.kfpatch-{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(content)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// The crash-safety test sets `KFPATCH_TEST_PAUSE_BEFORE_RENAME` to a number of milliseconds, so
/// that it can kill kfpatch between the temporary write and the rename.
fn pause_for_crash_test() {
    if let Some(ms) = std::env::var_os("KFPATCH_TEST_PAUSE_BEFORE_RENAME")
        .and_then(|v| v.to_str().and_then(|s| s.parse::<u64>().ok()))
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
