//! What git knows about the checkout: the commit and tag an install came from, and whether the
//! files kfpatch is about to write hold somebody's uncommitted work.
//!
//! git2 is built without network support; kfpatch only ever reads the repository. The tag is
//! found by comparing tag targets with HEAD rather than with `git describe`, which walks history
//! and costs tens of milliseconds on kubeflow/manifests.

use std::path::{Path, PathBuf};

use git2::{ObjectType, Repository};

pub struct Checkout {
    repo: Repository,
    workdir: PathBuf,
}

impl Checkout {
    /// The git work tree containing `root`, if any.
    pub fn open(root: &Path) -> Option<Checkout> {
        let repo = Repository::discover(root).ok()?;
        let workdir = std::fs::canonicalize(repo.workdir()?).ok()?;
        Some(Checkout { repo, workdir })
    }

    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// HEAD's commit id (full), or `None` in a repository without commits.
    pub fn head(&self) -> Option<String> {
        let commit = self.repo.head().ok()?.peel_to_commit().ok()?;
        Some(commit.id().to_string())
    }

    /// A tag pointing at HEAD (the first by name), if any.
    ///
    /// Each tag ref is compared by the commit it names without reading tag objects where git
    /// already recorded it: a packed ref carries its peeled commit, and a lightweight tag names the
    /// commit itself. Only a loose annotated tag is peeled by reading its object, and an object
    /// header tells which one a loose ref is. A fork's HEAD is usually not tagged, so every tag
    /// is looked at: this keeps that case as cheap as the tagged one.
    pub fn head_tag(&self) -> Option<String> {
        let head = self.repo.head().ok()?.peel_to_commit().ok()?.id();
        let odb = self.repo.odb().ok()?;
        let mut found: Option<String> = None;
        for reference in self.repo.references_glob("refs/tags/*").ok()?.flatten() {
            let Ok(name) = reference.shorthand() else {
                continue;
            };
            if found.as_deref().is_some_and(|f| f <= name) {
                continue;
            }
            let names_head = match (reference.target_peel(), reference.target()) {
                (Some(peeled), _) => peeled == head,
                (None, Some(target)) if target == head => true,
                (None, Some(target)) => {
                    odb.read_header(target)
                        .is_ok_and(|(_, kind)| kind == ObjectType::Tag)
                        && reference
                            .peel_to_commit()
                            .is_ok_and(|commit| commit.id() == head)
                }
                (None, None) => false,
            };
            if names_head {
                found = Some(name.to_string());
            }
        }
        found
    }

    /// The content of `path` (absolute, inside the work tree) at HEAD; `None` when HEAD does not
    /// have it (untracked or new) or the repository has no commits.
    pub fn at_head(&self, path: &Path) -> Option<Vec<u8>> {
        let rel = path.strip_prefix(&self.workdir).ok()?;
        let tree = self.repo.head().ok()?.peel_to_tree().ok()?;
        let entry = tree.get_path(rel).ok()?;
        let blob = entry.to_object(&self.repo).ok()?.peel_to_blob().ok()?;
        Some(blob.content().to_vec())
    }

    /// For each file (absolute, inside the work tree): whether its bytes differ from HEAD's, or
    /// HEAD does not have it. The file is hashed as a blob and compared by object id, so the
    /// committed blob is never inflated, and HEAD's tree is looked up once.
    pub fn differ_from_head(&self, paths: &[PathBuf]) -> Vec<bool> {
        let tree = self.repo.head().ok().and_then(|h| h.peel_to_tree().ok());
        paths
            .iter()
            .map(|path| {
                let committed = tree.as_ref().and_then(|tree| {
                    let rel = path.strip_prefix(&self.workdir).ok()?;
                    Some(tree.get_path(rel).ok()?.id())
                });
                let current = git2::Oid::hash_file(ObjectType::Blob, path).ok();
                committed.is_none() || committed != current
            })
            .collect()
    }

    pub fn repository(&self) -> &Repository {
        &self.repo
    }
}
