//! Which objects of a render the cluster already has exactly as an apply would leave them, so
//! that a re-install sends only the others.
//!
//! An object is unchanged when both hold:
//! - every field of the rendered object has the same value on the cluster (the cluster may have
//!   more: status, defaults, fields other managers set; lists must have as many items), so the
//!   apply would set nothing;
//! - the apply would remove nothing: with server-side apply, every field the `kubectl` field
//!   manager owns by apply is in the render and client-side apply owns none (kubectl's first
//!   server-side apply takes those over); with client-side apply, the object's
//!   `last-applied-configuration` is the rendered object itself.
//!
//! Anything else (no such object, another field manager, a value the API server normalised) is
//! applied: a wrong "changed" costs one request, a wrong "unchanged" would leave drift in place.
//! The cluster's objects are read in two lists at once: the CRDs raw (kubectl's printing of the
//! large CRD schemas costs more than the API server's), which also gives the CRDs' states, and
//! the other kinds in one `kubectl get`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use serde_json::{Map, Value};

use crate::checkout::model::objects::{GroupKind, Object};
use crate::cluster::apply::crds::{self, CRDS_PATH, CrdState};
use crate::cluster::programs::kubectl::Kubectl;
use crate::cluster::programs::process;
use crate::error::Result;

/// The field manager of `kubectl apply --server-side`, and the annotation client-side apply keeps.
const FIELD_MANAGER: &str = "kubectl";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const CLIENT_SIDE_MANAGER: &str = "kubectl-client-side-apply";

/// An object as listed: apiVersion (a render may use two versions of one kind), kind, namespace
/// (empty when cluster-scoped), name.
type Key = (String, String, String, String);

/// The cluster's copies of the render's objects.
#[derive(Debug, Default)]
pub struct Live {
    objects: HashMap<Key, Value>,
    /// The state of every CRD, when the list of CRDs was read.
    crd_states: Option<BTreeMap<String, CrdState>>,
}

fn key_of(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Key {
    (
        api_version.to_string(),
        kind.to_string(),
        namespace.unwrap_or_default().to_string(),
        name.to_string(),
    )
}

/// `Kind.version.group` (`Kind` for core/v1): what `kubectl get` lists in exactly the render's
/// version, so that fields compare in the same schema.
fn resource_arg(object: &Object) -> String {
    match object.api_version.split_once('/') {
        Some((group, version)) => format!("{}.{version}.{group}", object.kind),
        None => object.kind.clone(),
    }
}

impl Live {
    /// Reads the cluster's objects of the kinds of `objects` that `served` lists (a kind not
    /// served yet has no objects). A list the cluster refuses (RBAC) leaves its objects out,
    /// so they are applied. `crd_list`: the cluster's CRDs, when read beforehand (beside the
    /// render); a cluster that has none of the render's CRDs has never had the render applied,
    /// so its other objects are not read (on a fresh cluster that list would find nothing, and
    /// everything is sent either way).
    pub fn read(
        kubectl: &Kubectl,
        objects: &[&Object],
        served: &BTreeMap<GroupKind, bool>,
        crd_list: Option<Value>,
        deadline: Instant,
        tick: &mut dyn FnMut(),
    ) -> Result<Live> {
        let mut others = BTreeSet::new();
        let mut crd_names = BTreeSet::new();
        for o in objects {
            if o.is_crd() {
                crd_names.insert(o.name.as_str());
            } else if served.contains_key(&o.group_kind()) {
                others.insert(resource_arg(o));
            }
        }
        let mut live = Live::default();
        let never_applied = match &crd_list {
            Some(list) => {
                live.add_list(list, true);
                let states = live.crd_states.as_ref();
                !crd_names.is_empty()
                    && states.is_some_and(|s| crd_names.iter().all(|n| !s.contains_key(*n)))
            }
            None => false,
        };
        let mut calls: Vec<Vec<String>> = Vec::new();
        if !crd_names.is_empty() && crd_list.is_none() {
            calls.push(vec!["get".into(), "--raw".into(), CRDS_PATH.into()]);
        }
        if !others.is_empty() && !never_applied {
            let kinds: Vec<String> = others.into_iter().collect();
            calls.push(
                [
                    "get",
                    &kinds.join(","),
                    "--all-namespaces",
                    "--show-managed-fields",
                    "-o",
                    "json",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            );
        }
        process::prepare();
        let runs = crate::parallel::each(
            &calls,
            |args, tick| {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                kubectl.run(&args, None, deadline, tick)
            },
            tick,
        );
        for (args, ran) in calls.iter().zip(runs) {
            let ran = ran?;
            if !ran.success() {
                continue;
            }
            let Ok(list) = serde_json::from_str::<Value>(&ran.stdout) else {
                continue;
            };
            live.add_list(&list, args[1] == "--raw");
        }
        Ok(live)
    }

    /// Only the cluster's CRDs (the API server's list), when read: what a dry run, which sends
    /// every object, needs of the cluster's copies.
    pub fn of_crds(crd_list: Option<Value>) -> Live {
        let mut live = Live::default();
        if let Some(list) = &crd_list {
            live.add_list(list, true);
        }
        live
    }

    /// Adds the items of one list: `raw_crds`, the API server's list of CRDs (which also gives
    /// their states), else `kubectl get -o json`'s.
    fn add_list(&mut self, list: &Value, raw_crds: bool) {
        if raw_crds {
            self.crd_states = Some(crds::states_of(list));
        }
        for item in list
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut item = item.clone();
            if raw_crds && let Some(fields) = item.as_object_mut() {
                // A raw list's items do not repeat their kind.
                fields.insert("apiVersion".into(), "apiextensions.k8s.io/v1".into());
                fields.insert("kind".into(), "CustomResourceDefinition".into());
            }
            let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
            let (Some(api_version), Some(kind), Some(name)) = (
                text(item.get("apiVersion")),
                text(item.get("kind")),
                text(item.pointer("/metadata/name")),
            ) else {
                continue;
            };
            let namespace = text(item.pointer("/metadata/namespace"));
            self.objects.insert(
                key_of(&api_version, &kind, namespace.as_deref(), &name),
                item,
            );
        }
    }

    /// The cluster's state of the CRDs named (those it does not have left out), when the list of
    /// CRDs was read.
    pub fn crd_states(&self, names: &[&str]) -> Option<BTreeMap<String, CrdState>> {
        let mut states = self.crd_states.clone()?;
        states.retain(|name, _| names.contains(&name.as_str()));
        Some(states)
    }

    /// Whether applying `object` would change nothing (see the module doc). `namespaced`: its
    /// kind is; one without a namespace in the render goes wherever kubectl's context says, so
    /// it is always applied.
    pub fn unchanged(&self, object: &Object, namespaced: bool, server_side: bool) -> bool {
        if namespaced && object.namespace.is_none() {
            return false;
        }
        // kubectl drops a namespace that kustomize set on a cluster-scoped object.
        let namespace = object.namespace.as_deref().filter(|_| namespaced);
        let key = key_of(&object.api_version, &object.kind, namespace, &object.name);
        let Some(live) = self.objects.get(&key) else {
            return false;
        };
        let Ok(mut as_sent) = serde_json::to_value(&object.value) else {
            return false;
        };
        if !namespaced
            && let Some(metadata) = as_sent.get_mut("metadata").and_then(Value::as_object_mut)
        {
            metadata.remove("namespace");
        }
        let mut rendered = as_sent.clone();
        ignore_server_owned(object, &mut rendered);
        if !contains(live, &rendered, typed(object), false) {
            return false;
        }
        if server_side {
            nothing_removed(live, &rendered)
        } else {
            live.pointer("/metadata/annotations")
                .and_then(|a| a.get(LAST_APPLIED))
                .and_then(Value::as_str)
                .and_then(|text| serde_json::from_str::<Value>(text).ok())
                .is_some_and(|last| without_empty_annotations(last) == as_sent)
        }
    }
}

/// Removes what the API server keeps to itself whatever an apply sends: `creationTimestamp`
/// (renders carry `null`), and the `status` of a CRD or a built-in kind (a status subresource).
fn ignore_server_owned(object: &Object, rendered: &mut Value) {
    if let Some(metadata) = rendered.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("creationTimestamp");
    }
    if typed(object)
        && let Some(fields) = rendered.as_object_mut()
    {
        fields.remove("status");
    }
}

/// kubectl writes `annotations: {}` into the last-applied configuration of an object that has
/// none.
fn without_empty_annotations(mut last: Value) -> Value {
    if let Some(metadata) = last.get_mut("metadata").and_then(Value::as_object_mut)
        && metadata
            .get("annotations")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    {
        metadata.remove("annotations");
    }
    last
}

/// Every field of `rendered` has the same value in `live`; a `null` is a field the apply
/// removes, so it must be absent.
/// With `typed` (built-in kinds and CRDs, stored as Go types), an empty value (`""`, `false`,
/// `0`, `{}`, `[]`) also matches an absent field: the API server leaves those out when it
/// stores, so the apply would store the same. `quantities`: the two are a typed object's `limits`
/// or `requests`, whose values the API server stores in canonical form (`2` for `2000m`).
fn contains(live: &Value, rendered: &Value, typed: bool, quantities: bool) -> bool {
    match (live, rendered) {
        (Value::Object(live), Value::Object(rendered)) => {
            rendered.iter().all(|(k, v)| match (live.get(k), v) {
                (Some(Value::String(l)), Value::String(r)) if quantities => {
                    l == r || quantity(l).is_some_and(|l| Some(l) == quantity(r))
                }
                (Some(l), v) => contains(l, v, typed, typed && (k == "limits" || k == "requests")),
                (None, v) => v.is_null() || (typed && empty(v)),
            })
        }
        (Value::Array(live), Value::Array(rendered)) => {
            live.len() == rendered.len()
                && live
                    .iter()
                    .zip(rendered)
                    .all(|(l, r)| contains(l, r, typed, false))
        }
        (live, rendered) => live == rendered,
    }
}

/// A Kubernetes quantity (`500m`, `2`, `1.5Gi`, `2048Mi`) in thousandths of its unit, when it
/// is one and is a whole number of them.
fn quantity(text: &str) -> Option<i128> {
    let digits = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits);
    let scale: i128 = match suffix {
        "m" => 1,
        "" => 1_000,
        "k" => 1_000_000,
        "M" => 1_000_000_000,
        "G" => 1_000_000_000_000,
        "T" => 1_000_000_000_000_000,
        "Ki" => 1_000 << 10,
        "Mi" => 1_000 << 20,
        "Gi" => 1_000 << 30,
        "Ti" => 1_000 << 40,
        _ => return None,
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.len() > 9 {
        return None;
    }
    let parse = |s: &str| {
        if s.is_empty() {
            Some(0)
        } else {
            s.parse::<i128>().ok()
        }
    };
    let denominator = 10i128.pow(fraction.len() as u32);
    let total = (parse(whole)? * denominator + parse(fraction)?) * scale;
    (total % denominator == 0).then_some(total / denominator)
}

fn empty(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Null => true,
    }
}

/// Built-in kinds and CRDs: stored as Go types, with no `status` of theirs taken from an apply.
fn typed(object: &Object) -> bool {
    let group = object.group();
    object.is_crd() || !group.contains('.') || group.ends_with(".k8s.io")
}

/// A server-side apply by kubectl removes the fields its field manager owns by apply and the
/// render no longer has, and, the first time, those client-side apply set (kubectl moves them
/// to its field manager). So nothing is removed when kubectl's applied fields are all in the
/// render (or it owns none) and no client-side apply owns any.
fn nothing_removed(live: &Value, rendered: &Value) -> bool {
    let entries = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let manager_is =
        |entry: &Value, name: &str| entry.get("manager").and_then(Value::as_str) == Some(name);
    if entries
        .iter()
        .any(|entry| manager_is(entry, CLIENT_SIDE_MANAGER))
    {
        return false;
    }
    let applied = entries.iter().find(|entry| {
        manager_is(entry, FIELD_MANAGER)
            && entry.get("operation").and_then(Value::as_str) == Some("Apply")
            && entry.get("subresource").is_none()
    });
    match applied {
        None => true,
        Some(entry) => entry
            .get("fieldsV1")
            .and_then(Value::as_object)
            .is_some_and(|fields| within(fields, rendered)),
    }
}

/// Every field of a `fieldsV1` set is in `rendered`: `f:name` a map key, `k:{...}` the list item
/// with those key fields, `v:value` the list item of that value, `i:n` the item at n; `.` the
/// item itself.
fn within(fields: &Map<String, Value>, rendered: &Value) -> bool {
    fields.iter().all(|(key, below)| {
        if key == "." {
            return true;
        }
        let child = if let Some(name) = key.strip_prefix("f:") {
            rendered.get(name)
        } else if let Some(keys) = key.strip_prefix("k:") {
            let Ok(Value::Object(keys)) = serde_json::from_str::<Value>(keys) else {
                return false;
            };
            rendered.as_array().and_then(|items| {
                items
                    .iter()
                    .find(|item| keys.iter().all(|(k, v)| item.get(k) == Some(v)))
            })
        } else if let Some(value) = key.strip_prefix("v:") {
            let Ok(value) = serde_json::from_str::<Value>(value) else {
                return false;
            };
            rendered
                .as_array()
                .and_then(|items| items.iter().find(|item| **item == value))
        } else if let Some(index) = key.strip_prefix("i:") {
            index
                .parse::<usize>()
                .ok()
                .and_then(|i| rendered.as_array()?.get(i))
        } else {
            None
        };
        match (child, below.as_object()) {
            (None, _) => false,
            (Some(child), Some(below)) => within(below, child),
            (Some(_), None) => true,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkout::model::objects::split;

    fn live(json: &str) -> Live {
        let value: Value = serde_json::from_str(json).unwrap();
        let mut live = Live::default();
        live.objects.insert(
            key_of("apps/v1", "Deployment", Some("kubeflow"), "ml-pipeline"),
            value,
        );
        live
    }

    const RENDERED: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ml-pipeline\n  namespace: kubeflow\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - name: api\n        image: ml-pipeline/api-server:2.0.5\n        ports:\n        - containerPort: 8888\n";

    const LIVE_SSA: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"ml-pipeline","namespace":"kubeflow","uid":"u","managedFields":[{"manager":"kubectl","operation":"Apply","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"api\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":8888}":{".":{},"f:containerPort":{}}}}}}}}}}]},"spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"api","image":"ml-pipeline/api-server:2.0.5","ports":[{"containerPort":8888}]}]}}},"status":{"replicas":0}}"#;

    #[test]
    fn server_side_unchanged_only_when_equal_and_owning_nothing_more() {
        let object = &split(RENDERED).unwrap()[0];
        assert!(live(LIVE_SSA).unchanged(object, true, true));
        // Client-side apply has no last-applied-configuration to go by here.
        assert!(!live(LIVE_SSA).unchanged(object, true, false));
        // Drift: someone scaled it.
        let drifted = LIVE_SSA.replace(r#""replicas":1"#, r#""replicas":3"#);
        assert!(!live(&drifted).unchanged(object, true, true));
        // The last apply set a field the render no longer has: the apply removes it.
        let more = LIVE_SSA.replace(r#""f:replicas":{},"#, r#""f:replicas":{},"f:paused":{},"#);
        assert!(!live(&more).unchanged(object, true, true));
        // Fields client-side apply set, which kubectl's first server-side apply takes over.
        let csa = LIVE_SSA.replace(
            r#""manager":"kubectl","operation":"Apply""#,
            r#""manager":"kubectl-client-side-apply","operation":"Update""#,
        );
        assert!(!live(&csa).unchanged(object, true, true));
        // Another tool's fields: kubectl owns none, so it removes none.
        let other = LIVE_SSA.replace(r#""manager":"kubectl""#, r#""manager":"helm""#);
        assert!(live(&other).unchanged(object, true, true));
        // Not on the cluster, or namespaced and without a namespace in the render.
        assert!(!Live::default().unchanged(object, true, true));
        let bare = &split(&RENDERED.replace("  namespace: kubeflow\n", "")).unwrap()[0];
        assert!(!live(LIVE_SSA).unchanged(bare, true, true));
    }

    #[test]
    fn client_side_unchanged_when_last_applied_is_the_render() {
        let object = &split(RENDERED).unwrap()[0];
        let rendered =
            serde_json::to_string(&serde_json::to_value(&object.value).unwrap()).unwrap();
        let with = |last: &str| {
            let mut value: Value = serde_json::from_str(LIVE_SSA).unwrap();
            value["metadata"]["annotations"] = serde_json::json!({ LAST_APPLIED: last });
            let mut live = Live::default();
            live.objects.insert(
                key_of("apps/v1", "Deployment", Some("kubeflow"), "ml-pipeline"),
                value,
            );
            live
        };
        assert!(with(&rendered).unchanged(object, true, false));
        let older = rendered.replace("2.0.5", "2.0.4");
        assert!(!with(&older).unchanged(object, true, false));
    }

    #[test]
    fn quantities_compare_by_value_only_in_limits_and_requests() {
        let value = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        let live = value(r#"{"limits":{"cpu":"2","memory":"2Gi"},"labels":{"cpu":"2"}}"#);
        let same = value(r#"{"limits":{"cpu":"2000m","memory":"2048Mi"}}"#);
        assert!(contains(&live, &same, true, false));
        assert!(!contains(&live, &same, false, false));
        let more = value(r#"{"limits":{"cpu":"2001m"}}"#);
        assert!(!contains(&live, &more, true, false));
        let label = value(r#"{"labels":{"cpu":"2000m"}}"#);
        assert!(!contains(&live, &label, true, false));
        assert_eq!(quantity("1.5Gi"), Some(1_500 << 30));
        assert_eq!(quantity("0.5"), quantity("500m"));
        assert_eq!(quantity("0.0001m"), None);
        for bad in ["", "x", "1x", "1..2", "."] {
            assert_eq!(quantity(bad), None, "{bad}");
        }
    }

    #[test]
    fn lists_must_match_item_for_item_and_nulls_be_absent() {
        let live: Value = serde_json::from_str(r#"{"a":[{"x":1,"d":0},{"x":2}],"b":1}"#).unwrap();
        let rendered = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert!(contains(
            &live,
            &rendered(r#"{"a":[{"x":1},{"x":2}]}"#),
            false,
            false
        ));
        assert!(!contains(
            &live,
            &rendered(r#"{"a":[{"x":1}]}"#),
            false,
            false
        ));
        assert!(!contains(&live, &rendered(r#"{"b":null}"#), false, false));
        assert!(contains(&live, &rendered(r#"{"c":null}"#), false, false));
        assert!(!contains(&live, &rendered(r#"{"b":"1"}"#), false, false));
        // A built-in kind's empty values are not stored; a custom resource's are.
        assert!(contains(
            &live,
            &rendered(r#"{"c":"","e":false,"f":0}"#),
            true,
            false
        ));
        assert!(!contains(&live, &rendered(r#"{"c":""}"#), false, false));
    }
}
