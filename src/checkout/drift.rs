//! Drift: what changed in the KFP tree since a git ref, for `audit --against REF`.
//!
//! Forks of kubeflow/manifests live for years; before an upgrade the question is not "which lines
//! differ" (git answers that) but "which settings did we change". So the REF tree is compared with
//! the work tree (committed, staged, unstaged and untracked files alike: the cluster gets what is
//! on disk) under the KFP tree only, and every changed file that kfpatch understands is read on
//! both sides with the catalogue readers and reported as settings (`MULTIUSER: true → false`).
//! Everything else is file-level drift.
//!
//! A missing REF is the common failure on real clones (shallow CI checkouts, tags not fetched,
//! `v26.03` for a tag that lost its `v`), so that error says which of these it probably is.

use std::collections::BTreeMap;
use std::path::Path;

use git2::{Delta, DiffOptions, ObjectType, Repository, Tree};
use serde::Serialize;

use crate::checkout::catalogue::{self, CATALOGUE, Reading};
use crate::checkout::git::Checkout;
use crate::checkout::install::Install;
use crate::checkout::parsed::Parsed;
use crate::checkout::paths;
use crate::error::{Failure, Result};
use crate::syntax::envfile::EnvFile;

/// The drift of the KFP tree since `reference`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// REF as given on the command line.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The commit REF resolves to (full id).
    pub commit: String,
    /// The KFP tree compared, relative to the `-C` folder.
    pub tree: String,
    pub files: Vec<DriftFile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileChange {
    Added,
    Removed,
    Modified,
}

impl FileChange {
    pub fn word(self) -> &'static str {
        match self {
            FileChange::Added => "added",
            FileChange::Removed => "removed",
            FileChange::Modified => "modified",
        }
    }
}

/// One file that differs from REF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftFile {
    /// Relative to the `-C` folder.
    pub file: String,
    pub change: FileChange,
    /// The settings that changed, for files kfpatch understands (empty otherwise).
    pub settings: Vec<SettingChange>,
    /// Why a file kfpatch understands could not be decoded, if it could not.
    pub note: Option<String>,
}

/// A setting whose value differs between REF and the work tree. `None` means absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingChange {
    pub setting: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Compares REF with the work tree under the install's KFP tree.
pub fn against(install: &Install, reference: &str) -> Result<Drift> {
    // The repository that holds the install: a nested clone or submodule has the upstream tags.
    let Some(checkout) = Checkout::open(&install.dir)? else {
        return Err(Failure::new(format!(
            "--against {reference}: {} is not inside a git repository; drift is measured against git history (run kfpatch in a clone of kubeflow/manifests or kubeflow/pipelines)",
            install.root.display()
        )));
    };
    if let Some(folder) = checkout.ignored_folder(&install.dir) {
        return Err(Failure::new(format!(
            "--against {reference}: {} is not under version control: {}/ is ignored by the git repository at {}, so it has no history to compare with; clone upstream there with its history (git clone --branch TAG https://github.com/kubeflow/manifests), or commit the folder",
            install.rel,
            paths::relative(&install.root, &folder),
            if checkout.workdir().starts_with(&install.root) {
                paths::relative(&install.root, checkout.workdir())
            } else {
                checkout.workdir().display().to_string()
            }
        )));
    }
    let repo = checkout.repository();
    let commit = resolve(repo, checkout.workdir(), reference)?;
    let ref_tree = commit
        .tree()
        .map_err(|e| Failure::new(format!("--against {reference}: cannot read its tree: {e}")))?;
    let kfp_tree = install.kfp_tree();
    let tree_in_repo = paths::relative(checkout.workdir(), &kfp_tree);
    let mut options = DiffOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_typechange(true)
        .disable_pathspec_match(true);
    if tree_in_repo != "." {
        options.pathspec(&tree_in_repo);
    }
    let diff = repo
        .diff_tree_to_workdir_with_index(Some(&ref_tree), Some(&mut options))
        .map_err(|e| {
            Failure::new(format!(
                "--against {reference}: git cannot compare it with the work tree: {}",
                e.message()
            ))
        })?;
    let mut files = Vec::new();
    for delta in diff.deltas() {
        let change = match delta.status() {
            Delta::Added | Delta::Untracked => FileChange::Added,
            Delta::Deleted => FileChange::Removed,
            Delta::Modified
            | Delta::Renamed
            | Delta::Copied
            | Delta::Typechange
            | Delta::Conflicted => FileChange::Modified,
            Delta::Unmodified | Delta::Ignored | Delta::Unreadable => continue,
        };
        let Some(path) = delta.new_file().path().or(delta.old_file().path()) else {
            continue;
        };
        let absolute = checkout.workdir().join(path);
        // The pathspec is a literal prefix, so `apps/pipeline` also matches `apps/pipelines-x`.
        if !absolute.starts_with(&kfp_tree) {
            continue;
        }
        let (settings, note) = decode(install, repo, &ref_tree, path, &absolute, change)?;
        files.push(DriftFile {
            file: paths::relative(&install.root, &absolute),
            change,
            settings,
            note,
        });
    }
    files.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(Drift {
        reference: reference.to_string(),
        commit: commit.id().to_string(),
        tree: paths::relative(&install.root, &kfp_tree),
        files,
    })
}

fn resolve<'r>(repo: &'r Repository, workdir: &Path, reference: &str) -> Result<git2::Commit<'r>> {
    let object = repo
        .revparse_single(reference)
        .map_err(|_| missing_ref(repo, workdir, reference))?;
    let commit = object.peel(ObjectType::Commit).map_err(|_| {
        Failure::new(format!(
            "--against {reference}: names a {}, not a commit; give a tag, branch or commit",
            object.kind().map_or("git object", |k| k.str())
        ))
    })?;
    commit
        .into_commit()
        .map_err(|_| Failure::new(format!("--against {reference}: not a commit")))
}

/// The error for a REF git does not know, with the likely reason.
fn missing_ref(repo: &Repository, workdir: &Path, reference: &str) -> Failure {
    let exists = |name: &str| repo.revparse_single(name).is_ok();
    let mut guessed = true;
    let mut message = format!(
        "--against {reference}: the repository at {} has no tag, branch or commit {reference}",
        workdir.display()
    );
    let without_v = reference
        .strip_prefix('v')
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    if let Some(rest) = without_v.filter(|rest| exists(rest)) {
        message.push_str(&format!(
            "\n  did you mean {rest}? kubeflow/manifests release tags lost their 'v' after v1.11.0 (26.03)"
        ));
    } else if reference.starts_with(|c: char| c.is_ascii_digit())
        && exists(&format!("v{reference}"))
    {
        message.push_str(&format!(
            "\n  did you mean v{reference}? kubeflow/manifests release tags up to v1.11.0 start with 'v'"
        ));
    } else {
        guessed = false;
        if reference.starts_with(|c: char| c.is_ascii_digit()) || without_v.is_some() {
            message.push_str("\n  note: kubeflow/manifests release tags up to v1.11.0 start with 'v' (v1.8.1); later ones do not (26.03)");
        }
    }
    if repo.is_shallow() {
        message.push_str(&format!(
            "\n  this is a shallow clone, so older commits and most tags are not present: fetch the ref (git fetch --depth=1 origin tag {reference}) or the whole history (git fetch --unshallow --tags)"
        ));
    } else if !guessed {
        message.push_str(
            "\n  if it is a tag or branch of upstream, fetch it first (git fetch --tags upstream)",
        );
    }
    Failure::new(message)
}

/// The settings that changed in one file, when kfpatch understands the file.
fn decode(
    install: &Install,
    repo: &Repository,
    ref_tree: &Tree<'_>,
    path_in_repo: &Path,
    absolute: &Path,
    change: FileChange,
) -> Result<(Vec<SettingChange>, Option<String>)> {
    let Ok(in_install) = absolute.strip_prefix(&install.dir) else {
        return Ok((Vec::new(), None));
    };
    let file = paths::relative(Path::new(""), in_install);
    let Some(known) = CATALOGUE.iter().find(|s| s.file == file).map(|s| s.file) else {
        return Ok((Vec::new(), None));
    };
    let old = match change {
        FileChange::Added => None,
        _ => match blob_text(repo, ref_tree, path_in_repo) {
            Some(text) => Some(text),
            None => return Ok((Vec::new(), Some("not UTF-8 text at REF".to_string()))),
        },
    };
    let new = match change {
        FileChange::Removed => None,
        _ => install.read(known)?,
    };
    let shown = install.display(known);
    let decoded = if known.ends_with(".env") {
        Ok(env_changes(old.as_deref(), new.as_deref()))
    } else {
        yaml_changes(known, &shown, old.as_deref(), new.as_deref())
    };
    Ok(match decoded {
        Ok(settings) => (settings, None),
        Err(why) => (Vec::new(), Some(why)),
    })
}

fn blob_text(repo: &Repository, tree: &Tree<'_>, path: &Path) -> Option<String> {
    let entry = tree.get_path(path).ok()?;
    let blob = entry.to_object(repo).ok()?.peel_to_blob().ok()?;
    String::from_utf8(blob.content().to_vec()).ok()
}

/// Every key of a `.env` file whose value changed, as kustomize reads the keys.
fn env_changes(old: Option<&str>, new: Option<&str>) -> Vec<SettingChange> {
    let parse = |text: Option<&str>| text.map(EnvFile::parse);
    let (old, new) = (parse(old), parse(new));
    let values = |env: &Option<EnvFile>| -> Vec<(String, Option<String>)> {
        env.as_ref().map_or_else(Vec::new, |env| {
            env.pairs()
                .into_iter()
                .map(|(k, v)| (k.to_string(), Some(v.unwrap_or_default().to_string())))
                .collect()
        })
    };
    let (before, after) = (values(&old), values(&new));
    let find = |list: &[(String, Option<String>)], key: &str| {
        list.iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .next_back()
            .flatten()
    };
    let mut keys: Vec<&str> = Vec::new();
    for (k, _) in before.iter().chain(&after) {
        if !keys.contains(&k.as_str()) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .filter_map(|key| {
            let (o, n) = (find(&before, key), find(&after, key));
            (o != n).then(|| SettingChange {
                setting: key.to_string(),
                old: o,
                new: n,
            })
        })
        .collect()
}

/// Every catalogue setting of a YAML file whose reading changed.
fn yaml_changes(
    file: &str,
    shown: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> std::result::Result<Vec<SettingChange>, String> {
    let read_all =
        |text: Option<&str>| -> std::result::Result<BTreeMap<usize, Option<String>>, String> {
            let mut values = BTreeMap::new();
            let Some(text) = text else {
                return Ok(values);
            };
            let parsed = Parsed::parse(file, shown, text).map_err(|p| p.message)?;
            for (i, setting) in CATALOGUE.iter().enumerate().filter(|(_, s)| s.file == file) {
                let value = match catalogue::read(setting, shown, &parsed).map_err(|p| p.message)? {
                    Reading::Value { value, .. } => Some(value),
                    Reading::Absent => None,
                    Reading::NotApplicable(_) => Some("(valueFrom)".to_string()),
                };
                values.insert(i, value);
            }
            Ok(values)
        };
    let side = |text, which: &str| {
        read_all(text).map_err(|why| format!("kfpatch cannot read its settings at {which}: {why}"))
    };
    let before = side(old, "REF")?;
    let after = side(new, "the work tree")?;
    Ok(CATALOGUE
        .iter()
        .enumerate()
        .filter(|(_, s)| s.file == file)
        .filter_map(|(i, setting)| {
            let o = before.get(&i).cloned().flatten();
            let n = after.get(&i).cloned().flatten();
            (o != n).then(|| SettingChange {
                setting: setting.name(),
                old: o,
                new: n,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_changes_list_changed_added_and_removed_keys_in_file_order() {
        let old = "MULTIUSER=true\nA=1\nB=2\n";
        let new = "MULTIUSER=false\nB=2\nC=3\n";
        let show = |c: &SettingChange| format!("{}: {:?} -> {:?}", c.setting, c.old, c.new);
        let changes: Vec<String> = env_changes(Some(old), Some(new)).iter().map(show).collect();
        assert_eq!(
            changes,
            vec![
                "MULTIUSER: Some(\"true\") -> Some(\"false\")",
                "A: Some(\"1\") -> None",
                "C: None -> Some(\"3\")",
            ]
        );
        assert!(env_changes(Some(old), Some(old)).is_empty());
        assert_eq!(env_changes(None, Some("A=1\n")).len(), 1);
    }
}
