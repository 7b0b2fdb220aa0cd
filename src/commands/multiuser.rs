//! `kfpatch multiuser on|off`: switch multi-user mode with every related setting of the release,
//! in place ([`crate::edit::plan`]) or, with `--overlay DIR`, as a kustomize overlay that leaves
//! the upstream files byte-identical ([`crate::edit::overlay`]).

use std::fs;

use crate::checkout::catalogue::show_value;
use crate::checkout::catalogue::{Mode, Scope};
use crate::checkout::model::{CannotTrace, deploying};
use crate::checkout::trace;
use crate::checkout::{discover, locate, paths, safe_read};
use crate::cli::{Cli, MultiuserArgs, OnOff};
use crate::edit::outcome::{self, WriteChoice};
use crate::edit::overlay::{self, OverlayChanges};
use crate::edit::{lock, overrides, plan, remote_overlay};
use crate::error::{EXIT_CHANGES, Failure, Result};
use crate::output::escape::quoted;
use crate::output::{Output, write_out};
use crate::parallel;
use crate::report::surroundings;

const ISOLATION_NOTE: &str = "note: with multi-user mode off, every user can see every run, experiment and artifact. To keep isolation between profiles, keep it on and give notebooks token access instead (README, \"Token access\").\n";

pub fn run(cli: &Cli, args: &MultiuserArgs, io: &mut Output<'_>) -> Result<i32> {
    if args.overlay.is_some() {
        return run_overlay(cli, args, io);
    }
    let install = locate::find(&cli.dir, cli.install.as_deref())?;
    let _lock = lock::for_writing(&install.root, args.write.choice(), io.err)?;
    let mode = match args.mode {
        OnOff::On => Mode::On,
        OnOff::Off => Mode::Off,
    };
    let scope = if args.params_only {
        Scope::Params
    } else if args.parity {
        Scope::Parity
    } else {
        Scope::Related
    };
    let mut plan = plan::switch(&install, mode, scope)?;
    // The scan around the install (for the notes) runs beside the search above it; it reads
    // nothing the switch writes.
    let (around, found) = parallel::beside(
        || surroundings::around(&install),
        || deploying::reaching_folders(&install),
    );
    refuse_unreadable(&found.unreadable)?;
    let mut reaching = trace::Reaching::searched(&install, found);
    overrides::add_to_plan(&install, mode, scope, &mut plan, &mut reaching)?;
    let title = format!(
        "multiuser {}: {} (KFP {})",
        mode.word(),
        quoted(&install.rel),
        install.version_text()
    );
    let code = outcome::finish(&install, &plan, &title, args.write.choice(), &[], io)?;
    // Notes go to standard error, so that standard output redirected to a file is a patch.
    let mut notes = surroundings::plan_notes(&around);
    if mode == Mode::Off && !args.write.check {
        notes.push_str(ISOLATION_NOTE);
    }
    let _ = io.err.write_all(notes.as_bytes());
    Ok(code)
}

/// Refuses the switch when a kustomization of the checkout cannot be read (a FIFO, a device, too
/// large, not UTF-8): whether it pins the other mode above the install cannot be told, and a
/// switch that says it is done must not leave such an override unsaid. Nothing is written.
fn refuse_unreadable(unreadable: &[CannotTrace]) -> Result<()> {
    if unreadable.is_empty() {
        return Ok(());
    }
    Err(Failure::new(format!(
        "kustomizations of the checkout cannot be read, so kfpatch cannot tell whether they override the install:\n{}  fix: make each a readable kustomization file (or remove it), then switch again; nothing was written",
        unreadable
            .iter()
            .map(|c| format!("  {}\n", c.shown()))
            .collect::<String>()
    )))
}

/// `--overlay DIR`: `off` writes or updates kfpatch's overlay, `on` removes it.
fn run_overlay(cli: &Cli, args: &MultiuserArgs, io: &mut Output<'_>) -> Result<i32> {
    let Some(overlay_dir) = &args.overlay else {
        return Err(Failure::new("--overlay DIR is missing"));
    };
    if args.parity {
        return Err(Failure::new(
            "--parity cannot be written as an overlay: its single-user value is the generic base's fieldRef, which an overlay would have to copy from the base. Use the in-place switch (without --overlay) for parity",
        ));
    }
    let root = fs::canonicalize(&cli.dir).map_err(|e| Failure::io("open", &cli.dir, &e))?;
    // The folder as named, so that a link in its path is judged by the symlink rule of writers.
    let named = paths::lexical(&root.join(overlay_dir));
    let shown = paths::relative(&root, &named);
    let dir = safe_read::write_target(&root, &named, &shown)?;
    let choice = args.write.choice();
    let _lock = lock::for_writing(&root, choice, io.err)?;
    match args.mode {
        OnOff::Off => {
            let scope = if args.params_only {
                Scope::Params
            } else {
                Scope::Related
            };
            let Some(install) = discover::find_optional(&root, cli.install.as_deref())? else {
                return remote_off(&root, &dir, &shown, args, scope, io);
            };
            let off = overlay::plan_off(&install, &dir, &shown, args.target.as_deref(), scope)?;
            let mut text = off.plan.summary(&format!(
                "multiuser off --overlay {shown}: on {} (KFP {}), upstream files untouched",
                paths::relative(&root, &off.target),
                install.version_text()
            ));
            if off.plan.changes.is_empty() {
                text.push_str("  no upstream setting holds its multi-user value (switched in place already?), so the overlay overrides nothing; restore the upstream files (kfpatch multiuser on) to let the overlay carry the switch\n");
            }
            let code = finish(&off.changes, choice, text, io)?;
            if !choice.check {
                write_out(
                    io,
                    &format!(
                        "render and apply: kubectl kustomize {shown} | kubectl apply --server-side -f -\n"
                    ),
                )?;
                let _ = io.err.write_all(ISOLATION_NOTE.as_bytes());
            }
            Ok(code)
        }
        OnOff::On => {
            let mut text = format!("multiuser on --overlay {shown}: remove the kfpatch overlay\n");
            match overlay::plan_removal(&root, &dir, &shown)? {
                Some(changes) => finish(&changes, choice, text, io),
                None => {
                    text.push_str(&format!(
                        "{shown} holds no kfpatch overlay; nothing to change\n"
                    ));
                    write_out(io, &text)?;
                    Ok(0)
                }
            }
        }
    }
}

/// `multiuser off --overlay DIR --target FOLDER` in a checkout without KFP files, whose FOLDER
/// fetches KFP as a remote base: the overlay from what kfpatch knows of that release.
fn remote_off(
    root: &std::path::Path,
    dir: &std::path::Path,
    shown: &str,
    args: &MultiuserArgs,
    scope: Scope,
    io: &mut Output<'_>,
) -> Result<i32> {
    let Some(off) = remote_overlay::plan_off(root, dir, shown, args.target.as_deref(), scope)?
    else {
        return locate::find(root, None).map(|_| 0);
    };
    let mut text = format!(
        "multiuser off --overlay {shown}: on {} (remote base {}:{}, {}), from what kfpatch knows of KFP {}\n",
        paths::relative(root, &off.target),
        off.remote.file,
        off.remote.line,
        off.remote.release(),
        off.kfp
    );
    for c in &off.plan.changes {
        text.push_str(&format!(
            "  {}: {} {} -> {} ({})\n",
            c.file,
            c.setting,
            show_value(c.old.as_deref()),
            show_value(c.new.as_deref()),
            c.why
        ));
    }
    let choice = args.write.choice();
    let code = finish(&off.changes, choice, text, io)?;
    if !choice.check {
        write_out(
            io,
            &format!(
                "render and apply (kustomize fetches the base): kubectl kustomize {shown} | kubectl apply --server-side -f -\n"
            ),
        )?;
        let _ = io.err.write_all(ISOLATION_NOTE.as_bytes());
    }
    Ok(code)
}

/// Prints the overlay's file changes with their diff after `text`, then checks, previews or
/// makes them.
fn finish(
    changes: &OverlayChanges,
    choice: WriteChoice,
    mut text: String,
    io: &mut Output<'_>,
) -> Result<i32> {
    let shown = &changes.shown;
    if changes.files.is_empty() {
        text.push_str(&format!("{shown} is up to date; nothing to change\n"));
        write_out(io, &text)?;
        return Ok(0);
    }
    text.push('\n');
    text.push_str(&changes.diff(io.color));
    let count = changes.files.len();
    let files = if count == 1 { "file" } else { "files" };
    if choice.check {
        text.push_str(&format!(
            "{count} overlay {files} would change; run without --check to write\n"
        ));
        write_out(io, &text)?;
        return Ok(EXIT_CHANGES);
    }
    if choice.dry_run {
        text.push_str(&format!(
            "dry run: {count} overlay {files} would change, nothing written\n"
        ));
        write_out(io, &text)?;
        return Ok(0);
    }
    let done = changes.write(io.err)?;
    text.push_str(&done);
    text.push('\n');
    write_out(io, &text).inspect_err(|_| {
        // The overlay is written: say so where it can still be read.
        let _ = writeln!(
            io.err,
            "kfpatch: {done} in {shown}, but standard output was closed before the diff was shown"
        );
    })?;
    Ok(0)
}
