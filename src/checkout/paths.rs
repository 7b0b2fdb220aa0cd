//! Paths as kfpatch takes and shows them: `-C` made canonical, a path shown relative to the
//! checkout root with `/` separators, and a path made absolute before it exists.

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::error::{Failure, Result};

/// `-C` as a canonical folder, or why it is not one.
pub fn canonical_root(root: &Path) -> Result<PathBuf> {
    let root = fs::canonicalize(root).map_err(|e| {
        Failure::new(format!(
            "{}; pass the manifests checkout with -C DIR",
            Failure::io("open", root, &e).message
        ))
    })?;
    if !root.is_dir() {
        return Err(Failure::new(format!(
            "{} is not a directory; pass the manifests checkout with -C",
            root.display()
        )));
    }
    Ok(root)
}

/// `path` relative to `root` with `/` separators; `.` for the root itself.
pub fn relative(root: &Path, path: &Path) -> String {
    // A path written as the root, `/` and plain names (as every path a walk builds) is shown as
    // it is written, without taking either apart.
    if let (Some(root), Some(path)) = (root.to_str(), path.to_str())
        && let Some(rel) = path.strip_prefix(root).and_then(|p| p.strip_prefix('/'))
        && rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
    {
        return rel.to_string();
    }
    match path.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
        Ok(rel) => rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => path.display().to_string(),
    }
}

/// `path` made absolute without requiring it to exist: the longest existing ancestor is
/// canonicalised (resolving symlinks) and the rest is normalised lexically.
pub fn absolute(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    let base = loop {
        if let Ok(real) = fs::canonicalize(&existing) {
            break real;
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => break existing,
        }
    };
    let mut out = base;
    for part in rest.iter().rev() {
        out.push(part);
    }
    let mut normal = PathBuf::new();
    for component in out.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}

/// `path` with `.` and `..` resolved by the names alone, no symlink followed (the path a writer
/// checks against its checkout before it looks at what is on disk).
pub fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Sorts by `path` as [`Path`]'s `Ord` does (component by component). Paths all written as `/`
/// and plain names (as a walk builds them) are compared as bytes with `/` below every other
/// byte: the same order, without taking each apart at every comparison.
pub fn sort_paths<T>(items: &mut [T], path: impl Fn(&T) -> &Path) {
    let plain = items.iter().all(|item| {
        path(item).to_str().is_some_and(|s| {
            s.strip_prefix('/').is_some_and(|rest| {
                rest.split('/')
                    .all(|c| !c.is_empty() && c != "." && c != "..")
            })
        })
    });
    if !plain {
        items.sort_by(|a, b| path(a).cmp(path(b)));
        return;
    }
    let key = |c: u8| if c == b'/' { 0 } else { c };
    items.sort_by(|a, b| {
        let (a, b) = (
            path(a).as_os_str().as_encoded_bytes(),
            path(b).as_os_str().as_encoded_bytes(),
        );
        let same = common_prefix(a, b);
        match (a.get(same), b.get(same)) {
            (Some(x), Some(y)) => key(*x).cmp(&key(*y)),
            _ => a.len().cmp(&b.len()),
        }
    });
}

/// How many bytes `a` and `b` start with alike: eight at a time, then one at a time (the paths of
/// a walk share long prefixes, and sorting a deep tree's compares them thousands of times).
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().unwrap_or([0; 8]));
    let shorter = a.len().min(b.len());
    let mut same = 0;
    while same + 8 <= shorter && word(a, same) == word(b, same) {
        same += 8;
    }
    same + a[same..]
        .iter()
        .zip(&b[same..])
        .take_while(|(x, y)| x == y)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_walked_paths_keeps_the_order_of_their_components() {
        let names = [
            "/r/a-b",
            "/r/a/b",
            "/r/a",
            "/r/a.b/c",
            "/r/a/b/c",
            "/r/ab",
            "/r/a/b-c",
            "/r/a/b.c",
            "/r/a b",
            "/r/A",
            "/r/a/b/c/d",
            "/r/é",
            "/r/z",
            "/r/a-long-folder-name/x",
            "/r/a-long-folder-name-x",
            "/r/a-long-folder-name",
            "/r/a-long-folder-name/x/y",
            "/r/a-long-folder-nam/x",
            "/r/a-long-folder-name/x-y",
        ];
        let mut by_components: Vec<PathBuf> = names.iter().map(PathBuf::from).collect();
        by_components.sort();
        let mut walked: Vec<PathBuf> = names.iter().rev().map(PathBuf::from).collect();
        sort_paths(&mut walked, |p| p);
        assert_eq!(walked, by_components);
        // A path not written plainly: every comparison by components.
        let mut mixed: Vec<PathBuf> = ["/r/a/./b", "/r/a-b", "/r//a"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let mut expected = mixed.clone();
        expected.sort();
        sort_paths(&mut mixed, |p| p);
        assert_eq!(mixed, expected);
    }
}
