//! The kfpatch command: parses the command line and hands it to the command it names. Everything
//! else lives in the library, one layer per folder (see `lib.rs`).

use std::io::Write;

use clap::FromArgMatches;
use kfpatch::cli::{self, Cli, Command};
use kfpatch::commands;
use kfpatch::output::{self, Output};

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // kubectl's plugin completion protocol (asked by kubectl_complete-kfpatch) is not a command
    // of the definition, so that help, man pages and shell scripts do not offer it.
    if args.get(1).is_some_and(|a| a == "__complete") {
        let words: Vec<String> = args[2..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        // A closed pipe is kubectl's business: there is nobody to tell.
        let _ = std::io::stdout().write_all(commands::complete::answer(&words).as_bytes());
        return;
    }
    let mut command = cli::command(args.first().map(|a| a.as_os_str()));
    let matches = command
        .try_get_matches_from_mut(args)
        .unwrap_or_else(|e| e.exit());
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut command).exit());
    let mut out = std::io::stdout().lock();
    let mut err = output::escape::Visible(std::io::stderr().lock());
    let mut io = Output {
        out: &mut out,
        err: &mut err,
        color: output::use_color(cli.color),
    };
    let result = match &cli.command {
        Command::Status(args) => commands::status::run(&cli, args, &mut io),
        Command::Multiuser(args) => commands::multiuser::run(&cli, args, &mut io),
        Command::Set(args) => commands::set::run(&cli, args, &mut io),
        Command::Audit(args) => commands::audit::run(&cli, args, &mut io),
        Command::Render(args) => commands::render::run(&cli, args, &mut io),
        Command::Reinstall(args) => commands::reinstall::run(&cli, args, &mut io),
        Command::Access(args) => commands::access::run(&cli, args, &mut io),
        Command::Doctor(args) => commands::doctor::run(&cli, args, &mut io),
        Command::Completion(args) => commands::completion::run(args, &mut io),
        Command::Man(args) => commands::man::run(&cli, args, &mut io),
    };
    let code = match result {
        Ok(code) => code,
        Err(failure) if failure.is_quiet() => failure.code,
        Err(failure) => {
            let _ = writeln!(io.err, "error: {}", failure.message);
            failure.code
        }
    };
    std::process::exit(code);
}
