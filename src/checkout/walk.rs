//! Walking a checkout's folders as cheaply as the file system allows.
//!
//! What kfpatch looks for in a tree (installs, overlays) lives in folders, and in a monorepo most
//! folders are leaves full of unrelated files: reading them is most of the work a `find` does.
//! On ext4, xfs and tmpfs a folder's `st_nlink` is 2 plus its number of subfolders (the "leaf
//! optimisation" of `find`), so a folder whose link count is 2 is visited without being read. The
//! rule is checked on every folder that is read; a file system that breaks it (btrfs reports 1 for
//! every folder) makes the walk start again and read every folder.

use std::fs;
use std::path::{Path, PathBuf};

/// Folder names never looked into: version control, dependencies and build output.
pub const PRUNED: &[&str] = &[".git", "node_modules", "target"];

/// Visits `root` and every folder below it, depth first, except those below a [`PRUNED`] name.
/// `visit(state, folder)` says whether to look inside the folder (leaves are visited but never
/// read). The state starts from `init()`, and again if the walk has to start over, so a visitor
/// never sees a folder twice in the state it returns.
pub fn folders<S>(root: &Path, init: impl Fn() -> S, visit: impl Fn(&mut S, &Path) -> bool) -> S {
    let mut state = init();
    if walk(root, true, &mut |dir| visit(&mut state, dir)) {
        return state;
    }
    let mut state = init();
    walk(root, false, &mut |dir| visit(&mut state, dir));
    state
}

/// The walk itself; `false` when `skip_leaves` is on and a folder broke the link-count rule.
fn walk(root: &Path, skip_leaves: bool, visit: &mut dyn FnMut(&Path) -> bool) -> bool {
    let mut pending = vec![(root.to_path_buf(), link_count(fs::metadata(root).ok()))];
    while let Some((dir, links)) = pending.pop() {
        if !visit(&dir) || (skip_leaves && links == Some(2)) {
            continue;
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut subfolders = 0;
        for entry in entries.flatten() {
            // `file_type` comes from the directory entry itself; symlinks are not followed.
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            subfolders += 1;
            let name = entry.file_name();
            if PRUNED.iter().any(|p| name == *p) {
                continue;
            }
            let links = if skip_leaves {
                link_count(entry.metadata().ok())
            } else {
                None
            };
            pending.push((entry.path(), links));
        }
        if skip_leaves && links.is_some_and(|n| n != 2 + subfolders) {
            return false;
        }
    }
    true
}

#[cfg(unix)]
fn link_count(meta: Option<fs::Metadata>) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    meta.map(|m| m.nlink())
}

#[cfg(not(unix))]
fn link_count(_meta: Option<fs::Metadata>) -> Option<u64> {
    None
}

/// Visits every file below `root` in no set order (callers sort what they find), except below a
/// folder `enter(folder, name)` refuses (the caller says what it prunes): `file(path, name)` for
/// each. For walks
/// that read files (the copy scan, a template generator's project), where every folder must be
/// read anyway, so the leaf rule of [`folders`] saves nothing. Symlinks are not followed.
pub fn files(root: &Path, enter: impl Fn(&Path, &str) -> bool, mut file: impl FnMut(&Path, &str)) {
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if kind.is_dir() {
                if enter(&path, name) {
                    pending.push(path);
                }
            } else {
                file(&path, name);
            }
        }
    }
}

/// Every folder under `root` that holds a file named one of `names`, sorted, without looking
/// into folders `skip` refuses.
pub fn folders_holding(root: &Path, names: &[&str], skip: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut found = folders(root, Vec::new, |found: &mut Vec<PathBuf>, dir| {
        if skip(dir) {
            return false;
        }
        if names.iter().any(|name| dir.join(name).is_file()) {
            found.push(dir.to_path_buf());
        }
        true
    });
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipping_leaf_folders_visits_what_a_full_walk_visits() {
        let temp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(temp.path()).unwrap();
        for dir in [
            "a/b/c/leaf",
            "a/b/empty",
            "a/d",
            "node_modules/m/x",
            "e/.git/objects",
        ] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        fs::write(root.join("a/b/c/leaf/file"), "").unwrap();
        let visited = |skip_leaves| {
            let mut seen = Vec::new();
            let complete = walk(&root, skip_leaves, &mut |dir| {
                seen.push(dir.strip_prefix(&root).unwrap().display().to_string());
                true
            });
            seen.sort();
            (complete, seen)
        };
        let (complete, full) = visited(false);
        assert!(complete);
        assert_eq!(
            full,
            [
                "",
                "a",
                "a/b",
                "a/b/c",
                "a/b/c/leaf",
                "a/b/empty",
                "a/d",
                "e"
            ]
        );
        // On this file system folders count their subfolders, so the fast walk agrees.
        assert_eq!(visited(true), (true, full));
    }

    #[test]
    fn folders_holding_a_file_including_leaves() {
        let temp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(temp.path()).unwrap();
        for dir in ["o/leaf", "o/inner/deeper", "skip/leaf"] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        for file in [
            "o/leaf/kustomization.yaml",
            "o/inner/Kustomization",
            "skip/leaf/kustomization.yaml",
        ] {
            fs::write(root.join(file), "").unwrap();
        }
        let found = folders_holding(&root, &["kustomization.yaml", "Kustomization"], |dir| {
            dir.ends_with("skip")
        });
        assert_eq!(found, [root.join("o/inner"), root.join("o/leaf")]);
    }
}
