//! Kubernetes objects as a render (or the model's offline build, or a live list) gives them:
//! splitting a kustomize render into objects, keeping each document's bytes, and reading the
//! fields kfpatch decodes from them (container env, ConfigMap data, the viewer account), and what
//! a render itself creates (its CRDs' kinds and its Namespaces).

use std::collections::BTreeSet;

use std::borrow::Borrow;

use yaml_serde::Value;

use crate::checkout::catalogue::show_value;
use crate::syntax::seq;

/// One rendered Kubernetes object.
#[derive(Debug, Clone)]
pub struct Object {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    /// The document as rendered; kubectl gets these bytes.
    pub text: String,
    pub value: Value,
    /// The 1-based line of the render where the document starts.
    pub line: usize,
}

/// An API group and kind: what a CRD defines and what discovery serves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

impl GroupKind {
    pub fn new(group: &str, kind: &str) -> GroupKind {
        GroupKind {
            group: group.to_string(),
            kind: kind.to_string(),
        }
    }

    /// The group and kind of an object of `api_version`.
    pub fn of(api_version: &str, kind: &str) -> GroupKind {
        GroupKind::new(group_of(api_version), kind)
    }
}

/// The API group of an `apiVersion` (`""` for core/v1).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

impl Object {
    /// The API group (`""` for core/v1).
    pub fn group(&self) -> &str {
        group_of(&self.api_version)
    }

    pub fn group_kind(&self) -> GroupKind {
        GroupKind::of(&self.api_version, &self.kind)
    }

    pub fn is_crd(&self) -> bool {
        self.kind == "CustomResourceDefinition" && self.group() == "apiextensions.k8s.io"
    }

    pub fn is_namespace(&self) -> bool {
        self.kind == "Namespace" && self.api_version == "v1"
    }

    /// For a CRD: the group and kind it defines.
    pub fn defines(&self) -> Option<GroupKind> {
        if !self.is_crd() {
            return None;
        }
        let spec = self.value.get("spec")?;
        Some(GroupKind::new(
            spec.get("group")?.as_str()?,
            spec.get("names")?.get("kind")?.as_str()?,
        ))
    }

    /// `Deployment kubeflow/ml-pipeline`: how live objects are named in reports.
    pub fn named(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    /// `Deployment/ml-pipeline (namespace kubeflow)`.
    pub fn shown(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{} (namespace {ns})", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }
}

/// What the render itself creates: the kinds its CRDs define and its Namespaces.
#[derive(Debug, Clone, Default)]
pub struct RenderFacts {
    pub crd_kinds: BTreeSet<GroupKind>,
    pub namespaces: BTreeSet<String>,
}

impl RenderFacts {
    pub fn of(objects: &[Object]) -> RenderFacts {
        RenderFacts {
            crd_kinds: objects.iter().filter_map(Object::defines).collect(),
            namespaces: objects
                .iter()
                .filter(|o| o.is_namespace())
                .map(|o| o.name.clone())
                .collect(),
        }
    }
}

/// Splits a rendered YAML stream into objects. `Err` names the line of a document that is not a
/// Kubernetes object.
pub fn split(render: &str) -> std::result::Result<Vec<Object>, String> {
    let mut objects = Vec::new();
    let mut doc = String::new();
    let mut doc_line = 1;
    for (i, line) in render.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == "---" || bare.starts_with("--- ") || bare == "..." {
            push_document(&mut objects, &doc, doc_line)?;
            doc.clear();
            doc_line = i + 2;
            if let Some(rest) = bare.strip_prefix("--- ") {
                // Content after the marker (`--- |`) belongs to the document.
                doc.push_str(rest);
                doc.push('\n');
                doc_line = i + 1;
            }
            continue;
        }
        doc.push_str(line);
    }
    push_document(&mut objects, &doc, doc_line)?;
    Ok(objects)
}

fn push_document(
    objects: &mut Vec<Object>,
    doc: &str,
    line: usize,
) -> std::result::Result<(), String> {
    if doc
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(());
    }
    let value: Value = yaml_serde::from_str(doc)
        .map_err(|e| format!("the document at line {line} is not valid YAML: {e}"))?;
    if value.is_null() {
        return Ok(());
    }
    let text_field = |path: &[&str]| -> Option<String> {
        let mut v = &value;
        for key in path {
            v = v.get(key)?;
        }
        v.as_str().map(str::to_string)
    };
    let (Some(api_version), Some(kind)) = (text_field(&["apiVersion"]), text_field(&["kind"]))
    else {
        return Err(format!(
            "the document at line {line} is not a Kubernetes object (no apiVersion or kind)"
        ));
    };
    let Some(name) = text_field(&["metadata", "name"]) else {
        return Err(format!(
            "the {kind} at line {line} has no metadata.name (kfpatch does not apply generateName objects)"
        ));
    };
    let mut text = doc.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    objects.push(Object {
        namespace: text_field(&["metadata", "namespace"]),
        api_version,
        kind,
        name,
        text,
        value,
        line,
    });
    Ok(())
}

/// The UI ConfigMap that holds the viewer pod template, and its key.
pub const VIEWER_CONFIGMAP: &str = "ml-pipeline-ui-configmap";
pub const VIEWER_KEY: &str = "viewer-pod-template.json";

/// A rendered env entry, as the cluster gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendered {
    Literal(String),
    ValueFrom(String),
    Absent,
    /// The object that would hold it is not in the render.
    Missing(String),
}

impl Rendered {
    pub fn shown(&self) -> String {
        match self {
            Rendered::Literal(v) => show_value(Some(v)),
            Rendered::ValueFrom(from) => format!("(from {from})"),
            Rendered::Absent => "(absent)".to_string(),
            Rendered::Missing(why) => format!("({why})"),
        }
    }
}

pub fn data_of(configmap: &Object) -> Vec<(String, String)> {
    configmap
        .value
        .get("data")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), scalar(v))))
                .collect()
        })
        .unwrap_or_default()
}

pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => yaml_serde::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

pub fn deployment<'a>(objects: &'a [impl Borrow<Object>], name: &str) -> Option<&'a Object> {
    objects
        .iter()
        .map(Borrow::borrow)
        .find(|o| o.kind == "Deployment" && o.name == name)
}

pub fn containers(d: &Object) -> impl Iterator<Item = &Value> {
    seq(d
        .value
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("spec"))
        .and_then(|s| s.get("containers")))
}

pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut v = v;
    for key in path {
        match v.get(key) {
            Some(next) => v = next,
            None => return "?",
        }
    }
    v.as_str().unwrap_or("?")
}

pub fn env_from(from: &Value) -> (&'static str, String) {
    if let Some(cm) = from.get("configMapRef") {
        ("ConfigMap", str_at(cm, &["name"]).to_string())
    } else if let Some(secret) = from.get("secretRef") {
        ("Secret", str_at(secret, &["name"]).to_string())
    } else {
        ("(unknown source)", String::new())
    }
}

pub fn value_from(from: &Value) -> String {
    if let Some(r) = from.get("configMapKeyRef") {
        format!(
            "ConfigMap {} key {}",
            str_at(r, &["name"]),
            str_at(r, &["key"])
        )
    } else if let Some(r) = from.get("secretKeyRef") {
        format!(
            "Secret {} key {}",
            str_at(r, &["name"]),
            str_at(r, &["key"])
        )
    } else if let Some(r) = from.get("fieldRef") {
        format!("field {}", str_at(r, &["fieldPath"]))
    } else if let Some(r) = from.get("resourceFieldRef") {
        format!("resource {}", str_at(r, &["resource"]))
    } else {
        "an unknown source".to_string()
    }
}

pub fn describe_env(env: &Value) -> String {
    let name = str_at(env, &["name"]);
    match env_value(env) {
        Rendered::Literal(v) => format!("{name}={}", show_value(Some(&v))),
        Rendered::ValueFrom(from) => format!("{name} from {from}"),
        _ => format!("{name}=''"),
    }
}

pub fn env_value(env: &Value) -> Rendered {
    match (env.get("value"), env.get("valueFrom")) {
        (Some(v), _) if !v.is_null() => Rendered::Literal(scalar(v)),
        (_, Some(from)) if !from.is_null() => Rendered::ValueFrom(value_from(from)),
        _ => Rendered::Literal(String::new()),
    }
}

pub fn rendered_env(
    objects: &[impl Borrow<Object>],
    deployment_name: &str,
    container: &str,
    var: &str,
) -> Rendered {
    let Some(d) = deployment(objects, deployment_name) else {
        return Rendered::Missing(format!(
            "Deployment {deployment_name} is not in this render"
        ));
    };
    let Some(c) = containers(d).find(|c| c.get("name").and_then(Value::as_str) == Some(container))
    else {
        return Rendered::Missing(format!(
            "Deployment {deployment_name} has no container {container}"
        ));
    };
    seq(c.get("env"))
        .filter(|e| e.get("name").and_then(Value::as_str) == Some(var))
        .last()
        .map_or(Rendered::Absent, env_value)
}

/// The container named `container` of Deployment `deployment_name`.
pub fn container<'a>(
    objects: &'a [impl Borrow<Object>],
    deployment_name: &str,
    container: &str,
) -> Option<&'a Value> {
    containers(deployment(objects, deployment_name)?)
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
}

pub fn viewer_account(objects: &[impl Borrow<Object>]) -> Option<Rendered> {
    let cm = objects
        .iter()
        .map(Borrow::borrow)
        .find(|o| o.kind == "ConfigMap" && o.name == VIEWER_CONFIGMAP)?;
    let json = cm.value.get("data")?.get(VIEWER_KEY)?.as_str()?;
    let parsed: Value = yaml_serde::from_str(json).ok()?;
    Some(
        parsed
            .get("spec")
            .and_then(|s| s.get("serviceAccountName"))
            .and_then(Value::as_str)
            .map_or(Rendered::Absent, |a| Rendered::Literal(a.to_string())),
    )
}

/// A small render for unit tests: an AuthorizationPolicy, the API server Deployment, a CRD and a
/// Namespace.
#[cfg(test)]
pub(crate) const SAMPLE_RENDER: &str = "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata:\n  name: ml-pipeline\n  namespace: kubeflow\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ml-pipeline\n  namespace: kubeflow\nspec:\n  template:\n    spec:\n      containers:\n      - name: api\n        envFrom:\n        - configMapRef:\n            name: pipeline-api-server-config-dc9hkg52h6\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: compositecontrollers.metacontroller.k8s.io\nspec:\n  group: metacontroller.k8s.io\n  names:\n    kind: CompositeController\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubeflow\n";

#[cfg(test)]
mod tests {
    use super::*;
    const RENDER: &str = SAMPLE_RENDER;

    #[test]
    fn splits_documents_keeping_their_bytes() {
        let objects = split(RENDER).unwrap();
        let names: Vec<String> = objects.iter().map(Object::shown).collect();
        assert_eq!(
            names,
            [
                "AuthorizationPolicy/ml-pipeline (namespace kubeflow)",
                "Deployment/ml-pipeline (namespace kubeflow)",
                "CustomResourceDefinition/compositecontrollers.metacontroller.k8s.io",
                "Namespace/kubeflow",
            ]
        );
        assert_eq!(
            objects[0].text,
            "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata:\n  name: ml-pipeline\n  namespace: kubeflow\n"
        );
        assert_eq!(
            objects.iter().map(|o| o.line).collect::<Vec<_>>(),
            [1, 7, 21, 30]
        );
        assert_eq!(
            objects[2].defines(),
            Some(GroupKind::new(
                "metacontroller.k8s.io",
                "CompositeController"
            ))
        );
    }

    #[test]
    fn split_skips_empty_documents_and_names_bad_ones() {
        let objects = split("---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n...\n").unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].line, 4);
        assert_eq!(
            split("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\nfoo: bar\n")
                .unwrap_err(),
            "the document at line 6 is not a Kubernetes object (no apiVersion or kind)"
        );
        assert_eq!(
            split("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n").unwrap_err(),
            "the ConfigMap at line 1 has no metadata.name (kfpatch does not apply generateName objects)"
        );
        assert!(
            split("kind: [\n")
                .unwrap_err()
                .starts_with("the document at line 1 is not valid YAML")
        );
    }
}
