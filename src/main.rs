use clap::Parser;
use kfpatch::app::{self, Output};
use kfpatch::cli::Cli;

fn main() {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let mut io = Output {
        out: &mut out,
        err: &mut err,
        color: app::use_color(cli.color),
    };
    let code = app::run(&cli, &mut io);
    std::process::exit(code);
}
