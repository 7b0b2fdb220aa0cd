//! Pruning the API server ConfigMaps an earlier install left behind: each re-apply with new values
//! creates a ConfigMap with a new hashed name, and the old one stays unless deleted.

use std::collections::BTreeSet;
use std::time::Instant;

use yaml_serde::Value;

use crate::checkout::model::decode::API_SERVER_CONFIG_PREFIX;
use crate::checkout::model::objects::Object;
use crate::cluster::apply::DryRun;
use crate::cluster::programs::diagnose::brief;
use crate::cluster::programs::kubectl::Kubectl;
use crate::error::{Failure, Result};
use crate::output::progress::Progress;
use crate::syntax::seq;

/// The ConfigMaps a pod template refers to (envFrom, env valueFrom, volumes, projected volumes).
pub fn referenced_configmaps(deployment: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let Some(pod) = deployment
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("spec"))
    else {
        return names;
    };
    let mut add = |v: Option<&Value>| {
        if let Some(name) = v.and_then(|v| v.get("name")).and_then(Value::as_str) {
            names.insert(name.to_string());
        }
    };
    for list in ["containers", "initContainers"] {
        for container in seq(pod.get(list)) {
            for from in seq(container.get("envFrom")) {
                add(from.get("configMapRef"));
            }
            for env in seq(container.get("env")) {
                add(env.get("valueFrom").and_then(|v| v.get("configMapKeyRef")));
            }
        }
    }
    for volume in seq(pod.get("volumes")) {
        add(volume.get("configMap"));
        for source in seq(volume.get("projected").and_then(|p| p.get("sources"))) {
            add(source.get("configMap"));
        }
    }
    names
}

/// The items of `kubectl get KIND -o json` (a List).
fn list_items(json: &str) -> Result<Vec<Value>> {
    let value: Value = yaml_serde::from_str(json)
        .map_err(|e| Failure::cluster(format!("unreadable answer from kubectl: {e}")))?;
    Ok(seq(value.get("items")).cloned().collect())
}

/// Deletes the `pipeline-api-server-config-*` ConfigMaps in `namespace` that no Deployment
/// references once `render_deployments` are applied. Returns their names. In a dry run nothing
/// is deleted.
pub fn prune_stale_config(
    kubectl: &Kubectl,
    namespace: &str,
    render_deployments: &[&Object],
    dry_run: DryRun,
    deadline: Instant,
    progress: &mut Progress<'_>,
) -> Result<Vec<String>> {
    let get = |kind: &str, progress: &mut Progress<'_>| -> Result<Vec<Value>> {
        let ran = kubectl.run(
            &["get", kind, "-n", namespace, "-o", "json"],
            None,
            deadline,
            &mut || progress.tick(),
        )?;
        if !ran.success() {
            return Err(Failure::cluster(format!(
                "--prune-stale-config: cannot list {kind} in {namespace}: {}",
                brief(&ran.stderr)
            )));
        }
        list_items(&ran.stdout)
    };
    progress.label("--prune-stale-config: listing ConfigMaps and Deployments");
    let configmaps = get("configmaps", progress)?;
    let deployments = get("deployments", progress)?;
    let rendered: BTreeSet<&str> = render_deployments.iter().map(|o| o.name.as_str()).collect();
    let mut referenced = BTreeSet::new();
    for d in &deployments {
        let name = d
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !rendered.contains(name) {
            referenced.extend(referenced_configmaps(d));
        }
    }
    for d in render_deployments {
        referenced.extend(referenced_configmaps(&d.value));
    }
    let stale: Vec<String> = configmaps
        .iter()
        .filter_map(|c| c.get("metadata")?.get("name")?.as_str())
        .filter(|n| n.starts_with(API_SERVER_CONFIG_PREFIX) && !referenced.contains(*n))
        .map(str::to_string)
        .collect();
    if stale.is_empty() {
        progress.line(&format!(
            "prune: no stale {API_SERVER_CONFIG_PREFIX}* ConfigMap in {namespace}"
        ))?;
        return Ok(stale);
    }
    if dry_run != DryRun::None {
        progress.line(&format!(
            "prune (dry run): would delete ConfigMap {} in {namespace}",
            stale.join(", ")
        ))?;
        return Ok(stale);
    }
    let mut args = vec!["delete", "configmap", "-n", namespace, "--ignore-not-found"];
    args.extend(stale.iter().map(String::as_str));
    let ran = kubectl.run(&args, None, deadline, &mut || progress.tick())?;
    if !ran.success() {
        return Err(Failure::cluster(format!(
            "--prune-stale-config: deleting {} failed: {}",
            stale.join(", "),
            brief(&ran.stderr)
        )));
    }
    progress.line(&format!(
        "prune: deleted ConfigMap {} in {namespace} (no Deployment references them)",
        stale.join(", ")
    ))?;
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkout::model::objects::{SAMPLE_RENDER as RENDER, split};

    #[test]
    fn configmap_references() {
        let objects = split(RENDER).unwrap();
        let mut d = objects[1].value.clone();
        assert_eq!(
            referenced_configmaps(&d).into_iter().collect::<Vec<_>>(),
            ["pipeline-api-server-config-dc9hkg52h6"]
        );
        d = yaml_serde::from_str("spec:\n  template:\n    spec:\n      initContainers:\n      - env:\n        - valueFrom: {configMapKeyRef: {name: a, key: k}}\n      volumes:\n      - configMap: {name: b}\n      - projected: {sources: [{configMap: {name: c}}]}\n").unwrap();
        assert_eq!(
            referenced_configmaps(&d).into_iter().collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
    }
}
