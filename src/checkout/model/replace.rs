//! `replacements:` as kustomize runs them (after every other transformer of a kustomization):
//! one value read from exactly one source object and written into field paths of the objects the
//! targets select. kustomize refuses the build where the source selects no object or several,
//! where its field is missing, and where a target's field is missing without `options.create`.
//! Field paths are dotted keys with `[key=value]` list selectors and list indices; a wildcard, a
//! delimiter option, or a source that is a name kustomize will still hash is not evaluated.

use std::rc::Rc;

use yaml_serde::{Mapping, Value};

use super::build::{Built, Model};
use super::patch::{Selector, scalar_text};
use super::{Loaded, read_in};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step {
    Key(String),
    /// `[key=value]`: the list element whose `key` is `value`.
    Element(String, String),
    Index(usize),
}

/// A field path as kustomize spells it, or why it is not evaluated offline.
pub(super) fn steps(path: &str) -> Result<Vec<Step>, String> {
    let mut out = Vec::new();
    let mut part = String::new();
    let mut depth = 0;
    let mut parts = Vec::new();
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ => {}
        }
        if c == '.' && depth == 0 {
            parts.push(std::mem::take(&mut part));
        } else {
            part.push(c);
        }
    }
    parts.push(part);
    for p in parts {
        if p.is_empty() || p.contains(['*', '"', '\'']) {
            return Err(format!("the field path {path} is not evaluated offline"));
        }
        if let Some(inner) = p.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
            let Some((k, v)) = inner.split_once('=') else {
                return Err(format!("the field path {path} is not evaluated offline"));
            };
            if k.is_empty() {
                return Err(format!("the field path {path} is not evaluated offline"));
            }
            out.push(Step::Element(k.to_string(), v.to_string()));
        } else if let Ok(i) = p.parse::<usize>() {
            out.push(Step::Index(i));
        } else {
            out.push(Step::Key(p));
        }
    }
    Ok(out)
}

fn element_at(items: &[Value], key: &str, want: &str) -> Option<usize> {
    items
        .iter()
        .position(|e| e.get(key).and_then(scalar_text).as_deref() == Some(want))
}

pub(super) fn get<'a>(v: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    let mut at = v;
    for s in steps {
        at = match (s, at) {
            (Step::Key(k), Value::Mapping(m)) => m.get(k.as_str())?,
            (Step::Element(k, want), Value::Sequence(items)) => &items[element_at(items, k, want)?],
            (Step::Index(i), Value::Sequence(items)) => items.get(*i)?,
            (Step::Index(i), Value::Mapping(m)) => m.get(i.to_string().as_str())?,
            _ => return None,
        };
    }
    Some(at)
}

/// Whether every `[key=value]` step holds only letters, digits, `_` and `-`: kustomize's path
/// matcher reads the value as an unanchored pattern (`[name=NAMESPACE]` also takes the items
/// named `MINIO_NAMESPACE` and `NAMESPACE_TO_WATCH`, seen with kustomize v5.5), which for such
/// a value is "the item's value contains it".
fn plain_selectors(steps: &[Step]) -> bool {
    steps.iter().all(|s| match s {
        Step::Element(_, want) => want
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        _ => true,
    })
}

/// Writes `new` at `steps`; `Err(())` where a field is missing and `create` is off.
fn set(v: &mut Value, steps: &[Step], new: &Value, create: bool) -> Result<(), ()> {
    let Some((first, rest)) = steps.split_first() else {
        *v = new.clone();
        return Ok(());
    };
    if v.is_null() && create {
        *v = match first {
            Step::Key(_) => Value::Mapping(Mapping::new()),
            _ => Value::Sequence(Vec::new()),
        };
    }
    let next = match (first, v) {
        (Step::Key(k), Value::Mapping(m)) => {
            if !m.contains_key(k.as_str()) {
                if !create {
                    return Err(());
                }
                m.insert(Value::from(k.as_str()), Value::Null);
            }
            m.get_mut(k.as_str()).ok_or(())?
        }
        // Every element that matches (kustomize's path matcher: the value contains the
        // wanted one, see `plain_selectors`), or a new one.
        (Step::Element(k, want), Value::Sequence(items)) => {
            let matching = |e: &Value| {
                e.get(k.as_str())
                    .and_then(scalar_text)
                    .is_some_and(|s| s.contains(want.as_str()))
            };
            if !items.iter().any(matching) {
                if !create {
                    return Err(());
                }
                let mut m = Mapping::new();
                m.insert(Value::from(k.as_str()), Value::from(want.as_str()));
                items.push(Value::Mapping(m));
            }
            // An item that lacks the field (without create) is passed over; the field is
            // missing only where no matching item has it (kubectl kustomize v5.5).
            let mut found = false;
            for item in items.iter_mut().filter(|e| matching(e)) {
                found |= set(item, rest, new, create).is_ok();
            }
            return if found { Ok(()) } else { Err(()) };
        }
        (Step::Index(i), Value::Sequence(items)) => items.get_mut(*i).ok_or(())?,
        _ => return Err(()),
    };
    set(next, rest, new, create)
}

fn options_of(v: &Value) -> Result<bool, String> {
    let options = v.get("options");
    if options.and_then(|o| o.get("delimiter")).is_some() {
        return Err("a replacement with a delimiter is not evaluated offline".to_string());
    }
    Ok(options
        .and_then(|o| o.get("create"))
        .and_then(Value::as_bool)
        == Some(true))
}

impl Model {
    /// The `replacements` of `k` applied to what is built; a refusal or what is not evaluated
    /// comes back as the text to report.
    pub(super) fn replacements(&self, k: &Loaded, built: &mut Built) -> Result<bool, String> {
        let mut changed = false;
        for entry in k.seq("replacements") {
            let loaded;
            let list: Vec<&Value> = match entry.get("path").and_then(Value::as_str) {
                Some(path) => {
                    let text = read_in(self.root(), k, path)
                        .map_err(|why| format!("replacement {path}: {why}"))?;
                    loaded = yaml_serde::from_str::<Value>(crate::syntax::without_bom(&text))
                        .map_err(|e| format!("replacement {path} is not valid YAML: {e}"))?;
                    match &loaded {
                        Value::Sequence(items) => items.iter().collect(),
                        one => vec![one],
                    }
                }
                None => vec![entry],
            };
            for r in list {
                changed |= replace_one(built, r)?;
            }
        }
        Ok(changed)
    }
}

fn replace_one(built: &mut Built, r: &Value) -> Result<bool, String> {
    let source = r
        .get("source")
        .ok_or("a replacement without a source: kustomize refuses it")?;
    let from = Selector::of(source);
    if let Some(why) = from.unsupported() {
        return Err(format!(
            "a replacement source with {why} is not evaluated offline"
        ));
    }
    options_of(source)?;
    let hits: Vec<&Rc<super::build::Res>> = built
        .objects
        .iter()
        .filter(|o| {
            from.matches(
                &o.api_version,
                &o.kind,
                &o.selected_names(),
                &o.selected_namespaces(),
                o.value.get("metadata"),
            )
        })
        .collect();
    let field = source
        .get("fieldPath")
        .and_then(Value::as_str)
        .unwrap_or("metadata.name");
    let object = match hits.as_slice() {
        [one] => *one,
        [] if built.partial => {
            return Err(
                "a replacement source that may be in a folder kfpatch does not build is not evaluated offline"
                    .to_string(),
            );
        }
        [] => {
            return Err("a replacement source selects nothing: kustomize refuses the build".into());
        }
        _ => {
            return Err(
                "a replacement source selects several objects: kustomize refuses the build".into(),
            );
        }
    };
    if object.needs_hash && field.starts_with("metadata.name") {
        return Err(
            "a replacement whose source is a generated name (hashed later) is not evaluated offline"
                .to_string(),
        );
    }
    let value = get(&object.full(), &steps(field)?)
        .cloned()
        .ok_or_else(|| {
            format!("the replacement source has no {field}: kustomize refuses the build")
        })?;
    let mut changed = false;
    for target in r
        .get("targets")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let select = target.get("select").map(Selector::of).unwrap_or_default();
        let rejects: Vec<Selector> = target
            .get("reject")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .map(Selector::of)
            .collect();
        for s in std::iter::once(&select).chain(&rejects) {
            if let Some(why) = s.unsupported() {
                return Err(format!(
                    "a replacement target with {why} is not evaluated offline"
                ));
            }
        }
        if built.partial && select.name.is_none() {
            return Err(
                "a replacement target that may select objects of folders kfpatch does not build (give it a name) is not evaluated offline"
                    .to_string(),
            );
        }
        let create = options_of(target)?;
        let paths: Vec<Vec<Step>> = target
            .get("fieldPaths")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(steps)
            .collect::<Result<_, _>>()?;
        for o in &mut built.objects {
            let picked = |s: &Selector| {
                s.matches(
                    &o.api_version,
                    &o.kind,
                    &o.selected_names(),
                    &o.selected_namespaces(),
                    o.value.get("metadata"),
                )
            };
            if !picked(&select) || rejects.iter().any(picked) {
                continue;
            }
            let full = o.full();
            let mut v = full.clone().into_owned();
            for p in &paths {
                if !plain_selectors(p) {
                    return Err(format!(
                        "a replacement target [key=value] with other than letters, digits, '_' and '-' in {} {} is not evaluated offline (kustomize reads it as a pattern)",
                        o.kind, o.name
                    ));
                }
                set(&mut v, p, &value, create).map_err(|()| {
                    format!(
                        "a replacement target field is missing in {} {} (no options.create): kustomize refuses the build",
                        o.kind, o.name
                    )
                })?;
            }
            let same = v == *full;
            drop(full);
            if !same {
                Rc::make_mut(o).set_full(v);
                changed = true;
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        yaml_serde::from_str(s).unwrap()
    }

    #[test]
    fn field_paths_select_list_elements_and_create_missing_ones() {
        let mut d =
            y("spec:\n  containers:\n  - name: main\n    env:\n    - name: A\n      value: x\n");
        let path = steps("spec.containers.[name=main].env.[name=A].value").unwrap();
        assert_eq!(get(&d, &path), Some(&Value::from("x")));
        set(&mut d, &path, &Value::from("y"), false).unwrap();
        assert_eq!(get(&d, &path), Some(&Value::from("y")));
        let missing = steps("spec.containers.[name=main].env.[name=B].value").unwrap();
        assert_eq!(set(&mut d, &missing, &Value::from("z"), false), Err(()));
        set(&mut d, &missing, &Value::from("z"), true).unwrap();
        // kustomize's matcher: every item whose value contains the wanted one, none created.
        let mut env = y("env:\n- {name: MINIO_NAMESPACE, value: a}\n- {name: OTHER, value: b}\n");
        let namespace = steps("env.[name=NAMESPACE].value").unwrap();
        assert!(plain_selectors(&namespace));
        set(&mut env, &namespace, &Value::from("v"), true).unwrap();
        assert_eq!(
            env,
            y("env:\n- {name: MINIO_NAMESPACE, value: v}\n- {name: OTHER, value: b}\n")
        );
        assert!(!plain_selectors(&steps("env.[name=A.B].value").unwrap()));
        // Without create, a matching item without the field is passed over.
        let mut env = y("env:\n- {name: MINIO_NAMESPACE}\n- {name: NAMESPACE, value: n}\n");
        set(&mut env, &namespace, &Value::from("v"), false).unwrap();
        assert_eq!(
            env,
            y("env:\n- {name: MINIO_NAMESPACE}\n- {name: NAMESPACE, value: v}\n")
        );
        let mut env = y("env:\n- {name: MINIO_NAMESPACE}\n");
        assert_eq!(set(&mut env, &namespace, &Value::from("v"), false), Err(()));
        assert_eq!(
            d,
            y(
                "spec:\n  containers:\n  - name: main\n    env:\n    - name: A\n      value: y\n    - name: B\n      value: z\n"
            )
        );
        assert!(steps("spec.containers.*.env").is_err());
    }
}
