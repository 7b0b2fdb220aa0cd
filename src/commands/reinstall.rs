//! `kfpatch reinstall`: render the manifests once and apply them in order (see
//! [`crate::cluster::apply`] for why upstream's retry loop is not good enough), then optionally
//! prune the API server ConfigMaps left behind and wait for the rollout.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::cli::{Cli, ReinstallArgs, ServerSide};
use crate::cluster::apply::{self, ApplyOptions, DryRun};
use crate::cluster::kubectl::Kubectl;
use crate::cluster::kustomize;
use crate::cluster::objects::Object;
use crate::cluster::prune::{self, API_SERVER_CONFIG_PREFIX};
use crate::cluster::render::{self, Render};
use crate::cluster::wait;
use crate::error::{Failure, Result};
use crate::output::Output;
use crate::output::consent::Consent;
use crate::output::progress::Progress;

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
    let install = render::find_install(&cli.dir, cli.install.as_deref(), &args.target)?;
    let prepared = render::prepare(
        install,
        &args.target,
        args.kustomize.kustomize.as_deref(),
        Some(deadline),
        &mut **err,
        &mut progress,
    )?;
    progress.line(prepared.header().trim_end())?;
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
    let kubectl = Kubectl::new(cli.kube.kubeconfig.clone(), cli.kube.context.clone());
    let stdin = std::io::stdin();
    let is_terminal = stdin.is_terminal();
    let mut input = stdin.lock();
    let consent = Consent::from_flags(args.cluster.yes, &mut input, is_terminal);
    let what = format!("the render of {}", prepared.target.shown);
    let applied = apply::apply_with_prompt(
        &kubectl,
        &prepared.objects,
        &what,
        &options,
        consent,
        &mut progress,
    )?;
    if args.prune_stale_config {
        prune_stale(
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
    wait::wait_ready(
        &kubectl,
        &waited,
        applied.deadline,
        &args.timeout,
        &mut progress,
    )?;
    Ok(0)
}

fn prune_stale(
    kubectl: &Kubectl,
    prepared: &Render,
    dry_run: DryRun,
    deadline: Instant,
    progress: &mut Progress<'_>,
) -> Result<()> {
    let Some(config) = &prepared.effective.api_config else {
        return progress.line(&format!(
            "prune: the render has no {}* ConfigMap; nothing pruned",
            API_SERVER_CONFIG_PREFIX
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
    prune::prune_stale_config(
        kubectl,
        namespace,
        &deployments,
        dry_run,
        deadline,
        progress,
    )?;
    Ok(())
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
