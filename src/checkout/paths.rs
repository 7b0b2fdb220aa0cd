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
