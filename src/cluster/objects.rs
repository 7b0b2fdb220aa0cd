//! Rendered objects: splitting a kustomize render into Kubernetes objects (keeping each document's
//! bytes), the order they are applied in, and what the render itself creates (its CRDs' kinds and
//! its Namespaces). Knows nothing of kubectl.

use std::collections::{BTreeMap, BTreeSet};

use yaml_serde::Value;

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

/// The apply order, in three steps, each in render order.
#[derive(Debug, Default)]
pub struct Steps<'a> {
    /// Namespaces and CRDs (less the CRDs whose cluster copies are kept).
    pub first: Vec<&'a Object>,
    /// Objects that need no CRD of this render: built-in kinds, kinds the cluster already serves.
    pub plain: Vec<&'a Object>,
    /// Custom resources of the render's CRDs: only these wait for CRDs to be Established.
    pub custom: Vec<&'a Object>,
}

/// Splits `objects` into [`Steps`]; the CRDs named in `kept` are not applied.
pub fn steps<'a>(objects: &'a [Object], facts: &RenderFacts, kept: &BTreeSet<&str>) -> Steps<'a> {
    let mut steps = Steps::default();
    steps
        .first
        .extend(objects.iter().filter(|o| o.is_namespace()));
    steps.first.extend(
        objects
            .iter()
            .filter(|o| o.is_crd() && !kept.contains(o.name.as_str())),
    );
    for o in objects.iter().filter(|o| !o.is_namespace() && !o.is_crd()) {
        if facts.crd_kinds.contains(&o.group_kind()) {
            steps.custom.push(o);
        } else {
            steps.plain.push(o);
        }
    }
    steps
}

/// Object counts by kind, by kind name.
pub fn counts_by_kind(objects: &[&Object]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for o in objects {
        *counts.entry(o.kind.clone()).or_insert(0) += 1;
    }
    counts
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

/// The YAML stream kubectl gets for `objects`.
pub fn stream(objects: &[&Object]) -> String {
    let mut text = String::new();
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            text.push_str("---\n");
        }
        text.push_str(&o.text);
    }
    text
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
        let all: Vec<&Object> = objects.iter().collect();
        assert_eq!(stream(&all), RENDER);
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

    #[test]
    fn namespaces_and_crds_first_custom_resources_of_the_render_last() {
        let mut text = RENDER.to_string();
        text.push_str("---\napiVersion: metacontroller.k8s.io/v1alpha1\nkind: CompositeController\nmetadata:\n  name: profile-controller\n");
        let objects = split(&text).unwrap();
        let facts = RenderFacts::of(&objects);
        let kinds = |v: &[&Object]| v.iter().map(|o| o.kind.clone()).collect::<Vec<_>>();
        let all = steps(&objects, &facts, &BTreeSet::new());
        assert_eq!(kinds(&all.first), ["Namespace", "CustomResourceDefinition"]);
        assert_eq!(kinds(&all.plain), ["AuthorizationPolicy", "Deployment"]);
        assert_eq!(kinds(&all.custom), ["CompositeController"]);
        let kept = BTreeSet::from(["compositecontrollers.metacontroller.k8s.io"]);
        let some = steps(&objects, &facts, &kept);
        assert_eq!(kinds(&some.first), ["Namespace"]);
        assert_eq!(kinds(&some.custom), ["CompositeController"]);
    }
}
