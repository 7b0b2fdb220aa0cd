//! Every command and flag of kfpatch, in one place. The names are a contract: CI scripts are
//! written against them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cluster::apply::DryRun;
use crate::edit::outcome::WriteChoice;
use crate::output::ColorChoice;

#[derive(Debug, Parser)]
#[command(
    name = "kfpatch",
    version,
    about = "Switch Kubeflow Pipelines multi-user mode in a manifests checkout, with every related setting, and show the diff",
    after_help = "Exit codes: 0 done or nothing to change; 1 --check found changes to make, or audit found errors or drift; 2 error (nothing written); 3 reinstall or access --apply: the cluster lacks what is needed, rejected it, or did not become ready."
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
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the install kfpatch finds, its release, and every managed setting
    Status(StatusArgs),
    /// Switch multi-user mode on or off, with every related setting of the release
    Multiuser(MultiuserArgs),
    /// Set keys of the API server's params.env (validated), e.g. VISUALIZATIONSERVICE_PORT=8080
    Set(SetArgs),
    /// Report what would break on the cluster, settings that disagree, and drift from a git ref
    Audit(AuditArgs),
    /// Render the manifests once and show the effective KFP settings the cluster would get
    Render(RenderArgs),
    /// Render once and apply to the cluster in order (namespaces and CRDs first), with bounded retries
    Reinstall(ReinstallArgs),
    /// Keep multi-user mode and give notebooks of each profile a token for the KFP API (PodDefault)
    Access(AccessArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Github,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output format: text or json
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Also report every setting that is not at this mode's value
    #[arg(long, value_enum, value_name = "on|off")]
    pub expect: Option<OnOff>,

    /// Also report what changed in the KFP tree since this git ref (tag, branch, commit)
    #[arg(long, value_name = "REF")]
    pub against: Option<String>,

    /// Output format: text, json, or github (workflow command annotations)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Also exit 1 on warnings (by default only errors and drift do)
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct KustomizeFlag {
    /// The kustomize to run: a command line such as "kustomize build" or "kubectl kustomize"
    /// (default: kustomize build when kustomize is on PATH, else kubectl kustomize)
    #[arg(long, value_name = "CMD")]
    pub kustomize: Option<String>,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// What to render: kfp (the pipeline overlay example/ uses), all (example/), or a kustomization folder
    #[arg(long, value_name = "kfp|all|PATH", default_value = "kfp")]
    pub target: String,

    #[command(flatten)]
    pub kustomize: KustomizeFlag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServerSide {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct ClusterFlags {
    /// The kubeconfig file for kubectl
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Apply without asking (needed when there is no terminal)
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct ReinstallArgs {
    /// What to apply: kfp (the pipeline overlay example/ uses), all (example/), or a kustomization folder
    #[arg(long, value_name = "kfp|all|PATH", default_value = "kfp")]
    pub target: String,

    #[command(flatten)]
    pub cluster: ClusterFlags,

    /// none: apply; client: kubectl checks only; server: the API server checks everything, stores nothing
    #[arg(long, value_enum, default_value_t = DryRun::None)]
    pub dry_run: DryRun,

    /// Server-side apply: auto (with --force-conflicts where the release's README uses it, v1.10 on), always, never
    #[arg(long, value_enum, default_value_t = ServerSide::Auto)]
    pub server_side: ServerSide,

    /// How many times to try an apply whose errors can heal (CRD not yet established, webhook not serving)
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub attempts: u32,

    /// Time limit for the whole command, e.g. 90s, 5m
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub timeout: String,

    /// Do not wait for the KFP API server and UI to roll out
    #[arg(long)]
    pub no_wait: bool,

    /// Delete pipeline-api-server-config-* ConfigMaps that no Deployment references any more
    #[arg(long)]
    pub prune_stale_config: bool,

    #[command(flatten)]
    pub kustomize: KustomizeFlag,
}

#[derive(Debug, Args)]
pub struct AccessArgs {
    /// A profile namespace whose notebooks get access (repeat for several)
    #[arg(long = "namespace", value_name = "NS", required = true)]
    pub namespaces: Vec<String>,

    /// Write one file per namespace and a kustomization.yaml into DIR instead of printing YAML
    #[arg(long, value_name = "DIR", conflicts_with = "apply")]
    pub output: Option<PathBuf>,

    /// Apply the objects to the cluster (server-side), with the same safety prompt as reinstall
    #[arg(long)]
    pub apply: bool,

    /// Lifetime of the projected token, in seconds (Kubernetes requires at least 600)
    #[arg(long, value_name = "SECONDS", default_value_t = 7200)]
    pub expiration_seconds: u64,

    #[command(flatten)]
    pub cluster: ClusterFlags,
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

impl WriteFlags {
    pub fn choice(&self) -> WriteChoice {
        WriteChoice {
            check: self.check,
            dry_run: self.dry_run,
            allow_dirty: self.allow_dirty,
        }
    }
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

    /// Write the switch as a kustomize overlay in DIR instead of editing upstream files
    #[arg(long, value_name = "DIR")]
    pub overlay: Option<PathBuf>,

    /// With --overlay: the kustomization the overlay builds on (default: the pipeline overlay example/ uses)
    #[arg(long, value_name = "PATH", requires = "overlay")]
    pub target: Option<PathBuf>,

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
