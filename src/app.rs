//! Runs one parsed command line: finds the install, builds the plan or report, prints it, and
//! returns the exit code. Output goes to the writers it is given, so tests can read it.

use std::io::{IsTerminal, Write};

use crate::catalogue::{Mode, Scope};
use crate::cli::{Cli, Color, Command, MultiuserArgs, OnOff, SetArgs, WriteFlags};
use crate::error::{Failure, Result};
use crate::install::{self, Install};
use crate::plan::{self, Plan};
use crate::{access, audit, overlay, reinstall, status};

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
        Command::Status(args) => status::run(cli, args, io),
        Command::Multiuser(args) if args.overlay.is_some() => overlay::run(cli, args, io),
        Command::Multiuser(args) => multiuser_command(cli, args, io),
        Command::Set(args) => set_command(cli, args, io),
        Command::Audit(args) => audit::run(cli, args, io),
        Command::Render(args) => reinstall::render(cli, args, io),
        Command::Reinstall(args) => reinstall::run(cli, args, io),
        Command::Access(args) => access::run(cli, args, io),
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            let _ = writeln!(io.err, "kfpatch: error: {}", failure.message);
            failure.code
        }
    }
}

/// The install the command line names (`-C`, `--install`).
pub fn find(cli: &Cli) -> Result<Install> {
    install::find(&cli.dir, cli.install.as_deref())
}

/// The KFP version for output, or why it is unknown.
pub fn version_text(install: &Install) -> String {
    match &install.version {
        Ok(v) => v.to_string(),
        Err(why) => format!("unknown ({why})"),
    }
}

/// `file:line`, or `file` when the line is unknown.
pub fn location(file: &str, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{file}:{l}"),
        None => file.to_string(),
    }
}

/// Writes to standard output (a closed pipe is an error, not a panic).
pub fn write_out(io: &mut Output<'_>, text: &str) -> Result<()> {
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
