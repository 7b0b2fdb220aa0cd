//! `render` and `reinstall`: render the manifests once, show what the cluster would get, and
//! apply it in order with bounded retries (see [`crate::cluster`] for why upstream's loop is not
//! good enough).
//!
//! Targets: `kfp` is the pipeline line of `example/kustomization.yaml` (facts §2), resolved
//! relative to `example/`; `all` is `example/`; anything else is a kustomization folder relative
//! to `-C`. A kubeflow/pipelines checkout has no `example/`: there `kfp` is
//! `env/cert-manager/platform-agnostic-multi-user`, the overlay kubeflow/manifests copies into
//! its own tree and applies.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::app::{Output, find, write_out};
use crate::cli::{Cli, DryRun, ReinstallArgs, RenderArgs, ServerSide};
use crate::cluster::{self, ApplyOptions, Consent, Kubectl, Object, Progress};
use crate::effective::{self, Effective};
use crate::error::{Failure, Result};
use crate::install::{Install, Layout, relative};
use crate::kustomize::{self, KUSTOMIZATION_FILES, Kustomize};
use crate::overlay;

/// The overlay `--target kfp` means in a kubeflow/pipelines checkout (relative to its
/// `manifests/kustomize`).
pub const PIPELINES_DEFAULT_OVERLAY: &str = "env/cert-manager/platform-agnostic-multi-user";

/// A kustomization folder to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub dir: PathBuf,
    /// `dir` relative to the checkout root.
    pub shown: String,
    /// How `--target` led to it.
    pub why: String,
}

/// Resolves `--target kfp|all|PATH` in `install`'s checkout.
pub fn resolve(install: &Install, target: &str) -> Result<Target> {
    let root = &install.root;
    let example = root.join("example");
    match target {
        "kfp" if has_kustomization(&example) => pipeline_line(root, &example),
        "kfp" if install.layout == Layout::Pipelines => {
            let dir = install.kfp_tree().join(PIPELINES_DEFAULT_OVERLAY);
            folder(
                root,
                &dir,
                "--target kfp: no example/ in a kubeflow/pipelines checkout, so its cert-manager multi-user overlay",
            )
        }
        "kfp" => Err(Failure::new(format!(
            "--target kfp reads the pipeline line of example/kustomization.yaml, and {} has none; run in the kubeflow/manifests checkout root (-C DIR), or pass --target PATH (the KFP overlay to apply)",
            root.display()
        ))),
        "all" if has_kustomization(&example) => {
            folder(root, &example, "--target all: the whole of example/")
        }
        "all" => Err(Failure::new(format!(
            "--target all renders example/, and {} has no example/kustomization.yaml; run in the kubeflow/manifests checkout root (-C DIR), or pass --target PATH",
            root.display()
        ))),
        path => {
            let dir = root.join(path);
            if !has_kustomization(&dir) {
                return Err(Failure::new(format!(
                    "--target {path}: no kustomization.yaml in {}; name a kustomization folder (relative to -C), kfp or all",
                    dir.display()
                )));
            }
            folder(root, &dir, &format!("--target {path}"))
        }
    }
}

fn has_kustomization(dir: &Path) -> bool {
    KUSTOMIZATION_FILES.iter().any(|f| dir.join(f).is_file())
}

fn folder(root: &Path, dir: &Path, why: &str) -> Result<Target> {
    let real = dir
        .canonicalize()
        .map_err(|e| Failure::io("open", dir, &e))?;
    if !has_kustomization(&real) {
        return Err(Failure::new(format!(
            "{why}: {} has no kustomization.yaml",
            real.display()
        )));
    }
    Ok(Target {
        shown: relative(root, &real),
        dir: real,
        why: why.to_string(),
    })
}

/// The one `resources:`/`bases:` entry of `example/kustomization.yaml` under `.../pipeline/...`.
fn pipeline_line(root: &Path, example: &Path) -> Result<Target> {
    let (file, text) = KUSTOMIZATION_FILES
        .iter()
        .map(|f| example.join(f))
        .find_map(|f| std::fs::read_to_string(&f).ok().map(|t| (f, t)))
        .ok_or_else(|| Failure::new("cannot read example/kustomization.yaml"))?;
    let shown = relative(root, &file);
    let value: yaml_serde::Value = yaml_serde::from_str(&text)
        .map_err(|e| Failure::new(format!("{shown}: not valid YAML: {e}")))?;
    let entries: Vec<&str> = ["resources", "bases"]
        .iter()
        .filter_map(|k| value.get(k).and_then(|v| v.as_sequence()))
        .flatten()
        .filter_map(|v| v.as_str())
        .filter(|e| e.split('/').any(|segment| segment == "pipeline"))
        .collect();
    let line_of = |entry: &str| {
        text.lines()
            .position(|l| {
                let l = l.trim_start();
                !l.starts_with('#') && l.contains(entry)
            })
            .map_or(1, |i| i + 1)
    };
    match entries.as_slice() {
        [] => Err(Failure::new(format!(
            "{shown} has no Kubeflow Pipelines line (a resources entry under .../pipeline/...); if it is commented out, uncomment it, or pass --target PATH"
        ))),
        [entry] => {
            let at = format!("{shown}:{}", line_of(entry));
            let dir = example.join(entry);
            if !has_kustomization(&dir) {
                return Err(Failure::new(format!(
                    "{at}: {entry} is not a kustomization folder in this checkout; fix the line, or pass --target PATH"
                )));
            }
            folder(
                root,
                &dir,
                &format!("--target kfp: the pipeline line of {at}"),
            )
        }
        many => {
            let lines: Vec<String> = many
                .iter()
                .map(|e| format!("  {shown}:{}: {e}", line_of(e)))
                .collect();
            Err(Failure::new(format!(
                "{shown} has {} Kubeflow Pipelines lines:\n{}\npick one with --target PATH",
                many.len(),
                lines.join("\n")
            )))
        }
    }
}

/// Reads `90s`, `5m`, `1h30m`, `500ms` or a number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60)?),
            "h" => Duration::from_secs(n.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(unit)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Everything both commands do before the cluster: find, resolve, choose kustomize, render once.
struct Prepared {
    install: Install,
    target: Target,
    kustomize: Kustomize,
    objects: Vec<Object>,
    took: Duration,
    effective: Effective,
}

fn prepare(
    cli: &Cli,
    target: &str,
    kustomize_flag: Option<&str>,
    deadline: Option<Instant>,
    err: &mut dyn Write,
    progress: &mut Progress<'_>,
) -> Result<Prepared> {
    let install = find(cli)?;
    let target = resolve(&install, target)?;
    let kustomize = Kustomize::choose(kustomize_flag)?;
    if let Some(warning) = kustomize.version_warning(&install) {
        let _ = writeln!(err, "kfpatch: warning: {warning}");
    }
    let started = Instant::now();
    progress.label(&format!("rendering {}", target.shown));
    let rendered = kustomize.render(
        &target.dir,
        &install.root,
        &target.shown,
        deadline,
        &mut || progress.tick(),
    )?;
    let took = started.elapsed();
    for remote in &rendered.remote {
        let _ = writeln!(
            err,
            "kfpatch: warning: the render fetched {} ({}:{}); vendor it for an install that renders offline and the same every time",
            remote.url, remote.file, remote.line
        );
    }
    let objects = cluster::split(&rendered.yaml)
        .map_err(|e| Failure::new(format!("the render of {}: {e}", target.shown)))?;
    // A kfpatch overlay as the target carries the single-user values on purpose: the render must
    // agree with the files as the overlay switches them, not with the files as they are.
    let overlay = match overlay::detect(&target.dir)? {
        Some(found) => Some(overlay::check(&install, &target.dir, &found)?),
        None => None,
    };
    if let Some(found) = overlay.as_ref().filter(|o| !o.up_to_date) {
        let _ = writeln!(
            err,
            "kfpatch: warning: the overlay {} is not what kfpatch would write for the current upstream files; run kfpatch multiuser off --overlay {} to update it",
            found.path, found.path
        );
    }
    let switched = overlay.map(|o| o.switched).unwrap_or_default();
    let effective = effective::read(&install, &objects, &switched)?;
    Ok(Prepared {
        install,
        target,
        kustomize,
        objects,
        took,
        effective,
    })
}

fn header(p: &Prepared) -> String {
    format!(
        "render:    {} ({})\nkustomize: {}\nobjects:   {} in {:.1} s\n",
        p.target.shown,
        p.target.why,
        p.kustomize.describe(),
        p.objects.len(),
        p.took.as_secs_f64()
    )
}

/// `kfpatch render`.
pub fn render(cli: &Cli, args: &RenderArgs, io: &mut Output<'_>) -> Result<i32> {
    let mut sink = std::io::sink();
    let mut progress = Progress::new(&mut sink, true);
    let prepared = prepare(
        cli,
        &args.target,
        args.kustomize.kustomize.as_deref(),
        None,
        io.err,
        &mut progress,
    )?;
    drop(progress);
    write_out(
        io,
        &format!("{}\n{}", header(&prepared), prepared.effective.text),
    )?;
    if prepared.effective.api_config.is_none() {
        return Err(Failure::new(format!(
            "the render of {} does not contain the KFP API server's ConfigMap; name a target that includes {} (kfp does)",
            prepared.target.shown, prepared.install.rel
        )));
    }
    if !prepared.effective.disagreements.is_empty() {
        return Err(Failure::new(format!(
            "the render disagrees with the files in {} place(s); an overlay or patch above the install overrides them:\n  {}\nchange the override, or render a target that does not have it",
            prepared.effective.disagreements.len(),
            prepared.effective.disagreements.join("\n  ")
        )));
    }
    Ok(0)
}

/// `kfpatch reinstall`.
pub fn run(cli: &Cli, args: &ReinstallArgs, io: &mut Output<'_>) -> Result<i32> {
    let started = Instant::now();
    let timeout = parse_duration(&args.timeout).ok_or_else(|| {
        Failure::new(format!(
            "--timeout {}: expected a duration such as 90s, 5m or 1h30m",
            args.timeout
        ))
    })?;
    if args.attempts == 0 {
        return Err(Failure::new("--attempts 0: give at least 1"));
    }
    let deadline = started + timeout;
    let Output { out, err, .. } = io;
    let mut progress = Progress::new(&mut **out, true);
    let prepared = prepare(
        cli,
        &args.target,
        args.kustomize.kustomize.as_deref(),
        Some(deadline),
        &mut **err,
        &mut progress,
    )?;
    progress.line(header(&prepared).trim_end())?;
    let effective = &prepared.effective;
    if let Some(config) = &effective.api_config {
        progress.line(&format!(
            "settings:  MULTIUSER={} in ConfigMap {}{}",
            effective.multiuser().unwrap_or("(absent)"),
            config.name,
            match effective.env_from_agrees {
                Some(true) => ", which ml-pipeline's envFrom names",
                _ => "",
            }
        ))?;
    }
    for d in &effective.disagreements {
        let _ = writeln!(
            err,
            "kfpatch: warning: the render differs from the files: {d} (kfpatch render shows the details)"
        );
    }
    let server_side = match args.server_side {
        ServerSide::Always => true,
        ServerSide::Never => false,
        ServerSide::Auto => kustomize::readme_uses_server_side(&prepared.install),
    };
    let options = ApplyOptions {
        dry_run: args.dry_run,
        server_side,
        attempts: args.attempts,
        deadline,
    };
    let kubectl = Kubectl::new(&args.cluster);
    let stdin = std::io::stdin();
    let is_terminal = stdin.is_terminal();
    let mut input = stdin.lock();
    let consent = Consent::from_flags(args.cluster.yes, &mut input, is_terminal);
    let what = format!("the render of {}", prepared.target.shown);
    let applied = cluster::apply_with_prompt(
        &kubectl,
        &prepared.objects,
        &what,
        &options,
        consent,
        &mut progress,
    )?;
    if args.prune_stale_config {
        prune(
            &kubectl,
            &prepared,
            args.dry_run,
            applied.deadline,
            &mut progress,
        )?;
    }
    if args.dry_run != DryRun::None {
        return Ok(0);
    }
    if args.no_wait {
        progress.line("not waiting for the rollout (--no-wait)")?;
        return Ok(0);
    }
    let waited: Vec<(String, String)> = ["ml-pipeline", "ml-pipeline-ui"]
        .iter()
        .filter_map(|name| {
            prepared
                .objects
                .iter()
                .find(|o| o.kind == "Deployment" && o.name == *name)
                .map(|o| {
                    (
                        o.namespace
                            .clone()
                            .unwrap_or_else(|| "kubeflow".to_string()),
                        o.name.clone(),
                    )
                })
        })
        .collect();
    if waited.is_empty() {
        progress.line("not waiting: the render has no ml-pipeline or ml-pipeline-ui Deployment")?;
        return Ok(0);
    }
    cluster::wait_ready(
        &kubectl,
        &waited,
        applied.deadline,
        &args.timeout,
        &mut progress,
    )?;
    Ok(0)
}

fn prune(
    kubectl: &Kubectl,
    prepared: &Prepared,
    dry_run: DryRun,
    deadline: Instant,
    progress: &mut Progress<'_>,
) -> Result<()> {
    let Some(config) = &prepared.effective.api_config else {
        return progress.line(&format!(
            "prune: the render has no {}* ConfigMap; nothing pruned",
            cluster::API_SERVER_CONFIG_PREFIX
        ));
    };
    let namespace = config.namespace.as_deref().unwrap_or("kubeflow");
    let deployments: Vec<&Object> = prepared
        .objects
        .iter()
        .filter(|o| {
            o.kind == "Deployment" && o.namespace.as_deref().unwrap_or("kubeflow") == namespace
        })
        .collect();
    cluster::prune_stale_config(
        kubectl,
        namespace,
        &deployments,
        dry_run,
        deadline,
        progress,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("42"), Some(Duration::from_secs(42)));
        for bad in ["", "5x", "m", "1.5s", "-1s", "s5"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
