//! A kustomization's sections as the readers of overrides use them, from the model's read of it
//! ([`super::load`]): the folders it builds on (`resources`, `bases`, `components`), the
//! ConfigMaps it generates with their `behavior`, and the patches it applies
//! (`patchesStrategicMerge`, `patches` by path or inline, `patchesJson6902`), each with the line
//! it is written on, so an override can be named and switched where it is written.

use std::path::{Path, PathBuf};

use yaml_serde::Value;

use super::entries::Lines;
use super::{CannotTrace, Loaded};
use crate::syntax::{seq, strings};

/// One kustomization file, read.
#[derive(Debug, Clone)]
pub struct Kustomization {
    /// The folder, canonical.
    pub dir: PathBuf,
    /// The file, relative to the checkout root.
    pub shown: String,
    pub text: String,
    /// Local folders it builds on, canonical, with the line of each entry (components too).
    pub bases: Vec<(PathBuf, usize)>,
    /// The folders of its `components`, canonical: their generators and patches apply to its
    /// build after its own generators, before its own patches.
    pub components: Vec<PathBuf>,
    pub generators: Vec<Generator>,
    pub patches: Vec<Patch>,
}

/// `configMapGenerator` `behavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Create,
    Merge,
    Replace,
}

impl Behavior {
    pub fn word(self) -> &'static str {
        match self {
            Behavior::Create => "create",
            Behavior::Merge => "merge",
            Behavior::Replace => "replace",
        }
    }
}

/// A `configMapGenerator` entry.
#[derive(Debug, Clone)]
pub struct Generator {
    pub name: String,
    pub behavior: Behavior,
    pub line: usize,
    /// `KEY=VALUE` literals, with their lines.
    pub literals: Vec<(String, String, usize)>,
    /// `envs:`/`env:` files (relative to the kustomization), with their lines.
    pub envs: Vec<(String, usize)>,
    /// `files:` entries: the key and the file, with their lines.
    pub files: Vec<(String, String, usize)>,
}

/// Where a patch's text comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchSource {
    /// A file relative to the kustomization.
    File(String),
    /// Text written in the kustomization itself.
    Inline(String),
}

/// A patch of any kind.
#[derive(Debug, Clone)]
pub struct Patch {
    pub line: usize,
    pub source: PatchSource,
    /// `target:` kind and name, where given (`patches:`, `patchesJson6902:`).
    pub target: Option<(Option<String>, Option<String>)>,
}

/// Reads the kustomization in `dir` through the model's reader; `None` when there is none, and
/// the file and why when the model cannot read it.
pub fn load(dir: &Path, root: &Path) -> Result<Option<Kustomization>, CannotTrace> {
    let Ok(dir) = dir.canonicalize() else {
        return Ok(None);
    };
    Ok(super::load(root, &dir, None)?.map(|loaded| of(&loaded)))
}

/// The sections of a kustomization the model has read.
pub fn of(loaded: &Loaded) -> Kustomization {
    of_resolved(loaded, |dir, entry| {
        // Most entries are files: one `stat` tells, before resolving a folder's real path.
        let path = dir.join(entry);
        if !path.is_dir() {
            return None;
        }
        Some((path.canonicalize().ok()?, true))
    })
}

/// [`of`], each entry's real path and whether it is a folder told by `resolve` (the model's:
/// read once for every reader).
pub fn of_resolved(
    loaded: &Loaded,
    mut resolve: impl FnMut(&Path, &str) -> Option<(PathBuf, bool)>,
) -> Kustomization {
    let dir = loaded.dir.clone();
    let text = loaded.text.clone();
    let value = &loaded.value;
    let mut lines = Lines::new(&text);
    let mut bases = Vec::new();
    let mut components = Vec::new();
    for key in ["resources", "bases", "components"] {
        lines.section(key);
        for entry in strings(value.get(key)) {
            let line = lines.find(entry);
            if let Some((real, true)) = resolve(&dir, entry) {
                if key == "components" {
                    components.push(real.clone());
                }
                bases.push((real, line));
            }
        }
    }
    let mut generators = Vec::new();
    lines.section("configMapGenerator");
    for g in seq(value.get("configMapGenerator")) {
        let Some(name) = g.get("name").and_then(Value::as_str) else {
            continue;
        };
        let line = lines.find(name);
        let behavior = match g.get("behavior").and_then(Value::as_str) {
            Some("merge") => Behavior::Merge,
            Some("replace") => Behavior::Replace,
            _ => Behavior::Create,
        };
        let literals = strings(g.get("literals"))
            .filter_map(|l| {
                let (k, v) = l.split_once('=')?;
                Some((k.to_string(), v.to_string(), lines.find(l)))
            })
            .collect();
        let envs = strings(g.get("envs"))
            .chain(g.get("env").and_then(Value::as_str))
            .map(|e| (e.to_string(), lines.find(e)))
            .collect();
        let files = strings(g.get("files"))
            .map(|f| {
                let (key, path) = match f.split_once('=') {
                    Some((k, p)) => (k.to_string(), p.to_string()),
                    None => (
                        Path::new(f)
                            .file_name()
                            .map_or(f.to_string(), |n| n.to_string_lossy().into_owned()),
                        f.to_string(),
                    ),
                };
                (key, path, lines.find(f))
            })
            .collect();
        generators.push(Generator {
            name: name.to_string(),
            behavior,
            line,
            literals,
            envs,
            files,
        });
    }
    let mut patches = Vec::new();
    lines.section("patchesStrategicMerge");
    for p in seq(value.get("patchesStrategicMerge")) {
        let Some(text) = p.as_str() else { continue };
        // An entry is a file name, or (old style) the patch itself.
        let source = if text.contains('\n') {
            PatchSource::Inline(text.to_string())
        } else {
            PatchSource::File(text.to_string())
        };
        let line = lines.find(text.lines().next().unwrap_or_default());
        patches.push(Patch {
            line,
            source,
            target: None,
        });
    }
    for key in ["patches", "patchesJson6902"] {
        lines.section(key);
        for p in seq(value.get(key)) {
            let target = p.get("target").map(|t| {
                (
                    t.get("kind").and_then(Value::as_str).map(str::to_string),
                    t.get("name").and_then(Value::as_str).map(str::to_string),
                )
            });
            let (source, needle) = match (
                p.get("path").and_then(Value::as_str),
                p.get("patch").and_then(Value::as_str),
            ) {
                (Some(path), _) => (PatchSource::File(path.to_string()), path.to_string()),
                (None, Some(inline)) => (
                    PatchSource::Inline(inline.to_string()),
                    inline.lines().next().unwrap_or_default().to_string(),
                ),
                _ => continue,
            };
            patches.push(Patch {
                line: lines.find(&needle),
                source,
                target,
            });
        }
    }
    Kustomization {
        shown: loaded.shown.clone(),
        dir,
        text,
        bases,
        components,
        generators,
        patches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn reads_generators_patches_and_bases_with_lines() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().canonicalize().unwrap();
        fs::create_dir_all(root.join("base")).unwrap();
        fs::create_dir_all(root.join("top")).unwrap();
        fs::write(root.join("base/kustomization.yaml"), "resources: []\n").unwrap();
        fs::write(
            root.join("top/kustomization.yaml"),
            "bases:\n- ../base\n- https://example.com/x?ref=1\nconfigMapGenerator:\n- name: ml-pipeline-ui-configmap\n  behavior: replace\n  files:\n  - viewer-pod-template.json\n- name: pipeline-api-server-config\n  behavior: merge\n  literals:\n  - MULTIUSER=false # note\n  envs:\n  - params.env\npatchesStrategicMerge:\n- ui.yaml\npatches:\n- path: p.yaml\n  target:\n    kind: Deployment\n    name: ml-pipeline-ui\n- patch: |-\n    - op: replace\n      path: /data/MULTIUSER\n      value: 'true'\n",
        )
        .unwrap();
        let k = load(&root.join("top"), &root).unwrap().unwrap();
        assert_eq!(k.shown, "top/kustomization.yaml");
        assert_eq!(k.bases, vec![(root.join("base"), 2)]);
        assert_eq!(k.generators.len(), 2);
        let ui = &k.generators[0];
        assert_eq!((ui.behavior, ui.line), (Behavior::Replace, 5));
        assert_eq!(
            ui.files,
            vec![(
                "viewer-pod-template.json".to_string(),
                "viewer-pod-template.json".to_string(),
                8
            )]
        );
        let api = &k.generators[1];
        assert_eq!(
            api.literals,
            vec![("MULTIUSER".to_string(), "false".to_string(), 12)]
        );
        assert_eq!(api.envs, vec![("params.env".to_string(), 14)]);
        let lines: Vec<usize> = k.patches.iter().map(|p| p.line).collect();
        // An inline patch's line is that of its first line of text.
        assert_eq!(lines, vec![16, 18, 23]);
        assert_eq!(
            k.patches[1].target,
            Some((
                Some("Deployment".to_string()),
                Some("ml-pipeline-ui".to_string())
            ))
        );
        assert!(
            matches!(&k.patches[2].source, PatchSource::Inline(t) if t.contains("/data/MULTIUSER"))
        );
    }
}
