//! The kustomizations of the checkout that deploy the install, found offline by following
//! `resources`, `bases` and `components`: a distribution builds on the upstream tree it keeps in
//! a folder of its own (`deployments/vanilla` → `awsconfigs/apps/pipeline/base` →
//! `upstream/apps/pipeline/...`), and `--target kfp` prefers its kustomization to upstream's
//! `example/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::checkout::install::{Install, Layout};
use crate::checkout::model::deploying::Found;
use crate::checkout::model::sections::{self, Kustomization};
use crate::checkout::model::{self, CannotTrace};
use crate::checkout::paths::relative;
use crate::checkout::walk;

/// The kubeflow/manifests (or kubeflow/pipelines) root that holds the install: where its
/// `example/` lives. Never above the checkout root.
pub fn manifests_root(install: &Install) -> PathBuf {
    let levels = match install.layout {
        Layout::ManifestsApps | Layout::ManifestsApplications => 6,
        Layout::Pipelines => 5,
        Layout::ManifestsLegacy => 3,
        Layout::Unrecognised => return install.root.clone(),
    };
    match install.dir.ancestors().nth(levels) {
        Some(root) if root.starts_with(&install.root) => root.to_path_buf(),
        _ => install.root.clone(),
    }
}

/// Kustomizations read once each, by folder.
pub struct Graph {
    root: PathBuf,
    install: PathBuf,
    /// In a distribution, only `example/` and the KFP tree of the upstream clone can lead to the
    /// install: the rest of a full kubeflow/manifests clone (cert-manager, Istio, Dex, ...) is
    /// never read. `None` in a plain checkout, whose own kustomizations (a fork's) live in it.
    manifests: Option<PathBuf>,
    example: PathBuf,
    kfp_tree: PathBuf,
    read: BTreeMap<PathBuf, Option<Rc<Kustomization>>>,
    reaches: BTreeMap<PathBuf, bool>,
    /// The kustomizations that could not be read or parsed, in the order met.
    unreadable: Vec<CannotTrace>,
    /// `reaches` holds every folder that builds the install (the model's search, in a plain
    /// checkout): any other does not.
    reaching_known: bool,
}

impl Graph {
    pub fn new(install: &Install) -> Graph {
        let manifests = manifests_root(install);
        Graph {
            root: install.root.clone(),
            install: install.dir.clone(),
            example: manifests.join("example"),
            manifests: (manifests != install.root).then_some(manifests),
            kfp_tree: install.kfp_tree(),
            read: BTreeMap::new(),
            reaches: BTreeMap::new(),
            unreadable: Vec::new(),
            reaching_known: false,
        }
    }

    /// The kustomization of `dir`, read once; `None` when there is none, or when it cannot be
    /// read or parsed (then it is in [`Graph::unreadable`]).
    pub fn get(&mut self, dir: &Path) -> Option<Rc<Kustomization>> {
        if let Some(known) = self.read.get(dir) {
            return known.clone();
        }
        let loaded = match sections::load(dir, &self.root) {
            Ok(k) => k.map(Rc::new),
            Err(c) => {
                self.unreadable.push(c);
                None
            }
        };
        self.read.insert(dir.to_path_buf(), loaded.clone());
        loaded
    }

    /// The kustomizations met so far that cannot be read or parsed: where the search meets one,
    /// whether it deploys the install cannot be told, and the caller names it.
    pub fn unreadable(&self) -> &[CannotTrace] {
        &self.unreadable
    }

    /// Whether building `dir` builds the install.
    pub fn reaches(&mut self, dir: &Path) -> bool {
        if dir == self.install {
            return true;
        }
        if let Some(known) = self.reaches.get(dir) {
            return *known;
        }
        if self.reaching_known {
            return false;
        }
        if self.manifests.as_ref().is_some_and(|m| dir.starts_with(m))
            && !dir.starts_with(&self.kfp_tree)
            && dir != self.example
        {
            return false;
        }
        // A cycle is refused by kustomize; here it only must not loop.
        self.reaches.insert(dir.to_path_buf(), false);
        let Some(k) = self.get(dir) else { return false };
        let found = k.bases.iter().any(|(base, _)| self.reaches(base));
        self.reaches.insert(dir.to_path_buf(), found);
        found
    }

    /// The kustomizations that building `dir` applies above the install, innermost first (the
    /// order kustomize applies their generators and patches in).
    pub fn chain(&mut self, dir: &Path) -> Vec<Rc<Kustomization>> {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        self.collect(dir, &mut seen, &mut out);
        out
    }

    fn collect(&mut self, dir: &Path, seen: &mut Vec<PathBuf>, out: &mut Vec<Rc<Kustomization>>) {
        if dir.starts_with(&self.install) || seen.iter().any(|s| s == dir) || !self.reaches(dir) {
            return;
        }
        seen.push(dir.to_path_buf());
        let Some(k) = self.get(dir) else { return };
        for (base, _) in &k.bases {
            self.collect(base, seen, out);
        }
        out.push(k);
    }
}

/// A kustomization of the checkout that deploys the install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deploy {
    pub dir: PathBuf,
    /// The folder relative to the checkout root.
    pub shown: String,
    /// It builds on the manifests tree directly (not only through another of the checkout's own).
    pub direct: bool,
}

/// The checkout's own kustomizations (outside the manifests root) that deploy the install, by
/// folder. Only searched when the manifests root is not the checkout root: a plain checkout is
/// deployed through its `example/`.
///
/// Distributions keep the upstream tree one or two folders below their own root (`upstream/`,
/// `kubeflow/manifests/`), so the search reads the folder that holds the manifests root, then,
/// if nothing there deploys the install, the folder above it; never above `-C`. The rest of a
/// monorepo the distribution lives in is not read.
pub fn own_deploys(install: &Install, graph: &mut Graph) -> Vec<Deploy> {
    let manifests = manifests_root(install);
    if manifests == install.root {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut done: Option<PathBuf> = None;
    for start in manifests.ancestors().skip(1).take(2) {
        if !start.starts_with(&install.root) {
            break;
        }
        search(
            install,
            graph,
            start,
            &[Some(&manifests), done.as_deref()],
            &mut found,
        );
        if !found.is_empty() {
            break;
        }
        done = Some(start.to_path_buf());
    }
    found.sort_by(|a, b| a.shown.cmp(&b.shown));
    found
}

/// Every kustomization that deploys the install: the checkout's own, then the `example/` of the
/// manifests root when it builds the install. In a plain checkout (a fork, whose own
/// kustomizations live among upstream's), those the model finds building the install
/// ([`crate::checkout::model::deploying::reaching_folders`]) that no other of them builds: `example/`, an overlay of the
/// fork's, an `env/` overlay deployed on its own. `found`: that search, already made.
pub fn deploys(install: &Install, graph: &mut Graph, found: &Found) -> Vec<Deploy> {
    if manifests_root(install) == install.root {
        return plain_deploys(install, graph, found);
    }
    let mut all = own_deploys(install, graph);
    if let Ok(dir) = manifests_root(install).join("example").canonicalize()
        && graph.reaches(&dir)
    {
        all.push(Deploy {
            shown: relative(&install.root, &dir),
            dir,
            direct: true,
        });
    }
    all
}

/// The outermost kustomizations of a plain checkout that build the install.
fn plain_deploys(install: &Install, graph: &mut Graph, found: &Found) -> Vec<Deploy> {
    graph.unreadable.extend(found.unreadable.iter().cloned());
    // The model's answer is exact: the graph need not read a kustomization to tell.
    for dir in &found.all {
        graph.reaches.insert(dir.clone(), true);
    }
    graph.reaching_known = true;
    let mut out: Vec<Deploy> = found
        .outermost
        .iter()
        .cloned()
        .map(|dir| Deploy {
            shown: relative(&install.root, &dir),
            dir,
            direct: true,
        })
        .collect();
    out.sort_by(|a, b| a.shown.cmp(&b.shown));
    out
}

/// The one of the checkout's own kustomizations that builds on the manifests tree directly, if
/// exactly one does: what `--target kfp` means in a distribution.
pub fn own_kfp(deploys: &[Deploy], install: &Install) -> Option<Deploy> {
    let manifests = manifests_root(install);
    let direct: Vec<&Deploy> = deploys
        .iter()
        .filter(|d| d.direct && !d.dir.starts_with(&manifests))
        .collect();
    match direct.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    }
}

/// Reads every kustomization under `start` (skipping the folders in `skip`, `.git`,
/// `node_modules`, `target` and hidden folders) and keeps those that deploy the install.
fn search(
    install: &Install,
    graph: &mut Graph,
    start: &Path,
    skip: &[Option<&Path>],
    found: &mut Vec<Deploy>,
) {
    let manifests = manifests_root(install);
    let skipped = |dir: &Path| {
        dir != start
            && (skip.iter().flatten().any(|s| dir == *s)
                || dir
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.')))
    };
    // Every folder holding a kustomization file of any kind (a FIFO too: reading it is refused
    // and named, never waited on).
    let mut folders = walk::folders(start, Vec::new, |found: &mut Vec<PathBuf>, dir| {
        if skipped(dir) {
            return false;
        }
        if !model::present(dir).is_empty() {
            found.push(dir.to_path_buf());
        }
        true
    });
    folders.sort();
    for dir in folders {
        let Ok(dir) = dir.canonicalize() else {
            continue;
        };
        if found.iter().any(|d| d.dir == dir) || !graph.reaches(&dir) {
            continue;
        }
        let direct = graph.get(&dir).is_some_and(|k| {
            k.bases
                .iter()
                .any(|(base, _)| base.starts_with(&manifests) && graph.reaches(base))
        });
        found.push(Deploy {
            shown: relative(&install.root, &dir),
            dir,
            direct,
        });
    }
}
