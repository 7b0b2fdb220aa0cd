//! What git knows about the checkout: the commit and tag an install came from, and whether the
//! files kfpatch is about to write hold somebody's uncommitted work.
//!
//! git2 is built without network support; kfpatch only ever reads the repository. The tag is
//! found by comparing tag targets with HEAD rather than with `git describe`, which walks history
//! and costs tens of milliseconds on kubeflow/manifests.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use git2::{ErrorCode, ObjectType, Repository};

use crate::error::{Failure, Result};

pub struct Checkout {
    repo: Repository,
    workdir: PathBuf,
}

impl Checkout {
    /// The git work tree containing `root`: `Ok(None)` only when there is no repository at all.
    /// A repository that exists but cannot be opened (owned by another user, a `.git` file
    /// naming a folder that is gone, a broken `.git`) is an error saying why and what to do, so
    /// that it never passes for "not under version control". libgit2 honours git's
    /// `safe.directory` setting for repositories of other users.
    pub fn open(root: &Path) -> Result<Option<Checkout>> {
        let repo = match Repository::discover(root) {
            Ok(repo) => repo,
            Err(e) => return unreadable(root, &e),
        };
        let Some(workdir) = repo.workdir() else {
            return Ok(None);
        };
        let workdir = std::fs::canonicalize(workdir)
            .map_err(|e| Failure::io("open the git work tree", workdir, &e))?;
        Ok(Some(Checkout { repo, workdir }))
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

/// Why the repository around `root` cannot be opened; `Ok(None)` when there is none: libgit2
/// found no repository and no `.git` sits in `root` or above it on the same file system.
fn unreadable(root: &Path, e: &git2::Error) -> Result<Option<Checkout>> {
    let device = std::fs::metadata(root).map(|m| m.dev()).ok();
    let dot_git = root
        .ancestors()
        .take_while(|dir| std::fs::metadata(dir).map(|m| m.dev()).ok() == device)
        .map(|dir| dir.join(".git"))
        .find(|path| path.symlink_metadata().is_ok());
    let Some(dot_git) = dot_git else {
        if e.code() == ErrorCode::NotFound {
            return Ok(None);
        }
        return Err(cannot_read(
            root,
            e.message(),
            "pass --allow-dirty to write without the check",
        ));
    };
    let repo = dot_git.parent().unwrap_or(root);
    if e.code() == ErrorCode::Owner {
        let owner = std::fs::metadata(&dot_git).map_or(0, |m| m.uid());
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        return Err(cannot_read(
            repo,
            &format!(
                "it belongs to uid {owner} and kfpatch runs as uid {me}; git refuses such repositories (\"detected dubious ownership\")"
            ),
            &format!(
                "if you trust it, git config --global --add safe.directory {}; or pass --allow-dirty to write without the check",
                repo.display()
            ),
        ));
    }
    let named = std::fs::read_to_string(&dot_git)
        .ok()
        .and_then(|text| Some(text.strip_prefix("gitdir:")?.trim().to_string()));
    if let Some(named) = named
        && !repo.join(&named).exists()
    {
        return Err(cannot_read(
            repo,
            &format!(
                "{} names the git folder {named}, which does not exist (a moved or deleted worktree?)",
                dot_git.display()
            ),
            "run git worktree repair in the main checkout, or pass --allow-dirty to write without the check",
        ));
    }
    Err(cannot_read(
        repo,
        &format!(
            "{} is not a git repository ({})",
            dot_git.display(),
            e.message()
        ),
        &format!(
            "repair or remove {}, or pass --allow-dirty to write without the check",
            dot_git.display()
        ),
    ))
}

fn cannot_read(repo: &Path, reason: &str, fix: &str) -> Failure {
    Failure::new(format!(
        "cannot read the git repository of {}: {reason}, so kfpatch cannot tell whether the files hold uncommitted work\n  fix: {fix}\nnothing was written",
        repo.display()
    ))
}
