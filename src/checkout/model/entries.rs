//! The entries of one kustomization, as every reader sees them: the folders and files it builds
//! on (`resources`, `bases`, `components`), the files its fields read (patches of every form,
//! generators' `files`/`envs`/`env`, `replacements`, `transformers`/`generators`/`validators`,
//! `configurations`, `crds`) and the text it holds inline, each with the line it is written on.
//! Every reader of kustomization files (which kustomization a command renders, which remote
//! bases a render needs, what deploys the install, the overrides above it) lists entries here,
//! from a kustomization the model read ([`super::load`], through `safe_read`), so that no reader
//! covers a field another skips.

use std::path::Path;

use yaml_serde::Value;

use super::Loaded;
use crate::checkout::kustomization::is_remote;
use crate::syntax::{seq, strings};

/// What an entry is to kustomize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `resources` or `bases` entry (kustomize reads `bases` as resources): a folder to build,
    /// a file of objects, or a remote URL.
    Resource,
    /// A `components` entry: a folder of `kind: Component`, or a remote URL.
    Component,
    /// A file a field reads: a patch, a generator's file or env file, replacements, a plugin's
    /// configuration, a `configurations` or `crds` file.
    File,
    /// Text written in the kustomization itself: an inline patch, replacement or plugin.
    Inline,
}

/// One entry of a kustomization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The field it is written in (`resources`, `patches`, `configMapGenerator`, ...).
    pub key: &'static str,
    pub kind: Kind,
    /// The path or URL as written (for a generator's `KEY=path`, the path), or the inline text.
    pub text: &'a str,
    /// 1-based, in the kustomization file.
    pub line: usize,
}

impl Entry<'_> {
    /// A resource or component kustomize fetches over the network (the one rule, [`is_remote`]).
    pub fn is_remote(&self) -> bool {
        matches!(self.kind, Kind::Resource | Kind::Component) && is_remote(self.text)
    }
}

/// The fields whose string entries are files or inline plugin configurations.
const FILE_LISTS: &[&str] = &[
    "transformers",
    "generators",
    "validators",
    "configurations",
    "crds",
];

/// Every entry of `k`, field by field (an inline replacement names no file and is left out).
pub fn entries(k: &Loaded) -> Vec<Entry<'_>> {
    let mut lines = Lines::new(&k.text);
    let mut out = Vec::new();
    for (key, kind) in [
        ("resources", Kind::Resource),
        ("bases", Kind::Resource),
        ("components", Kind::Component),
    ] {
        lines.section(key);
        for entry in strings(k.value.get(key)) {
            out.push(Entry {
                key,
                kind,
                text: entry,
                line: lines.find(entry),
            });
        }
    }
    for key in ["configMapGenerator", "secretGenerator"] {
        lines.section(key);
        for g in seq(k.value.get(key)) {
            if let Some(name) = g.get("name").and_then(Value::as_str) {
                lines.find(name);
            }
            // Within a generator, `envs` and `files` come in either order.
            let start = lines.at;
            let envs = strings(g.get("envs")).chain(g.get("env").and_then(Value::as_str));
            let files = strings(g.get("files")).map(|f| f.split_once('=').map_or(f, |(_, p)| p));
            for file in envs.chain(files) {
                lines.at = start;
                out.push(Entry {
                    key,
                    kind: Kind::File,
                    text: file,
                    line: lines.find(file),
                });
            }
        }
    }
    lines.section("patchesStrategicMerge");
    for p in strings(k.value.get("patchesStrategicMerge")) {
        out.push(file_or_inline("patchesStrategicMerge", p, &mut lines));
    }
    for key in ["patches", "patchesJson6902", "replacements"] {
        lines.section(key);
        for p in seq(k.value.get(key)) {
            let path = p.get("path").and_then(Value::as_str);
            let inline = match key {
                "replacements" => None,
                _ => p.get("patch").and_then(Value::as_str),
            };
            if let Some(path) = path {
                out.push(Entry {
                    key,
                    kind: Kind::File,
                    text: path,
                    line: lines.find(path),
                });
            } else if let Some(inline) = inline {
                out.push(Entry {
                    key,
                    kind: Kind::Inline,
                    text: inline,
                    line: lines.find(first_line(inline)),
                });
            }
        }
    }
    for &key in FILE_LISTS {
        lines.section(key);
        for entry in strings(k.value.get(key)) {
            out.push(file_or_inline(key, entry, &mut lines));
        }
    }
    out
}

/// A string entry that names a file, or (several lines) holds its text.
fn file_or_inline<'a>(key: &'static str, text: &'a str, lines: &mut Lines<'_>) -> Entry<'a> {
    let kind = if text.contains('\n') {
        Kind::Inline
    } else {
        Kind::File
    };
    Entry {
        key,
        kind,
        text,
        line: lines.find(first_line(text)),
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
}

/// Finds the lines of values in document order: each search starts after the previous find, and
/// a section key moves the start to that key's line.
pub struct Lines<'a> {
    lines: Vec<&'a str>,
    at: usize,
}

impl<'a> Lines<'a> {
    pub fn new(text: &'a str) -> Lines<'a> {
        Lines {
            lines: text.lines().collect(),
            at: 0,
        }
    }

    pub fn section(&mut self, key: &str) {
        let head = format!("{key}:");
        if let Some(i) = self.lines.iter().position(|l| l.starts_with(&head)) {
            self.at = i;
        }
    }

    /// The 1-based line of the next line holding `needle` outside a comment (the current line if
    /// none does).
    pub fn find(&mut self, needle: &str) -> usize {
        let hit = self.lines[self.at.min(self.lines.len())..]
            .iter()
            .position(|l| {
                let code = l.split(" #").next().unwrap_or_default();
                !l.trim_start().starts_with('#') && code.contains(needle)
            });
        if let Some(offset) = hit {
            self.at += offset;
        }
        self.at + 1
    }
}

/// The 1-based line of the first line containing `needle` (1 if none).
pub fn line_containing(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(1, |i| i + 1)
}

/// The kustomization of `dir` as the model reads it, the folder made canonical first: `Ok(None)`
/// when the folder (or its kustomization) does not exist.
pub fn load_folder(root: &Path, dir: &Path) -> Result<Option<Loaded>, super::CannotTrace> {
    match dir.canonicalize() {
        Ok(real) => super::load(root, &real, None),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::fs;
    use std::os::unix::ffi::OsStrExt;
    use std::time::{Duration, Instant};

    use super::*;

    fn loaded(text: &str) -> (tempfile::TempDir, Loaded) {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().canonicalize().unwrap();
        fs::create_dir_all(root.join("top")).unwrap();
        fs::write(root.join("top/kustomization.yaml"), text).unwrap();
        let k = load_folder(&root, &root.join("top")).unwrap().unwrap();
        (temp, k)
    }

    #[test]
    fn every_entry_kind_with_its_line() {
        let text = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../base # the base
- https://github.com/kubeflow/manifests/apps/pipeline/upstream/base?ref=v1.8.1
bases:
- ../old
components:
- ../component
configMapGenerator:
- name: pipeline-api-server-config
  behavior: merge
  envs:
  - params.env
  files:
  - KEY=viewer.json
- name: other
  env: other.env
secretGenerator:
- name: s
  files:
  - secret.txt
patchesStrategicMerge:
- ui.yaml
- |-
  apiVersion: v1
  kind: ConfigMap
patches:
- path: p.yaml
- patch: |-
    - op: replace
      path: /data/MULTIUSER
  target:
    kind: ConfigMap
patchesJson6902:
- path: j.yaml
  target:
    kind: Deployment
replacements:
- path: r.yaml
- source:
    kind: ConfigMap
    name: src
  targets: []
transformers:
- t.yaml
generators:
- g.yaml
configurations:
- c.yaml
";
        let (_temp, k) = loaded(text);
        let got: Vec<(&str, Kind, &str, usize)> = entries(&k)
            .iter()
            .map(|e| (e.key, e.kind, e.text, e.line))
            .collect();
        use Kind::*;
        assert_eq!(
            got,
            vec![
                ("resources", Resource, "../base", 4),
                (
                    "resources",
                    Resource,
                    "https://github.com/kubeflow/manifests/apps/pipeline/upstream/base?ref=v1.8.1",
                    5
                ),
                ("bases", Resource, "../old", 7),
                ("components", Component, "../component", 9),
                ("configMapGenerator", File, "params.env", 14),
                ("configMapGenerator", File, "viewer.json", 16),
                ("configMapGenerator", File, "other.env", 18),
                ("secretGenerator", File, "secret.txt", 22),
                ("patchesStrategicMerge", File, "ui.yaml", 24),
                (
                    "patchesStrategicMerge",
                    Inline,
                    "apiVersion: v1\nkind: ConfigMap",
                    26
                ),
                ("patches", File, "p.yaml", 29),
                (
                    "patches",
                    Inline,
                    "- op: replace\n  path: /data/MULTIUSER",
                    31
                ),
                ("patchesJson6902", File, "j.yaml", 36),
                ("replacements", File, "r.yaml", 40),
                ("transformers", File, "t.yaml", 46),
                ("generators", File, "g.yaml", 48),
                ("configurations", File, "c.yaml", 50),
            ]
        );
        let remote: Vec<bool> = entries(&k).iter().map(Entry::is_remote).collect();
        assert_eq!(remote.iter().filter(|r| **r).count(), 1);
        assert!(remote[1]);
        assert!(k.component.eq(&false));
    }

    #[test]
    fn a_component_is_read_as_one() {
        let (_temp, k) = loaded(
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- cm.yaml\n",
        );
        assert!(k.component);
        assert_eq!(
            entries(&k),
            vec![Entry {
                key: "resources",
                kind: Kind::Resource,
                text: "cm.yaml",
                line: 4
            }]
        );
    }

    #[test]
    fn a_kustomization_that_is_a_fifo_is_named_at_once() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().canonicalize().unwrap();
        let dir = root.join("overlay");
        fs::create_dir_all(&dir).unwrap();
        let fifo = CString::new(dir.join("kustomization.yaml").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let started = Instant::now();
        let failed = load_folder(&root, &dir).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            failed.shown(),
            "overlay/kustomization.yaml:1: cannot be read: overlay/kustomization.yaml is a FIFO, not a regular file; kfpatch reads and writes regular files only"
        );
    }

    #[test]
    fn a_missing_folder_has_no_kustomization() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().canonicalize().unwrap();
        assert!(load_folder(&root, &root.join("nowhere")).unwrap().is_none());
        fs::create_dir_all(root.join("empty")).unwrap();
        assert!(load_folder(&root, &root.join("empty")).unwrap().is_none());
    }
}
