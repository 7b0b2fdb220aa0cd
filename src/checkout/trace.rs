//! Which files above the install decide the value a managed setting reaches the cluster with,
//! found offline by reading the kustomizations that deploy it ([`crate::checkout::deploys`]).
//!
//! Distributions do not apply the install as upstream ships it: their own kustomizations build on
//! it (`deployments/vanilla` → `awsconfigs/apps/pipeline/base` → `upstream/apps/pipeline/...`) and
//! may override what the install's files say: a `configMapGenerator` with `behavior: merge` or
//! `replace` of a ConfigMap the install generates, or a patch of the UI Deployment or a ConfigMap.
//! kustomize applies a kustomization's generators and patches after building its resources, so
//! along a chain from a deploy kustomization down to the install the outermost override wins.

use std::path::{Path, PathBuf};

use serde::Serialize;
use std::rc::Rc;

use crate::checkout::catalogue::{self, CATALOGUE, Parsed, Place, Reading, Setting};
use crate::checkout::deploys::{self, Deploy, Graph, manifests_root, own_kfp};
use crate::checkout::install::{Install, relative};
use crate::checkout::kustomization::{Behavior, Kustomization, PatchSource};
use crate::syntax::envfile::{EnvFile, KeyState};
use crate::syntax::yamledit::{YamlText, line_of, without_bom};

/// The ConfigMap the UI reads the viewer pod template from, and its key.
pub const VIEWER_CONFIGMAP: &str = "ml-pipeline-ui-configmap";
pub const VIEWER_KEY: &str = "viewer-pod-template.json";
const UI_DEPLOYMENT: &str = "ml-pipeline-ui";

/// The ConfigMap a `params.env` row ends up in (the generator names of every release).
fn env_configmap(file: &str) -> Option<&'static str> {
    match file {
        "api-service/params.env" => Some("pipeline-api-server-config"),
        "persistence-agent/params.env" => Some("persistenceagent-config"),
        _ => None,
    }
}

/// What an override gives a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Given {
    /// This value (`None`: the entry or key is absent).
    Value(Option<String>),
    /// kfpatch cannot tell offline (why).
    Untraced(String),
}

/// How kfpatch could switch an override's value in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Editor {
    /// A key of a `.env` file.
    Env(&'static str),
    /// `serviceAccountName` of a viewer pod template `.json` file.
    Json,
    /// A catalogue setting in a YAML patch file, with the catalogue's own editor.
    Setting,
    /// A `data:` key of a ConfigMap patch.
    ConfigMapData(&'static str, &'static str),
    /// A `KEY=VALUE` literal of a generator in the kustomization.
    Literal(&'static str),
    /// Not switched by kfpatch (inline patches, JSON patches).
    None,
}

/// A file above the install that decides a managed setting.
#[derive(Debug, Clone)]
pub struct Override {
    /// The catalogue row.
    pub setting: &'static Setting,
    /// The file holding the value, relative to the checkout root, and its real path.
    pub file: String,
    pub path: PathBuf,
    /// The value's line, when it has one.
    pub line: Option<usize>,
    pub given: Given,
    /// The kustomization (relative to the checkout root) and line that applies it, and how.
    pub by: String,
    pub how: String,
    pub editor: Editor,
}

impl Override {
    pub fn at(&self) -> String {
        match self.line {
            Some(l) => format!("{}:{l}", self.file),
            None => self.file.clone(),
        }
    }

    pub fn value(&self) -> Option<&str> {
        match &self.given {
            Given::Value(v) => v.as_deref(),
            Given::Untraced(_) => None,
        }
    }

    /// `kubeflow-pipelines-viewer`, `(absent)`, or `(not traced: why)`.
    pub fn shown_value(&self) -> String {
        match &self.given {
            Given::Value(v) => crate::checkout::catalogue::show_value(v.as_deref()),
            Given::Untraced(why) => format!("(not traced: {why})"),
        }
    }
}

/// A kustomization `multiuser off --overlay` wrote: its values are kfpatch's own switch, reported
/// as an overlay, never as an override to switch.
pub fn is_kfpatch_overlay(k: &Kustomization) -> bool {
    k.text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .any(|l| l.starts_with("# kfpatch-overlay: "))
}

/// The overrides that the kustomizations in `chain` apply, in the order kustomize applies them.
pub fn overrides(install: &Install, chain: &[Rc<Kustomization>]) -> Vec<Override> {
    let mut out = Vec::new();
    for k in chain.iter().filter(|k| !is_kfpatch_overlay(k)) {
        for setting in CATALOGUE.iter().filter(|s| s.row != 8) {
            generator_overrides(install, k, setting, &mut out);
            patch_overrides(install, k, setting, &mut out);
        }
    }
    out
}

/// Every override in any kustomization that deploys the install (each file and setting once).
pub fn all_overrides(install: &Install, graph: &mut Graph, deploys: &[Deploy]) -> Vec<Override> {
    let mut out: Vec<Override> = Vec::new();
    for deploy in deploys {
        let chain = graph.chain(&deploy.dir);
        for o in overrides(install, &chain) {
            let known = out.iter().any(|k| {
                k.path == o.path
                    && k.line == o.line
                    && (k.setting.row, k.setting.file) == (o.setting.row, o.setting.file)
                    && k.by == o.by
            });
            if !known {
                out.push(o);
            }
        }
    }
    out.sort_by(|a, b| (&a.file, a.line, a.setting.row).cmp(&(&b.file, b.line, b.setting.row)));
    out
}

/// For each catalogue row, the override that wins when `dir` is built, if any.
pub fn winners(install: &Install, graph: &mut Graph, dir: &Path) -> Vec<Override> {
    let chain = graph.chain(dir);
    let mut won: Vec<Override> = Vec::new();
    for o in overrides(install, &chain) {
        won.retain(|w| (w.setting.row, w.setting.file) != (o.setting.row, o.setting.file));
        won.push(o);
    }
    won
}

fn generator_overrides(
    install: &Install,
    k: &Kustomization,
    setting: &'static Setting,
    out: &mut Vec<Override>,
) {
    let (configmap, key) = match setting.place {
        Place::EnvKey(key) => match env_configmap(setting.file) {
            Some(cm) => (cm, key),
            None => return,
        },
        Place::ViewerAccount => (VIEWER_CONFIGMAP, VIEWER_KEY),
        Place::ContainerEnv { .. } => return,
    };
    for g in k
        .generators
        .iter()
        .filter(|g| g.name == configmap && g.behavior != Behavior::Create)
    {
        let how = format!(
            "configMapGenerator {configmap}, behavior {}",
            g.behavior.word()
        );
        let by = format!("{}:{}", k.shown, g.line);
        let mut given = None;
        for (lkey, value, line) in &g.literals {
            if lkey == key {
                given = Some(Override {
                    setting,
                    file: k.shown.clone(),
                    path: k.dir.join(file_name(&k.shown)),
                    line: Some(*line),
                    given: Given::Value(Some(value.clone())),
                    by: by.clone(),
                    how: how.clone(),
                    editor: Editor::Literal(key),
                });
            }
        }
        for (env, _) in &g.envs {
            let path = k.dir.join(env);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let parsed = EnvFile::parse(&text);
            let shown = relative(&install.root, &path);
            if let KeyState::Set { line, value } = parsed.check_key(key) {
                given = Some(Override {
                    setting,
                    file: shown,
                    path,
                    line: Some(line),
                    given: Given::Value(Some(value.to_string())),
                    by: by.clone(),
                    how: how.clone(),
                    editor: Editor::Env(key),
                });
            }
        }
        for (fkey, file, _) in &g.files {
            if fkey != key {
                continue;
            }
            let path = k.dir.join(file);
            let shown = relative(&install.root, &path);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let (line, account) = json_account(&text);
            given = Some(Override {
                setting,
                file: shown,
                path,
                line,
                given: account,
                by: by.clone(),
                how: how.clone(),
                editor: Editor::Json,
            });
        }
        match given {
            Some(o) => out.push(o),
            // `replace` drops every key it does not give.
            None if g.behavior == Behavior::Replace => out.push(Override {
                setting,
                file: k.shown.clone(),
                path: k.dir.join(file_name(&k.shown)),
                line: Some(g.line),
                given: Given::Value(None),
                by,
                how,
                editor: Editor::None,
            }),
            None => {}
        }
    }
}

fn file_name(shown: &str) -> &str {
    shown.rsplit('/').next().unwrap_or(shown)
}

/// The line and account of a viewer pod template's JSON (`None`: it has no `serviceAccountName`).
pub fn json_account(text: &str) -> (Option<usize>, Given) {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
        return (
            None,
            Given::Untraced("the template is not valid JSON".to_string()),
        );
    };
    match json
        .get("spec")
        .and_then(|s| s.get("serviceAccountName"))
        .and_then(|a| a.as_str())
    {
        Some(account) => {
            let line = text
                .lines()
                .position(|l| l.contains("\"serviceAccountName\""))
                .map(|i| i + 1);
            (line, Given::Value(Some(account.to_string())))
        }
        None => (None, Given::Value(None)),
    }
}

fn patch_overrides(
    install: &Install,
    k: &Kustomization,
    setting: &'static Setting,
    out: &mut Vec<Override>,
) {
    for patch in &k.patches {
        let (text, file, path) = match &patch.source {
            PatchSource::File(rel) => {
                let path = k.dir.join(rel);
                match std::fs::read_to_string(&path) {
                    Ok(text) => (text, relative(&install.root, &path), path),
                    Err(_) => continue,
                }
            }
            PatchSource::Inline(text) => (
                text.clone(),
                k.shown.clone(),
                k.dir.join(file_name(&k.shown)),
            ),
        };
        let inline = matches!(patch.source, PatchSource::Inline(_));
        // Lines of an inline patch count from the kustomization's line it starts on.
        let first_line = if inline { patch.line } else { 1 };
        let by = format!("{}:{}", k.shown, patch.line);
        let value: Option<yaml_serde::Value> = yaml_serde::from_str(without_bom(&text)).ok();
        if let Some(ops) = value.as_ref().and_then(|v| v.as_sequence()) {
            let at = PatchAt {
                text: &text,
                first_line,
                file: &file,
                path: &path,
                by: &by,
            };
            if let Some(o) = json_patch(setting, patch.target.as_ref(), ops, &at) {
                out.push(o);
            }
            continue;
        }
        let Ok(yaml) = YamlText::parse(&text) else {
            continue;
        };
        let parsed = Parsed::Yaml(yaml);
        let Parsed::Yaml(yaml) = &parsed else {
            continue;
        };
        let found = match setting.place {
            Place::ContainerEnv { .. } | Place::ViewerAccount => {
                match catalogue::read(setting, &file, &parsed) {
                    Ok(Reading::Value { value, line }) => Some((
                        Some(first_line + line - 1),
                        Given::Value(Some(value)),
                        Editor::Setting,
                    )),
                    Ok(Reading::NotApplicable(why)) => {
                        Some((None, Given::Untraced(why), Editor::None))
                    }
                    // A viewer template without an account decides the account too.
                    Err(_) if matches!(setting.place, Place::ViewerAccount) => yaml
                        .configmap_data(VIEWER_CONFIGMAP, VIEWER_KEY)
                        .map(|data| {
                            let (_, given) = json_account(&data.value);
                            let line = line_of(&text, data.range.start);
                            (Some(first_line + line - 1), given, Editor::None)
                        }),
                    _ => None,
                }
            }
            Place::EnvKey(key) => env_configmap(setting.file).and_then(|cm| {
                yaml.configmap_data(cm, key).map(|data| {
                    let line = line_of(&text, data.range.start);
                    (
                        Some(first_line + line - 1),
                        Given::Value(Some(data.value)),
                        Editor::ConfigMapData(cm, key),
                    )
                })
            }),
        };
        if let Some((line, given, editor)) = found {
            out.push(Override {
                setting,
                file: file.clone(),
                path: path.clone(),
                line,
                given,
                by,
                how: if inline {
                    "inline patch".to_string()
                } else {
                    "patch".to_string()
                },
                editor: if inline { Editor::None } else { editor },
            });
        }
    }
}

/// Where a patch's text is: the text, the line of the file it starts on, the file (shown and
/// real), and the kustomization line that applies it.
#[derive(Clone, Copy)]
struct PatchAt<'a> {
    text: &'a str,
    first_line: usize,
    file: &'a str,
    path: &'a Path,
    by: &'a str,
}

/// A JSON 6902 patch's effect on `setting`: exact for ConfigMap `data` keys and for env entries
/// added whole; untraced where it addresses a Deployment's env by position.
fn json_patch(
    setting: &'static Setting,
    target: Option<&(Option<String>, Option<String>)>,
    ops: &[yaml_serde::Value],
    at: &PatchAt<'_>,
) -> Option<Override> {
    let PatchAt {
        text,
        first_line,
        file,
        path,
        by,
    } = *at;
    let (kind, name) = target?;
    let (want_kind, want_name, data_key, var) = match setting.place {
        Place::EnvKey(key) => ("ConfigMap", env_configmap(setting.file)?, Some(key), None),
        Place::ViewerAccount => ("ConfigMap", VIEWER_CONFIGMAP, Some(VIEWER_KEY), None),
        Place::ContainerEnv {
            deployment, var, ..
        } => ("Deployment", deployment, None, Some(var)),
    };
    if kind.as_deref() != Some(want_kind) || name.as_deref() != Some(want_name) {
        return None;
    }
    let mut given = None;
    let mut needle = String::new();
    for op in ops {
        let op_name = op.get("op").and_then(|o| o.as_str()).unwrap_or_default();
        let op_path = op.get("path").and_then(|p| p.as_str()).unwrap_or_default();
        let value = op.get("value");
        if let Some(key) = data_key {
            let exact = format!("/data/{}", key.replace('~', "~0").replace('/', "~1"));
            if op_name == "remove" && (op_path == "/data" || op_path == exact) {
                given = Some(Given::Value(None));
                needle = op_path.to_string();
            } else if op_path == exact && matches!(op_name, "add" | "replace") {
                let string = value.and_then(|v| v.as_str()).map(str::to_string);
                given = Some(match (&string, setting.place) {
                    (Some(json), Place::ViewerAccount) => json_account(json).1,
                    (None, Place::ViewerAccount) => {
                        Given::Untraced("the template is not a string".to_string())
                    }
                    _ => Given::Value(string),
                });
                needle = op_path.to_string();
            }
            continue;
        }
        if !op_path.contains("/env") {
            continue;
        }
        let entry = value.and_then(|v| v.get("name")).and_then(|n| n.as_str());
        match entry {
            Some(n) if Some(n) == var => {
                given = Some(Given::Value(
                    value
                        .and_then(|v| v.get("value"))
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                ));
                needle = format!("name: {n}");
            }
            Some(_) => {}
            None => {
                given = Some(Given::Untraced(format!(
                    "a JSON patch changes the env of {UI_DEPLOYMENT} by position; kfpatch render shows the result"
                )));
                needle = op_path.to_string();
            }
        }
    }
    let line = text
        .lines()
        .position(|l| !needle.is_empty() && l.contains(&needle))
        .map(|i| first_line + i);
    given.map(|given| Override {
        setting,
        file: file.to_string(),
        path: path.to_path_buf(),
        line,
        given,
        by: by.to_string(),
        how: "JSON patch".to_string(),
        editor: Editor::None,
    })
}

/// What lies above the install: the kustomizations that deploy it and the overrides they apply,
/// as `status` and `audit` report them.
#[derive(Debug, Clone)]
pub struct Above {
    /// The checkout's own deploy kustomizations, then the manifests root's `example/`.
    pub deploys: Vec<Deploy>,
    /// The folder `--target kfp` picks among the checkout's own, if one.
    pub kfp: Option<String>,
    pub overrides: Vec<Override>,
}

impl Above {
    pub fn of(install: &Install) -> Above {
        let mut graph = Graph::new(install);
        let deploys = deploys::deploys(install, &mut graph);
        let kfp = own_kfp(&deploys, install).map(|d| d.shown);
        let overrides = all_overrides(install, &mut graph, &deploys);
        Above {
            deploys,
            kfp,
            overrides,
        }
    }

    /// `configs/apps/pipeline/base (--target kfp), deployments/vanilla; upstream/example (--target
    /// all)`, or `None` when the checkout has no deploy kustomization of its own.
    pub fn deployed_through(&self, install: &Install) -> Option<String> {
        let manifests = manifests_root(install);
        let (own, example): (Vec<&Deploy>, Vec<&Deploy>) = self
            .deploys
            .iter()
            .partition(|d| !d.dir.starts_with(&manifests));
        if own.is_empty() {
            return None;
        }
        // The one `--target kfp` picks first, then the others by folder.
        let mut own = own;
        own.sort_by_key(|d| Some(&d.shown) != self.kfp.as_ref());
        let mut text = own
            .iter()
            .map(|d| {
                if Some(&d.shown) == self.kfp.as_ref() {
                    format!("{} (--target kfp)", d.shown)
                } else {
                    d.shown.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        if let Some(example) = example.first() {
            text.push_str(&format!("; {} (--target all)", example.shown));
        }
        Some(text)
    }

    /// The checkout's own deploy kustomizations, by folder.
    pub fn own_folders(&self, install: &Install) -> Vec<String> {
        let manifests = manifests_root(install);
        self.deploys
            .iter()
            .filter(|d| !d.dir.starts_with(&manifests))
            .map(|d| d.shown.clone())
            .collect()
    }

    /// One line per override: row, where, setting, value, and what applies it.
    pub fn override_lines(&self) -> Vec<String> {
        self.overrides
            .iter()
            .map(|o| {
                format!(
                    "{} {}  {}  {}  through {} ({})",
                    o.setting.row,
                    o.at(),
                    o.setting.name(),
                    o.shown_value(),
                    o.by,
                    o.how
                )
            })
            .collect()
    }
}

/// The whole viewer pod template an override gives, when kfpatch can read it: the JSON file of
/// a generator, or the `data` of a ConfigMap patch file.
pub fn template_of(o: &Override) -> Option<String> {
    let text = std::fs::read_to_string(&o.path).ok()?;
    match o.editor {
        Editor::Json => Some(text),
        Editor::Setting => YamlText::parse(&text)
            .ok()?
            .configmap_data(VIEWER_CONFIGMAP, VIEWER_KEY)
            .map(|d| d.value),
        _ => None,
    }
}

/// An override as `status` and `audit` print it in JSON.
#[derive(Debug, Serialize)]
pub struct OverrideJson {
    pub row: u8,
    /// The file holding the value, relative to the `-C` folder.
    pub file: String,
    pub line: Option<usize>,
    pub setting: String,
    /// The value the cluster gets through it (`null`: absent or not traced).
    pub value: Option<String>,
    /// Why kfpatch cannot tell the value offline, if so.
    pub untraced: Option<String>,
    /// The kustomization and line that apply it, and how.
    pub through: String,
    pub how: String,
}

impl OverrideJson {
    pub fn of(o: &Override) -> OverrideJson {
        OverrideJson {
            row: o.setting.row,
            file: o.file.clone(),
            line: o.line,
            setting: o.setting.name(),
            value: o.value().map(str::to_string),
            untraced: match &o.given {
                Given::Untraced(why) => Some(why.clone()),
                Given::Value(_) => None,
            },
            through: o.by.clone(),
            how: o.how.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: u8) -> &'static Setting {
        CATALOGUE.iter().find(|s| s.row == n).unwrap()
    }

    fn ops(text: &str) -> Vec<yaml_serde::Value> {
        yaml_serde::from_str::<Vec<yaml_serde::Value>>(text).unwrap()
    }

    fn at(text: &str) -> PatchAt<'_> {
        PatchAt {
            text,
            first_line: 1,
            file: "p.yaml",
            path: Path::new("p.yaml"),
            by: "k/kustomization.yaml:3",
        }
    }

    #[test]
    fn json_patches_of_configmap_data_are_exact() {
        let text = "- op: replace\n  path: /data/MULTIUSER\n  value: 'false'\n";
        let target = (
            Some("ConfigMap".to_string()),
            Some("pipeline-api-server-config".to_string()),
        );
        let o = json_patch(row(1), Some(&target), &ops(text), &at(text)).unwrap();
        assert_eq!(o.given, Given::Value(Some("false".to_string())));
        assert_eq!(o.line, Some(2));
        let removed = "- op: remove\n  path: /data/MULTIUSER\n";
        let o = json_patch(row(1), Some(&target), &ops(removed), &at(removed)).unwrap();
        assert_eq!(o.given, Given::Value(None));
        // Another ConfigMap, or another key, is not this setting.
        let other = (
            Some("ConfigMap".to_string()),
            Some("pipeline-install-config".to_string()),
        );
        assert!(json_patch(row(1), Some(&other), &ops(text), &at(text)).is_none());
        assert!(json_patch(row(2), Some(&target), &ops(text), &at(text)).is_none());
    }

    #[test]
    fn json_patches_of_the_ui_env_by_position_are_not_traced() {
        let target = (
            Some("Deployment".to_string()),
            Some("ml-pipeline-ui".to_string()),
        );
        let by_position = "- op: replace\n  path: /spec/template/spec/containers/0/env/5/value\n  value: 'false'\n";
        let o = json_patch(row(6), Some(&target), &ops(by_position), &at(by_position)).unwrap();
        assert!(matches!(o.given, Given::Untraced(_)));
        let whole = "- op: add\n  path: /spec/template/spec/containers/0/env/-\n  value:\n    name: ENABLE_AUTHZ\n    value: 'false'\n";
        let o = json_patch(row(6), Some(&target), &ops(whole), &at(whole)).unwrap();
        assert_eq!(o.given, Given::Value(Some("false".to_string())));
        assert_eq!(o.line, Some(4));
        assert!(json_patch(row(7), Some(&target), &ops(whole), &at(whole)).is_none());
    }

    #[test]
    fn viewer_templates_with_and_without_an_account() {
        let with = "{\n  \"spec\": {\n    \"serviceAccountName\": \"default-editor\"\n  }\n}";
        assert_eq!(
            json_account(with),
            (Some(3), Given::Value(Some("default-editor".to_string())))
        );
        assert_eq!(
            json_account("{\"spec\": {\"containers\": []}}"),
            (None, Given::Value(None))
        );
        assert!(matches!(json_account("{ not json").1, Given::Untraced(_)));
    }
}
