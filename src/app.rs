//! Runs one parsed command line: finds the install, builds the plan or report, prints it, and
//! returns the exit code. Output goes to the writers it is given, so tests can read it.

use std::io::{IsTerminal, Write};

use crate::catalogue::{Mode, Scope};
use crate::cli::{Cli, Color, Command, MultiuserArgs, OnOff, SetArgs, WriteFlags};
use crate::error::{Failure, Result};
use crate::install::{self, Install};
use crate::plan::{self, Plan, show_value};
use crate::status;

/// Exit code of `--check` when something would change.
pub const EXIT_CHANGES: i32 = 1;

pub struct Output<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub color: bool,
}

/// Whether to colour stdout, honouring `--color` and NO_COLOR.
pub fn use_color(choice: Color) -> bool {
    match choice {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

/// Runs `cli`, printing to `io`; returns the process exit code.
pub fn run(cli: &Cli, io: &mut Output<'_>) -> i32 {
    let result = match &cli.command {
        Command::Status => status_command(cli, io),
        Command::Multiuser(args) => multiuser_command(cli, args, io),
        Command::Set(args) => set_command(cli, args, io),
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            let _ = writeln!(io.err, "kfpatch: error: {}", failure.message);
            failure.code
        }
    }
}

fn find(cli: &Cli) -> Result<Install> {
    install::find(&cli.dir, cli.install.as_deref())
}

fn version_text(install: &Install) -> String {
    match &install.version {
        Ok(v) => v.to_string(),
        Err(why) => format!("unknown ({why})"),
    }
}

fn status_command(cli: &Cli, io: &mut Output<'_>) -> Result<i32> {
    let install = find(cli)?;
    let rows = status::rows(&install)?;
    let mut text = String::new();
    text.push_str(&format!("install:  {}\n", install.rel));
    text.push_str(&format!("layout:   {}\n", install.layout.describe()));
    text.push_str(&format!("KFP:      {}\n", version_text(&install)));
    text.push_str(&format!(
        "git:      {}\n",
        match status::git_state(&install) {
            None => "not a git checkout".to_string(),
            Some(git) => {
                let mut s = git.commit[..12.min(git.commit.len())].to_string();
                if let Some(tag) = git.tag {
                    s.push_str(&format!(" (tag {tag})"));
                }
                if git.modified.is_empty() {
                    s.push_str(", managed files unmodified");
                } else {
                    s.push_str(&format!(
                        ", uncommitted changes in {}",
                        git.modified.join(", ")
                    ));
                }
                s
            }
        }
    ));
    text.push_str(&format!("mode:     {}\n", status::overall_mode(&rows)));
    text.push_str("settings:\n");
    let width = rows
        .iter()
        .map(|r| location(r.file, r.line).len())
        .max()
        .unwrap_or(0);
    let name_width = rows.iter().map(|r| r.setting.len()).max().unwrap_or(0);
    let mut problems = Vec::new();
    for r in &rows {
        let mode = match (r.mode, r.counts) {
            (Some(Mode::On), _) => "multi-user",
            (Some(Mode::Off), _) => "single-user",
            (None, true) if r.problem.is_none() => "customised",
            _ => "",
        };
        text.push_str(
            format!(
                "  {} {:width$}  {:name_width$}  {}{}\n",
                r.row,
                location(r.file, r.line),
                r.setting,
                r.shown,
                if mode.is_empty() {
                    String::new()
                } else {
                    format!("  [{mode}]")
                },
            )
            .trim_end_matches(' '),
        );
        if !text.ends_with('\n') {
            text.push('\n');
        }
        if let Some(p) = &r.problem {
            problems.push(p.clone());
        }
    }
    write_out(io, &text)?;
    if problems.is_empty() {
        Ok(0)
    } else {
        problems.dedup();
        Err(Failure::new(problems.join("\n")))
    }
}

fn location(file: &str, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{file}:{l}"),
        None => file.to_string(),
    }
}

fn write_out(io: &mut Output<'_>, text: &str) -> Result<()> {
    io.out
        .write_all(text.as_bytes())
        .map_err(|e| Failure::new(format!("cannot write to standard output: {e}")))
}

fn multiuser_command(cli: &Cli, args: &MultiuserArgs, io: &mut Output<'_>) -> Result<i32> {
    let install = find(cli)?;
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
    let plan = plan::switch(&install, mode, scope)?;
    let title = format!(
        "multiuser {}: {} (KFP {})",
        mode.word(),
        install.rel,
        version_text(&install)
    );
    let code = finish(&install, &plan, &title, &args.write, &[], io)?;
    if mode == Mode::Off && !args.write.check {
        write_out(
            io,
            "note: with multi-user mode off, every user can see every run, experiment and artifact. To keep isolation between profiles, keep it on and give notebooks token access instead (README, \"Token access\").\n",
        )?;
    }
    Ok(code)
}

fn set_command(cli: &Cli, args: &SetArgs, io: &mut Output<'_>) -> Result<i32> {
    let mut pairs = Vec::new();
    for pair in &args.pairs {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(Failure::new(format!(
                "set {pair}: expected KEY=VALUE (e.g. VISUALIZATIONSERVICE_PORT=8080)"
            )));
        };
        pairs.push((key.to_string(), value.to_string()));
    }
    let install = find(cli)?;
    let plan = plan::set(&install, &pairs, args.allow_unknown_key)?;
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    let title = format!("set: {}", install.display(install::PARAMS_ENV));
    let code = finish(&install, &plan, &title, &args.write, &keys, io)?;
    if keys.contains(&"MULTIUSER") {
        let _ = writeln!(
            io.err,
            "kfpatch: warning: set MULTIUSER changes only the switch; 'kfpatch multiuser on|off' also changes the settings that must go with it"
        );
    }
    Ok(code)
}

/// Prints the plan, then checks, previews or writes it.
fn finish(
    install: &Install,
    plan: &Plan,
    title: &str,
    flags: &WriteFlags,
    extra_keys: &[&str],
    io: &mut Output<'_>,
) -> Result<i32> {
    let mut text = format!("{title}\n");
    for c in &plan.changes {
        text.push_str(&format!(
            "  {}:{}: {} {} -> {} ({})\n",
            c.file,
            c.line,
            c.setting,
            show_value(c.old.as_deref()),
            show_value(c.new.as_deref()),
            c.why
        ));
    }
    for note in &plan.kept {
        text.push_str(&format!(
            "  kept {}: {} {}\n",
            location(&note.file, note.line),
            note.setting,
            note.message
        ));
    }
    for note in &plan.skipped {
        text.push_str(&format!(
            "  skip {}: {}: {}\n",
            location(&note.file, note.line),
            note.setting,
            note.message
        ));
    }
    if plan.is_empty() {
        text.push_str("nothing to change\n");
        write_out(io, &text)?;
        return Ok(0);
    }
    text.push('\n');
    text.push_str(&plan.diff(io.color));
    let count = plan.files.len();
    let files = if count == 1 { "file" } else { "files" };
    if flags.check {
        text.push_str(&format!(
            "{count} {files} would change; run without --check to write\n"
        ));
        write_out(io, &text)?;
        return Ok(EXIT_CHANGES);
    }
    if flags.dry_run {
        text.push_str(&format!(
            "dry run: {count} {files} would change, nothing written\n"
        ));
        write_out(io, &text)?;
        return Ok(0);
    }
    if !flags.allow_dirty {
        plan::check_clean(plan, install, extra_keys)?;
    }
    plan.write()?;
    text.push_str(&format!("wrote {count} {files}\n"));
    write_out(io, &text)?;
    Ok(0)
}
