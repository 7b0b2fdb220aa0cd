//! Every command and flag of kfpatch, in one place. The names are a contract: CI scripts are
//! written against them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};

use crate::cluster::apply::DryRun;
use crate::edit::outcome::WriteChoice;
use crate::output::ColorChoice;

#[derive(Debug, Parser)]
#[command(
    name = "kfpatch",
    version,
    about = "Switch Kubeflow Pipelines multi-user mode in a manifests checkout, with every related setting, and show the diff",
    after_help = concat!(
        "Examples:\n",
        "  # the install kfpatch finds, its KFP release and every managed setting\n",
        "  kfpatch -C manifests status\n",
        "  # switch to single-user mode: the diff first, then the edit\n",
        "  kfpatch -C manifests multiuser off --dry-run && kfpatch -C manifests multiuser off\n",
        "  # a CI gate: exit 1 unless every switched setting is single-user\n",
        "  kfpatch -C manifests audit --expect off\n",
        "\n",
        "Exit codes: 0 done or nothing to change; 1 --check found changes to make, audit found errors or drift, or render found settings that disagree with the files' mode or --expect; 2 error (nothing written); 3 reinstall or access --apply: the cluster lacks what is needed, rejected it, or did not become ready; status --cluster, audit --cluster, doctor: a cluster cannot be read. doctor: 0 a working route exists, 1 none does."
    )
)]
pub struct Cli {
    /// Run as if started in DIR (the manifests checkout)
    #[arg(short = 'C', value_name = "DIR", default_value = ".", global = true, value_hint = ValueHint::DirPath)]
    pub dir: PathBuf,

    /// The install to use when the checkout has several: its installs/multi-user folder or its
    /// api-service/params.env (relative to -C)
    #[arg(long, value_name = "PATH", global = true, value_hint = ValueHint::AnyPath)]
    pub install: Option<PathBuf>,

    /// Colour the output: auto (on a terminal, unless NO_COLOR is set or TERM=dumb), always, never
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,

    #[command(flatten)]
    pub kube: KubeFlags,

    #[command(subcommand)]
    pub command: Command,
}

/// kubectl's own flags, global as in kubectl: passed to every kubectl call kfpatch makes.
#[derive(Debug, Clone, Args)]
pub struct KubeFlags {
    /// The kubeconfig file for kubectl (default: as kubectl, KUBECONFIG, then ~/.kube/config)
    #[arg(long, value_name = "FILE", global = true, value_hint = ValueHint::FilePath)]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: its current context); status --cluster and audit
    /// --cluster take it several times, one cluster each
    #[arg(long = "context", value_name = "NAME", global = true)]
    pub contexts: Vec<String>,
}

impl KubeFlags {
    /// The one context of a command that reads or changes one cluster (`None`: the current one).
    pub fn context(&self) -> std::result::Result<Option<String>, String> {
        match self.contexts.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.clone())),
            several => Err(format!(
                "--context given {} times; this command works on one cluster (status --cluster and audit --cluster take several)",
                several.len()
            )),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the install kfpatch finds, its release, and every managed setting
    #[command(after_help = concat!(
        "Examples:\n",
        "  # the install, its KFP release and every managed setting\n",
        "  kfpatch -C manifests status\n",
        "  # the same as JSON (docs/status.schema.json)\n",
        "  kfpatch -C manifests status -o json\n",
        "  # one install of several\n",
        "  kfpatch -C manifests --install apps/pipeline/upstream/base/installs/multi-user status"
    ))]
    Status(StatusArgs),
    /// Switch multi-user mode on or off, with every related setting of the release
    #[command(after_help = concat!(
        "Examples:\n",
        "  # print the diff, write nothing\n",
        "  kfpatch -C manifests multiuser off --dry-run\n",
        "  # switch every related setting to single-user\n",
        "  kfpatch -C manifests multiuser off\n",
        "  # a kustomize overlay instead of edits\n",
        "  kfpatch -C manifests multiuser off --overlay overlays/kfp-single-user"
    ))]
    Multiuser(MultiuserArgs),
    /// Set keys of the API server's params.env (validated), e.g. VISUALIZATIONSERVICE_PORT=8080
    #[command(after_help = concat!(
        "Examples:\n",
        "  # print the diff, write nothing\n",
        "  kfpatch -C manifests set VISUALIZATIONSERVICE_PORT=8080 --dry-run\n",
        "  # validated: a boolean the API server parses\n",
        "  kfpatch -C manifests set MULTIUSER_SHARED_READ=true\n",
        "  # exit 1 if it would change\n",
        "  kfpatch -C manifests set --check DEFAULTPIPELINERUNNERSERVICEACCOUNT=pipeline-runner"
    ))]
    Set(SetArgs),
    /// Report what would break on the cluster, settings that disagree, and drift from a git ref
    #[command(after_help = concat!(
        "Examples:\n",
        "  # is every switched setting single-user?\n",
        "  kfpatch -C manifests audit --expect off\n",
        "  # drift since the upstream tag, as JSON\n",
        "  kfpatch -C manifests audit --against v1.8.1 -o json\n",
        "  # for GitHub code scanning\n",
        "  kfpatch -C manifests audit -o sarif > kfpatch.sarif"
    ))]
    Audit(AuditArgs),
    /// Render the manifests once and show the effective KFP settings the cluster would get
    #[command(after_help = concat!(
        "Examples:\n",
        "  # the pipeline overlay example/ uses\n",
        "  kfpatch -C manifests render\n",
        "  # exit 1 unless what the cluster would get is single-user\n",
        "  kfpatch -C manifests render --expect off\n",
        "  # a kfctl-era tree, which kustomize builds only with the load restrictor off\n",
        "  kfpatch -C manifests render --kustomize 'kubectl kustomize --load-restrictor LoadRestrictionsNone'\n",
        "\n",
        "Exit codes: 0 the render agrees with the files and with the mode (--expect, else the files'); 1 a setting renders at the other mode's value, or differs from its file; 2 bad input, or kustomize failed"
    ))]
    Render(RenderArgs),
    /// Render once and apply to the cluster in order (namespaces and CRDs first), with bounded retries
    #[command(after_help = concat!(
        "Examples:\n",
        "  # kubectl checks only (client), nothing applied\n",
        "  kfpatch -C manifests reinstall --dry-run\n",
        "  # the API server checks every object, stores nothing\n",
        "  kfpatch -C manifests reinstall --dry-run=server --context prod\n",
        "  # the whole of example/, without asking\n",
        "  kfpatch -C manifests reinstall --target all --timeout 20m --yes"
    ))]
    Reinstall(ReinstallArgs),
    /// Keep multi-user mode and give notebooks of each profile a token for the KFP API (PodDefault)
    #[command(after_help = concat!(
        "Examples:\n",
        "  # print the PodDefaults\n",
        "  kfpatch access -n team-a -n team-b\n",
        "  # one file per namespace and a kustomization.yaml\n",
        "  kfpatch -C gitops access -n team-a --output-dir kfp-access\n",
        "  # server-side apply, after a prompt\n",
        "  kfpatch access -n team-a --apply --context prod"
    ))]
    Access(AccessArgs),
    /// Explain "there is no user identity header" for this cluster: which way to the KFP API works, and the fix
    #[command(after_help = concat!(
        "Examples:\n",
        "  # a client outside the cluster\n",
        "  kfpatch doctor --context prod\n",
        "  # a notebook in a profile namespace, as JSON\n",
        "  kfpatch doctor -n team-a -o json"
    ))]
    Doctor(DoctorArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish), or kubectl's plugin completer
    #[command(after_help = concat!(
        "Examples:\n",
        "  # bash: every new shell (bash-completion loads it)\n",
        "  kfpatch completion bash > ~/.local/share/bash-completion/completions/kfpatch\n",
        "  # zsh: a folder on $fpath\n",
        "  kfpatch completion zsh > ~/.zfunc/_kfpatch\n",
        "  # kubectl kfpatch <TAB>: an executable beside kubectl-kfpatch on PATH\n",
        "  kfpatch completion kubectl-plugin > ~/.local/bin/kubectl_complete-kfpatch && chmod +x ~/.local/bin/kubectl_complete-kfpatch"
    ))]
    Completion(CompletionArgs),
    /// Write the man pages (kfpatch.1 and one per subcommand) into a folder
    #[command(after_help = concat!(
        "Examples:\n",
        "  # then: man kfpatch-audit\n",
        "  kfpatch man --output-dir ~/.local/share/man/man1\n",
        "  # read one without installing\n",
        "  kfpatch man --output-dir man && man -l man/kfpatch.1"
    ))]
    Man(ManArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output format (json and yaml: docs/status.schema.json); --format is the same flag (the last one given wins)
    #[arg(short = 'o', long = "output", visible_alias = "format", overrides_with = "format", value_name = "FORMAT", value_enum, default_value_t = StatusFormat::Text)]
    pub format: StatusFormat,

    /// Show the settings the running cluster(s) have, read from their live objects (read-only)
    #[arg(long)]
    pub cluster: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Text,
    Json,
    Yaml,
    /// GitHub Actions workflow commands (annotations)
    Github,
    /// SARIF 2.1.0, for GitHub code scanning
    Sarif,
    /// GitLab Code Quality report
    Gitlab,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Also report every setting that is not at this mode's value
    #[arg(long, value_enum, value_name = "on|off")]
    pub expect: Option<OnOff>,

    /// Also report what changed in the KFP tree since this git ref (tag, branch, commit)
    #[arg(long, value_name = "REF")]
    pub against: Option<String>,

    /// Output format (json and yaml: docs/audit.schema.json); --format is the same flag (the last one given wins)
    #[arg(short = 'o', long = "output", visible_alias = "format", overrides_with = "format", value_name = "FORMAT", value_enum, default_value_t = AuditFormat::Text)]
    pub format: AuditFormat,

    /// Also exit 1 on warnings (by default only errors and drift do)
    #[arg(long)]
    pub strict: bool,

    /// Compare the checkout's render with the live objects of the cluster(s) (read-only)
    #[arg(long, conflicts_with_all = ["expect", "against"])]
    pub cluster: bool,

    /// With --cluster, what the checkout deploys: kfp (the pipeline overlay example/ uses), all,
    /// or a kustomization folder (default kfp)
    #[arg(long, value_name = "kfp|all|PATH", requires = "cluster")]
    pub target: Option<String>,

    /// With --cluster: the kustomize to run (default: kustomize build when kustomize is on PATH,
    /// else kubectl kustomize)
    #[arg(long, value_name = "CMD", requires = "cluster")]
    pub kustomize: Option<String>,
}

/// The formats of a report that has no findings to annotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The profile namespace of the notebook that calls kfp.Client() (default: a client outside
    /// the cluster)
    #[arg(short = 'n', long, value_name = "PROFILE_NS")]
    pub namespace: Option<String>,

    /// Output format; --format is the same flag (the last one given wins)
    #[arg(short = 'o', long = "output", visible_alias = "format", overrides_with = "format", value_name = "FORMAT", value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

#[derive(Debug, Args)]
pub struct KustomizeFlag {
    /// The kustomize to run: a command line such as "kustomize build" or "kubectl kustomize"
    /// (split on spaces, no shell; default: kustomize build when kustomize is on PATH, else kubectl
    /// kustomize)
    #[arg(long, value_name = "CMD")]
    pub kustomize: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderFormat {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// What to render: kfp (the pipeline overlay example/ uses), all (example/), or a kustomization folder
    #[arg(long, value_name = "kfp|all|PATH", default_value = "kfp", value_hint = ValueHint::DirPath)]
    pub target: String,

    /// Time limit for the render (kustomize and its version check), e.g. 90s, 5m
    #[arg(long, value_name = "DURATION", default_value = crate::cluster::render::RENDER_LIMIT)]
    pub timeout: String,

    /// Output format (json and yaml: docs/render.schema.json); --format is the same flag (the last one given wins)
    #[arg(short = 'o', long = "output", visible_alias = "format", overrides_with = "format", value_name = "FORMAT", value_enum, default_value_t = RenderFormat::Text)]
    pub format: RenderFormat,

    /// The mode the render must give the cluster (default: the install's files' mode); exit 1 if
    /// a switched setting renders at the other mode's value
    #[arg(long, value_enum, value_name = "on|off")]
    pub expect: Option<OnOff>,

    #[command(flatten)]
    pub kustomize: KustomizeFlag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServerSide {
    Auto,
    Always,
    Never,
}

/// The flags of the commands that change a cluster (kubectl's own are global: [`KubeFlags`]).
#[derive(Debug, Args)]
pub struct ClusterFlags {
    /// Apply without asking (needed when there is no terminal)
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct ReinstallArgs {
    /// What to apply: kfp (the pipeline overlay example/ uses), all (example/), or a kustomization folder
    #[arg(long, value_name = "kfp|all|PATH", default_value = "kfp", value_hint = ValueHint::DirPath)]
    pub target: String,

    #[command(flatten)]
    pub cluster: ClusterFlags,

    /// none: apply; client (--dry-run alone): kubectl checks only; server: the API server checks
    /// everything, stores nothing
    #[arg(long, value_enum, value_name = "MODE", default_value_t = DryRun::None, num_args = 0..=1, default_missing_value = "client")]
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
    #[arg(short = 'n', long = "namespace", value_name = "NS", required = true)]
    pub namespaces: Vec<String>,

    /// Write one file per namespace and a kustomization.yaml into DIR instead of printing YAML
    #[arg(long, value_name = "DIR", conflicts_with = "apply", value_hint = ValueHint::DirPath)]
    pub output_dir: Option<PathBuf>,

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
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub overlay: Option<PathBuf>,

    /// With --overlay: the kustomization the overlay builds on (default: the pipeline overlay example/ uses)
    #[arg(long, value_name = "PATH", requires = "overlay", value_hint = ValueHint::DirPath)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
    /// The kubectl_complete-kfpatch executable kubectl (1.26 on) runs to complete `kubectl kfpatch`
    KubectlPlugin,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to complete in, or kubectl-plugin
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The folder to write kfpatch.1 and kfpatch-COMMAND.1 into (created if missing)
    #[arg(long, value_name = "DIR", required = true, value_hint = ValueHint::DirPath)]
    pub output_dir: PathBuf,
}

/// The command line definition, named as invoked: `kubectl kfpatch` when run as the kubectl
/// plugin (an executable `kubectl-kfpatch`), so usage, help and examples say what to type.
pub fn command(invoked_as: Option<&std::ffi::OsStr>) -> clap::Command {
    let command = <Cli as clap::CommandFactory>::command();
    let plugin = invoked_as
        .and_then(|path| std::path::Path::new(path).file_name())
        .is_some_and(|name| name.to_string_lossy().starts_with("kubectl-"));
    if !plugin {
        return command;
    }
    command.bin_name("kubectl kfpatch").mut_subcommands(|sub| {
        let examples = sub
            .get_after_help()
            .map(|help| help.to_string().replace("  kfpatch ", "  kubectl kfpatch "));
        match examples {
            Some(examples) => sub.after_help(examples),
            None => sub,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// Splits an example command line as a shell would (quotes, no expansions), up to a
    /// redirection or a second command.
    fn words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word: Option<String> = None;
        let mut quote = None;
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.get_or_insert_default().push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    word.get_or_insert_default();
                }
                (None, ' ') => words.extend(word.take()),
                (None, c) => word.get_or_insert_default().push(c),
            }
        }
        words.extend(word);
        let end = words
            .iter()
            .position(|w| [">", "&&", "|", "#"].contains(&w.as_str()))
            .unwrap_or(words.len());
        words.truncate(end);
        words
    }

    /// Every command's --help ends with examples (the command's before its exit codes), and every
    /// example parses, a subcommand's to that subcommand.
    #[test]
    fn every_example_parses() {
        let command = Cli::command();
        let root_help = command.get_after_help().expect("examples").to_string();
        let (root_examples, exit_codes) = root_help.split_once("\n\n").expect("two blocks");
        assert!(exit_codes.starts_with("Exit codes: "), "{exit_codes}");
        for line in root_examples.lines().filter_map(|l| l.strip_prefix("  ")) {
            if !line.starts_with('#') {
                for example in line.split(" && ") {
                    Cli::try_parse_from(words(example))
                        .unwrap_or_else(|e| panic!("example {example:?} does not parse: {e}"));
                }
            }
        }
        for sub in command.get_subcommands() {
            let help = sub
                .get_after_help()
                .unwrap_or_else(|| panic!("{} has no examples", sub.get_name()))
                .to_string();
            assert!(help.starts_with("Examples:\n"), "{help}");
            let lines: Vec<&str> = help
                .lines()
                .filter_map(|l| l.strip_prefix("  "))
                .filter(|l| !l.starts_with('#'))
                .collect();
            assert!(
                (2..=3).contains(&lines.len()),
                "{}: {lines:?}",
                sub.get_name()
            );
            for line in lines {
                let start = line.find("kfpatch ").expect("names kfpatch");
                let words = words(&line[start..]);
                let cli = Cli::try_parse_from(&words)
                    .unwrap_or_else(|e| panic!("example {line:?} does not parse: {e}"));
                let parsed = format!("{:?}", cli.command);
                let name = sub.get_name().to_lowercase();
                assert!(parsed.to_lowercase().starts_with(&name), "{line}: {parsed}");
            }
        }
    }

    #[test]
    fn output_takes_format_as_alias_and_dry_run_alone_is_client() {
        let cli = Cli::try_parse_from(["kfpatch", "audit", "--format", "sarif"]).expect("parse");
        let Command::Audit(args) = cli.command else {
            panic!("audit")
        };
        assert_eq!(args.format, AuditFormat::Sarif);
        let cli =
            Cli::try_parse_from(["kfpatch", "reinstall", "--dry-run", "--yes"]).expect("parse");
        let Command::Reinstall(args) = cli.command else {
            panic!("reinstall")
        };
        assert_eq!(args.dry_run, DryRun::Client);
        assert!(args.cluster.yes);
        let cli =
            Cli::try_parse_from(["kfpatch", "reinstall", "--dry-run", "server"]).expect("parse");
        let Command::Reinstall(args) = cli.command else {
            panic!("reinstall")
        };
        assert_eq!(args.dry_run, DryRun::Server);
    }
}
