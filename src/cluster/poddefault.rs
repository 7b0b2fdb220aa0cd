//! The objects of token access: upstream's `access-ml-pipeline` PodDefault, one per
//! profile namespace, mounting a projected ServiceAccount token that `kfp.Client()` sends to the
//! KFP API server. Serde types serialised by yaml_serde, so a namespace can never inject YAML.

use std::collections::BTreeMap;

use serde::Serialize;
use yaml_serde::Value;

use crate::error::{Failure, Result};
use crate::syntax::seq;

/// The PodDefault's name, as upstream documents it; notebooks select it by this label too.
pub const NAME: &str = "access-ml-pipeline";
/// The audience the API server checks (its `TOKEN_REVIEW_AUDIENCE` default).
pub const AUDIENCE: &str = "pipelines.kubeflow.org";
/// The env variable `kfp.Client()` reads the token path from.
pub const TOKEN_ENV: &str = "KF_PIPELINES_SA_TOKEN_PATH";
/// Where the token is mounted; `kfp.Client()` reads `KF_PIPELINES_SA_TOKEN_PATH`.
pub const TOKEN_DIR: &str = "/var/run/secrets/kubeflow/pipelines";
/// Kubernetes refuses a projected token that lives less than ten minutes...
pub const MIN_EXPIRATION_SECONDS: u64 = 600;
/// ...or more than 2^32 seconds (pod validation of `serviceAccountToken.expirationSeconds`).
pub const MAX_EXPIRATION_SECONDS: u64 = 1 << 32;

const VOLUME: &str = "volume-kf-pipeline-token";

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
                    name: TOKEN_ENV,
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

pub fn to_yaml<T: Serialize>(value: &T) -> Result<String> {
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

/// What is wrong with a PodDefault for token access (empty: nothing).
pub fn problems(pd: &Value, audience: &str) -> Vec<String> {
    let spec = pd.get("spec");
    let at = |key: &str| seq(spec.and_then(|s| s.get(key)));
    let mut problems = Vec::new();
    let selects = spec
        .and_then(|s| s.get("selector"))
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_mapping)
        .is_some_and(|m| !m.is_empty());
    if !selects {
        problems.push("selects no pods (spec.selector.matchLabels is empty)".to_string());
    }
    // volume name -> (token path, audience)
    let tokens: Vec<(String, String, Option<String>)> = at("volumes")
        .flat_map(|v| {
            let name = v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            seq(v.get("projected").and_then(|p| p.get("sources")))
                .filter_map(|s| s.get("serviceAccountToken"))
                .map(move |t| {
                    (
                        name.clone(),
                        t.get("path")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        t.get("audience")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let Some((volume, path, token_audience)) = tokens.first() else {
        problems.push(
            "projects no service-account token (no serviceAccountToken volume source)".to_string(),
        );
        return problems;
    };
    if token_audience.as_deref() != Some(audience) {
        problems.push(format!(
            "its token is for audience {}, the API server checks {audience}",
            token_audience
                .as_deref()
                .unwrap_or("(none: the cluster's API server)")
        ));
    }
    let mount = at("volumeMounts")
        .find(|m| m.get("name").and_then(Value::as_str) == Some(volume))
        .and_then(|m| m.get("mountPath").and_then(Value::as_str));
    let env = at("env")
        .find(|e| e.get("name").and_then(Value::as_str) == Some(TOKEN_ENV))
        .and_then(|e| e.get("value").and_then(Value::as_str));
    match (mount, env) {
        (None, _) => problems.push(format!("does not mount volume {volume}")),
        (_, None) => problems.push(format!("does not set {TOKEN_ENV}")),
        (Some(m), Some(e)) if format!("{}/{path}", m.trim_end_matches('/')) != e => {
            problems.push(format!(
                "{TOKEN_ENV}={e}, but the token is at {}/{path}",
                m.trim_end_matches('/')
            ))
        }
        _ => {}
    }
    problems
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

    fn yaml_value(text: &str) -> Value {
        yaml_serde::from_str(text).unwrap()
    }

    #[test]
    fn upstream_pod_default_has_no_problem() {
        let pd = PodDefault::new("team-a", 7200).to_yaml().unwrap();
        assert_eq!(
            problems(&yaml_value(&pd), "pipelines.kubeflow.org"),
            Vec::<String>::new()
        );
        assert_eq!(
            problems(&yaml_value(&pd), "kubeflow"),
            ["its token is for audience pipelines.kubeflow.org, the API server checks kubeflow"]
        );
        let moved = pd.replace(
            "mountPath: /var/run/secrets/kubeflow/pipelines",
            "mountPath: /tokens",
        );
        assert_eq!(
            problems(&yaml_value(&moved), "pipelines.kubeflow.org"),
            [
                "KF_PIPELINES_SA_TOKEN_PATH=/var/run/secrets/kubeflow/pipelines/token, but the token is at /tokens/token"
            ]
        );
        assert_eq!(
            problems(&yaml_value("spec: {selector: {matchLabels: {}}}"), "a"),
            [
                "selects no pods (spec.selector.matchLabels is empty)",
                "projects no service-account token (no serviceAccountToken volume source)"
            ]
        );
    }
}
