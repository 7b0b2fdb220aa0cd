//! The kfpatch command: parses the command line and hands it to the command it names. Everything
//! else lives in the library, one layer per folder (see `lib.rs`).

use clap::Parser;
use kfpatch::cli::{Cli, Command};
use kfpatch::commands;
use kfpatch::output::{self, Output};

fn main() {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
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
    };
    let code = match result {
        Ok(code) => code,
        Err(failure) => {
            let _ = writeln!(io.err, "kfpatch: error: {}", failure.message);
            failure.code
        }
    };
    std::process::exit(code);
}
