//! Carrying out an in-place plan as the command line asks: print its summary and diff, then check
//! (exit 1 when something would change), preview, or write it behind the dirty guard.

use std::path::{Path, PathBuf};

use crate::checkout::catalogue::CATALOGUE;
use crate::checkout::install::Install;
use crate::edit::plan::Plan;
use crate::edit::write;
use crate::error::{EXIT_CHANGES, Result};
use crate::output::{Output, write_out};

/// What to do with a plan: `--check`, `--dry-run`, `--allow-dirty`.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteChoice {
    pub check: bool,
    pub dry_run: bool,
    pub allow_dirty: bool,
}

/// Prints the plan, then checks, previews or writes it; returns the exit code. `extra_keys`: keys
/// the command manages beyond the catalogue (`set`), which the dirty guard ignores too.
pub fn finish(
    install: &Install,
    plan: &Plan,
    title: &str,
    choice: WriteChoice,
    extra_keys: &[&str],
    io: &mut Output<'_>,
) -> Result<i32> {
    if !choice.check && !choice.dry_run {
        remove_stale_temps(install, plan, io);
    }
    let mut text = plan.summary(title);
    if plan.is_empty() {
        text.push_str("nothing to change\n");
        write_out(io, &text)?;
        return Ok(0);
    }
    text.push('\n');
    text.push_str(&plan.diff(io.color));
    let count = plan.files.len();
    let files = if count == 1 { "file" } else { "files" };
    if choice.check {
        text.push_str(&format!(
            "{count} {files} would change; run without --check to write\n"
        ));
        write_out(io, &text)?;
        return Ok(EXIT_CHANGES);
    }
    if choice.dry_run {
        text.push_str(&format!(
            "dry run: {count} {files} would change, nothing written\n"
        ));
        write_out(io, &text)?;
        return Ok(0);
    }
    if !choice.allow_dirty {
        write::check_clean(&plan.files, install, extra_keys)?;
    }
    plan.write()?;
    text.push_str(&format!("wrote {count} {files}\n"));
    write_out(io, &text).inspect_err(|_| {
        // The files are written: say so where it can still be read.
        let shown: Vec<&str> = plan.files.iter().map(|f| f.shown.as_str()).collect();
        let _ = writeln!(
            io.err,
            "kfpatch: wrote {count} {files}, but standard output was closed before the diff was shown:\n  {}",
            shown.join("\n  ")
        );
    })?;
    Ok(0)
}

/// Removes the temporary files that killed runs left beside the managed files and the files
/// this plan writes, and says so.
fn remove_stale_temps(install: &Install, plan: &Plan, io: &mut Output<'_>) {
    let mut dirs: Vec<PathBuf> = CATALOGUE
        .iter()
        .map(|setting| install.dir.join(setting.file))
        .chain(plan.files.iter().map(|f| f.path.clone()))
        .filter_map(|file| file.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    write::clean_stale_temps(&dirs, &install.root, io.err);
}
