//! Finding the KFP multi-user install in a checkout.
//!
//! An install's path changed between releases (`apps/pipeline/upstream` up to v1.10.1,
//! `applications/pipeline/upstream` from v1.10.2), so the known layouts are probed first: a
//! checkout root, or a KFP tree itself, is answered with a handful of `stat` calls. Only
//! when none matches does kfpatch walk the tree (pruning `.git`, `node_modules`, `target`, and
//! not descending into an install once found). kfp-tekton ships identical copies of the file for a
//! different, optional component; they are never picked unless named with `--install`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::checkout::install::{self, Install, Layout, PARAMS_ENV};
use crate::checkout::paths::relative;
use crate::checkout::safe_read::ensure_inside;
use crate::checkout::walk;
use crate::error::{Failure, Result};

/// Where installs sit relative to a checkout root, per layout, most recent first; and relative
/// to the folders a user may pass as `-C` inside a checkout.
const KNOWN_PLACES: &[&str] = &[
    "applications/pipeline/upstream/base/installs/multi-user",
    "apps/pipeline/upstream/base/installs/multi-user",
    "manifests/kustomize/base/installs/multi-user",
    "pipeline/installs/multi-user",
    "pipeline/upstream/base/installs/multi-user",
    "upstream/base/installs/multi-user",
    "kustomize/base/installs/multi-user",
    "base/installs/multi-user",
    "installs/multi-user",
    "",
];

/// Whether anything (a file, a folder, a FIFO, a link, even a broken one) is at `path`.
fn something_at(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// The install under a canonical `root` (or the one `--install` names), but `None` when there is no install at all (a checkout
/// whose KFP may come from remote bases).
pub fn find_optional(root: &Path, named: Option<&Path>) -> Result<Option<Install>> {
    let root = root.to_path_buf();
    if let Some(named) = named {
        return named_install(&root, named).map(Some);
    }
    let mut found: Vec<PathBuf> = KNOWN_PLACES
        .iter()
        .map(|place| root.join(place))
        .filter(|dir| something_at(&dir.join(PARAMS_ENV)))
        .collect();
    found.dedup();
    if found.is_empty() {
        found = walk(&root);
    }
    found = with_second_shapes(found);
    match found.as_slice() {
        [one] => install::open(&root, one).map(Some),
        [] => Ok(None),
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|d| format!("  {}", relative(&root, d)))
                .collect();
            Err(Failure::new(format!(
                "found {} KFP multi-user installs under {}:\n{}\npick one with --install PATH (the multi-user folder or its api-service/params.env)",
                many.len(),
                root.display(),
                list.join("\n")
            )))
        }
    }
}

fn named_install(root: &Path, named: &Path) -> Result<Install> {
    let path = root.join(named);
    let dir = if path.file_name().is_some_and(|n| n == "params.env") {
        path.parent().and_then(Path::parent).map(Path::to_path_buf)
    } else {
        Some(path.clone())
    };
    match dir {
        Some(dir) if something_at(&dir.join(PARAMS_ENV)) => {
            let real = fs::canonicalize(&dir).map_err(|e| Failure::io("open", &dir, &e))?;
            ensure_inside(root, &real, &named.display().to_string())?;
            install::open(root, &real)
        }
        _ => Err(Failure::new(format!(
            "--install {}: no {PARAMS_ENV} there; name the installs/multi-user folder or its api-service/params.env",
            named.display()
        ))),
    }
}

/// Walks `root` for `installs/multi-user` folders that hold the switch file, not looking into
/// kfp-tekton (a different component) or into the KFP tree of an install already found.
fn walk(root: &Path) -> Vec<PathBuf> {
    let (mut found, kfp_trees) = walk::folders(
        root,
        || (Vec::new(), Vec::new()),
        |(found, kfp_trees): &mut (Vec<PathBuf>, Vec<PathBuf>), dir| {
            if dir.file_name().is_some_and(|n| n == "kfp-tekton")
                || kfp_trees.iter().any(|tree| dir.starts_with(tree))
            {
                return false;
            }
            let is_install = dir.file_name().is_some_and(|n| n == "multi-user")
                && dir
                    .parent()
                    .and_then(Path::file_name)
                    .is_some_and(|n| n == "installs")
                && something_at(&dir.join(PARAMS_ENV));
            if is_install {
                if let Some(tree) = known_kfp_tree(dir) {
                    kfp_trees.push(tree);
                }
                found.push(dir.to_path_buf());
            }
            !is_install
        },
    );
    // An install found before the known one around it was not pruned: drop it too, so that the
    // answer does not depend on the order folders are read in.
    found.retain(|install| {
        !kfp_trees
            .iter()
            .any(|tree| install.starts_with(tree) && known_kfp_tree(install).as_ref() != Some(tree))
    });
    found.sort();
    found
}

/// KFP-Tekton keeps a second, older install of another shape in the same KFP tree
/// (`manifests/kustomize/base/...` and `manifests/kustomize/v1/base/...`). Neither the probe of
/// the known places nor the walk (which skips the rest of a KFP tree once it found an install)
/// reaches it, so both shapes are probed beside every install found.
fn with_second_shapes(found: Vec<PathBuf>) -> Vec<PathBuf> {
    const SHAPES: &[&str] = &["base/installs/multi-user", "v1/base/installs/multi-user"];
    let mut all = found.clone();
    for install in &found {
        let rel = install.to_string_lossy();
        let Some(tree) = SHAPES.iter().find_map(|shape| {
            rel.strip_suffix(&format!("/{shape}"))
                .filter(|tree| tree.ends_with("manifests/kustomize"))
        }) else {
            continue;
        };
        for shape in SHAPES {
            let other = Path::new(tree).join(shape);
            if !all.contains(&other) && other.join(PARAMS_ENV).is_file() {
                all.push(other);
            }
        }
    }
    all.sort();
    all
}

/// The KFP tree around an install in a known layout (`.../apps/pipeline`,
/// `.../manifests/kustomize`, ...); `None` for an unrecognised layout, whose extent is unknown.
fn known_kfp_tree(install: &Path) -> Option<PathBuf> {
    let levels = match Layout::of(&install.to_string_lossy()) {
        Layout::ManifestsApps | Layout::ManifestsApplications => 4,
        Layout::Pipelines => 3,
        Layout::ManifestsLegacy => 2,
        Layout::Unrecognised => return None,
    };
    install.ancestors().nth(levels).map(Path::to_path_buf)
}

/// Why there is no install under `root`: the layouts kfpatch knows and where it looked.
pub fn nothing_found(root: &Path) -> Failure {
    // The four checkout-root layouts come first in KNOWN_PLACES.
    let places: Vec<String> = KNOWN_PLACES
        .iter()
        .take(4)
        .map(|p| format!("  {p}/{PARAMS_ENV}"))
        .collect();
    Failure::new(format!(
        "no KFP multi-user install under {}: looked for */installs/multi-user/{PARAMS_ENV} (skipping .git, node_modules, target and kfp-tekton copies).\nkfpatch knows these layouts:\n{}\nrun it in a kubeflow/manifests or kubeflow/pipelines checkout (-C DIR), or name the install with --install PATH",
        root.display(),
        places.join("\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_finds_installs_outside_known_trees_and_node_modules() {
        let temp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(temp.path()).unwrap();
        for dir in [
            "a/b/c/leaf",
            "a/b/empty",
            "deep/x/y/z/installs/multi-user/api-service",
            "deep/x/y/z/installs/multi-user/nested/installs/multi-user/api-service",
            "node_modules/m/installs/multi-user/api-service",
            "k/apps/pipeline/upstream/base/installs/multi-user/api-service",
            "k/apps/pipeline/upstream/env/installs/multi-user/api-service",
        ] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        for dir in [
            "deep/x/y/z/installs/multi-user",
            "deep/x/y/z/installs/multi-user/nested/installs/multi-user",
            "node_modules/m/installs/multi-user",
            "k/apps/pipeline/upstream/base/installs/multi-user",
            "k/apps/pipeline/upstream/env/installs/multi-user",
        ] {
            fs::write(root.join(dir).join(PARAMS_ENV), "MULTIUSER=true\n").unwrap();
        }
        fs::write(root.join("a/b/c/leaf/file"), "").unwrap();
        let found = walk(&root);
        let rel: Vec<String> = found.iter().map(|p| relative(&root, p)).collect();
        // Not inside an install, not in node_modules, not elsewhere in a known KFP tree.
        assert_eq!(
            rel,
            [
                "deep/x/y/z/installs/multi-user",
                "k/apps/pipeline/upstream/base/installs/multi-user"
            ]
        );
    }
}
