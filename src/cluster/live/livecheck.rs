//! What is wrong with KFP's live objects, read from one namespace of a running cluster, and how
//! they differ from a render of the checkout: settings that differ (decoded by the same code on
//! both sides), a generated ConfigMap edited in place (its data no longer gives its hashed name,
//! so the pods that read it never restarted), a Deployment naming a ConfigMap that does not
//! exist, the runner service account missing in single-user mode, and generated ConfigMaps left
//! by earlier installs.

use std::collections::BTreeMap;

use serde::Serialize;
use yaml_serde::Value;

use crate::checkout::catalogue::show_value;
use crate::checkout::lint::finding::Severity;
use crate::checkout::model::confighash;
use crate::checkout::model::decode::{self, Decoded, KFP_NAMESPACE};
use crate::checkout::model::objects::Object;
use crate::checkout::model::objects::{self, Rendered};
use crate::syntax::envfile::parse_go_bool;
use crate::syntax::seq;

/// The service account single-user runs use when the API server's ConfigMap names none.
const DEFAULT_RUNNER: &str = "pipeline-runner";

/// One problem of the live objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveFinding {
    pub severity: Severity,
    pub code: &'static str,
    /// `ConfigMap kubeflow/pipeline-api-server-config-dc9hkg52h6`.
    pub object: String,
    pub message: String,
    pub fix: String,
}

/// One setting as the render and the cluster give it.
#[derive(Debug, Clone, Serialize)]
pub struct SettingDiff {
    /// The catalogue row, or `null` for another key of the API server's ConfigMap.
    pub row: Option<u8>,
    pub setting: String,
    /// `null` when absent.
    pub render: Option<String>,
    pub live: Option<String>,
    /// Where the live value comes from.
    pub live_source: String,
    /// Why the cluster has no value at all (the object that would hold it is missing), or `null`.
    pub live_missing: Option<String>,
    pub drift: bool,
}

impl SettingDiff {
    /// The live value as a person reads it: the value, `(absent)`, or why there is none.
    pub fn live_shown(&self) -> String {
        match &self.live_missing {
            Some(why) => format!("nothing ({why})"),
            None => show_value(self.live.as_deref()),
        }
    }
}

fn literal(value: &Rendered) -> Option<String> {
    match value {
        Rendered::Literal(v) => Some(v.clone()),
        Rendered::Absent | Rendered::Missing(_) => None,
        Rendered::ValueFrom(from) => Some(format!("(from {from})")),
    }
}

/// Every catalogue row and every key of the API server's ConfigMap, render against live.
pub fn compare(render: &[Object], live: &[Object]) -> Vec<SettingDiff> {
    let mut diffs: Vec<SettingDiff> = decode::decode(render)
        .into_iter()
        .zip(decode::decode(live))
        .map(|(r, l): (Decoded, Decoded)| {
            let (render, live) = (literal(&r.value), literal(&l.value));
            SettingDiff {
                row: Some(r.setting.row),
                setting: r.setting.name(),
                drift: render != live,
                render,
                live,
                live_missing: match l.value {
                    Rendered::Missing(why) => Some(why),
                    _ => None,
                },
                live_source: l.source,
            }
        })
        .collect();
    let data = |objects: &[Object]| -> BTreeMap<String, String> {
        decode::api_server_config(objects)
            .map(|cm| objects::data_of(cm).into_iter().collect())
            .unwrap_or_default()
    };
    let (render_data, live_data) = (data(render), data(live));
    // Without the live ConfigMap, rows 1 and 2 above already say that it is missing.
    let Some(live_cm) = decode::api_server_config(live).map(Object::named) else {
        return diffs;
    };
    let mut keys: Vec<&String> = render_data.keys().chain(live_data.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        // The catalogue rows above already compare these keys.
        if key == "MULTIUSER" || key == "DEFAULTPIPELINERUNNERSERVICEACCOUNT" {
            continue;
        }
        let (r, l) = (render_data.get(key).cloned(), live_data.get(key).cloned());
        diffs.push(SettingDiff {
            row: None,
            setting: key.clone(),
            drift: r != l,
            render: r,
            live: l,
            live_source: format!("{live_cm} data.{key}"),
            live_missing: None,
        });
    }
    diffs
}

/// A ConfigMap reference of a pod template: the name, where, and whether it may be missing.
struct Reference {
    name: String,
    place: String,
    optional: bool,
}

fn references(workload: &Value) -> Vec<Reference> {
    let mut refs = Vec::new();
    let Some(pod) = workload
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("spec"))
    else {
        return refs;
    };
    let mut add = |r: Option<&Value>, place: String| {
        if let Some(r) = r
            && let Some(name) = r.get("name").and_then(Value::as_str)
        {
            refs.push(Reference {
                name: name.to_string(),
                place,
                optional: r.get("optional").and_then(Value::as_bool) == Some(true),
            });
        }
    };
    for list in ["initContainers", "containers"] {
        for c in seq(pod.get(list)) {
            let cname = c.get("name").and_then(Value::as_str).unwrap_or("?");
            for from in seq(c.get("envFrom")) {
                add(
                    from.get("configMapRef"),
                    format!("envFrom of container {cname}"),
                );
            }
            for env in seq(c.get("env")) {
                let var = env.get("name").and_then(Value::as_str).unwrap_or("?");
                add(
                    env.get("valueFrom").and_then(|v| v.get("configMapKeyRef")),
                    format!("env {var} of container {cname}"),
                );
            }
        }
    }
    for volume in seq(pod.get("volumes")) {
        let vname = volume.get("name").and_then(Value::as_str).unwrap_or("?");
        add(volume.get("configMap"), format!("volume {vname}"));
        for source in seq(volume.get("projected").and_then(|p| p.get("sources"))) {
            add(source.get("configMap"), format!("volume {vname}"));
        }
    }
    refs
}

fn string_map(v: Option<&Value>) -> Option<BTreeMap<String, String>> {
    v.and_then(Value::as_mapping).map(|m| {
        m.iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
            .collect()
    })
}

/// The findings of the live objects of KFP's namespace (Deployments, ConfigMaps and
/// ServiceAccounts read from it).
pub fn check(live: &[Object]) -> Vec<LiveFinding> {
    let mut findings = Vec::new();
    let deployments: Vec<&Object> = live.iter().filter(|o| o.kind == "Deployment").collect();
    let configmaps: Vec<&Object> = live.iter().filter(|o| o.kind == "ConfigMap").collect();
    let exists = |name: &str| configmaps.iter().any(|c| c.name == name);
    // Which Deployments read each ConfigMap.
    let mut readers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in &deployments {
        for r in references(&d.value) {
            readers
                .entry(r.name.clone())
                .or_default()
                .push(d.name.clone());
            if !r.optional && !exists(&r.name) {
                findings.push(LiveFinding {
                    severity: Severity::Error,
                    code: "live-configmap-missing",
                    object: d.named(),
                    message: format!(
                        "{} names ConfigMap {} ({}), which does not exist in namespace {}: its pods cannot start (CreateContainerConfigError)",
                        d.named(),
                        r.name,
                        r.place,
                        d.namespace.as_deref().unwrap_or(KFP_NAMESPACE)
                    ),
                    fix: "apply the render this Deployment came from again (kfpatch reinstall), which creates the ConfigMap it names".to_string(),
                });
            }
        }
    }
    for readers in readers.values_mut() {
        readers.dedup();
    }
    for cm in &configmaps {
        let Some((base, _)) = confighash::split_generated(&cm.name) else {
            continue;
        };
        let data = string_map(cm.value.get("data"));
        let binary = string_map(cm.value.get("binaryData"));
        let read_by = readers.get(&cm.name);
        if let Some(read_by) = read_by
            && confighash::matches(&cm.name, data.as_ref(), binary.as_ref()) == Some(false)
        {
            let ns = cm.namespace.as_deref().unwrap_or(KFP_NAMESPACE);
            let restart: Vec<String> = read_by.iter().map(|d| format!("deployment/{d}")).collect();
            findings.push(LiveFinding {
                severity: Severity::Error,
                code: "live-configmap-edited",
                object: cm.named(),
                message: format!(
                    "{}: its data no longer gives the hash in its name (kustomize names this data {base}-{}): it was edited in place, so pods of {} started before the edit still run with the old values, and the next apply of the checkout puts the old data back",
                    cm.named(),
                    confighash::suffix("", data.as_ref(), binary.as_ref()),
                    read_by.join(", ")
                ),
                fix: format!(
                    "make the change in the checkout (kfpatch multiuser on|off, kfpatch set) and run kfpatch reinstall, which gives the ConfigMap a new name and rolls the Deployments out; to keep the edit for now: kubectl -n {ns} rollout restart {}",
                    restart.join(" ")
                ),
            });
        }
        if read_by.is_none() {
            let in_use: Vec<&String> = readers
                .keys()
                .filter(|n| {
                    *n != &cm.name && confighash::split_generated(n).is_some_and(|(b, _)| b == base)
                })
                .collect();
            if let Some(current) = in_use.first() {
                let ns = cm.namespace.as_deref().unwrap_or(KFP_NAMESPACE);
                findings.push(LiveFinding {
                    severity: Severity::Warning,
                    code: "live-stale-configmap",
                    object: cm.named(),
                    message: format!(
                        "{} is left from an earlier install: no Deployment reads it ({} reads {current})",
                        cm.named(),
                        readers[*current].join(", ")
                    ),
                    fix: format!(
                        "kfpatch reinstall --prune-stale-config, or kubectl -n {ns} delete configmap {}",
                        cm.name
                    ),
                });
            }
        }
    }
    if let Some(config) = decode::api_server_config(live) {
        let data: BTreeMap<String, String> = objects::data_of(config).into_iter().collect();
        let single_user = match data.get("MULTIUSER") {
            None => true,
            Some(v) => parse_go_bool(v) == Some(false),
        };
        let runner = data
            .get("DEFAULTPIPELINERUNNERSERVICEACCOUNT")
            .map_or(DEFAULT_RUNNER, String::as_str);
        let ns = config.namespace.as_deref().unwrap_or(KFP_NAMESPACE);
        let has_account = live
            .iter()
            .any(|o| o.kind == "ServiceAccount" && o.name == runner);
        if single_user && !has_account {
            findings.push(LiveFinding {
                severity: Severity::Error,
                code: "live-runner-account-missing",
                object: format!("ServiceAccount {ns}/{runner}"),
                message: format!(
                    "single-user mode ({} data.MULTIUSER={}) runs every pipeline in namespace {ns} as service account {runner}, which does not exist there: every run pod fails (serviceaccount \"{runner}\" not found)",
                    config.named(),
                    data.get("MULTIUSER").map_or("(absent)", String::as_str)
                ),
                fix: if runner == DEFAULT_RUNNER {
                    "apply the KFP install again (kfpatch reinstall), which creates pipeline-runner and its role binding".to_string()
                } else {
                    format!("set DEFAULTPIPELINERUNNERSERVICEACCOUNT=pipeline-runner (kfpatch multiuser off switches it) and run kfpatch reinstall, or create service account {runner} in {ns} with the pipeline-runner role")
                },
            });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkout::model::objects::split;

    const LIVE: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ml-pipeline, namespace: kubeflow}\nspec:\n  template:\n    spec:\n      containers:\n      - name: ml-pipeline-api-server\n        envFrom:\n        - configMapRef: {name: pipeline-api-server-config-589h5mkcgk}\n        env:\n        - name: X\n          valueFrom: {configMapKeyRef: {name: gone, key: k, optional: true}}\n      volumes:\n      - name: code\n        configMap: {name: profile-code-hdk828hd6c}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: pipeline-api-server-config-589h5mkcgk, namespace: kubeflow}\ndata: {DEFAULTPIPELINERUNNERSERVICEACCOUNT: pipeline-runner, MULTIUSER: 'false', VISUALIZATIONSERVICE_NAME: ml-pipeline-visualizationserver, VISUALIZATIONSERVICE_PORT: '8888'}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: pipeline-api-server-config-dc9hkg52h6, namespace: kubeflow}\ndata: {DEFAULTPIPELINERUNNERSERVICEACCOUNT: default-editor, MULTIUSER: 'true', VISUALIZATIONSERVICE_NAME: ml-pipeline-visualizationserver, VISUALIZATIONSERVICE_PORT: '8888'}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: pipeline-runner, namespace: kubeflow}\n";

    fn codes(findings: &[LiveFinding]) -> Vec<(&'static str, &str)> {
        findings
            .iter()
            .map(|f| (f.code, f.object.as_str()))
            .collect()
    }

    #[test]
    fn a_switched_install_leaves_its_old_configmap_and_nothing_else() {
        let live = split(LIVE).unwrap();
        assert_eq!(
            codes(&check(&live)),
            [
                ("live-configmap-missing", "Deployment kubeflow/ml-pipeline"),
                (
                    "live-stale-configmap",
                    "ConfigMap kubeflow/pipeline-api-server-config-dc9hkg52h6"
                ),
            ]
        );
        let missing = &check(&live)[0];
        assert_eq!(
            missing.message,
            "Deployment kubeflow/ml-pipeline names ConfigMap profile-code-hdk828hd6c (volume code), which does not exist in namespace kubeflow: its pods cannot start (CreateContainerConfigError)"
        );
    }

    #[test]
    fn edited_in_place_and_runner_missing() {
        let text = LIVE
            .replace("MULTIUSER: 'false'", "MULTIUSER: 'False'")
            .replace(
                "name: pipeline-runner, namespace",
                "name: someone-else, namespace",
            );
        let live = split(&text).unwrap();
        let found = check(&live);
        assert_eq!(
            codes(&found),
            [
                ("live-configmap-missing", "Deployment kubeflow/ml-pipeline"),
                (
                    "live-configmap-edited",
                    "ConfigMap kubeflow/pipeline-api-server-config-589h5mkcgk"
                ),
                (
                    "live-stale-configmap",
                    "ConfigMap kubeflow/pipeline-api-server-config-dc9hkg52h6"
                ),
                (
                    "live-runner-account-missing",
                    "ServiceAccount kubeflow/pipeline-runner"
                ),
            ]
        );
        assert!(
            found[1]
                .message
                .contains("(kustomize names this data pipeline-api-server-config-")
        );
    }

    #[test]
    fn settings_compare_every_row_and_key() {
        let live = split(LIVE).unwrap();
        let render = split(&LIVE.replace(
            "VISUALIZATIONSERVICE_PORT: '8888'",
            "VISUALIZATIONSERVICE_PORT: '8080'",
        ))
        .unwrap();
        let drifted: Vec<String> = compare(&render, &live)
            .into_iter()
            .filter(|d| d.drift)
            .map(|d| format!("{:?} {} {:?} {:?}", d.row, d.setting, d.render, d.live))
            .collect();
        assert_eq!(
            drifted,
            ["None VISUALIZATIONSERVICE_PORT Some(\"8080\") Some(\"8888\")"]
        );
    }
}
