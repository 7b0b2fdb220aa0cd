//! Switching the files above the install that decide a managed setting (see
//! [`crate::checkout::trace`]): an override that holds the other mode's upstream value is switched
//! with the same lossless editors as the install's own files; any other override is kept and
//! named with the value the cluster gets through it.

use crate::checkout::catalogue::{Mode, Place, Reading, Scope, holds, show_value};
use crate::checkout::install::Install;
use crate::checkout::overriding::{Editor, Override};
use crate::checkout::trace;
use crate::edit::plan::{Change, Note, Plan};
use crate::edit::splice;
use crate::edit::write::FilePlan;
use crate::error::{Failure, Result};
use crate::syntax::envfile::EnvFile;
use crate::syntax::yamledit::{self, LeafChange, Splice, YamlText, scalar_like, string_leaf};

/// The overrides of one file to switch, each with its new value.
type Edits = Vec<(Override, Option<String>)>;

/// Adds the overrides of every kustomization that deploys the install (`reaching`) to `plan`:
/// switched ones as changes and file plans, the others as kept notes.
pub fn add_to_plan(
    install: &Install,
    mode: Mode,
    scope: Scope,
    plan: &mut Plan,
    reaching: &mut trace::Reaching,
) -> Result<()> {
    let found = trace::all_overrides(install, reaching);
    let mut by_file: Vec<(std::path::PathBuf, String, Edits)> = Vec::new();
    let mut seen = Vec::new();
    for o in found {
        // A file two kustomizations apply (a variant and the whole) is one value to switch.
        let key = (o.path.clone(), o.line, o.setting.row, o.setting.file);
        if o.setting.applies(install, scope).is_err() || seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let to = o.setting.value_in(mode);
        let from = o.setting.value_in(mode.other());
        let Some(reading) = o.reading() else {
            plan.kept.push(note(
                &o,
                format!(
                    "{}; {}: kfpatch render shows the value the cluster gets",
                    o.shown_value(),
                    applied(&o)
                ),
            ));
            continue;
        };
        if holds(o.setting, &reading, to) {
            continue;
        }
        if matches!(o.setting.place, Place::ViewerAccount) && reading == Reading::Absent {
            let why = match mode {
                Mode::Off => {
                    "valid in single-user mode: viewer pods use the default service account of the kubeflow namespace"
                }
                Mode::On => "viewer pods use the default service account of each profile namespace",
            };
            plan.kept.push(note(
                &o,
                format!(
                    "(absent): a viewer template without one {}; {why}",
                    applied(&o)
                ),
            ));
            continue;
        }
        let shown = o.shown_value();
        if !holds(o.setting, &reading, from) {
            plan.kept.push(note(
                &o,
                format!(
                    "{shown} is customised (upstream: {} in multi-user mode, {} in single-user mode) and {}: the cluster gets {shown}; left as is",
                    show_value(o.setting.multi),
                    show_value(o.setting.single),
                    applied(&o)
                ),
            ));
            continue;
        }
        if o.editor == Editor::None {
            plan.kept.push(note(
                &o,
                format!(
                    "{shown} {}: the cluster gets {shown}; kfpatch does not edit {}, change it by hand",
                    applied(&o),
                    if o.how.contains("JSON") { "JSON patches" } else { "inline patches or whole replaced ConfigMaps" }
                ),
            ));
            continue;
        }
        let to = to.map(str::to_string);
        match by_file.iter_mut().find(|(p, _, _)| *p == o.path) {
            Some((_, _, list)) => list.push((o, to)),
            None => by_file.push((o.path.clone(), o.file.clone(), vec![(o, to)])),
        }
    }
    for (path, shown, edits) in by_file {
        let old = std::fs::read_to_string(&path).map_err(|e| Failure::io("read", &path, &e))?;
        let new = edit_file(&old, &shown, &edits)?;
        for (o, to) in &edits {
            plan.changes.push(Change {
                file: shown.clone(),
                line: o.line.unwrap_or(1),
                setting: o.setting.name(),
                old: o.value().map(str::to_string),
                new: to.clone(),
                why: format!("{}; {}", o.setting.reason(mode), applied(o)),
            });
        }
        if new != old {
            plan.files.push(FilePlan {
                file: shown.clone(),
                shown,
                path,
                old,
                new,
            });
        }
    }
    Ok(())
}

fn note(o: &Override, message: String) -> Note {
    Note {
        file: o.file.clone(),
        line: o.line,
        setting: o.setting.name(),
        message,
    }
}

/// `(awsconfigs/apps/pipeline/s3/kustomization.yaml:14 applies it above the install, configMapGenerator ...)`.
fn applied(o: &Override) -> String {
    format!("overrides the install through {} ({})", o.by, o.how)
}

fn refused(shown: &str, detail: &str) -> Failure {
    Failure::new(format!(
        "{shown}: kfpatch refused its own edit: {detail}; please report this with the file, and edit it by hand meanwhile\nnothing was written"
    ))
}

/// The file's new text with every edit made, checked to differ in exactly those settings.
fn edit_file(old: &str, shown: &str, edits: &[(Override, Option<String>)]) -> Result<String> {
    let Some((first, _)) = edits.first() else {
        return Ok(old.to_string());
    };
    match first.editor {
        Editor::Env(_) => {
            let parsed = EnvFile::parse(old);
            let mut env = parsed.clone();
            let mut keys = Vec::new();
            for (o, to) in edits {
                let Editor::Env(key) = o.editor else { continue };
                env.set(key, to.as_deref().unwrap_or_default(), false)
                    .map_err(|m| refused(shown, &m.explain(key).0))?;
                keys.push(key);
            }
            let strip = |e: &EnvFile| -> Vec<(String, Option<String>)> {
                e.pairs()
                    .into_iter()
                    .filter(|(k, _)| !keys.contains(k))
                    .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                    .collect()
            };
            if strip(&parsed) != strip(&env) {
                return Err(refused(shown, "keys other than the edited ones changed"));
            }
            Ok(env.text().to_string())
        }
        Editor::Json => {
            let (Some(from), Some((_, Some(to)))) = (first.value(), edits.first()) else {
                return Err(refused(shown, "no account to switch"));
            };
            switch_account(old, shown, from, to)
        }
        Editor::Literal(_) => {
            let mut splices = Vec::new();
            for (o, to) in edits {
                let Editor::Literal(key) = o.editor else {
                    continue;
                };
                let line = o.line.unwrap_or(1);
                let start: usize = old.split_inclusive('\n').take(line - 1).map(str::len).sum();
                let text = old[start..].lines().next().unwrap_or_default();
                let literal = format!("{key}={}", o.value().unwrap_or_default());
                let at = text
                    .find(&literal)
                    .ok_or_else(|| refused(shown, &format!("no {literal} on line {line}")))?;
                let value_at = start + at + key.len() + 1;
                splices.push(Splice {
                    range: value_at..value_at + o.value().unwrap_or_default().len(),
                    replacement: to.clone().unwrap_or_default(),
                });
            }
            let new = yamledit::apply(old, &splices).map_err(|e| refused(shown, &e))?;
            check_literals(old, &new, shown, edits)?;
            Ok(new)
        }
        Editor::Setting | Editor::ConfigMapData(..) => {
            let yaml = YamlText::parse(old).map_err(|e| refused(shown, &e))?;
            let mut splices = Vec::new();
            let mut leaves = Vec::new();
            for (o, to) in edits {
                match o.editor {
                    Editor::Setting => {
                        let edit = splice::edit_yaml(o.setting, &yaml, to.as_deref(), shown)
                            .map_err(|p| Failure::new(p.render()))?;
                        splices.extend(edit.splices);
                        leaves.extend(edit.leaves);
                    }
                    Editor::ConfigMapData(cm, key) => {
                        let data = yaml
                            .configmap_data(cm, key)
                            .ok_or_else(|| refused(shown, &format!("no data.{key}")))?;
                        let raw = &old[data.range.clone()];
                        let value = to.clone().unwrap_or_default();
                        let doc = yamledit::document_index(old, "ConfigMap", cm).unwrap_or(0);
                        splices.push(Splice {
                            range: data.range.clone(),
                            replacement: scalar_like(raw, &value),
                        });
                        leaves.push(LeafChange {
                            path: format!("doc{doc}.data.{key}"),
                            old: Some(string_leaf(&data.value)),
                            new: Some(string_leaf(&value)),
                        });
                    }
                    _ => {}
                }
            }
            let new = yamledit::apply(old, &splices).map_err(|e| refused(shown, &e))?;
            yamledit::verify(old, &new, &leaves).map_err(|e| refused(shown, &e))?;
            Ok(new)
        }
        Editor::None => Ok(old.to_string()),
    }
}

/// The generators of the old and new kustomization differ in exactly the edited literals.
fn check_literals(
    old: &str,
    new: &str,
    shown: &str,
    edits: &[(Override, Option<String>)],
) -> Result<()> {
    let read = |text: &str| -> Option<Vec<(String, String)>> {
        let value: yaml_serde::Value = yaml_serde::from_str(text).ok()?;
        let mut all = Vec::new();
        for g in value.get("configMapGenerator")?.as_sequence()? {
            let name = g.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            for l in g
                .get("literals")
                .and_then(|l| l.as_sequence())
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str())
            {
                all.push((name.to_string(), l.to_string()));
            }
        }
        Some(all)
    };
    let (Some(before), Some(after)) = (read(old), read(new)) else {
        return Err(refused(shown, "the kustomization no longer parses"));
    };
    let mut expected = before.clone();
    for (o, to) in edits {
        let Editor::Literal(key) = o.editor else {
            continue;
        };
        let from = format!("{key}={}", o.value().unwrap_or_default());
        if let Some(entry) = expected.iter_mut().find(|(_, l)| *l == from) {
            entry.1 = format!("{key}={}", to.as_deref().unwrap_or_default());
        }
    }
    if expected != after {
        return Err(refused(shown, "more than the edited literals would change"));
    }
    // The rest of the kustomization must read the same.
    let strip = |text: &str| -> Option<yaml_serde::Value> {
        let mut v: yaml_serde::Value = yaml_serde::from_str(text).ok()?;
        if let Some(map) = v.as_mapping_mut() {
            map.remove("configMapGenerator");
        }
        Some(v)
    };
    if strip(old) != strip(new) {
        return Err(refused(
            shown,
            "more than the generator literals would change",
        ));
    }
    Ok(())
}

/// A viewer pod template's JSON text with `"serviceAccountName": "FROM"` made `TO`, every other
/// byte kept; checked to differ in exactly the account.
pub fn switch_account(old: &str, shown: &str, from: &str, to: &str) -> Result<String> {
    let to = to.to_string();
    let token = format!("\"{from}\"");
    let key = "\"serviceAccountName\"";
    let at = old
        .find(key)
        .ok_or_else(|| refused(shown, "no serviceAccountName"))?;
    let value_at = old[at..]
        .find(&token)
        .map(|i| at + i)
        .ok_or_else(|| refused(shown, "the account is not a plain string"))?;
    let new = yamledit::apply(
        old,
        &[Splice {
            range: value_at + 1..value_at + token.len() - 1,
            replacement: to.clone(),
        }],
    )
    .map_err(|e| refused(shown, &e))?;
    let mut want: serde_json::Value =
        serde_json::from_str(old).map_err(|e| refused(shown, &e.to_string()))?;
    want["spec"]["serviceAccountName"] = serde_json::Value::String(to.clone());
    let got: serde_json::Value =
        serde_json::from_str(&new).map_err(|e| refused(shown, &e.to_string()))?;
    if got != want {
        return Err(refused(shown, "more than the account would change"));
    }
    Ok(new)
}
