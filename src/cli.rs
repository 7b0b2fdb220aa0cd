//! Every command and flag of kfpatch, in one place. The names are a contract: CI scripts are
//! written against them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "kfpatch",
    version,
    about = "Switch Kubeflow Pipelines multi-user mode in a manifests checkout, with every related setting, and show the diff",
    after_help = "Exit codes: 0 done or nothing to change; 1 --check found changes to make; 2 error (nothing written)."
)]
pub struct Cli {
    /// Run as if started in DIR (the manifests checkout)
    #[arg(short = 'C', value_name = "DIR", default_value = ".", global = true)]
    pub dir: PathBuf,

    /// The install to use when the checkout has several: its installs/multi-user folder or its
    /// api-service/params.env (relative to -C)
    #[arg(long, value_name = "PATH", global = true)]
    pub install: Option<PathBuf>,

    /// Colour the output: auto (on a terminal, unless NO_COLOR is set), always, never
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    pub color: Color,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the install kfpatch finds, its release, and every managed setting
    Status,
    /// Switch multi-user mode on or off, with every related setting of the release
    Multiuser(MultiuserArgs),
    /// Set keys of the API server's params.env (validated), e.g. VISUALIZATIONSERVICE_PORT=8080
    Set(SetArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, Args)]
pub struct WriteFlags {
    /// Write nothing; exit 1 if anything would change, 0 if not (for CI)
    #[arg(long, conflicts_with = "dry_run")]
    pub check: bool,

    /// Print the changes and the diff; write nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Write files even if they have uncommitted changes beyond the managed settings
    #[arg(long)]
    pub allow_dirty: bool,
}

#[derive(Debug, Args)]
pub struct MultiuserArgs {
    /// on: upstream multi-user mode; off: single-user mode
    #[arg(value_enum)]
    pub mode: OnOff,

    /// Change only the params.env files (MULTIUSER, runner service account, persistence agent)
    #[arg(long, conflicts_with = "parity")]
    pub params_only: bool,

    /// Also change the namespace watch settings, for exact parity with a single-user install
    #[arg(long)]
    pub parity: bool,

    #[command(flatten)]
    pub write: WriteFlags,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// KEY=VALUE pairs for api-service/params.env
    #[arg(value_name = "KEY=VALUE", required = true)]
    pub pairs: Vec<String>,

    /// Add a key the KFP API server is not known to read
    #[arg(long)]
    pub allow_unknown_key: bool,

    #[command(flatten)]
    pub write: WriteFlags,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
