//! What git knows about the checkout: the commit and tag an install came from, and whether the
//! files kfpatch is about to write hold somebody's uncommitted work.
//!
//! Each managed file is judged by the repository that contains it: distributions clone upstream
//! inside their own repository (ignored there), copy it into a folder, or add it as a submodule,
//! and the repository around `-C` knows nothing of those files.
//!
//! git2 is built without network support; kfpatch only ever reads the repository. The tag is
//! found by comparing tag targets with HEAD rather than with `git describe`, which walks history
//! and costs tens of milliseconds on kubeflow/manifests.

use std::cell::OnceCell;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use git2::{ErrorCode, ObjectType, Oid, Repository, Tree};

use crate::error::{Failure, Result};

pub struct Checkout {
    repo: Repository,
    workdir: PathBuf,
    /// HEAD's commit, resolved once: each resolution reads HEAD, the branch ref and the config.
    head: OnceCell<Option<Oid>>,
}

impl Checkout {
    /// The git work tree containing `root`: `Ok(None)` only when there is no repository at all.
    /// A repository that exists but cannot be opened (owned by another user, a `.git` file
    /// naming a folder that is gone, a broken `.git`) is an error saying why and what to do, so
    /// that it never passes for "not under version control". libgit2 honours git's
    /// `safe.directory` setting for repositories of other users.
    pub fn open(root: &Path) -> Result<Option<Checkout>> {
        Checkout::open_or_why(root).map_err(|why| why.failure())
    }

    /// [`Checkout::open`], with the reason a repository cannot be read kept apart.
    fn open_or_why(root: &Path) -> std::result::Result<Option<Checkout>, Unreadable> {
        // libgit2 re-hashes every object it reads to check it against its id; git itself does
        // not on reads, and kfpatch only compares ids, so the check is a third of the git work
        // of a `status` for nothing it uses.
        git2::opts::strict_hash_verification(false);
        let repo = match Repository::discover(root) {
            Ok(repo) => repo,
            Err(e) => return unreadable(root, &e),
        };
        let Some(workdir) = repo.workdir() else {
            return Ok(None);
        };
        let workdir = std::fs::canonicalize(workdir).map_err(|e| Unreadable {
            repo: workdir.to_path_buf(),
            reason: format!("its work tree cannot be opened ({e})"),
            repair: None,
        })?;
        Ok(Some(Checkout {
            repo,
            workdir,
            head: OnceCell::new(),
        }))
    }

    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    fn head_commit(&self) -> Option<Oid> {
        *self
            .head
            .get_or_init(|| Some(self.repo.head().ok()?.peel_to_commit().ok()?.id()))
    }

    fn head_tree(&self) -> Option<Tree<'_>> {
        self.repo.find_commit(self.head_commit()?).ok()?.tree().ok()
    }

    /// HEAD's commit id (full), or `None` in a repository without commits.
    pub fn head(&self) -> Option<String> {
        self.head_commit().map(|id| id.to_string())
    }

    /// A tag pointing at HEAD (the first by name), if any.
    ///
    /// Each tag ref is compared by the commit it names without reading tag objects where git
    /// already recorded it: a packed ref carries its peeled commit, and a lightweight tag names the
    /// commit itself. Only a loose annotated tag is peeled by reading its object, and an object
    /// header tells which one a loose ref is. A fork's HEAD is usually not tagged, so every tag
    /// is looked at: this keeps that case as cheap as the tagged one.
    pub fn head_tag(&self) -> Option<String> {
        let head = self.head_commit()?;
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
        let tree = self.head_tree()?;
        let entry = tree.get_path(rel).ok()?;
        let blob = entry.to_object(&self.repo).ok()?.peel_to_blob().ok()?;
        Some(blob.content().to_vec())
    }

    /// For each file (absolute, inside the work tree): committed (and whether its bytes differ
    /// from HEAD's), never committed, or ignored. The file is hashed as a blob and compared by
    /// object id, so the committed blob is never inflated, and HEAD's tree is looked up once.
    pub fn tracked(&self, paths: &[PathBuf]) -> Vec<Tracked> {
        let mut folders = Folders {
            root: self.head_tree(),
            below: Vec::new(),
        };
        paths
            .iter()
            .map(|path| {
                let rel = path.strip_prefix(&self.workdir).ok();
                let committed = rel.and_then(|rel| {
                    let folder = folders.tree(&self.repo, rel.parent()?)?;
                    Some(folder.get_name_bytes(rel.file_name()?.as_bytes())?.id())
                });
                match committed {
                    Some(id) => Tracked::Committed {
                        modified: git2::Oid::hash_file(ObjectType::Blob, path).ok() != Some(id),
                    },
                    None if rel.is_some_and(|rel| self.is_ignored(rel)) => Tracked::Ignored,
                    None => Tracked::NotCommitted,
                }
            })
            .collect()
    }

    /// The highest folder between the work tree and `path` (absolute) that the repository
    /// ignores, if any.
    pub fn ignored_folder(&self, path: &Path) -> Option<PathBuf> {
        let rel = path.strip_prefix(&self.workdir).ok()?;
        let mut at = PathBuf::new();
        for component in rel.components() {
            at.push(component);
            if self.is_ignored(&at) {
                return Some(self.workdir.join(&at));
            }
        }
        None
    }

    fn is_ignored(&self, rel: &Path) -> bool {
        self.repo.is_path_ignored(rel).unwrap_or(false)
    }

    pub fn repository(&self) -> &Repository {
        &self.repo
    }
}

/// HEAD's folders, each looked up once: the managed files share every folder down to the
/// install, and a lookup from the root reads each of those trees again.
struct Folders<'r> {
    root: Option<Tree<'r>>,
    below: Vec<(PathBuf, Option<Tree<'r>>)>,
}

impl<'r> Folders<'r> {
    /// The tree of `folder` (relative to the work tree) at HEAD, if HEAD has that folder.
    fn tree(&mut self, repo: &'r Repository, folder: &Path) -> Option<Tree<'r>> {
        let Some(parent) = folder.parent() else {
            return self.root.clone();
        };
        if let Some((_, known)) = self.below.iter().find(|(f, _)| f == folder) {
            return known.clone();
        }
        let tree = self.tree(repo, parent).and_then(|parent| {
            let entry = parent.get_name_bytes(folder.file_name()?.as_bytes())?;
            entry.to_object(repo).ok()?.into_tree().ok()
        });
        self.below.push((folder.to_path_buf(), tree.clone()));
        tree
    }
}

/// Why a repository cannot be read: the commands that write stop on it ([`Unreadable::failure`]),
/// `status` shows it on its `git:` line ([`Unreadable::summary`]).
#[derive(Debug, Clone)]
pub struct Unreadable {
    repo: PathBuf,
    reason: String,
    /// What makes it readable; the commands that write can also do without it (--allow-dirty).
    repair: Option<String>,
}

impl Unreadable {
    pub fn failure(&self) -> Failure {
        let fix = match &self.repair {
            Some(repair) => format!("{repair}; or pass --allow-dirty to write without the check"),
            None => "pass --allow-dirty to write without the check".to_string(),
        };
        Failure::new(format!(
            "cannot read the git repository of {}: {}, so kfpatch cannot tell whether the files hold uncommitted work\n  fix: {fix}\nnothing was written",
            self.repo.display(),
            self.reason
        ))
    }

    /// One line: `not read: REPO: REASON; REPAIR`.
    pub fn summary(&self) -> String {
        let mut line = format!("not read: {}: {}", self.repo.display(), self.reason);
        if let Some(repair) = &self.repair {
            line.push_str(&format!("; {repair}"));
        }
        line
    }
}

/// Why the repository around `root` cannot be opened; `Ok(None)` when there is none: libgit2
/// found no repository and no `.git` sits in `root` or above it on the same file system.
fn unreadable(root: &Path, e: &git2::Error) -> std::result::Result<Option<Checkout>, Unreadable> {
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
        return Err(Unreadable {
            repo: root.to_path_buf(),
            reason: e.message().to_string(),
            repair: None,
        });
    };
    let repo = dot_git.parent().unwrap_or(root).to_path_buf();
    if e.code() == ErrorCode::Owner {
        // libgit2 checks the owner as git does: a repository of another user is read only when
        // git's safe.directory setting names it.
        let owner = std::fs::metadata(&dot_git).map_or(0, |m| m.uid());
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        let repair = format!(
            "if you trust it, git config --global --add safe.directory {}",
            repo.display()
        );
        return Err(Unreadable {
            repo,
            reason: format!(
                "it belongs to uid {owner} and kfpatch runs as uid {me}; git refuses such repositories (\"detected dubious ownership\")"
            ),
            repair: Some(repair),
        });
    }
    let named = std::fs::read_to_string(&dot_git)
        .ok()
        .and_then(|text| Some(text.strip_prefix("gitdir:")?.trim().to_string()));
    if let Some(named) = named
        && !repo.join(&named).exists()
    {
        return Err(Unreadable {
            repo,
            reason: format!(
                "{} names the git folder {named}, which does not exist (a moved or deleted worktree?)",
                dot_git.display()
            ),
            repair: Some("run git worktree repair in the main checkout".to_string()),
        });
    }
    Err(Unreadable {
        repo,
        reason: format!(
            "{} is not a git repository ({})",
            dot_git.display(),
            e.message()
        ),
        repair: Some(format!("repair or remove {}", dot_git.display())),
    })
}

/// Where git stands on one managed file, in the repository that contains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    /// HEAD has the file; `modified` when the bytes on disk differ from HEAD's.
    Committed { modified: bool },
    /// On disk, not in HEAD and not ignored: somebody's work that was never committed.
    NotCommitted,
    /// Ignored by the repository (an upstream clone or copy inside a distribution whose
    /// `.gitignore` names it): no repository tracks it, as in a checkout without git.
    Ignored,
}

/// The managed files of an install, grouped by the repository that contains each.
pub struct Holding {
    /// `None`: no repository around these files.
    pub checkout: Option<Checkout>,
    pub files: Vec<PathBuf>,
}

/// Groups `files` (absolute, below `install_dir`) by the repository that contains each. The
/// repository is found from the install folder, so a nested clone, a submodule or a linked
/// worktree answers, not the repository around `-C`; a file is given its own repository only
/// when a folder between it and the install holds a `.git` (one `stat` per folder, so `status`
/// does not open a repository per file). A repository that cannot be read is an error
/// ([`Checkout::open`]).
pub fn holding(install_dir: &Path, files: &[PathBuf]) -> Result<Vec<Holding>> {
    holding_or_why(install_dir, files).map_err(|why| why.failure())
}

/// [`holding`], with the reason a repository cannot be read kept apart (for `status`).
pub fn holding_or_why(
    install_dir: &Path,
    files: &[PathBuf],
) -> std::result::Result<Vec<Holding>, Unreadable> {
    let mut groups: Vec<(PathBuf, Holding)> = Vec::new();
    for file in files {
        let key = file
            .ancestors()
            .skip(1)
            .take_while(|dir| *dir != install_dir && dir.starts_with(install_dir))
            .find(|dir| dir.join(".git").exists())
            .unwrap_or(install_dir)
            .to_path_buf();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.files.push(file.clone()),
            None => groups.push((
                key.clone(),
                Holding {
                    checkout: Checkout::open_or_why(&key)?,
                    files: vec![file.clone()],
                },
            )),
        }
    }
    Ok(groups.into_iter().map(|(_, group)| group).collect())
}
