//! Which files above the install decide the value a managed setting reaches the cluster with,
//! found offline in every kustomization whose build includes the install, as the kustomize model
//! finds and reads them ([`crate::checkout::model`]): a plain fork's `example/` and `env/*`, a
//! folder of the user's, a distribution's own kustomizations alike.
//!
//! They may override what the install's files say: a `configMapGenerator` with `behavior: merge`
//! or `replace` of a ConfigMap the install generates, or a patch of the UI Deployment or a
//! ConfigMap (in the kustomization or in one of its components). kustomize applies a
//! kustomization's generators and patches after building its resources, so along a chain from a
//! deploying kustomization down to the install the outermost override wins.

use crate::checkout::model::pathhash::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::checkout::catalogue::{self, CATALOGUE, Place, Reading, Setting};
use crate::checkout::install::Install;
use crate::checkout::model;
use crate::checkout::model::build::Model;
use crate::checkout::model::deploying::{self, Deploying, reaching_folders};
use crate::checkout::model::sections::{self, Behavior, Kustomization, PatchSource};
use crate::checkout::overriding::{Editor, Given, Override, VIEWER_CONFIGMAP, VIEWER_KEY};
use crate::checkout::parsed::Parsed;
use crate::checkout::paths::relative;
use crate::syntax::envfile::{EnvFile, KeyState};
use crate::syntax::without_bom;
use crate::syntax::yamledit::{YamlText, line_of};

const UI_DEPLOYMENT: &str = "ml-pipeline-ui";

/// Components within components deeper than this are not followed (kustomize refuses a cycle;
/// the model says so).
const MAX_COMPONENT_DEPTH: usize = 64;

/// The ConfigMap a `params.env` row ends up in (the generator names of every release).
fn env_configmap(file: &str) -> Option<&'static str> {
    match file {
        "api-service/params.env" => Some("pipeline-api-server-config"),
        "persistence-agent/params.env" => Some("persistenceagent-config"),
        _ => None,
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

/// Which sections of a kustomization a step of a chain applies: a kustomization with components
/// applies its generators, then its components, then its patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Generators,
    Patches,
    Both,
}

/// One step of a chain: a kustomization (or component) and the sections it applies there.
pub type Step = (Rc<Kustomization>, Part);

/// The kustomizations above the install, as the model finds them: every folder whose build
/// includes the install, each read once. (Folders by their bytes: see
/// [`crate::checkout::model::pathhash`].)
pub struct Reaching {
    install: PathBuf,
    model: Model,
    folders: Vec<PathBuf>,
    set: HashSet<OsString>,
    read: HashMap<OsString, Option<Rc<Kustomization>>>,
}

impl Reaching {
    pub fn new(install: &Install) -> Reaching {
        Reaching::searched(install, reaching_folders(install))
    }

    /// The kustomizations a search already found ([`reaching_folders`]), read by the model that
    /// found them: a caller that looked at the search first (`multiuser`: its unreadable files)
    /// does not search again.
    pub fn searched(install: &Install, found: deploying::Reaching) -> Reaching {
        Reaching::with(install, found.model, found.all.to_vec())
    }

    /// The folders the model already found deploying the install (`status`, `audit`), read by
    /// the `model` that found them: nothing is read again.
    pub fn of_deploying(install: &Install, deploying: &[Deploying], model: Model) -> Reaching {
        let folders = deploying.iter().map(|d| d.dir.clone()).collect();
        Reaching::with(install, model, folders)
    }

    fn with(install: &Install, model: Model, folders: Vec<PathBuf>) -> Reaching {
        Reaching {
            install: install.dir.clone(),
            model,
            set: folders.iter().map(|d| d.as_os_str().to_owned()).collect(),
            read: HashMap::with_capacity_and_hasher(folders.len(), Default::default()),
            folders,
        }
    }

    /// Whether building `dir` (canonical) builds the install.
    pub fn reaches(&self, dir: &Path) -> bool {
        dir == self.install || self.set.contains(dir.as_os_str())
    }

    /// Whether the kustomization of `dir` has a section an override can come from (generators,
    /// patches, or components, which may have them): the levels of a chain of overlays that only
    /// name the next are not read into sections at all.
    fn may_override(&mut self, dir: &Path) -> bool {
        const SECTIONS: &[&str] = &[
            "configMapGenerator",
            "patchesStrategicMerge",
            "patches",
            "patchesJson6902",
            "components",
        ];
        let loaded = self.model.kustomization(dir);
        matches!(loaded.as_ref(), Ok(Some(l)) if SECTIONS.iter().any(|key| l.value.get(key).is_some()))
    }

    fn get(&mut self, dir: &Path) -> Option<Rc<Kustomization>> {
        if let Some(known) = self.read.get(dir.as_os_str()) {
            return known.clone();
        }
        let loaded = self.model.kustomization(dir);
        let model = &mut self.model;
        let k = match loaded.as_ref() {
            Ok(Some(l)) => Some(Rc::new(sections::of_resolved(l, |dir, entry| {
                model.resolve(dir, entry)
            }))),
            _ => None,
        };
        self.read.insert(dir.as_os_str().to_owned(), k.clone());
        k
    }

    /// The steps that building `dir` applies above the install, in the order kustomize applies
    /// them (innermost first). Without recursion: a chain of any length costs its length.
    pub fn chain(&mut self, dir: &Path) -> Vec<Step> {
        let mut out = Vec::new();
        let mut seen: HashSet<OsString> = HashSet::default();
        let mut stack = vec![(dir.to_path_buf(), false)];
        while let Some((d, expanded)) = stack.pop() {
            let Some(k) = self.get(&d) else { continue };
            if expanded {
                self.steps(&k, &mut out);
                continue;
            }
            if d.starts_with(&self.install)
                || !self.reaches(&d)
                || !seen.insert(d.as_os_str().to_owned())
            {
                continue;
            }
            stack.push((d, true));
            for (base, _) in k.bases.iter().rev() {
                if !k.components.contains(base) {
                    stack.push((base.clone(), false));
                }
            }
        }
        out
    }

    /// The steps of one kustomization of a chain: its generators, its components', its patches.
    fn steps(&mut self, k: &Rc<Kustomization>, out: &mut Vec<Step>) {
        if k.components.is_empty() {
            out.push((k.clone(), Part::Both));
            return;
        }
        out.push((k.clone(), Part::Generators));
        let mut seen = HashSet::default();
        for c in &k.components {
            self.component(c, 0, &mut seen, out);
        }
        out.push((k.clone(), Part::Patches));
    }

    fn component(
        &mut self,
        dir: &Path,
        depth: usize,
        seen: &mut HashSet<OsString>,
        out: &mut Vec<Step>,
    ) {
        if depth > MAX_COMPONENT_DEPTH || !seen.insert(dir.as_os_str().to_owned()) {
            return;
        }
        let Some(c) = self.get(dir) else { return };
        if c.components.is_empty() {
            out.push((c, Part::Both));
            return;
        }
        out.push((c.clone(), Part::Generators));
        for inner in &c.components {
            self.component(inner, depth + 1, seen, out);
        }
        out.push((c, Part::Patches));
    }
}

/// The overrides that the steps of `chain` apply, in the order kustomize applies them.
pub fn overrides(install: &Install, chain: &[Step]) -> Vec<Override> {
    let mut out = Vec::new();
    for (k, part) in chain.iter().filter(|(k, _)| !is_kfpatch_overlay(k)) {
        // Each patch read and parsed once for every row.
        let patches = if *part == Part::Generators {
            Vec::new()
        } else {
            read_patches(install, k)
        };
        let parsed: Vec<PatchBody<'_>> = patches.iter().map(|p| parse_patch(&p.text)).collect();
        for setting in CATALOGUE.iter().filter(|s| s.row != 8) {
            if *part != Part::Patches {
                generator_overrides(install, k, setting, &mut out);
            }
            if *part != Part::Generators {
                patch_overrides(&patches, &parsed, setting, &mut out);
            }
        }
    }
    out
}

/// Every override in any kustomization whose build includes the install (each file and setting
/// once), each kustomization and component read once.
pub fn all_overrides(install: &Install, reaching: &mut Reaching) -> Vec<Override> {
    let mut steps = Vec::new();
    for dir in reaching.folders.clone() {
        if !reaching.may_override(&dir) {
            continue;
        }
        if let Some(k) = reaching.get(&dir) {
            reaching.steps(&k, &mut steps);
        }
    }
    let mut out: Vec<Override> = Vec::new();
    let mut known = HashSet::default();
    for o in overrides(install, &steps) {
        let key = (
            o.path.clone(),
            o.line,
            o.setting.row,
            o.setting.file,
            o.by.clone(),
        );
        if known.insert(key) {
            out.push(o);
        }
    }
    out.sort_by(|a, b| (&a.file, a.line, a.setting.row).cmp(&(&b.file, b.line, b.setting.row)));
    out
}

/// For each catalogue row, the override that wins when `dir` is built, if any.
pub fn winners(install: &Install, reaching: &mut Reaching, dir: &Path) -> Vec<Override> {
    let chain = reaching.chain(dir);
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
            let Ok(text) = model::read(&install.root, &path) else {
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
            let Ok(text) = model::read(&install.root, &path) else {
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

/// A patch of a kustomization, read.
struct ReadPatch {
    text: String,
    file: String,
    path: PathBuf,
    inline: bool,
    /// The line of the file it starts on (an inline patch's lines count from its kustomization's).
    first_line: usize,
    /// The kustomization line that applies it.
    by: String,
    target: Option<(Option<String>, Option<String>)>,
}

/// A patch parsed: a JSON patch's operations, or a strategic merge patch's lossless tree.
enum PatchBody<'a> {
    Json(Vec<yaml_serde::Value>),
    Yaml(Parsed<'a>),
    Neither,
}

fn parse_patch(text: &str) -> PatchBody<'_> {
    match yaml_serde::from_str(without_bom(text)) {
        Ok(yaml_serde::Value::Sequence(ops)) => PatchBody::Json(ops),
        _ => match YamlText::parse(text) {
            Ok(yaml) => PatchBody::Yaml(Parsed::Yaml(yaml)),
            Err(_) => PatchBody::Neither,
        },
    }
}

/// The patches of `k` that can be read.
fn read_patches(install: &Install, k: &Kustomization) -> Vec<ReadPatch> {
    let mut out = Vec::new();
    for patch in &k.patches {
        let (text, file, path) = match &patch.source {
            PatchSource::File(rel) => {
                let path = k.dir.join(rel);
                match model::read(&install.root, &path) {
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
        out.push(ReadPatch {
            first_line: if inline { patch.line } else { 1 },
            by: format!("{}:{}", k.shown, patch.line),
            target: patch.target.clone(),
            text,
            file,
            path,
            inline,
        });
    }
    out
}

fn patch_overrides(
    patches: &[ReadPatch],
    parsed: &[PatchBody<'_>],
    setting: &'static Setting,
    out: &mut Vec<Override>,
) {
    for (patch, parsed) in patches.iter().zip(parsed) {
        let ReadPatch {
            text,
            file,
            path,
            inline,
            first_line,
            by,
            ..
        } = patch;
        let (inline, first_line) = (*inline, *first_line);
        let parsed = match parsed {
            PatchBody::Json(ops) => {
                let at = PatchAt {
                    text,
                    first_line,
                    file,
                    path,
                    by,
                };
                if let Some(o) = json_patch(setting, patch.target.as_ref(), ops, &at) {
                    out.push(o);
                }
                continue;
            }
            PatchBody::Yaml(parsed) => parsed,
            PatchBody::Neither => continue,
        };
        let Parsed::Yaml(yaml) = parsed else {
            continue;
        };
        let found = match setting.place {
            Place::ContainerEnv { .. } | Place::ViewerAccount => {
                match catalogue::read(setting, file, parsed) {
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
                            let line = line_of(text, data.range.start);
                            (Some(first_line + line - 1), given, Editor::None)
                        }),
                    _ => None,
                }
            }
            Place::EnvKey(key) => env_configmap(setting.file).and_then(|cm| {
                yaml.configmap_data(cm, key).map(|data| {
                    let line = line_of(text, data.range.start);
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
                by: by.clone(),
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

    /// The fork fixture, with example/ merging MULTIUSER=true and patching ENABLE_AUTHZ to true,
    /// and a component of it doing the opposite: kustomize applies example/'s generators, then
    /// the component's generators and patches, then example/'s patches (`kubectl kustomize`
    /// gives MULTIUSER false and ENABLE_AUTHZ true).
    #[test]
    fn a_component_applies_between_the_generators_and_the_patches_of_its_kustomization() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().canonicalize().unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fork-pinned-multiuser");
        for entry in walkdir::WalkDir::new(&fixture) {
            let entry = entry.unwrap();
            let to = root.join(entry.path().strip_prefix(&fixture).unwrap());
            if entry.file_type().is_dir() {
                std::fs::create_dir_all(&to).unwrap();
            } else {
                std::fs::copy(entry.path(), &to).unwrap();
            }
        }
        let patch = |value: &str| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ml-pipeline-ui\nspec:\n  template:\n    spec:\n      containers:\n      - name: ml-pipeline-ui\n        env:\n        - name: ENABLE_AUTHZ\n          value: \"{value}\"\n"
            )
        };
        let generator = |value: &str| {
            format!(
                "configMapGenerator:\n- name: pipeline-api-server-config\n  behavior: merge\n  literals:\n  - MULTIUSER={value}\n"
            )
        };
        std::fs::create_dir(root.join("pin")).unwrap();
        std::fs::write(
            root.join("pin/kustomization.yaml"),
            format!(
                "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n{}patches:\n- path: authz.yaml\n",
                generator("false")
            ),
        )
        .unwrap();
        std::fs::write(root.join("pin/authz.yaml"), patch("false")).unwrap();
        std::fs::write(
            root.join("example/kustomization.yaml"),
            format!(
                "resources:\n- ../applications/pipeline/upstream/env/platform-agnostic-multi-user\n{}components:\n- ../pin\npatches:\n- path: authz.yaml\n",
                generator("true")
            ),
        )
        .unwrap();
        std::fs::write(root.join("example/authz.yaml"), patch("true")).unwrap();
        let install = crate::checkout::discover::find_optional(&root, None)
            .unwrap()
            .unwrap();
        let mut reaching = Reaching::new(&install);
        let won: Vec<(u8, String, Option<String>)> =
            winners(&install, &mut reaching, &root.join("example"))
                .into_iter()
                .map(|o| (o.setting.row, o.at(), o.value().map(str::to_string)))
                .collect();
        assert_eq!(
            won,
            [
                (
                    1,
                    "pin/kustomization.yaml:7".to_string(),
                    Some("false".to_string())
                ),
                (
                    6,
                    "example/authz.yaml:11".to_string(),
                    Some("true".to_string())
                ),
            ]
        );
        // Every override of every deploying kustomization, each once.
        let all: Vec<String> = all_overrides(&install, &mut reaching)
            .iter()
            .map(|o| format!("{} {}", o.at(), o.shown_value()))
            .collect();
        assert_eq!(
            all,
            [
                "applications/pipeline/upstream/env/platform-agnostic-multi-user/override.env:2 true",
                "applications/pipeline/upstream/env/platform-agnostic-multi-user/ui-authz-patch.yaml:12 true",
                "example/authz.yaml:11 true",
                "example/kustomization.yaml:7 true",
                "pin/authz.yaml:11 false",
                "pin/kustomization.yaml:7 false",
            ]
        );
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
