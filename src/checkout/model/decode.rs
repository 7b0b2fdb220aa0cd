//! The catalogue settings a set of objects gives the KFP components, each with the object and
//! field it comes from. The same code reads a render (what the checkout would apply) and a live
//! cluster (what runs), so `audit --cluster` compares like with like.
//!
//! A key of a `params.env` is read as the container sees it: its own `env` entry wins over
//! `envFrom`, and among `envFrom` ConfigMaps the last that has the key wins (Kubernetes' rule).

use std::borrow::Borrow;

use yaml_serde::Value;

use crate::checkout::catalogue::{
    CATALOGUE, Mode, Place, Reading, Scope, Setting, holds, show_value,
};
use crate::checkout::model::objects::{self, Object, Rendered};
use crate::checkout::overall::Overall;
use crate::checkout::version::Version;
use crate::syntax::seq;

/// The Deployment of the KFP API server, and its container.
pub const API_SERVER: (&str, &str) = ("ml-pipeline", "ml-pipeline-api-server");
/// The name prefix of the API server's generated ConfigMaps.
pub const API_SERVER_CONFIG_PREFIX: &str = "pipeline-api-server-config-";
/// The namespace of KFP in every kubeflow/manifests release.
pub const KFP_NAMESPACE: &str = "kubeflow";
const AGENT: (&str, &str) = (
    "ml-pipeline-persistenceagent",
    "ml-pipeline-persistenceagent",
);
const INSTALL_CONFIG: &str = "pipeline-install-config";

/// One catalogue setting as the objects give it.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub setting: &'static Setting,
    pub value: Rendered,
    /// `ConfigMap kubeflow/pipeline-api-server-config-dc9hkg52h6 data.MULTIUSER`.
    pub source: String,
}

impl Decoded {
    /// Which mode's upstream value it holds, if any.
    pub fn mode(&self) -> Option<Mode> {
        if self.agent_switch_absent() {
            return None;
        }
        let reading = match &self.value {
            Rendered::Literal(v) => Reading::Value {
                value: v.clone(),
                line: 0,
            },
            Rendered::Absent => Reading::Absent,
            _ => return None,
        };
        [Mode::On, Mode::Off]
            .into_iter()
            .find(|m| holds(self.setting, &reading, self.setting.value_in(*m)))
    }

    /// The persistence agent's own MULTIUSER, absent: its release has none (only KFP 2.0.0-alpha.4
    /// to 2.0.1 read one), so it says nothing about the mode.
    pub fn agent_switch_absent(&self) -> bool {
        self.setting.file.starts_with("persistence-agent/") && self.value == Rendered::Absent
    }

    /// The value as shown: `true`, `''`, `(absent)`, `(from ...)`.
    pub fn shown(&self) -> String {
        self.value.shown()
    }
}

/// Every catalogue row, decoded from `objects`.
pub fn decode(objects: &[impl Borrow<Object>]) -> Vec<Decoded> {
    CATALOGUE
        .iter()
        .map(|setting| {
            let (value, source) = match setting.place {
                Place::EnvKey(key) => {
                    let (deployment, container) = if setting.file.starts_with("api-service/") {
                        API_SERVER
                    } else {
                        AGENT
                    };
                    container_key(objects, deployment, container, key)
                }
                Place::ContainerEnv {
                    deployment,
                    container,
                    var,
                    ..
                } => (
                    container_env(objects, deployment, container, var),
                    format!(
                        "{} containers[{container}].env[{var}]",
                        shown_object(objects, "Deployment", deployment)
                    ),
                ),
                Place::ViewerAccount => (
                    objects::viewer_account(objects).unwrap_or(Rendered::Missing(format!(
                        "no ConfigMap {}",
                        objects::VIEWER_CONFIGMAP
                    ))),
                    format!(
                        "{} data.{} spec.serviceAccountName",
                        shown_object(objects, "ConfigMap", objects::VIEWER_CONFIGMAP),
                        objects::VIEWER_KEY
                    ),
                ),
            };
            Decoded {
                setting,
                value,
                source,
            }
        })
        .collect()
}

/// `Deployment kubeflow/ml-pipeline`, with the namespace when the object is there.
fn shown_object(objects: &[impl Borrow<Object>], kind: &str, name: &str) -> String {
    match objects
        .iter()
        .map(Borrow::borrow)
        .find(|o| o.kind == kind && o.name == name)
    {
        Some(Object {
            namespace: Some(ns),
            ..
        }) => format!("{kind} {ns}/{name}"),
        _ => format!("{kind} {name}"),
    }
}

/// The env entry `var` of a container (the last one, as Kubernetes reads it).
fn container_env(
    objects: &[impl Borrow<Object>],
    deployment: &str,
    container: &str,
    var: &str,
) -> Rendered {
    match objects::container(objects, deployment, container) {
        None => Rendered::Missing(format!(
            "no Deployment {deployment} with container {container}"
        )),
        Some(c) => match seq(c.get("env"))
            .filter(|e| e.get("name").and_then(Value::as_str) == Some(var))
            .last()
        {
            None => Rendered::Absent,
            Some(env) => resolved(objects, env),
        },
    }
}

/// An env entry's value; one read from a ConfigMap key is followed to that key's value when the
/// ConfigMap is among `objects` (`from ConfigMap pipeline-install-config key X: false`).
fn resolved(objects: &[impl Borrow<Object>], env: &Value) -> Rendered {
    let value = objects::env_value(env);
    let Rendered::ValueFrom(from) = &value else {
        return value;
    };
    let key_ref = env.get("valueFrom").and_then(|v| v.get("configMapKeyRef"));
    let (Some(name), Some(key)) = (
        key_ref.and_then(|r| r.get("name")).and_then(Value::as_str),
        key_ref.and_then(|r| r.get("key")).and_then(Value::as_str),
    ) else {
        return value;
    };
    match configmap(objects, name) {
        None => value,
        Some(cm) => match objects::data_of(cm).into_iter().find(|(k, _)| k == key) {
            Some((_, v)) => Rendered::ValueFrom(format!("{from}: {}", show_value(Some(&v)))),
            None => Rendered::ValueFrom(format!("{from}: absent")),
        },
    }
}

/// `key` as `container` of `deployment` sees it: its env entry, else the last envFrom ConfigMap
/// that has it.
fn container_key(
    objects: &[impl Borrow<Object>],
    deployment: &str,
    container: &str,
    key: &str,
) -> (Rendered, String) {
    let Some(c) = objects::container(objects, deployment, container) else {
        return (
            Rendered::Missing(format!(
                "no Deployment {deployment} with container {container}"
            )),
            format!("Deployment {deployment}"),
        );
    };
    let d = shown_object(objects, "Deployment", deployment);
    if let Some(env) = seq(c.get("env"))
        .filter(|e| e.get("name").and_then(Value::as_str) == Some(key))
        .last()
    {
        return (
            objects::env_value(env),
            format!("{d} containers[{container}].env[{key}]"),
        );
    }
    let mut found = None;
    for name in config_map_refs(c) {
        match configmap(objects, &name) {
            Some(cm) => {
                if let Some((_, v)) = objects::data_of(cm).into_iter().find(|(k, _)| k == key) {
                    found = Some((
                        Rendered::Literal(v),
                        format!("{} data.{key}", shown_object(objects, "ConfigMap", &name)),
                    ));
                }
            }
            None => {
                found.get_or_insert((
                    Rendered::Missing(format!(
                        "ConfigMap {name}, which envFrom names, does not exist"
                    )),
                    format!("{d} containers[{container}].envFrom"),
                ));
            }
        }
    }
    found.unwrap_or((
        Rendered::Absent,
        format!("{d} containers[{container}] env and envFrom"),
    ))
}

/// The ConfigMaps a container's envFrom names, in order.
fn config_map_refs(container: &Value) -> Vec<String> {
    seq(container.get("envFrom"))
        .filter_map(|f| f.get("configMapRef")?.get("name")?.as_str())
        .map(str::to_string)
        .collect()
}

fn configmap<'a>(objects: &'a [impl Borrow<Object>], name: &str) -> Option<&'a Object> {
    objects
        .iter()
        .map(Borrow::borrow)
        .find(|o| o.kind == "ConfigMap" && o.name == name)
}

/// The API server's ConfigMap: the `pipeline-api-server-config-*` one that `ml-pipeline`'s
/// envFrom names (and that exists).
pub fn api_server_config(objects: &[impl Borrow<Object>]) -> Option<&Object> {
    let c = objects::container(objects, API_SERVER.0, API_SERVER.1)?;
    config_map_refs(c)
        .iter()
        .filter(|n| n.starts_with(API_SERVER_CONFIG_PREFIX))
        .find_map(|n| configmap(objects, n))
}

/// The KFP version: `appVersion` of `pipeline-install-config`, as in the checkout.
pub fn kfp_version(objects: &[impl Borrow<Object>]) -> Option<Version> {
    let cm = configmap(objects, INSTALL_CONFIG)?;
    objects::data_of(cm)
        .into_iter()
        .find(|(k, _)| k == "appVersion")
        .and_then(|(_, v)| Version::parse(&v))
}

/// Whether a row applies to a release of this KFP version (row 4 only before 2.0.0-beta.0), and
/// why not.
pub fn applies(setting: &Setting, version: Option<&Version>) -> Result<(), String> {
    if !setting.only_before_kfp_2_beta {
        return Ok(());
    }
    let beta = Version::parse("2.0.0-beta.0").expect("a valid version");
    match version {
        Some(v) if *v < beta => Ok(()),
        Some(v) => Err(format!(
            "kept in both modes from KFP 2.0.0-beta.0 (this cluster runs {v})"
        )),
        None => Err("KFP version unknown".to_string()),
    }
}

/// Whether a decoded row counts for the cluster's overall mode: part of the default switch on
/// this release, and a literal or absent value (a value from elsewhere, or a row whose object is
/// not there, says nothing about the mode).
pub fn counts(d: &Decoded, version: Option<&Version>) -> bool {
    d.setting.scope <= Scope::Related
        && applies(d.setting, version).is_ok()
        && match &d.value {
            Rendered::Literal(_) => true,
            Rendered::Absent => !d.agent_switch_absent(),
            _ => false,
        }
}

/// The overall mode of the decoded rows: `on`, `off`, `mixed`, or `unknown` when the API server's
/// switch cannot be read; and the line `status` prints.
pub fn mode(rows: &[Decoded], version: Option<&Version>) -> (&'static str, String) {
    if let Some(Decoded {
        value: Rendered::Missing(why),
        ..
    }) = rows.first()
    {
        return (
            "unknown",
            format!("unknown: the API server's MULTIUSER cannot be read ({why})"),
        );
    }
    let counted: Vec<(Option<Mode>, String)> = rows
        .iter()
        .filter(|d| counts(d, version))
        .map(|d| (d.mode(), d.setting.name()))
        .collect();
    let overall = Overall::of(&counted);
    (overall.word(), overall.line())
}
