//! Patches as kustomize applies them: strategic merge (with the merge keys of the fields a managed
//! setting lives in, and `$patch: delete`/`replace`) and JSON 6902, and the `target:` selectors
//! (kind, name, namespace, label and annotation selectors). Every refusal kustomize would make
//! comes back as an error text.

use yaml_serde::{Mapping, Value};

/// The merge key of a list field of a Deployment or ConfigMap in a strategic merge patch; other
/// lists are replaced whole (Kubernetes' rule for lists without one).
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "ports" => Some("containerPort"),
        _ => None,
    }
}

/// `patch` merged into `target` as a strategic merge patch; `Ok(None)`: the patch deletes the
/// object.
pub fn strategic(target: &Value, patch: &Value) -> Result<Option<Value>, String> {
    if directive(patch) == Some("delete") {
        return Ok(None);
    }
    // One copy, merged into in place (a copy per level costs the object's depth over).
    let mut out = target.clone();
    merge_into(&mut out, patch, "")?;
    Ok(Some(out))
}

fn directive(v: &Value) -> Option<&str> {
    v.get("$patch").and_then(Value::as_str)
}

fn merge_into(target: &mut Value, patch: &Value, field: &str) -> Result<(), String> {
    match (&mut *target, patch) {
        (Value::Mapping(t), Value::Mapping(p)) => {
            if directive(patch) == Some("replace") {
                let mut out = p.clone();
                out.remove("$patch");
                *target = Value::Mapping(out);
                return Ok(());
            }
            for (k, v) in p {
                let Some(key) = k.as_str() else { continue };
                if key == "$patch" || key.starts_with("$setElementOrder") || key == "$retainKeys" {
                    continue;
                }
                if v.is_null() {
                    t.remove(key);
                    continue;
                }
                match t.get_mut(key) {
                    Some(old) => merge_into(old, v, key)?,
                    None => {
                        t.insert(k.clone(), strip_directives(v));
                    }
                }
            }
            Ok(())
        }
        (Value::Sequence(t), Value::Sequence(p)) => match merge_key(field) {
            Some(key) => merge_list(t, p, key, field),
            None => {
                *target = strip_directives(patch);
                Ok(())
            }
        },
        _ => {
            *target = strip_directives(patch);
            Ok(())
        }
    }
}

fn merge_list(out: &mut Vec<Value>, p: &[Value], key: &str, field: &str) -> Result<(), String> {
    // An item that is only `$patch: replace` makes the patch's list the whole new list.
    let only_directive = |i: &Value| i.as_mapping().is_some_and(|m| m.len() == 1);
    if p.iter()
        .any(|i| directive(i) == Some("replace") && only_directive(i))
    {
        // The rest, as `strip_directives` gives a list.
        *out = p
            .iter()
            .filter(|i| !(directive(i).is_some() && only_directive(i)))
            .filter(|i| directive(i) != Some("delete"))
            .map(strip_directives)
            .collect();
        return Ok(());
    }
    for item in p {
        let Some(id) = item.get(key) else {
            return Err(format!("an item of {field} has no {key}"));
        };
        let at = out.iter().position(|o| o.get(key) == Some(id));
        // Only env entries hold settings (ports may repeat a containerPort, one per protocol).
        let several = field == "env" && out.iter().filter(|o| o.get(key) == Some(id)).count() > 1;
        match (directive(item), at) {
            // kustomize deletes every item with that key.
            (Some("delete"), Some(_)) => out.retain(|o| o.get(key) != Some(id)),
            (Some("delete"), None) => {}
            (_, Some(_)) if several => {
                return Err(format!(
                    "a merge into one of several items of {field} with the same {key} is not evaluated offline"
                ));
            }
            (_, Some(i)) => merge_into(&mut out[i], item, "")?,
            (_, None) => out.push(strip_directives(item)),
        }
    }
    Ok(())
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Mapping(m) => {
            let mut out = Mapping::new();
            for (k, v) in m {
                if k.as_str().is_some_and(|k| k.starts_with('$')) {
                    continue;
                }
                out.insert(k.clone(), strip_directives(v));
            }
            Value::Mapping(out)
        }
        Value::Sequence(s) => Value::Sequence(
            s.iter()
                .filter(|i| directive(i) != Some("delete"))
                .map(strip_directives)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The JSON 6902 operations `ops` applied to `doc` in order.
pub fn json6902(doc: &Value, ops: &[Value]) -> Result<Value, String> {
    let mut doc = doc.clone();
    for op in ops {
        let name = op.get("op").and_then(Value::as_str).unwrap_or_default();
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("a JSON patch operation has no path")?;
        match name {
            "add" => add(&mut doc, path, value_of(op)?)?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => replace(&mut doc, path, value_of(op)?)?,
            "move" | "copy" => {
                let from = op
                    .get("from")
                    .and_then(Value::as_str)
                    .ok_or("a JSON patch move or copy has no from")?;
                let v = if name == "move" {
                    remove(&mut doc, from)?
                } else {
                    get(&doc, from)?.clone()
                };
                add(&mut doc, path, v)?;
            }
            "test" => {
                if *get(&doc, path)? != value_of(op)? {
                    return Err(format!("JSON patch test of {path} failed"));
                }
            }
            other => return Err(format!("unknown JSON patch operation {other:?}")),
        }
    }
    Ok(doc)
}

fn value_of(op: &Value) -> Result<Value, String> {
    op.get("value")
        .cloned()
        .ok_or_else(|| "a JSON patch operation has no value".to_string())
}

fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("JSON pointer {path:?} does not start with /"));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn get<'a>(doc: &'a Value, path: &str) -> Result<&'a Value, String> {
    let mut at = doc;
    for t in tokens(path)? {
        at = match at {
            Value::Mapping(m) => m.get(t.as_str()),
            Value::Sequence(s) => t.parse::<usize>().ok().and_then(|i| s.get(i)),
            _ => None,
        }
        .ok_or_else(|| format!("JSON patch path {path} does not exist"))?;
    }
    Ok(at)
}

fn parent<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), String> {
    let mut toks = tokens(path)?;
    let last = toks
        .pop()
        .ok_or_else(|| "a JSON patch cannot replace the whole object".to_string())?;
    let mut at = doc;
    for t in toks {
        at = match at {
            Value::Mapping(m) => m.get_mut(t.as_str()),
            Value::Sequence(s) => t.parse::<usize>().ok().and_then(|i| s.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| format!("JSON patch path {path} does not exist"))?;
    }
    Ok((at, last))
}

fn add(doc: &mut Value, path: &str, v: Value) -> Result<(), String> {
    let (at, last) = parent(doc, path)?;
    match at {
        Value::Mapping(m) => {
            m.insert(Value::String(last), v);
            Ok(())
        }
        Value::Sequence(s) if last == "-" => {
            s.push(v);
            Ok(())
        }
        Value::Sequence(s) => match last.parse::<usize>() {
            Ok(i) if i <= s.len() => {
                s.insert(i, v);
                Ok(())
            }
            _ => Err(format!("JSON patch path {path}: index out of range")),
        },
        _ => Err(format!("JSON patch path {path} does not exist")),
    }
}

/// kustomize's JSON patch library replaces a key its map lacks as if it were there (checked with
/// kubectl kustomize v5.5); a list index must exist.
fn replace(doc: &mut Value, path: &str, v: Value) -> Result<(), String> {
    let (at, last) = parent(doc, path)?;
    match at {
        Value::Mapping(m) => {
            m.insert(Value::String(last), v);
            Ok(())
        }
        Value::Sequence(s) => match last.parse::<usize>().ok().and_then(|i| s.get_mut(i)) {
            Some(item) => {
                *item = v;
                Ok(())
            }
            None => Err(format!("JSON patch path {path}: index out of range")),
        },
        _ => Err(format!("JSON patch path {path} does not exist")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (at, last) = parent(doc, path)?;
    let gone = match at {
        Value::Mapping(m) => m.remove(last.as_str()),
        Value::Sequence(s) => match last.parse::<usize>() {
            Ok(i) if i < s.len() => Some(s.remove(i)),
            _ => None,
        },
        _ => None,
    };
    gone.ok_or_else(|| format!("JSON patch path {path} does not exist"))
}

/// A `target:` (or replacement `select:`) of a patch.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub labels: Option<String>,
    pub annotations: Option<String>,
}

impl Selector {
    pub fn of(v: &Value) -> Selector {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Selector {
            group: s("group"),
            version: s("version"),
            kind: s("kind"),
            name: s("name"),
            namespace: s("namespace"),
            labels: s("labelSelector"),
            annotations: s("annotationSelector"),
        }
    }

    /// Why kfpatch cannot evaluate this selector, if so (regular expressions in names, set-based
    /// label selectors).
    pub fn unsupported(&self) -> Option<String> {
        for (what, v) in [
            ("name", &self.name),
            ("namespace", &self.namespace),
            ("kind", &self.kind),
        ] {
            if let Some(v) = v
                && v.chars().any(|c| "^$*+?()[]{}|\\.".contains(c) && c != '.')
            {
                return Some(format!(
                    "a target {what} that is a regular expression ({v})"
                ));
            }
        }
        for sel in [&self.labels, &self.annotations].into_iter().flatten() {
            if sel.contains(" in ") || sel.contains("notin") || sel.contains('(') {
                return Some(format!("a set-based selector ({sel})"));
            }
        }
        None
    }

    /// Whether an object of `kind`, known by any of `names` and `namespaces`, with these
    /// metadata, is selected.
    pub fn matches(
        &self,
        api_version: &str,
        kind: &str,
        names: &[&str],
        namespaces: &[Option<&str>],
        metadata: Option<&Value>,
    ) -> bool {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.group, group)
            && eq(&self.version, version)
            && eq(&self.kind, kind)
            && (self.name.is_none() || names.iter().any(|n| eq(&self.name, n)))
            && (self.namespace.is_none()
                || namespaces
                    .iter()
                    .any(|n| eq(&self.namespace, n.unwrap_or("default"))))
            && self
                .labels
                .as_deref()
                .is_none_or(|s| selects(s, metadata.and_then(|m| m.get("labels"))))
            && self
                .annotations
                .as_deref()
                .is_none_or(|s| selects(s, metadata.and_then(|m| m.get("annotations"))))
    }
}

/// An equality-based selector (`a=b,c!=d,e,!f`) against a map of labels or annotations.
fn selects(selector: &str, map: Option<&Value>) -> bool {
    let get = |k: &str| map.and_then(|m| m.get(k)).and_then(Value::as_str);
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                get(k.trim()) != Some(v.trim())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                get(k.trim()) == Some(v.trim())
            } else if let Some(k) = term.strip_prefix('!') {
                get(k.trim()).is_none()
            } else {
                get(term).is_some()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        yaml_serde::from_str(s).unwrap()
    }

    #[test]
    fn strategic_merge_merges_env_by_name_and_deletes() {
        let d = y(
            "spec:\n  containers:\n  - name: a\n    env:\n    - name: X\n      value: '1'\n    - name: Y\n      value: '2'\n",
        );
        let p = y(
            "spec:\n  containers:\n  - name: a\n    env:\n    - name: X\n      value: '3'\n    - name: Y\n      $patch: delete\n    - name: Z\n      value: '4'\n",
        );
        let out = strategic(&d, &p).unwrap().unwrap();
        assert_eq!(
            out,
            y(
                "spec:\n  containers:\n  - name: a\n    env:\n    - name: X\n      value: '3'\n    - name: Z\n      value: '4'\n"
            )
        );
        assert!(strategic(&d, &y("$patch: delete\n")).unwrap().is_none());
        let replace = y(
            "spec:\n  containers:\n  - name: a\n    env:\n    - $patch: replace\n    - name: Z\n      value: ''\n",
        );
        assert_eq!(
            strategic(&d, &replace).unwrap().unwrap(),
            y("spec:\n  containers:\n  - name: a\n    env:\n    - name: Z\n      value: ''\n")
        );
    }

    #[test]
    fn a_delete_removes_every_item_with_the_key_and_a_merge_into_repeated_ones_is_refused() {
        let target = y(
            "spec:\n  env:\n  - {name: A, value: '1'}\n  - {name: B, value: b}\n  - {name: A, value: '2'}\n",
        );
        let delete = y("spec:\n  env:\n  - {name: A, $patch: delete}\n");
        let out = strategic(&target, &delete).unwrap().unwrap();
        assert_eq!(out, y("spec:\n  env:\n  - {name: B, value: b}\n"));
        let merge = y("spec:\n  env:\n  - {name: A, value: m}\n");
        assert_eq!(
            strategic(&target, &merge),
            Err(
                "a merge into one of several items of env with the same name is not evaluated offline"
                    .to_string()
            )
        );
    }

    #[test]
    fn json_patches_add_replace_remove_and_refuse_missing_paths() {
        let d = y("data:\n  A: '1'\n");
        let ops: Vec<Value> = yaml_serde::from_str(
            "- op: replace\n  path: /data/A\n  value: '2'\n- op: add\n  path: /data/B~1C\n  value: x\n",
        )
        .unwrap();
        assert_eq!(
            json6902(&d, &ops).unwrap(),
            y("data:\n  A: '2'\n  B/C: x\n")
        );
        let missing: Vec<Value> =
            yaml_serde::from_str("- op: replace\n  path: /data/Q\n  value: x\n").unwrap();
        assert_eq!(
            json6902(&d, &missing).unwrap(),
            y("data:\n  A: '1'\n  Q: x\n")
        );
        let bad: Vec<Value> = yaml_serde::from_str("- op: remove\n  path: /data/Q\n").unwrap();
        assert_eq!(
            json6902(&d, &bad).unwrap_err(),
            "JSON patch path /data/Q does not exist"
        );
    }

    #[test]
    fn selectors_match_kind_name_and_labels() {
        let s = Selector::of(&y("kind: Deployment\nlabelSelector: app=x,tier!=db\n"));
        let meta = y("labels:\n  app: x\n");
        assert!(s.matches("apps/v1", "Deployment", &["a"], &[None], Some(&meta)));
        let other = y("labels:\n  app: y\n");
        assert!(!s.matches("apps/v1", "Deployment", &["a"], &[None], Some(&other)));
        assert!(Selector::of(&y("name: ml-.*\n")).unsupported().is_some());
    }
}
