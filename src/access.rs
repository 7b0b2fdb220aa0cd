//! `kfpatch access`: the secure alternative to turning multi-user mode off. Isolation between
//! profiles stays; each profile namespace gets upstream's `access-ml-pipeline` PodDefault (facts
//! §7), which mounts a projected ServiceAccount token that `kfp.Client()` sends to the API server.
//!
//! The objects are serde types serialised by yaml_serde, so a namespace can never inject YAML.
//! They go to stdout (pipeable), to a folder for GitOps (one file per namespace plus a
//! kustomization), or to the cluster by server-side apply through [`crate::cluster`], with the
//! same checks and confirmation as `reinstall`.

use std::collections::BTreeMap;
use std::fs;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::app::{Output, write_out};
use crate::cli::{AccessArgs, Cli, DryRun};
use crate::cluster::{self, ApplyOptions, Consent, Kubectl, Progress};
use crate::error::{Failure, Result};
use crate::plan;

/// A handful of small objects: tries for errors that heal (a webhook not serving yet), and a
/// bound on the whole apply, as `reinstall` has by its flags.
const APPLY_ATTEMPTS: u32 = 3;
const APPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// The PodDefault's name, as upstream documents it; notebooks select it by this label too.
pub const NAME: &str = "access-ml-pipeline";
/// The audience the API server checks (its `TOKEN_REVIEW_AUDIENCE` default).
pub const AUDIENCE: &str = "pipelines.kubeflow.org";
/// Where the token is mounted; `kfp.Client()` reads `KF_PIPELINES_SA_TOKEN_PATH`.
pub const TOKEN_DIR: &str = "/var/run/secrets/kubeflow/pipelines";
/// Kubernetes refuses a projected token that lives less than ten minutes...
pub const MIN_EXPIRATION_SECONDS: u64 = 600;
/// ...or more than 2^32 seconds (pod validation of `serviceAccountToken.expirationSeconds`).
pub const MAX_EXPIRATION_SECONDS: u64 = 1 << 32;

const VOLUME: &str = "volume-kf-pipeline-token";
const FILE_PREFIX: &str = "access-ml-pipeline-";
/// First line of the kustomization `--output` writes: kfpatch rewrites only a kustomization
/// that starts with it, so a folder somebody else maintains is never overwritten.
const OUTPUT_MARKER: &str = "# Written by kfpatch access";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDefault {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: PodDefaultSpec,
}

#[derive(Debug, Serialize)]
struct Metadata {
    name: &'static str,
    namespace: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PodDefaultSpec {
    desc: &'static str,
    selector: Selector,
    env: Vec<EnvVar>,
    volumes: Vec<Volume>,
    volume_mounts: Vec<VolumeMount>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Selector {
    match_labels: BTreeMap<&'static str, &'static str>,
}

#[derive(Debug, Serialize)]
struct EnvVar {
    name: &'static str,
    value: String,
}

#[derive(Debug, Serialize)]
struct Volume {
    name: &'static str,
    projected: Projected,
}

#[derive(Debug, Serialize)]
struct Projected {
    sources: Vec<ProjectedSource>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProjectedSource {
    service_account_token: ServiceAccountToken,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceAccountToken {
    path: &'static str,
    expiration_seconds: u64,
    audience: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct VolumeMount {
    mount_path: &'static str,
    name: &'static str,
    read_only: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Kustomization {
    api_version: &'static str,
    kind: &'static str,
    resources: Vec<String>,
}

impl PodDefault {
    /// Upstream's object for one profile namespace.
    pub fn new(namespace: &str, expiration_seconds: u64) -> PodDefault {
        PodDefault {
            api_version: "kubeflow.org/v1alpha1",
            kind: "PodDefault",
            metadata: Metadata {
                name: NAME,
                namespace: namespace.to_string(),
            },
            spec: PodDefaultSpec {
                desc: "Allow access to Kubeflow Pipelines",
                selector: Selector {
                    match_labels: BTreeMap::from([(NAME, "true")]),
                },
                env: vec![EnvVar {
                    name: "KF_PIPELINES_SA_TOKEN_PATH",
                    value: format!("{TOKEN_DIR}/token"),
                }],
                volumes: vec![Volume {
                    name: VOLUME,
                    projected: Projected {
                        sources: vec![ProjectedSource {
                            service_account_token: ServiceAccountToken {
                                path: "token",
                                expiration_seconds,
                                audience: AUDIENCE,
                            },
                        }],
                    },
                }],
                volume_mounts: vec![VolumeMount {
                    mount_path: TOKEN_DIR,
                    name: VOLUME,
                    read_only: true,
                }],
            },
        }
    }

    pub fn namespace(&self) -> &str {
        &self.metadata.namespace
    }

    /// The object as one YAML document (no `---`).
    pub fn to_yaml(&self) -> Result<String> {
        to_yaml(self)
    }
}

fn to_yaml<T: Serialize>(value: &T) -> Result<String> {
    yaml_serde::to_string(value)
        .map_err(|e| Failure::new(format!("cannot serialise the objects as YAML: {e}")))
}

/// Whether `name` is an RFC 1123 label, which Kubernetes requires of namespace names; `Err`
/// says what is wrong.
pub fn check_namespace(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("is empty".to_string());
    }
    if name.len() > 63 {
        return Err(format!("is {} characters long; at most 63", name.len()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "contains {c:?}; only lowercase letters, digits and '-' are allowed"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("must start and end with a letter or digit".to_string());
    }
    Ok(())
}

/// Checks every input and builds the objects, one per namespace in the order given.
pub fn build(namespaces: &[String], expiration_seconds: u64) -> Result<Vec<PodDefault>> {
    if !(MIN_EXPIRATION_SECONDS..=MAX_EXPIRATION_SECONDS).contains(&expiration_seconds) {
        return Err(Failure::new(format!(
            "--expiration-seconds {expiration_seconds}: Kubernetes accepts a projected token lifetime from {MIN_EXPIRATION_SECONDS} (10 minutes) to {MAX_EXPIRATION_SECONDS} (2^32) seconds; the upstream default is 7200. Nothing was written"
        )));
    }
    let mut seen: Vec<&str> = Vec::new();
    for ns in namespaces {
        check_namespace(ns).map_err(|why| {
            Failure::new(format!(
                "--namespace {ns:?} is not a valid namespace name: it {why} (RFC 1123 label, e.g. team-a); nothing was written"
            ))
        })?;
        if seen.contains(&ns.as_str()) {
            return Err(Failure::new(format!(
                "--namespace {ns} is given twice; name each profile namespace once. Nothing was written"
            )));
        }
        seen.push(ns);
    }
    Ok(namespaces
        .iter()
        .map(|ns| PodDefault::new(ns, expiration_seconds))
        .collect())
}

/// All objects as one multi-document YAML stream.
pub fn stream(objects: &[PodDefault]) -> Result<String> {
    let docs: Vec<String> = objects
        .iter()
        .map(PodDefault::to_yaml)
        .collect::<Result<_>>()?;
    Ok(docs.join("---\n"))
}

/// How a notebook uses the PodDefault, for the person who runs kfpatch.
pub fn usage_note(namespaces: &[String]) -> String {
    format!(
        "\
How a notebook in {} uses it:
  1. In the notebook spawner (Kubeflow Notebooks, \"Advanced Options\" > \"Configurations\"), pick
     \"Allow access to Kubeflow Pipelines\". That labels the pod {NAME}: \"true\", and the
     PodDefault mounts a token for audience {AUDIENCE} at {TOKEN_DIR}/token.
     Running notebooks get it only when they are created again with that configuration.
  2. In the notebook, plain kfp.Client() works; it reads the token from KF_PIPELINES_SA_TOKEN_PATH:
       import kfp
       client = kfp.Client()
       print(client.list_experiments(namespace=\"{}\"))
Multi-user mode stays on: each profile sees only its own runs, experiments and artifacts.
",
        namespaces.join(", "),
        namespaces.first().map_or("team-a", String::as_str)
    )
}

pub fn run(cli: &Cli, args: &AccessArgs, io: &mut Output<'_>) -> Result<i32> {
    let objects = build(&args.namespaces, args.expiration_seconds)?;
    let yaml = stream(&objects)?;
    let note = usage_note(&args.namespaces);
    if let Some(dir) = &args.output {
        // Like every path on the command line, --output is relative to -C.
        let summary = write_output(&cli.dir.join(dir), dir, &objects)?;
        write_out(io, &format!("{summary}\n{note}"))?;
        return Ok(0);
    }
    if args.apply {
        apply(args, &yaml, io)?;
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
fn apply(args: &AccessArgs, yaml: &str, io: &mut Output<'_>) -> Result<()> {
    let objects = cluster::split(yaml)
        .map_err(|e| Failure::new(format!("cannot read back the generated objects: {e}")))?;
    let options = ApplyOptions {
        dry_run: DryRun::None,
        server_side: true,
        attempts: APPLY_ATTEMPTS,
        deadline: Instant::now() + APPLY_TIMEOUT,
    };
    let kubectl = Kubectl::new(&args.cluster);
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
    cluster::apply_with_prompt(&kubectl, &objects, &what, &options, consent, &mut progress)?;
    Ok(())
}

/// The file `--output` writes for a namespace.
fn file_name(namespace: &str) -> String {
    format!("{FILE_PREFIX}{namespace}.yaml")
}

/// Writes one file per namespace and a kustomization listing them into `dir`, each atomically.
/// Files of namespaces that an earlier run listed and this one does not are removed, so the
/// folder says exactly what the command line says. Returns what was done, for the summary.
fn write_output(dir: &Path, shown: &Path, objects: &[PodDefault]) -> Result<String> {
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
        "{OUTPUT_MARKER}: the access-ml-pipeline PodDefault per profile namespace.\n# Re-run kfpatch access --output to change the namespaces; files it no longer lists are removed.\n{}",
        to_yaml(&kustomization)?
    );
    files.push(("kustomization.yaml".to_string(), text));
    fs::create_dir_all(dir).map_err(|e| Failure::io("create", dir, &e))?;
    let mut changed = Vec::new();
    for (name, content) in &files {
        let path = dir.join(name);
        if fs::read(&path).ok().as_deref() == Some(content.as_bytes()) {
            continue;
        }
        plan::write_file(&path, content.as_bytes())
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

/// The per-namespace files an earlier `--output` run listed in its kustomization; refuses a
/// kustomization kfpatch did not write.
fn previous_output(dir: &Path, shown: &Path) -> Result<Vec<String>> {
    let kustomization_path = dir.join("kustomization.yaml");
    for other in ["kustomization.yml", "Kustomization"] {
        if dir.join(other).exists() {
            return Err(Failure::new(format!(
                "{} exists; kfpatch writes kustomization.yaml and kustomize refuses a folder with two. Pick another --output folder",
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
            "{} was not written by kfpatch access; kfpatch does not overwrite it. Pick another --output folder, or list kfpatch's folder as a resource of yours; nothing was written",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names() {
        for good in [
            "team-a",
            "a",
            "0",
            "kubeflow-user-example-com",
            &"a".repeat(63),
        ] {
            assert_eq!(check_namespace(good), Ok(()), "{good}");
        }
        assert_eq!(check_namespace(""), Err("is empty".to_string()));
        assert_eq!(
            check_namespace("Team-A"),
            Err("contains 'T'; only lowercase letters, digits and '-' are allowed".to_string())
        );
        assert_eq!(
            check_namespace("team.a"),
            Err("contains '.'; only lowercase letters, digits and '-' are allowed".to_string())
        );
        assert_eq!(
            check_namespace("-team"),
            Err("must start and end with a letter or digit".to_string())
        );
        assert_eq!(
            check_namespace(&"a".repeat(64)),
            Err("is 64 characters long; at most 63".to_string())
        );
    }

    #[test]
    fn expiration_bounds() {
        let ns = vec!["team-a".to_string()];
        assert!(build(&ns, 599).is_err());
        assert!(build(&ns, 600).is_ok());
        assert!(build(&ns, MAX_EXPIRATION_SECONDS).is_ok());
        assert!(build(&ns, MAX_EXPIRATION_SECONDS + 1).is_err());
    }

    #[test]
    fn object_reads_back_as_upstream_documents_it() {
        let yaml = PodDefault::new("team-a", 7200).to_yaml().unwrap();
        let value: yaml_serde::Value = yaml_serde::from_str(&yaml).unwrap();
        let spec = &value["spec"];
        assert_eq!(value["metadata"]["namespace"].as_str(), Some("team-a"));
        assert_eq!(
            spec["selector"]["matchLabels"]["access-ml-pipeline"].as_str(),
            Some("true")
        );
        let token = &spec["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"];
        assert_eq!(token["expirationSeconds"].as_u64(), Some(7200));
        assert_eq!(token["audience"].as_str(), Some("pipelines.kubeflow.org"));
        assert_eq!(
            spec["volumeMounts"][0]["mountPath"].as_str(),
            Some("/var/run/secrets/kubeflow/pipelines")
        );
    }
}
