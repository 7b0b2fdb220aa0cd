//! `kfpatch reinstall`: render the manifests once and apply them in order (see
//! [`crate::cluster::apply`] for why upstream's retry loop is not good enough), then optionally
//! prune the API server ConfigMaps left behind and wait for the rollout.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use crate::checkout::model::decode::API_SERVER_CONFIG_PREFIX;
use crate::checkout::model::objects::Object;
use crate::checkout::targets;
use crate::cli::{Cli, ReinstallArgs, ServerSide};
use crate::cluster::apply::prune;
use crate::cluster::apply::wait;
use crate::cluster::apply::{self, ApplyOptions, DryRun};
use crate::cluster::programs::kubectl::Kubectl;
use crate::cluster::programs::kustomize;
use crate::cluster::programs::process::{self, Timeout};
use crate::cluster::render::{self, Render};
use crate::error::{Failure, Result};
use crate::output::Output;
use crate::output::consent::Consent;
use crate::output::progress::Progress;
use crate::parallel;

/// `kfpatch reinstall`.
pub fn run(cli: &Cli, args: &ReinstallArgs, io: &mut Output<'_>) -> Result<i32> {
    let timeout = Timeout::from_now(&args.timeout)?;
    if args.attempts == 0 {
        return Err(Failure::new("--attempts 0: give at least 1"));
    }
    let deadline = timeout.deadline;
    let kubectl = Kubectl::new(
        cli.kube.kubeconfig.clone(),
        cli.kube.context().map_err(Failure::new)?,
        format!("--timeout {}", args.timeout),
    );
    let install = render::find_install(&cli.dir, cli.install.as_deref(), &args.target)?;
    // The target, the kubeconfig and the context are checked before the render, which can take
    // a while.
    targets::resolve(&install, &args.target)?;
    let info = kubectl.info(deadline)?;
    let Output { out, err, .. } = io;
    let mut progress = Progress::new(&mut **out, true);
    // The cluster is read beside the render (which takes seconds on a whole release); a read that
    // fails is done again after it, with retries and the error it gives.
    process::prepare();
    let (connected, prepared) = parallel::beside(
        || apply::connect_quietly(&kubectl, info, deadline),
        || {
            render::prepare(
                install,
                &args.target,
                args.kustomize.kustomize.as_deref(),
                deadline,
                timeout.text,
                &mut **err,
                &mut progress,
            )
        },
    );
    let prepared = prepared?;
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
            "warning: the render differs from the files: {d} (kfpatch render shows the details)"
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
    let stdin = std::io::stdin();
    let is_terminal = stdin.is_terminal();
    let mut input = stdin.lock();
    let consent = Consent::from_flags(args.cluster.yes, &mut input, is_terminal);
    let what = format!("the render of {}", prepared.target.shown);
    let applied = apply::apply_with_prompt(
        &kubectl,
        connected,
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
