//! Reading kustomizations offline, as kustomize would build them: the folders a kustomization
//! builds on (`resources`, `bases`, `components`), the ConfigMaps it generates with their
//! `behavior`, and the patches it applies (`patchesStrategicMerge`, `patches` by path or inline,
//! `patchesJson6902`), each with the line it is written on. kfpatch reads these to tell which
//! file decides a managed setting without running a render. The file is read, and its entries
//! listed, by the model's one reader ([`crate::checkout::model::entries`]); this is the view of
//! it that tracing overrides needs.

use std::path::{Path, PathBuf};

use yaml_serde::Value;

use crate::checkout::model::entries::{self, Kind, Lines};
use crate::checkout::model::{CannotTrace, Loaded};

/// The file names kustomize accepts for a kustomization, in the order it looks for them.
pub const KUSTOMIZATION_FILES: &[&str] =
    &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// One kustomization file, read.
#[derive(Debug, Clone)]
pub struct Kustomization {
    /// The folder, canonical.
    pub dir: PathBuf,
    /// The file, relative to the checkout root.
    pub shown: String,
    pub text: String,
    /// Local folders it builds on, canonical, with the line of each entry.
    pub bases: Vec<(PathBuf, usize)>,
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

/// Reads the kustomization in `dir` through the model's one reader ([`entries::load_folder`]:
/// bounded, a FIFO or device refused): `Ok(None)` when the folder has none, the file and line and
/// why when it cannot be read or is not a YAML mapping (kustomize would refuse it too).
pub fn load(dir: &Path, root: &Path) -> Result<Option<Kustomization>, CannotTrace> {
    Ok(entries::load_folder(root, dir)?.map(|k| of(&k)))
}

/// What trace reads of a kustomization the model loaded.
fn of(k: &Loaded) -> Kustomization {
    let all = entries::entries(k);
    // Most entries are files: one `stat` tells, before resolving a folder's real path.
    let bases = all
        .iter()
        .filter(|e| matches!(e.kind, Kind::Resource | Kind::Component) && !e.is_remote())
        .filter_map(|e| {
            let path = k.dir.join(e.text);
            let real = path.is_dir().then(|| path.canonicalize().ok()).flatten()?;
            Some((real, e.line))
        })
        .collect();
    let mut lines = Lines::new(&k.text);
    let mut generators = Vec::new();
    lines.section("configMapGenerator");
    for g in k.seq("configMapGenerator") {
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
    // The patch entries, in the order they are written, each with the `target:` of its item.
    let targets = ["patches", "patchesJson6902"].into_iter().flat_map(|key| {
        k.seq(key)
            .iter()
            .filter(|p| {
                p.get("path").and_then(Value::as_str).is_some()
                    || p.get("patch").and_then(Value::as_str).is_some()
            })
            .map(|p| {
                p.get("target").map(|t| {
                    (
                        t.get("kind").and_then(Value::as_str).map(str::to_string),
                        t.get("name").and_then(Value::as_str).map(str::to_string),
                    )
                })
            })
    });
    let strategic = all
        .iter()
        .filter(|e| e.key == "patchesStrategicMerge")
        .map(|e| (e, None));
    let targeted = all
        .iter()
        .filter(|e| matches!(e.key, "patches" | "patchesJson6902"))
        .zip(targets)
        .map(|(e, t)| (e, Some(t)));
    let patches = strategic
        .chain(targeted)
        .map(|(e, target)| Patch {
            line: e.line,
            source: match e.kind {
                Kind::Inline => PatchSource::Inline(e.text.to_string()),
                _ => PatchSource::File(e.text.to_string()),
            },
            target: target.flatten(),
        })
        .collect();
    Kustomization {
        shown: k.shown.clone(),
        dir: k.dir.clone(),
        text: k.text.clone(),
        bases,
        generators,
        patches,
    }
}

fn strings(v: Option<&Value>) -> impl Iterator<Item = &str> {
    v.and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// kustomize's remote targets: URLs, `github.com/...`, `git@...`, `git::...`.
pub fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("github.com/")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/")
        || entry.starts_with("git@")
        || entry.starts_with("git::")
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn remote_entries() {
        assert!(is_remote(
            "https://github.com/argoproj/argo-workflows/manifests/base/crds/minimal?ref=v3.7.3"
        ));
        assert!(is_remote("github.com/kubeflow/manifests/common?ref=v1.8.0"));
        assert!(is_remote("git::https://example.com/repo.git"));
        assert!(!is_remote(
            "../upstream/env/cert-manager/platform-agnostic-multi-user"
        ));
        assert!(!is_remote("deployment.yaml"));
    }

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
