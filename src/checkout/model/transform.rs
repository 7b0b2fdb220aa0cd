//! A kustomization's generators and transformers, as kustomize runs them (see [`super::build`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::rc::Rc;

use yaml_serde::{Mapping, Value};

use super::build::{Behavior, Built, Model, Res, documents};
use super::patch::{self, Edit, Selector};
use super::{Loaded, read_in};
use crate::checkout::model::confighash;

/// kustomize's rule for a key of an env file (Kubernetes' env var names).
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}

fn unquoted(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

impl Model {
    /// The object a `configMapGenerator` (or `secretGenerator`) entry makes, and its behavior.
    pub(super) fn generate(
        &self,
        k: &Loaded,
        g: &Value,
        configmap: bool,
    ) -> Result<(Res, Behavior), String> {
        let name = g
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a generator without a name: kustomize refuses it")?;
        let behavior = match g.get("behavior").and_then(Value::as_str) {
            None | Some("create") | Some("") => Behavior::Create,
            Some("merge") => Behavior::Merge,
            Some("replace") => Behavior::Replace,
            Some(other) => return Err(format!("unknown behavior {other}: kustomize refuses it")),
        };
        let strings = |key: &str| -> Vec<String> {
            g.get(key)
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        };
        let mut data: BTreeMap<String, String> = BTreeMap::new();
        let mut put = |key: String, value: String| -> Result<(), String> {
            if data.insert(key.clone(), value).is_some() {
                return Err(format!(
                    "{name} repeats the key {key}: kustomize refuses the build"
                ));
            }
            Ok(())
        };
        let mut envs = strings("envs");
        envs.extend(g.get("env").and_then(Value::as_str).map(str::to_string));
        for env in envs {
            let text = read_in(&self.root_path(), k, &env)
                .map_err(|why| format!("env file {env}: {why}: kustomize refuses the build"))?;
            for (i, line) in text.lines().enumerate() {
                let line = if i == 0 {
                    crate::syntax::without_bom(line)
                } else {
                    line
                };
                let line = line.trim_start();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let Some((key, value)) = line.split_once('=') else {
                    return Err(format!(
                        "{env}:{}: a key without a value takes it from kustomize's environment",
                        i + 1
                    ));
                };
                if !valid_key(key) {
                    return Err(format!(
                        "{env}:{}: {key:?} is not a valid key: kustomize refuses it",
                        i + 1
                    ));
                }
                put(key.to_string(), value.to_string())?;
            }
        }
        for file in strings("files") {
            let (key, path) = match file.split_once('=') {
                Some((key, path)) => (key.to_string(), path.to_string()),
                None => (
                    file.rsplit('/').next().unwrap_or(&file).to_string(),
                    file.clone(),
                ),
            };
            let text = read_in(&self.root_path(), k, &path)
                .map_err(|why| format!("file {path}: {why}: kustomize refuses the build"))?;
            put(key, text)?;
        }
        for literal in strings("literals") {
            let Some((key, value)) = literal.split_once('=') else {
                return Err(format!(
                    "literal {literal:?} has no '=': kustomize refuses it"
                ));
            };
            put(key.to_string(), unquoted(value).to_string())?;
        }
        let global = k.value.get("generatorOptions");
        let local = g.get("options");
        let option = |key: &str| {
            [global, local]
                .into_iter()
                .flatten()
                .any(|o| o.get(key).and_then(Value::as_bool) == Some(true))
        };
        let mut metadata = Mapping::new();
        metadata.insert(Value::from("name"), Value::from(name));
        if let Some(ns) = g.get("namespace").and_then(Value::as_str) {
            metadata.insert(Value::from("namespace"), Value::from(ns));
        }
        for key in ["labels", "annotations"] {
            let mut map = Mapping::new();
            for o in [global, local].into_iter().flatten() {
                if let Some(m) = o.get(key).and_then(Value::as_mapping) {
                    for (k, v) in m {
                        map.insert(k.clone(), v.clone());
                    }
                }
            }
            if !map.is_empty() {
                metadata.insert(Value::from(key), Value::Mapping(map));
            }
        }
        let mut object = Mapping::new();
        object.insert(Value::from("apiVersion"), Value::from("v1"));
        let kind = if configmap { "ConfigMap" } else { "Secret" };
        object.insert(Value::from("kind"), Value::from(kind));
        object.insert(Value::from("metadata"), Value::Mapping(metadata));
        if !data.is_empty() {
            let mut d = Mapping::new();
            for (k, v) in data {
                let v = if configmap {
                    v
                } else {
                    confighash::base64(v.as_bytes())
                };
                d.insert(Value::from(k), Value::from(v));
            }
            object.insert(Value::from("data"), Value::Mapping(d));
        }
        if !configmap {
            let kind_of_secret = g.get("type").and_then(Value::as_str).unwrap_or("Opaque");
            object.insert(Value::from("type"), Value::from(kind_of_secret));
        }
        if option("immutable") {
            object.insert(Value::from("immutable"), Value::from(true));
        }
        let Some(mut res) = Res::of(Value::Mapping(object)) else {
            return Err("a generator without a name: kustomize refuses it".to_string());
        };
        res.needs_hash = !option("disableNameSuffixHash");
        Ok((res, behavior))
    }

    /// The transformers of `k`, in kustomize's order.
    pub(super) fn transform(&mut self, k: &Loaded, built: &mut Built) {
        for p in k.seq("patchesStrategicMerge") {
            let Some(s) = p.as_str() else { continue };
            let needle = s.lines().next().unwrap_or_default().to_string();
            let (text, shown) = if s.contains('\n') {
                (s.to_string(), None)
            } else {
                match read_in(&self.root_path(), k, s) {
                    Ok(t) => (t, Some(s)),
                    Err(why) => {
                        built.refuse(k.here(
                            &needle,
                            format!("patch {s}: {why}: kustomize refuses the build"),
                        ));
                        continue;
                    }
                }
            };
            let at = format!(
                "{}:{}",
                shown.map_or(k.shown.clone(), |s| self.shown_in(k, s)),
                if shown.is_some() { 1 } else { k.line(&needle) }
            );
            self.apply_patch(k, &needle, &text, None, built, &at, false);
        }
        for p in k.seq("patches") {
            if let Some(opts) = p.get("options")
                && ["allowNameChange", "allowKindChange"]
                    .iter()
                    .any(|o| opts.get(o).and_then(Value::as_bool) == Some(true))
            {
                built.refuse(k.here(
                    "options:",
                    "a patch that renames objects is not evaluated offline",
                ));
                continue;
            }
            self.patch_entry(k, p, built, false);
        }
        let namespace = k.str("namespace").map(str::to_string);
        if let Some(ns) = namespace {
            let mut changed = false;
            for r in &mut built.objects {
                if r.namespace.as_deref() != Some(ns.as_str()) && !cluster_scoped(&r.kind) {
                    let r = Rc::make_mut(r);
                    let old = r.namespace.replace(ns.clone());
                    r.prev_namespaces.push(old);
                    r.set_meta("namespace", &ns);
                    changed = true;
                }
            }
            if changed {
                built.note(&format!("{}:{}", k.shown, k.line("namespace:")));
            }
        }
        let prefix = k.str("namePrefix").unwrap_or_default().to_string();
        let suffix = k.str("nameSuffix").unwrap_or_default().to_string();
        if !prefix.is_empty() || !suffix.is_empty() {
            rename(built, &prefix, &suffix);
            built.note(&format!(
                "{}:{}",
                k.shown,
                k.line(if prefix.is_empty() {
                    "nameSuffix:"
                } else {
                    "namePrefix:"
                })
            ));
        }
        for (key, field) in [
            ("commonLabels", "labels"),
            ("commonAnnotations", "annotations"),
        ] {
            if let Some(map) = k.value.get(key).and_then(Value::as_mapping) {
                add_metadata(built, field, map);
            }
        }
        for l in k.seq("labels") {
            if let Some(map) = l.get("pairs").and_then(Value::as_mapping) {
                add_metadata(built, "labels", map);
            }
        }
        for p in k.seq("patchesJson6902") {
            self.patch_entry(k, p, built, true);
        }
        match self.replacements(k, built) {
            Ok(true) => built.note(&format!("{}:{}", k.shown, k.line("replacements:"))),
            Ok(false) => {}
            Err(why) => built.refuse(k.here("replacements:", why)),
        }
    }

    fn root_path(&self) -> std::path::PathBuf {
        self.root().to_path_buf()
    }

    fn shown_in(&self, k: &Loaded, rel: &str) -> String {
        crate::checkout::paths::relative(self.root(), &k.dir.join(rel))
    }

    /// An entry of `patches` or `patchesJson6902`.
    fn patch_entry(&mut self, k: &Loaded, p: &Value, built: &mut Built, json_only: bool) {
        let target = p.get("target").map(Selector::of);
        let (text, needle, at) = match (
            p.get("path").and_then(Value::as_str),
            p.get("patch").and_then(Value::as_str),
        ) {
            (Some(path), None) => match read_in(self.root(), k, path) {
                Ok(t) => (t, path.to_string(), format!("{}:1", self.shown_in(k, path))),
                Err(why) => {
                    built.refuse(k.here(
                        path,
                        format!("patch {path}: {why}: kustomize refuses the build"),
                    ));
                    return;
                }
            },
            (None, Some(inline)) => {
                let needle = inline.lines().next().unwrap_or_default().to_string();
                let at = format!("{}:{}", k.shown, k.line(&needle));
                (inline.to_string(), needle, at)
            }
            _ => {
                built.refuse(k.here(
                    "patch",
                    "a patch needs exactly one of path and patch: kustomize refuses it",
                ));
                return;
            }
        };
        if json_only && target.is_none() {
            built.refuse(k.here(
                &needle,
                "a JSON patch without a target: kustomize refuses it",
            ));
            return;
        }
        self.apply_patch(k, &needle, &text, target.as_ref(), built, &at, json_only);
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_patch(
        &mut self,
        k: &Loaded,
        needle: &str,
        text: &str,
        target: Option<&Selector>,
        built: &mut Built,
        at: &str,
        json_only: bool,
    ) {
        let refuse = |built: &mut Built, why: String| built.refuse(k.here(needle, why));
        if let Some(why) = target.and_then(Selector::unsupported) {
            return refuse(built, format!("{why} is not evaluated offline"));
        }
        let docs: Vec<Value> = match documents(text)
            .into_iter()
            .map(yaml_serde::from_str::<Value>)
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(d) if !d.is_empty() => d,
            Ok(_) => {
                return refuse(
                    built,
                    "the patch is empty: kustomize refuses it".to_string(),
                );
            }
            Err(e) => {
                return refuse(
                    built,
                    format!("the patch is not valid YAML, kustomize refuses it: {e}"),
                );
            }
        };
        let mut changed = false;
        for doc in &docs {
            let result = match (doc, target) {
                // kustomize applies the operations to every object the target selects and
                // refuses the build where one does not apply: objects the model does not carry
                // may be among them unless the target names its object.
                (Value::Sequence(_), Some(t)) if built.partial && t.name.is_none() => Err(
                    "a JSON patch whose target may select objects of folders kfpatch does not build (give the target a name) is not evaluated offline"
                        .to_string(),
                ),
                (Value::Sequence(ops), Some(t)) => {
                    for_selected(built, t, |v| {
                        patch::json6902(v, ops).map(|new| Edit::replacing(v, new))
                    })
                }
                (Value::Sequence(_), None) => {
                    Err("a JSON patch without a target: kustomize refuses it".to_string())
                }
                (_, _) if json_only => Err(
                    "patchesJson6902 holds a strategic merge patch: kustomize refuses it"
                        .to_string(),
                ),
                (Value::Mapping(_), Some(t)) => {
                    for_selected(built, t, |v| patch::strategic_edit(v, doc))
                }
                (Value::Mapping(_), None) => {
                    let skipped = built.skipped.clone();
                    by_own_id(built, doc, &|name| self.named_in(&skipped, name))
                }
                _ => {
                    Err("the patch is not a YAML mapping or list: kustomize refuses it".to_string())
                }
            };
            match result {
                Ok(c) => changed |= c,
                Err(why) => return refuse(built, why),
            }
        }
        if changed {
            built.note(at);
        }
    }
}

/// The kinds kustomize's namespace transformer leaves alone (the cluster-scoped ones).
fn cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "CustomResourceDefinition"
            | "MutatingWebhookConfiguration"
            | "ValidatingWebhookConfiguration"
            | "PriorityClass"
            | "StorageClass"
            | "PersistentVolume"
            | "APIService"
            | "CSIDriver"
            | "IngressClass"
            | "RuntimeClass"
            | "ClusterIssuer"
            | "CompositeController"
            | "DecoratorController"
    )
}

/// Applies `f` to every object `t` selects; whether any changed.
fn for_selected(
    built: &mut Built,
    t: &Selector,
    f: impl Fn(&Value) -> Result<Edit, String>,
) -> Result<bool, String> {
    let mut changed = false;
    let mut i = 0;
    while i < built.objects.len() {
        let r = &built.objects[i];
        if t.matches(
            &r.api_version,
            &r.kind,
            &r.selected_names(),
            &r.selected_namespaces(),
            r.value.get("metadata"),
        ) {
            let full = r.full();
            let edit = f(&full)?;
            if edit.deletes() {
                built.objects.remove(i);
                changed = true;
                continue;
            }
            if edit.changes() {
                let parsed = into_owned(full);
                carry_out(&mut built.objects[i], parsed, edit);
                changed = true;
            }
        }
        i += 1;
    }
    Ok(changed)
}

/// The object [`Res::full`] parsed anew, if it did: the edit goes on it; else it goes on the
/// object's own value.
fn into_owned(full: Cow<'_, Value>) -> Option<Value> {
    match full {
        Cow::Owned(v) => Some(v),
        Cow::Borrowed(_) => None,
    }
}

/// `edit`, worked out on the whole object `r` (`parsed`: that object, parsed from its text),
/// carried out in place: the object's value is moved out and back, copied only when another
/// build shares it.
fn carry_out(r: &mut Rc<Res>, parsed: Option<Value>, edit: Edit) {
    let r = Rc::make_mut(r);
    let mut v = parsed.unwrap_or_else(|| std::mem::take(&mut r.value));
    edit.apply(&mut v);
    keep_identity(r, v);
}

/// A patch changes content, never the identity kustomize knows the object by.
fn keep_identity(r: &mut Res, mut v: Value) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_mapping_mut) {
        m.insert(Value::from("name"), Value::from(r.name.as_str()));
        match &r.namespace {
            Some(ns) => {
                m.insert(Value::from("namespace"), Value::from(ns.as_str()));
            }
            None => {
                m.remove("namespace");
            }
        }
    }
    r.set_full(v);
}

/// A strategic merge patch without a target: applied to the object its own kind and name name.
fn by_own_id(
    built: &mut Built,
    doc: &Value,
    elsewhere: &dyn Fn(&str) -> bool,
) -> Result<bool, String> {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    let meta = doc.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str);
    let mut hits: Vec<usize> = built
        .objects
        .iter()
        .enumerate()
        .filter(|(_, o)| o.kind == kind && o.names().contains(&name))
        .map(|(i, _)| i)
        .collect();
    if hits.len() > 1 {
        hits.retain(|i| {
            built.objects[*i].namespace.as_deref().unwrap_or("default")
                == namespace.unwrap_or("default")
        });
    }
    match hits.as_slice() {
        // The object may come from a folder the model does not build, which holds no managed
        // setting; otherwise every object of the build is known.
        [] if built.partial && elsewhere(name) => Ok(false),
        [] if built.partial => Err(format!(
            "no {kind} {name} in the build nor in the folders kfpatch does not build: kustomize refuses the build"
        )),
        [] => Err(format!("no {kind} {name} {}", super::build::MISSING)),
        [i] => {
            let i = *i;
            let full = built.objects[i].full();
            let edit = patch::strategic_edit(&full, doc)?;
            if edit.deletes() {
                built.objects.remove(i);
                Ok(true)
            } else if edit.changes() {
                let parsed = into_owned(full);
                carry_out(&mut built.objects[i], parsed, edit);
                Ok(true)
            } else {
                Ok(false)
            }
        }
        _ => Err(format!(
            "several objects match the patch of {kind} {name}: kustomize refuses the build"
        )),
    }
}

fn add_metadata(built: &mut Built, field: &str, map: &Mapping) {
    for r in &mut built.objects {
        // Already there (a folder built twice with the same labels): not copied again.
        let has = r.value.get("metadata").and_then(|m| m.get(field));
        if has.is_some()
            && map
                .iter()
                .all(|(k, v)| has.and_then(|h| h.get(k)) == Some(v))
        {
            continue;
        }
        let r = Rc::make_mut(r);
        if let Some(meta) = r.value.get_mut("metadata").and_then(Value::as_mapping_mut) {
            let entry = meta
                .entry(Value::from(field))
                .or_insert_with(|| Value::Mapping(Mapping::new()));
            if let Some(m) = entry.as_mapping_mut() {
                for (k, v) in map {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
    }
}

/// A generated or renamed ConfigMap or Secret: (kind, effective namespace, old name) -> new name.
pub type Renamed = BTreeMap<(String, String, String), String>;

/// The namespace kustomize compares references by (none is `default`).
pub fn effective_namespace(namespace: Option<&str>) -> String {
    namespace.unwrap_or("default").to_string()
}

/// namePrefix and nameSuffix: every object renamed, and the references to a renamed ConfigMap
/// or Secret (envFrom, valueFrom, volumes) follow it.
fn rename(built: &mut Built, prefix: &str, suffix: &str) {
    let mut renamed = Renamed::new();
    for r in &mut built.objects {
        let r = Rc::make_mut(r);
        let new = format!("{prefix}{}{suffix}", r.name);
        if matches!(r.kind.as_str(), "ConfigMap" | "Secret") {
            let ns = effective_namespace(r.namespace.as_deref());
            renamed.insert((r.kind.clone(), ns, r.name.clone()), new.clone());
        }
        let old = std::mem::replace(&mut r.name, new.clone());
        r.prev_names.push(old);
        r.set_meta("name", &new);
    }
    rename_refs(built, &renamed);
}

/// Points the ConfigMap and Secret references of the Deployments at the new names: only those
/// of the Deployment's own namespace (kustomize binds a name reference within a namespace).
pub fn rename_refs(built: &mut Built, renamed: &Renamed) {
    if renamed.is_empty() {
        return;
    }
    for r in &mut built.objects {
        if r.kind != "Deployment" {
            continue;
        }
        let ns = effective_namespace(r.namespace.as_deref());
        if !refers(&r.value, &ns, renamed) {
            continue;
        }
        let r = Rc::make_mut(r);
        refs(&mut r.value, &ns, renamed);
    }
}

/// The ConfigMap or Secret a reference field names: (kind, field of the name).
fn reference(key: &str) -> Option<(&'static str, &'static str)> {
    match key {
        "configMapRef" | "configMapKeyRef" | "configMap" => Some(("ConfigMap", "name")),
        "secretRef" | "secretKeyRef" => Some(("Secret", "name")),
        "secret" => Some(("Secret", "secretName")),
        _ => None,
    }
}

/// Whether [`refs`] would change anything in `v` (so an unchanged object is not copied).
fn refers(v: &Value, ns: &str, renamed: &Renamed) -> bool {
    match v {
        Value::Mapping(m) => m.iter().any(|(k, child)| {
            let named = reference(k.as_str().unwrap_or_default()).and_then(|(kind, field)| {
                let name = child.get(field)?.as_str()?;
                renamed.get(&(kind.to_string(), ns.to_string(), name.to_string()))
            });
            named.is_some() || refers(child, ns, renamed)
        }),
        Value::Sequence(s) => s.iter().any(|c| refers(c, ns, renamed)),
        _ => false,
    }
}

fn refs(v: &mut Value, ns: &str, renamed: &Renamed) {
    match v {
        Value::Mapping(m) => {
            for (k, child) in m.iter_mut() {
                if let Some((kind, field)) = reference(k.as_str().unwrap_or_default())
                    && let Some(name) = child.get_mut(field)
                    && let Some(new) = name.as_str().and_then(|n| {
                        renamed.get(&(kind.to_string(), ns.to_string(), n.to_string()))
                    })
                {
                    *name = Value::from(new.as_str());
                    continue;
                }
                refs(child, ns, renamed);
            }
        }
        Value::Sequence(s) => s.iter_mut().for_each(|c| refs(c, ns, renamed)),
        _ => {}
    }
}
