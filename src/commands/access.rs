//! `kfpatch access`: the secure alternative to turning multi-user mode off. Isolation between
//! profiles stays; each profile namespace gets upstream's `access-ml-pipeline` PodDefault,
//! which mounts a projected ServiceAccount token that `kfp.Client()` sends to the API server.
//!
//! The objects ([`crate::cluster::poddefault`]) go to stdout (pipeable), to a folder for GitOps (one file per namespace plus a
//! kustomization), or to the cluster by server-side apply through [`crate::cluster::apply`], with the
//! same checks and confirmation as `reinstall`.

use std::fs;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::checkout::model::objects;
use crate::checkout::{paths, safe_read};
use crate::cli::{AccessArgs, Cli};
use crate::cluster::apply::{self, ApplyOptions, DryRun};
use crate::cluster::poddefault::{
    NAME, PodDefault, build, check_namespace, stream, to_yaml, usage_note,
};
use crate::cluster::programs::kubectl::Kubectl;
use crate::edit::{lock, write};
use crate::error::{Failure, Result};
use crate::output::consent::Consent;
use crate::output::progress::Progress;
use crate::output::{Output, write_out};

/// The kustomization `--output-dir` writes beside the PodDefaults.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Kustomization {
    api_version: &'static str,
    kind: &'static str,
    resources: Vec<String>,
}

/// A handful of small objects: tries for errors that heal (a webhook not serving yet), and a
/// bound on the whole apply, as `reinstall` has by its flags.
const APPLY_ATTEMPTS: u32 = 3;
const APPLY_TIMEOUT: Duration = Duration::from_secs(120);
const FILE_PREFIX: &str = "access-ml-pipeline-";
/// First line of the kustomization `--output-dir` writes: kfpatch rewrites only a kustomization
/// that starts with it, so a folder somebody else maintains is never overwritten.
const OUTPUT_MARKER: &str = "# Written by kfpatch access";

pub fn run(cli: &Cli, args: &AccessArgs, io: &mut Output<'_>) -> Result<i32> {
    let objects = build(&args.namespaces, args.expiration_seconds)?;
    let yaml = stream(&objects)?;
    let note = usage_note(&args.namespaces);
    if let Some(dir) = &args.output_dir {
        // Like every path on the command line, --output-dir is relative to -C.
        let _lock = lock::take(&cli.dir, io.err)?;
        let summary = write_output(&cli.dir, dir, &objects, io.err)?;
        write_out(io, &format!("{summary}\n{note}"))?;
        return Ok(0);
    }
    if args.apply {
        apply(cli, args, &yaml, io)?;
        write_out(io, &note)?;
        return Ok(0);
    }
    write_out(io, &yaml)?;
    io.err
        .write_all(note.as_bytes())
        .map_err(|e| Failure::new(format!("cannot write to standard error: {e}")))?;
    Ok(0)
}

/// Server-side apply through the same path as `reinstall`: the objects are checked against the
/// cluster first (the PodDefault CRD and every namespace must exist, else nothing is sent), the
/// safety summary is shown, and only `--yes` or a "yes" on a terminal goes on.
fn apply(cli: &Cli, args: &AccessArgs, yaml: &str, io: &mut Output<'_>) -> Result<()> {
    let objects = objects::split(yaml)
        .map_err(|e| Failure::new(format!("cannot read back the generated objects: {e}")))?;
    let options = ApplyOptions {
        dry_run: DryRun::None,
        server_side: true,
        attempts: APPLY_ATTEMPTS,
        deadline: Instant::now() + APPLY_TIMEOUT,
    };
    let kubectl = Kubectl::new(
        cli.kube.kubeconfig.clone(),
        cli.kube.context().map_err(Failure::new)?,
        format!("{} s for access --apply", APPLY_TIMEOUT.as_secs()),
    );
    let stdin = std::io::stdin();
    let is_terminal = stdin.is_terminal();
    let mut input = stdin.lock();
    let consent = Consent::from_flags(args.cluster.yes, &mut input, is_terminal);
    let what = format!(
        "the {NAME} PodDefault of {} (token lifetime {} s)",
        args.namespaces.join(", "),
        args.expiration_seconds
    );
    let mut progress = Progress::new(&mut *io.out, true);
    apply::apply_with_prompt(
        &kubectl,
        None,
        &objects,
        &what,
        &options,
        consent,
        &mut progress,
    )?;
    Ok(())
}

/// The file `--output-dir` writes for a namespace.
fn file_name(namespace: &str) -> String {
    format!("{FILE_PREFIX}{namespace}.yaml")
}

/// Writes one file per namespace and a kustomization listing them into `shown` (relative to
/// `base`, the -C folder), each atomically and under the symlink rule of every writer, whose
/// checkout is `base` (or the output folder itself when it lies outside `base`). Files of
/// namespaces that an earlier run listed and this one does not are removed, so the folder says
/// exactly what the command line says. Returns what was done, for the summary.
fn write_output(
    base: &Path,
    shown: &Path,
    objects: &[PodDefault],
    err: &mut dyn std::io::Write,
) -> Result<String> {
    let base = paths::canonical_root(base)?;
    let dir = paths::lexical(&base.join(shown));
    if !dir.starts_with(&base) {
        fs::create_dir_all(&dir).map_err(|e| Failure::io("create", &dir, &e))?;
    }
    let root = if dir.starts_with(&base) {
        base
    } else {
        fs::canonicalize(&dir).map_err(|e| Failure::io("open", &dir, &e))?
    };
    let dir = &safe_read::write_target(&root, &dir, &shown.display().to_string())?;
    let previous = previous_output(dir, shown)?;
    let mut files: Vec<(String, String)> = Vec::new();
    for object in objects {
        files.push((file_name(object.namespace()), object.to_yaml()?));
    }
    let kustomization = Kustomization {
        api_version: "kustomize.config.k8s.io/v1beta1",
        kind: "Kustomization",
        resources: files.iter().map(|(name, _)| name.clone()).collect(),
    };
    let text = format!(
        "{OUTPUT_MARKER}: the access-ml-pipeline PodDefault per profile namespace.\n# Re-run kfpatch access --output-dir to change the namespaces; files it no longer lists are removed.\n{}",
        to_yaml(&kustomization)?
    );
    files.push(("kustomization.yaml".to_string(), text));
    fs::create_dir_all(dir).map_err(|e| Failure::io("create", dir, &e))?;
    write::clean_stale_temps(std::slice::from_ref(dir), &root, err);
    let mut changed = Vec::new();
    for (name, content) in &files {
        let path = dir.join(name);
        let path = safe_read::write_target(&root, &path, &shown.join(name).display().to_string())?;
        let old = fs::read(&path).ok();
        if old.as_deref() == Some(content.as_bytes()) {
            continue;
        }
        write::write_file_from(&path, content.as_bytes(), old.as_deref())
            .map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))?;
        changed.push(shown.join(name).display().to_string());
    }
    let mut removed = Vec::new();
    for stale in previous {
        if files.iter().any(|(name, _)| *name == stale) {
            continue;
        }
        let path = dir.join(&stale);
        match fs::remove_file(&path) {
            Ok(()) => removed.push(shown.join(&stale).display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Failure::io("remove", &path, &e)),
        }
    }
    let mut summary = String::new();
    if changed.is_empty() && removed.is_empty() {
        summary.push_str(&format!(
            "{} is up to date ({} namespace{})\n",
            shown.display(),
            objects.len(),
            if objects.len() == 1 { "" } else { "s" }
        ));
    }
    for path in changed {
        summary.push_str(&format!("wrote {path}\n"));
    }
    for path in removed {
        summary.push_str(&format!("removed {path} (namespace no longer given)\n"));
    }
    summary.push_str(&format!(
        "apply it with: kubectl apply --server-side -k {}\n",
        shown.display()
    ));
    Ok(summary)
}

/// The per-namespace files an earlier `--output-dir` run listed in its kustomization; refuses a
/// kustomization kfpatch did not write.
fn previous_output(dir: &Path, shown: &Path) -> Result<Vec<String>> {
    let kustomization_path = dir.join("kustomization.yaml");
    for other in ["kustomization.yml", "Kustomization"] {
        if dir.join(other).exists() {
            return Err(Failure::new(format!(
                "{} exists; kfpatch writes kustomization.yaml and kustomize refuses a folder with two. Pick another --output-dir folder",
                shown.join(other).display()
            )));
        }
    }
    let shown_path = shown.join("kustomization.yaml");
    let text = match fs::read_to_string(&kustomization_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Failure::io("read", &shown_path, &e)),
    };
    if !text.starts_with(OUTPUT_MARKER) {
        return Err(Failure::new(format!(
            "{} was not written by kfpatch access; kfpatch does not overwrite it. Pick another --output-dir folder, or list kfpatch's folder as a resource of yours; nothing was written",
            shown_path.display()
        )));
    }
    #[derive(serde::Deserialize)]
    struct Listed {
        #[serde(default)]
        resources: Vec<String>,
    }
    let listed: Listed = yaml_serde::from_str(&text).map_err(|e| {
        Failure::new(format!(
            "{}: not valid YAML ({e}); delete the file and run again",
            shown_path.display()
        ))
    })?;
    // Only names kfpatch itself writes are ever removed.
    Ok(listed
        .resources
        .into_iter()
        .filter(|name| {
            name.strip_prefix(FILE_PREFIX)
                .and_then(|rest| rest.strip_suffix(".yaml"))
                .is_some_and(|ns| check_namespace(ns).is_ok())
        })
        .collect())
}
