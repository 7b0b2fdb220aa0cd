//! Patches as kustomize applies them: strategic merge (kustomize's own merge, with the merge keys
//! of its built-in schema, `$patch` directives, and the order and duplicates it leaves in merged
//! lists) and JSON 6902, and the `target:` selectors (kind, name, namespace, label and annotation
//! selectors). Every refusal kustomize would make comes back as an error text. A strategic merge
//! is worked out as an [`Edit`] before the object is touched (a refused patch leaves it as it
//! was), which says whether it changes the object and is carried out in place.

use yaml_serde::{Mapping, Value};

/// Where a node sits in the object, as far as kustomize's built-in schema (Kubernetes 1.21)
/// gives merge keys to lists there. Objects it has no schema for (custom resources, retired API
/// versions) get none: kustomize replaces their lists whole.
#[derive(Clone, Copy)]
enum At {
    Other,
    /// The object, or a map above its pod spec: the fields still to go down to reach it.
    Pod(&'static [&'static str]),
    PodSpec,
    Container,
    Service,
    ServiceSpec,
    /// A list with merge keys (`x-kubernetes-list-map-keys`, else the patch merge key), of
    /// containers or not.
    List(&'static [&'static str], bool),
}

impl At {
    fn object(v: &Value) -> At {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
        match (s("apiVersion"), s("kind")) {
            ("apps/v1", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
            | ("batch/v1", "Job")
            | ("v1", "ReplicationController") => At::Pod(&["spec", "template", "spec"]),
            ("batch/v1" | "batch/v1beta1", "CronJob") => {
                At::Pod(&["spec", "jobTemplate", "spec", "template", "spec"])
            }
            ("v1", "PodTemplate") => At::Pod(&["template", "spec"]),
            ("v1", "Pod") => At::Pod(&["spec"]),
            ("v1", "Service") => At::Service,
            _ => At::Other,
        }
    }

    fn child(self, field: &str) -> At {
        match (self, field) {
            (At::Pod([first, rest @ ..]), _) if *first == field => {
                if rest.is_empty() {
                    At::PodSpec
                } else {
                    At::Pod(rest)
                }
            }
            (At::PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
                At::List(&["name"], true)
            }
            (At::PodSpec, "volumes" | "imagePullSecrets") | (At::Container, "env") => {
                At::List(&["name"], false)
            }
            (At::PodSpec, "hostAliases") => At::List(&["ip"], false),
            (At::PodSpec, "topologySpreadConstraints") => {
                At::List(&["topologyKey", "whenUnsatisfiable"], false)
            }
            (At::Container, "ports") => At::List(&["containerPort", "protocol"], false),
            (At::Container, "volumeMounts") => At::List(&["mountPath"], false),
            (At::Container, "volumeDevices") => At::List(&["devicePath"], false),
            (At::Service, "spec") => At::ServiceSpec,
            (At::ServiceSpec, "ports") => At::List(&["port", "protocol"], false),
            _ => At::Other,
        }
    }

    fn item(self) -> At {
        match self {
            At::List(_, true) => At::Container,
            _ => At::Other,
        }
    }

    /// The merge keys of the list here; `None`: the patch's list replaces the object's whole.
    fn keys(self) -> Option<&'static [&'static str]> {
        match self {
            At::List(keys, _) => Some(keys),
            _ => None,
        }
    }
}

/// `patch` merged into `target` as a strategic merge patch; `Ok(None)`: the patch deletes the
/// object. Like kustomize, the merge walks the whole object: every list with merge keys comes
/// out in kustomize's order with one item per key, whether or not the patch names it.
pub fn strategic(target: &Value, patch: &Value) -> Result<Option<Value>, String> {
    let edit = strategic_edit(target, patch)?;
    if edit.deletes() {
        return Ok(None);
    }
    let mut merged = target.clone();
    edit.apply(&mut merged);
    Ok(Some(merged))
}

/// What the strategic merge of `patch` does to `target` (see [`strategic`]), worked out without
/// touching it: the model applies it only to an object it changes, in place.
pub fn strategic_edit(target: &Value, patch: &Value) -> Result<Edit, String> {
    merge(target, patch, At::object(target), "").map(Edit)
}

/// A patch's effect on one object: whether it deletes or changes it, and the change.
pub struct Edit(Plan);

impl Edit {
    /// The edit that makes `old` into `new`.
    pub fn replacing(old: &Value, new: Value) -> Edit {
        Edit(becomes(old, Some(new)))
    }

    pub fn deletes(&self) -> bool {
        matches!(self.0, Plan::Delete)
    }

    /// Whether the object afterwards differs (`!=`) from the object before.
    pub fn changes(&self) -> bool {
        !matches!(self.0, Plan::Keep)
    }

    /// The change made to the object the edit was worked out on (nothing when it deletes it).
    pub fn apply(self, target: &mut Value) {
        apply(target, self.0);
    }
}

/// What a merge does to one node of the object, worked out before the object is touched (a
/// patch kustomize refuses leaves it as it was). Every node the merge leaves equal (`==`) to
/// what it was is `Keep`, so a plan other than `Keep` changes the object; what the object keeps
/// is moved, never copied, and only the patch's own values are cloned in.
enum Plan {
    Keep,
    Delete,
    Set(Value),
    /// A map changed in place: the plans of its entries (by position) that change or delete
    /// them, then the entries the patch adds.
    Map(Vec<(usize, Plan)>, Vec<(Value, Value)>),
    /// A keyed list already in kustomize's order: the plans of the items that change.
    Items(Vec<(usize, Plan)>),
}

/// `plan` carried out on `v`, the node it was worked out on (a `Delete` is carried out by the
/// map holding the node, or by the caller).
fn apply(v: &mut Value, plan: Plan) {
    match (v, plan) {
        (_, Plan::Keep | Plan::Delete) => {}
        (v, Plan::Set(new)) => *v = new,
        (Value::Mapping(m), Plan::Map(entries, adds)) => {
            let mut entries = entries.into_iter().peekable();
            let mut i = 0;
            m.retain(|_, v| {
                let keep = match entries.next_if(|(at, _)| *at == i) {
                    Some((_, Plan::Delete)) => false,
                    Some((_, plan)) => {
                        apply(v, plan);
                        true
                    }
                    None => true,
                };
                i += 1;
                keep
            });
            for (k, v) in adds {
                m.insert(k, v);
            }
        }
        (Value::Sequence(s), Plan::Items(items)) => {
            for (i, plan) in items {
                apply(&mut s[i], plan);
            }
        }
        _ => unreachable!("a plan is carried out on the node it was worked out on"),
    }
}

/// The plan that leaves `merged` (`None`: nothing) where `old` is.
fn becomes(old: &Value, merged: Option<Value>) -> Plan {
    match merged {
        None => Plan::Delete,
        Some(v) if v == *old => Plan::Keep,
        Some(v) => Plan::Set(v),
    }
}

/// The plan that puts the patch's `new` where `old` is: cloned only when it differs.
fn becomes_ref(old: &Value, new: &Value) -> Plan {
    if old == new {
        Plan::Keep
    } else {
        Plan::Set(new.clone())
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Directive {
    Merge,
    Replace,
    Delete,
}

fn directive_named(v: &Value) -> Result<Directive, String> {
    match scalar_text(v).as_deref() {
        Some("merge") => Ok(Directive::Merge),
        Some("replace") => Ok(Directive::Replace),
        Some("delete") => Ok(Directive::Delete),
        other => Err(format!(
            "unknown patch strategy '{}': kustomize refuses it",
            other.unwrap_or_default()
        )),
    }
}

/// A map of the patch as kustomize reads it: its `$patch` directive, and its other entries, in
/// the order kyaml leaves them once the directive is gone (the last entry takes its place).
struct View<'a> {
    map: &'a Mapping,
    directive: Directive,
    /// Where the `$patch` entry is.
    at: Option<usize>,
}

impl<'a> View<'a> {
    fn of(map: &'a Mapping) -> Result<View<'a>, String> {
        let at = map.keys().position(is_directive);
        let directive = match at.and_then(|_| map.get("$patch")) {
            None => Directive::Merge,
            Some(v) => directive_named(v)?,
        };
        Ok(View { map, directive, at })
    }

    fn get(&self, k: &Value) -> Option<&'a Value> {
        if self.at.is_some() && is_directive(k) {
            return None;
        }
        self.map.get(k)
    }

    fn entries(&self) -> Vec<(&'a Value, &'a Value)> {
        let mut entries: Vec<_> = self.map.iter().collect();
        if let Some(i) = self.at {
            entries.swap_remove(i);
        }
        entries
    }
}

fn is_directive(k: &Value) -> bool {
    matches!(k, Value::String(s) if s == "$patch")
}

/// A map item of a working list without its `$patch` entry, as kyaml removes it.
fn strip(item: &mut Value) {
    if let Value::Mapping(m) = item {
        m.remove("$patch");
    }
}

/// A list's `$patch` directive: the first item holding a `$patch` is the list's directive when
/// it holds nothing else; every item with that same directive then leaves the list.
fn list_directive(s: &[Value]) -> Result<(Directive, Vec<Value>), String> {
    let first = s
        .iter()
        .filter_map(Value::as_mapping)
        .find(|m| m.contains_key("$patch"));
    let Some(first) = first.filter(|m| m.len() == 1) else {
        return Ok((Directive::Merge, s.to_vec()));
    };
    let text = scalar_text(&first["$patch"]).unwrap_or_default();
    let d = directive_named(&first["$patch"])?;
    let mut rest = s.to_vec();
    set(&mut rest, None, &["$patch"], &[text]);
    Ok((d, rest))
}

/// kustomize's walk of a node the object has (maybe null) and the patch has.
fn merge(dest: &Value, patch: &Value, at: At, field: &str) -> Result<Plan, String> {
    match (dest, patch) {
        (_, Value::Null) => Ok(Plan::Delete),
        (Value::Null, _) => Ok(becomes(dest, added(patch, at, field, false)?)),
        (Value::Mapping(d), Value::Mapping(p)) => {
            let p = View::of(p)?;
            match p.directive {
                Directive::Delete => Ok(Plan::Delete),
                Directive::Replace => Ok(becomes(dest, Some(Value::Mapping(added_map(&p, at)?)))),
                Directive::Merge => merge_map(d, &p, at),
            }
        }
        (Value::Sequence(d), Value::Sequence(p)) => match at.keys() {
            None => Ok(becomes_ref(dest, patch)),
            Some(keys) => {
                let (directive, p) = list_directive(p)?;
                let items = match directive {
                    Directive::Delete => return Ok(Plan::Delete),
                    Directive::Replace => merge_items(p, Items::Same, keys, at.item(), field)?,
                    Directive::Merge => {
                        merge_items(d.clone(), Items::Patch(p), keys, at.item(), field)?
                    }
                };
                Ok(becomes(dest, Some(Value::Sequence(items))))
            }
        },
        (Value::Mapping(_) | Value::Sequence(_), _)
        | (_, Value::Mapping(_) | Value::Sequence(_)) => Err(format!(
            "wrong node kind: the patch gives {field} another kind of value than the object has: kustomize refuses it"
        )),
        _ => Ok(becomes_ref(dest, patch)),
    }
}

/// The object's map `d` merged with the patch's `p`: its entries in their order, those the
/// patch deletes left out, then the patch's new ones.
fn merge_map(d: &Mapping, p: &View, at: At) -> Result<Plan, String> {
    let mut entries = Vec::new();
    for (i, (k, v)) in d.iter().enumerate() {
        let key = k.as_str().unwrap_or_default();
        let plan = match p.get(k) {
            Some(pv) => merge(v, pv, at.child(key), key)?,
            None => normalize(v, at.child(key), key)?,
        };
        if !matches!(plan, Plan::Keep) {
            entries.push((i, plan));
        }
    }
    let mut adds = Vec::new();
    for (k, pv) in p.entries() {
        if d.contains_key(k) {
            continue;
        }
        let key = k.as_str().unwrap_or_default();
        if let Some(v) = added(pv, at.child(key), key, false)? {
            adds.push((k.clone(), v));
        }
    }
    Ok(if entries.is_empty() && adds.is_empty() {
        Plan::Keep
    } else {
        Plan::Map(entries, adds)
    })
}

/// A node of the patch the object lacks, as kustomize adds it: its directives applied and
/// removed, its null fields dropped, its lists merged with themselves. `nested`: inside a node
/// added whole, where kustomize also reads a list's own directive (not at the top of one).
fn added(v: &Value, at: At, field: &str, nested: bool) -> Result<Option<Value>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Mapping(m) => {
            let m = View::of(m)?;
            if m.directive == Directive::Delete {
                return Ok(None);
            }
            Ok(Some(Value::Mapping(added_map(&m, at)?)))
        }
        Value::Sequence(s) => match at.keys() {
            None => Ok(Some(v.clone())),
            Some(keys) => {
                let s = if nested {
                    match list_directive(s)? {
                        (Directive::Delete, _) => return Ok(None),
                        (_, rest) => rest,
                    }
                } else {
                    s.clone()
                };
                Ok(Some(Value::Sequence(merge_items(
                    s,
                    Items::Same,
                    keys,
                    at.item(),
                    field,
                )?)))
            }
        },
        other => Ok(Some(other.clone())),
    }
}

/// The entries of a patch map added whole (its directive set aside).
fn added_map(m: &View, at: At) -> Result<Mapping, String> {
    let mut out = Mapping::new();
    for (k, v) in m.entries() {
        let key = k.as_str().unwrap_or_default();
        if let Some(v) = added(v, at.child(key), key, true)? {
            out.insert(k.clone(), v);
        }
    }
    Ok(out)
}

/// A node of the object the patch does not name: kustomize walks it too, so its keyed lists
/// come out merged with nothing.
fn normalize(v: &Value, at: At, field: &str) -> Result<Plan, String> {
    Ok(match v {
        // Below a place without keyed lists, every place is one too.
        _ if matches!(at, At::Other) => Plan::Keep,
        Value::Mapping(m) => {
            let mut entries = Vec::new();
            for (i, (k, v)) in m.iter().enumerate() {
                let key = k.as_str().unwrap_or_default();
                let plan = normalize(v, at.child(key), key)?;
                if !matches!(plan, Plan::Keep) {
                    entries.push((i, plan));
                }
            }
            if entries.is_empty() {
                Plan::Keep
            } else {
                Plan::Map(entries, Vec::new())
            }
        }
        Value::Sequence(s) => match at.keys() {
            Some(keys) if in_order(s, keys, field) => {
                let mut items = Vec::new();
                for (i, item) in s.iter().enumerate() {
                    let plan = normalize(item, at.item(), "")?;
                    if !matches!(plan, Plan::Keep) {
                        items.push((i, plan));
                    }
                }
                if items.is_empty() {
                    Plan::Keep
                } else {
                    Plan::Items(items)
                }
            }
            Some(keys) => becomes(
                v,
                Some(Value::Sequence(merge_items(
                    s.clone(),
                    Items::None,
                    keys,
                    at.item(),
                    field,
                )?)),
            ),
            None => Plan::Keep,
        },
        _ => Plan::Keep,
    })
}

/// An item of a keyed list the patch does not name, walked as kustomize walks it.
fn normalize_item(item: &mut Value, at: At) -> Result<(), String> {
    let plan = normalize(item, at, "")?;
    apply(item, plan);
    Ok(())
}

/// Whether [`merge_items`] with nothing from the patch leaves the keyed list `s` in its order:
/// so when every item is a map with a value of every key and no two items have the same
/// values (each then takes its own place, in turn). The merge still walks into each item.
fn in_order(s: &[Value], keys: &[&str], field: &str) -> bool {
    let mut seen: Vec<Vec<String>> = Vec::with_capacity(s.len());
    for item in s {
        match key_values(item, keys, field) {
            Ok(t) if t.iter().all(|v| !v.is_empty()) && !seen.contains(&t) => seen.push(t),
            _ => return false,
        }
    }
    true
}

/// The patch's side of a keyed list merge: none, the patch's items, or the object's own list
/// (a list kustomize adds whole is merged with itself).
enum Items {
    None,
    Patch(Vec<Value>),
    Same,
}

/// The keyed list `d` merged with `p` as kustomize v5 (kyaml, items of the patch first) does:
/// one pass over the distinct key values (the patch's, then the object's) merges the first item
/// of each side with them into a new list; the object's items then go over that list by key, so
/// of several items with one key the object's last one stands, at the first one's place, and a
/// patch item merged into one of several is lost. Lists with two keys (ports: `containerPort`
/// and `protocol`) treat a missing second key as matching any.
fn merge_items(
    mut d: Vec<Value>,
    mut p: Items,
    keys: &[&str],
    at: At,
    field: &str,
) -> Result<Vec<Value>, String> {
    let mut tuples: Vec<Vec<String>> = Vec::new();
    let patch_items: &[Value] = match &p {
        Items::Patch(p) => p,
        _ => &[],
    };
    for item in patch_items.iter().chain(&d) {
        let t = key_values(item, keys, field)?;
        if !tuples.contains(&t) {
            tuples.push(t);
        }
    }
    if keys.len() > 1 {
        merge_values(&mut tuples);
    }
    let mut items: Vec<Value> = Vec::new();
    let mut last_keys: Vec<&str> = keys.to_vec();
    for values in &tuples {
        let (vk, vv) = valid_keys(&tuples, values, keys);
        let (ek, ev) = valid_keys(std::slice::from_ref(values), values, keys);
        let di = d.iter().position(|e| matches_exactly(e, &ek, &ev));
        let val = match &mut p {
            Items::None => match di {
                None => None,
                Some(i) => {
                    normalize_item(&mut d[i], at)?;
                    Some(d[i].clone())
                }
            },
            Items::Same => match di {
                None => None,
                Some(i) => alone(&mut d[i], at)?,
            },
            Items::Patch(p) => {
                let pi = p.iter().position(|e| matches_exactly(e, &ek, &ev));
                match (di, pi) {
                    (None, None) => None,
                    (Some(i), None) => {
                        normalize_item(&mut d[i], at)?;
                        Some(d[i].clone())
                    }
                    (None, Some(j)) => alone(&mut p[j], at)?,
                    (Some(i), Some(j)) => {
                        let (Value::Mapping(dm), Value::Mapping(pm)) = (&d[i], &p[j]) else {
                            unreachable!("matched items are maps")
                        };
                        let pm = View::of(pm)?;
                        match pm.directive {
                            Directive::Delete => {
                                strip(&mut p[j]);
                                None
                            }
                            // The patch's item replaces the object's here, but the object's
                            // items go over the list below: kustomize keeps the object's.
                            Directive::Replace => {
                                let v = Value::Mapping(added_map(&pm, at)?);
                                p[j] = v.clone();
                                Some(v)
                            }
                            Directive::Merge => {
                                let plan = merge_map(dm, &pm, at)?;
                                strip(&mut p[j]);
                                apply(&mut d[i], plan);
                                Some(d[i].clone())
                            }
                        }
                    }
                }
            }
        };
        match val {
            Some(mut v) if !v.as_mapping().is_some_and(Mapping::is_empty) => {
                if let Value::Mapping(m) = &mut v {
                    for (k, x) in vk.iter().zip(&vv) {
                        if !x.is_empty() && !m.contains_key(*k) {
                            m.insert(Value::from(*k), Value::String(x.clone()));
                        }
                    }
                }
                set(&mut items, Some(v), &vk, &vv);
            }
            _ => set(&mut d, None, &vk, &vv),
        }
        last_keys = vk;
    }
    if tuples.is_empty() {
        return Ok(d);
    }
    for e in d {
        let mut v = Vec::new();
        for k in &last_keys {
            match e.get(*k) {
                None => items.push(e.clone()),
                Some(x) => v.push(scalar_text(x).unwrap_or_default()),
            }
        }
        if last_keys.len() > 1 {
            set(&mut items, None, &last_keys, &v);
        }
        set(&mut items, Some(e), &last_keys, &v);
    }
    Ok(items)
}

/// An item of a list added whole, walked on its own: the value it merges to (`None`: deleted),
/// which the item (its directive removed) becomes too.
fn alone(item: &mut Value, at: At) -> Result<Option<Value>, String> {
    let Value::Mapping(m) = item else {
        unreachable!("matched items are maps")
    };
    let m = View::of(m)?;
    if m.directive == Directive::Delete {
        strip(item);
        return Ok(None);
    }
    let v = Value::Mapping(added_map(&m, at)?);
    *item = v.clone();
    Ok(Some(v))
}

/// The text of a scalar as kustomize compares keys; `None` for maps, lists and null.
pub(super) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether a scalar's text as kustomize compares keys is `text`: without building the text of a
/// string (the lookups of a keyed list compare every item's key with every other's).
fn scalar_is(v: &Value, text: &str) -> bool {
    match v {
        Value::String(s) => s == text,
        other => scalar_text(other).as_deref() == Some(text),
    }
}

/// An item's values of the merge keys ("" where it has none).
fn key_values(item: &Value, keys: &[&str], field: &str) -> Result<Vec<String>, String> {
    let Some(m) = item.as_mapping() else {
        return Err(format!(
            "an item of {field} that is not a map is not evaluated offline"
        ));
    };
    keys.iter()
        .map(|k| match m.get(*k) {
            None => Ok(String::new()),
            Some(v) => scalar_text(v).ok_or_else(|| {
                format!(
                    "an item of {field} whose {k} is not a plain value is not evaluated offline"
                )
            }),
        })
        .collect()
}

/// kyaml's `mergeValues`: key values that agree where both have one are one item.
fn merge_values(tuples: &mut [Vec<String>]) {
    for i in 0..tuples.len() {
        let first = tuples[i].clone();
        for j in 0..tuples.len() {
            let mut common = false;
            let mut merged = Vec::with_capacity(first.len());
            let agree = first.iter().zip(&tuples[j]).all(|(a, b)| {
                if a == b {
                    common = true;
                    merged.push(a.clone());
                    true
                } else if !a.is_empty() && !b.is_empty() {
                    false
                } else {
                    merged.push(if a.is_empty() { b.clone() } else { a.clone() });
                    true
                }
            });
            if agree && common {
                tuples[i] = merged.clone();
                tuples[j] = merged;
            }
        }
    }
}

/// kyaml's `validateKeys`: the keys some item of `all` has a value of, and `values` of them.
fn valid_keys<'k>(
    all: &[Vec<String>],
    values: &[String],
    keys: &[&'k str],
) -> (Vec<&'k str>, Vec<String>) {
    let used: Vec<bool> = (0..keys.len())
        .map(|i| all.iter().any(|t| !t[i].is_empty()))
        .collect();
    if !used.contains(&true) {
        return (keys.to_vec(), values.to_vec());
    }
    let vk = keys
        .iter()
        .zip(&used)
        .filter(|(_, u)| **u)
        .map(|(k, _)| *k)
        .collect();
    let vv = values
        .iter()
        .zip(&used)
        .filter(|(_, u)| **u)
        .map(|(v, _)| v.clone())
        .collect();
    (vk, vv)
}

/// kyaml's element lookup: a map with exactly these values of these keys.
fn matches_exactly(e: &Value, keys: &[&str], values: &[String]) -> bool {
    e.as_mapping().is_some_and(|m| {
        keys.iter()
            .zip(values)
            .all(|(k, v)| m.get(*k).is_some_and(|x| scalar_is(x, v)))
    })
}

/// kyaml's `ElementSetter`: every item matching `values` of `keys` (an empty value matches any
/// item having the key) is replaced by `elem`, or removed when it is `None`; `elem` is appended
/// when none matched. Null and empty items leave the list, and with no values every item does.
fn set(list: &mut Vec<Value>, elem: Option<Value>, keys: &[&str], values: &[String]) {
    let keyed = keys.first().is_some_and(|k| !k.is_empty())
        && values.first().is_some_and(|v| !v.is_empty());
    // Where `elem` goes: a placeholder per match, filled at the end (one clone fewer).
    let mut slots: Vec<usize> = Vec::new();
    let mut found = false;
    for e in std::mem::take(list) {
        if e.is_null() || e.as_mapping().is_some_and(Mapping::is_empty) {
            continue;
        }
        let Some(m) = e.as_mapping() else {
            if keyed {
                list.push(e);
            }
            continue;
        };
        let mut hit = false;
        let mut matched = true;
        for (j, k) in keys.iter().enumerate() {
            if let Some(v) = values.get(j) {
                hit = match m.get(*k) {
                    None => false,
                    Some(_) if v.is_empty() => true,
                    Some(x) => scalar_is(x, v),
                };
            }
            if !hit {
                matched = false;
                break;
            }
        }
        if !matched {
            if !values.is_empty() {
                list.push(e);
            }
            continue;
        }
        found = true;
        if elem.is_some() {
            slots.push(list.len());
            list.push(Value::Null);
        }
    }
    let Some(el) = elem else { return };
    match slots.split_first() {
        None if !found => list.push(el),
        None => {}
        Some((first, rest)) => {
            for i in rest {
                list[*i] = el.clone();
            }
            list[*first] = el;
        }
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

    /// The pod spec kustomize v5.5 leaves when the patch `spec` (flow YAML of a pod spec) goes
    /// over a Deployment with the pod spec `base`: each case below was run through
    /// `kubectl kustomize`, and its output is the expectation.
    fn pod_spec_after(base: &str, spec: &str) -> Result<Value, String> {
        let object = |pod: &str| {
            y(&format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\nspec: {{template: {{spec: {pod}}}}}\n"
            ))
        };
        let out = strategic(&object(base), &object(spec))?.unwrap();
        Ok(out["spec"]["template"]["spec"].clone())
    }

    fn env_after(env: &str, patch_env: &str) -> Result<Value, String> {
        let out = pod_spec_after(
            &format!("{{containers: [{{name: main, env: {env}}}]}}"),
            &format!("{{containers: [{{name: main, env: {patch_env}}}]}}"),
        )?;
        Ok(out["containers"][0]["env"].clone())
    }

    #[test]
    fn a_merged_list_holds_the_patch_items_first_then_the_objects_others() {
        let abc = "[{name: A, value: a}, {name: B, value: b}, {name: C, value: c}]";
        let cases = [
            (
                "[{name: B, value: p}]",
                "[{name: B, value: p}, {name: A, value: a}, {name: C, value: c}]",
            ),
            (
                "[{name: D, value: p}]",
                "[{name: D, value: p}, {name: A, value: a}, {name: B, value: b}, {name: C, value: c}]",
            ),
            (
                "[{name: C, value: p}, {name: A, value: q}]",
                "[{name: C, value: p}, {name: A, value: q}, {name: B, value: b}]",
            ),
            ("[]", abc),
        ];
        for (patch, want) in cases {
            assert_eq!(env_after(abc, patch), Ok(y(want)), "{patch}");
        }
    }

    #[test]
    fn an_items_own_replace_keeps_the_objects_item_and_a_list_replace_keeps_the_patchs() {
        let ab = "[{name: A, value: a, x: '1'}, {name: B, value: b}]";
        let cases = [
            (
                "[{name: B, value: p, $patch: replace}]",
                "[{name: B, value: b}, {name: A, value: a, x: '1'}]",
            ),
            (
                "[{$patch: replace}, {name: Z, value: z}]",
                "[{name: Z, value: z}]",
            ),
            (
                "[{name: A, value: p}, {$patch: replace}]",
                "[{name: A, value: p}]",
            ),
            (
                "[{name: A, value: p, $patch: merge}]",
                "[{name: A, value: p, x: '1'}, {name: B, value: b}]",
            ),
            // An item without the key matches every item having one, which it deletes.
            ("[{value: nokey}]", "[]"),
        ];
        for (patch, want) in cases {
            assert_eq!(env_after(ab, patch), Ok(y(want)), "{patch}");
        }
        // A list the object lacks is added as the patch writes it, merged with itself.
        let added = |patch: &str| {
            pod_spec_after(
                "{containers: [{name: main}]}",
                &format!("{{containers: [{{name: main, env: {patch}}}]}}"),
            )
            .map(|s| s["containers"][0]["env"].clone())
        };
        assert_eq!(
            added("[{$patch: replace}, {name: Z, value: z}]"),
            Ok(y("[{$patch: replace}]"))
        );
        assert_eq!(
            added("[{name: A, value: p}, {name: A, value: q}, {name: B, value: r}]"),
            Ok(y("[{name: A, value: q}, {name: B, value: r}]"))
        );
        assert_eq!(
            env_after(ab, "[{name: A, value: p, $patch: bogus}]"),
            Err("unknown patch strategy 'bogus': kustomize refuses it".to_string())
        );
    }

    #[test]
    fn a_delete_removes_every_item_with_the_key_and_a_merge_into_repeated_ones_is_lost() {
        let twice = "[{name: A, value: first}, {name: B, value: b}, {name: A, value: second}]";
        let kept = "[{name: A, value: second}, {name: B, value: b}]";
        assert_eq!(
            env_after(twice, "[{name: A, $patch: delete}]"),
            Ok(y("[{name: B, value: b}]"))
        );
        assert_eq!(
            env_after(twice, "[{name: A, valueFrom: {fieldRef: {fieldPath: x}}}]"),
            Ok(y(kept))
        );
        let thrice = "[{name: A, value: one}, {name: A, value: two}, {name: B, value: b}, {name: A, value: three}]";
        assert_eq!(
            env_after(thrice, "[{name: A, value: p}]"),
            Ok(y("[{name: A, value: three}, {name: B, value: b}]"))
        );
        let two = "[{name: A, value: one}, {name: A, value: two}]";
        for patch in [
            "[{name: A, value: p, extra: z}]",
            "[{name: A, value: null}]",
        ] {
            assert_eq!(
                env_after(two, patch),
                Ok(y("[{name: A, value: two}]")),
                "{patch}"
            );
        }
        assert_eq!(env_after(two, "[{name: A, $patch: delete}]"), Ok(y("[]")));
        // Of two patch items with one key, the first merges.
        assert_eq!(
            env_after(
                "[{name: A, value: one}, {name: B, value: b}]",
                "[{name: A, value: p}, {name: A, value: q}]"
            ),
            Ok(y("[{name: A, value: p}, {name: B, value: b}]"))
        );
    }

    #[test]
    fn any_strategic_merge_leaves_one_item_per_key_in_every_keyed_list() {
        let base = "{containers: [{name: main, image: one, env: [{name: A, value: first}, {name: B, value: b}, {name: A, value: second}], volumeMounts: [{mountPath: /a, name: v1}, {mountPath: /b, name: v2}, {mountPath: /a, name: v3}], ports: [{containerPort: 80, name: p1}, {containerPort: 81}, {containerPort: 80, name: p2}, {containerPort: 80, protocol: UDP, name: p3}, {containerPort: 80, protocol: UDP, name: p4}], envFrom: [{prefix: a}, {prefix: a}]}, {name: side}, {name: main, image: two, env: [{name: X}, {name: X}]}], volumes: [{name: v, emptyDir: {}}, {name: w}, {name: v, configMap: {name: c}}], imagePullSecrets: [{name: s}, {name: t}, {name: s}], tolerations: [{key: k}, {key: k}], nodeSelector: null}";
        let want = "{containers: [{name: main, image: two, env: [{name: X}, {name: X}]}, {name: side}], volumes: [{name: v, configMap: {name: c}}, {name: w}], imagePullSecrets: [{name: s}, {name: t}], tolerations: [{key: k}, {key: k}], nodeSelector: null, serviceAccountName: x}";
        assert_eq!(pod_spec_after(base, "{serviceAccountName: x}"), Ok(y(want)));
        let one = "{containers: [{name: main, env: [{name: A, value: first}, {name: B, value: b}, {name: A, value: second}], volumeMounts: [{mountPath: /a, name: v1}, {mountPath: /b, name: v2}, {mountPath: /a, name: v3}], ports: [{containerPort: 80, name: p1}, {containerPort: 81}, {containerPort: 80, name: p2}, {containerPort: 80, protocol: UDP, name: p3}, {containerPort: 80, protocol: UDP, name: p4}]}], hostAliases: [{ip: 1.1.1.1, hostnames: [a]}, {ip: 2.2.2.2, hostnames: [b]}, {ip: 1.1.1.1, hostnames: [c]}]}";
        let want = "{containers: [{name: main, image: x, env: [{name: A, value: second}, {name: B, value: b}], volumeMounts: [{mountPath: /a, name: v3}, {mountPath: /b, name: v2}], ports: [{containerPort: 81}, {containerPort: 80, name: p2}, {containerPort: 80, protocol: UDP, name: p4}]}], hostAliases: [{ip: 2.2.2.2, hostnames: [z]}, {ip: 1.1.1.1, hostnames: [c]}]}";
        assert_eq!(
            pod_spec_after(
                one,
                "{containers: [{name: main, image: x}], hostAliases: [{ip: 2.2.2.2, hostnames: [z]}]}"
            ),
            Ok(y(want))
        );
        // An item without the key takes the whole list.
        assert_eq!(
            pod_spec_after(
                "{containers: [{name: main, env: [{name: A}, {value: nokey}, {name: B}]}]}",
                "{serviceAccountName: x}"
            )
            .map(|s| s["containers"][0]["env"].clone()),
            Ok(y("[{value: nokey}]"))
        );
    }

    #[test]
    fn an_edit_changes_the_object_exactly_where_the_merged_object_differs() {
        let object = |pod: &str| {
            y(&format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\nspec: {{template: {{spec: {pod}}}}}\n"
            ))
        };
        let ordered = "{containers: [{name: main, image: x, env: [{name: A, value: a}]}]}";
        let repeated = "{containers: [{name: main, env: [{name: A}, {name: A, value: b}]}]}";
        let cases = [
            (ordered, "{containers: [{name: main, image: x}]}", false),
            (ordered, "{containers: [{name: main, image: y}]}", true),
            (ordered, "{serviceAccountName: null}", false),
            (ordered, "{containers: null}", true),
            // Nothing named, but the object's repeated keys collapse.
            (repeated, "{serviceAccountName: null}", true),
            (
                repeated,
                "{containers: [{name: main, env: [{name: A, value: b}]}]}",
                true,
            ),
        ];
        for (base, patch, changes) in cases {
            let (base, patch) = (object(base), object(patch));
            let edit = strategic_edit(&base, &patch).unwrap();
            assert_eq!(edit.changes(), changes, "{patch:?}");
            let mut merged = base.clone();
            edit.apply(&mut merged);
            assert_eq!(merged != base, changes, "{patch:?}");
        }
        let pod = object(ordered);
        assert!(!strategic_edit(&pod, &pod).unwrap().changes());
        assert!(
            strategic_edit(&pod, &y("$patch: delete\n"))
                .unwrap()
                .deletes()
        );
    }

    #[test]
    fn lists_of_objects_without_a_schema_are_replaced_and_kinds_must_agree() {
        let d = y(
            "apiVersion: apps/v1beta1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: main\n        env: [{name: A, value: a}, {name: B, value: b}]\n",
        );
        let p = y(
            "spec:\n  template:\n    spec:\n      containers:\n      - name: main\n        env: [{name: B, value: p}]\n",
        );
        assert_eq!(
            strategic(&d, &p),
            Ok(Some(y(
                "apiVersion: apps/v1beta1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: main\n        env: [{name: B, value: p}]\n"
            )))
        );
        assert!(strategic(&d, &y("$patch: delete\n")).unwrap().is_none());
        assert_eq!(
            pod_spec_after("{containers: [{name: main, image: x}]}", "{containers: [{name: main, image: [x]}]}"),
            Err("wrong node kind: the patch gives image another kind of value than the object has: kustomize refuses it".to_string())
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
