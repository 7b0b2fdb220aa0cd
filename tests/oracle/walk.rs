//! Which folders a kustomization reads: the harness's own small walk over `resources`, `bases`
//! and `components` (local folders only). It decides which kustomizations deploy the install
//! (kfpatch must list every one) and which files a render depends on (to reuse a render of
//! unchanged upstream files); the values themselves always come from kustomize.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use yaml_serde::Value;

pub const KUSTOMIZATION_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The kustomization file of folder `dir` (relative to `root`), if it has one.
pub fn kustomization_file(root: &Path, dir: &str) -> Option<String> {
    KUSTOMIZATION_NAMES
        .iter()
        .map(|name| join(dir, name))
        .find(|file| root.join(file).is_file())
}

/// `dir/entry` with `.` and `..` resolved by name; `None` when it leaves the root.
pub fn normalize(dir: &str, entry: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in dir.split('/').chain(entry.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The local folders `dir`'s kustomization names under `resources`, `bases` and `components`.
fn children(root: &Path, dir: &str) -> Vec<String> {
    let Some(file) = kustomization_file(root, dir) else {
        return Vec::new();
    };
    let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
    let Ok(value) = yaml_serde::from_str::<Value>(&text) else {
        return Vec::new();
    };
    ["resources", "bases", "components"]
        .iter()
        .filter_map(|field| value.get(*field).and_then(Value::as_sequence))
        .flatten()
        .filter_map(Value::as_str)
        .filter(|entry| !entry.contains("://") && !entry.starts_with("git@"))
        .filter_map(|entry| normalize(dir, entry.trim()))
        .filter(|path| root.join(path).is_dir())
        .collect()
}

/// The kustomization graph of one checkout, each folder's kustomization read once.
pub struct Graph<'a> {
    root: &'a Path,
    children: HashMap<String, Vec<String>>,
}

impl<'a> Graph<'a> {
    pub fn new(root: &'a Path) -> Graph<'a> {
        Graph {
            root,
            children: HashMap::new(),
        }
    }

    /// Every folder the build of `dir` reads, `dir` included.
    pub fn reachable(&mut self, dir: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![dir.to_string()];
        while let Some(next) = todo.pop() {
            if seen.insert(next.clone()) {
                let root = self.root;
                todo.extend(
                    self.children
                        .entry(next.clone())
                        .or_insert_with(|| children(root, &next))
                        .iter()
                        .cloned(),
                );
            }
        }
        seen
    }
}

/// Whether `path` (a file or folder) lies in folder `dir` or below it.
pub fn under(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || path.starts_with(&format!("{dir}/"))
}

/// Every folder of the checkout with a kustomization file, outside `install` and below it,
/// whose build reads `install`: the kustomizations that deploy it.
pub fn deploying(root: &Path, install: &str) -> Vec<String> {
    let mut graph = Graph::new(root);
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_dir())
    {
        let rel = entry
            .path()
            .strip_prefix(root)
            .expect("under the root")
            .to_string_lossy()
            .into_owned();
        if under(&rel, install) || kustomization_file(root, &rel).is_none() {
            continue;
        }
        if graph.reachable(&rel).contains(install) {
            found.push(rel);
        }
    }
    found.sort();
    found
}
