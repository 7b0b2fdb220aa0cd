//! Which kustomization folder a command renders or builds on (`--target kfp|all|PATH`).
//!
//! `kfp` is the pipeline line of `example/kustomization.yaml` (facts §2), resolved relative to
//! `example/`; `all` is `example/`; anything else is a kustomization folder relative to `-C`. A
//! kubeflow/pipelines checkout has no `example/`: there `kfp` is
//! `env/cert-manager/platform-agnostic-multi-user`, the overlay kubeflow/manifests copies into
//! its own tree and applies.

use std::path::{Path, PathBuf};

use crate::checkout::install::{self, Install, Layout, relative};
use crate::error::{Failure, Result};

/// The file names kustomize accepts for a kustomization, in the order it looks for them.
pub const KUSTOMIZATION_FILES: &[&str] =
    &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The overlay `--target kfp` means in a kubeflow/pipelines checkout (relative to its
/// `manifests/kustomize`).
pub const PIPELINES_DEFAULT_OVERLAY: &str = "env/cert-manager/platform-agnostic-multi-user";

/// A kustomization folder to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub dir: PathBuf,
    /// `dir` relative to the checkout root.
    pub shown: String,
    /// How `--target` led to it.
    pub why: String,
}

/// Resolves `--target kfp|all|PATH` in `install`'s checkout.
pub fn resolve(install: &Install, target: &str) -> Result<Target> {
    let root = &install.root;
    let example = root.join("example");
    match target {
        "kfp" if has_kustomization(&example) => pipeline_line(root, &example),
        "kfp" if install.layout == Layout::Pipelines => {
            let dir = install.kfp_tree().join(PIPELINES_DEFAULT_OVERLAY);
            folder(
                root,
                &dir,
                "--target kfp: no example/ in a kubeflow/pipelines checkout, so its cert-manager multi-user overlay",
            )
        }
        "kfp" => Err(Failure::new(format!(
            "--target kfp reads the pipeline line of example/kustomization.yaml, and {} has none; run in the kubeflow/manifests checkout root (-C DIR), or pass --target PATH (the KFP overlay to apply)",
            root.display()
        ))),
        "all" if has_kustomization(&example) => {
            folder(root, &example, "--target all: the whole of example/")
        }
        "all" => Err(Failure::new(format!(
            "--target all renders example/, and {} has no example/kustomization.yaml; run in the kubeflow/manifests checkout root (-C DIR), or pass --target PATH",
            root.display()
        ))),
        path => {
            let dir = root.join(path);
            if !has_kustomization(&dir) {
                return Err(Failure::new(format!(
                    "--target {path}: no kustomization.yaml in {}; name a kustomization folder (relative to -C), kfp or all",
                    dir.display()
                )));
            }
            folder(root, &dir, &format!("--target {path}"))
        }
    }
}

pub fn has_kustomization(dir: &Path) -> bool {
    KUSTOMIZATION_FILES.iter().any(|f| dir.join(f).is_file())
}

fn folder(root: &Path, dir: &Path, why: &str) -> Result<Target> {
    let real = dir
        .canonicalize()
        .map_err(|e| Failure::io("open", dir, &e))?;
    if !has_kustomization(&real) {
        return Err(Failure::new(format!(
            "{why}: {} has no kustomization.yaml",
            real.display()
        )));
    }
    Ok(Target {
        shown: relative(root, &real),
        dir: real,
        why: why.to_string(),
    })
}

/// The one `resources:`/`bases:` entry of `example/kustomization.yaml` under `.../pipeline/...`.
fn pipeline_line(root: &Path, example: &Path) -> Result<Target> {
    let (file, text) = KUSTOMIZATION_FILES
        .iter()
        .map(|f| example.join(f))
        .find_map(|f| std::fs::read_to_string(&f).ok().map(|t| (f, t)))
        .ok_or_else(|| Failure::new("cannot read example/kustomization.yaml"))?;
    let shown = relative(root, &file);
    let value: yaml_serde::Value = yaml_serde::from_str(&text)
        .map_err(|e| Failure::new(format!("{shown}: not valid YAML: {e}")))?;
    let entries: Vec<&str> = ["resources", "bases"]
        .iter()
        .filter_map(|k| value.get(k).and_then(|v| v.as_sequence()))
        .flatten()
        .filter_map(|v| v.as_str())
        .filter(|e| e.split('/').any(|segment| segment == "pipeline"))
        .collect();
    let line_of = |entry: &str| {
        text.lines()
            .position(|l| {
                let l = l.trim_start();
                !l.starts_with('#') && l.contains(entry)
            })
            .map_or(1, |i| i + 1)
    };
    match entries.as_slice() {
        [] => Err(Failure::new(format!(
            "{shown} has no Kubeflow Pipelines line (a resources entry under .../pipeline/...); if it is commented out, uncomment it, or pass --target PATH"
        ))),
        [entry] => {
            let at = format!("{shown}:{}", line_of(entry));
            let dir = example.join(entry);
            if !has_kustomization(&dir) {
                return Err(Failure::new(format!(
                    "{at}: {entry} is not a kustomization folder in this checkout; fix the line, or pass --target PATH"
                )));
            }
            folder(
                root,
                &dir,
                &format!("--target kfp: the pipeline line of {at}"),
            )
        }
        many => {
            let lines: Vec<String> = many
                .iter()
                .map(|e| format!("  {shown}:{}: {e}", line_of(e)))
                .collect();
            Err(Failure::new(format!(
                "{shown} has {} Kubeflow Pipelines lines:\n{}\npick one with --target PATH",
                many.len(),
                lines.join("\n")
            )))
        }
    }
}

/// The KFP overlay the checkout's `example/kustomization.yaml` installs: its one resource inside
/// the KFP tree (facts §2).
pub fn example_pipeline_overlay(install: &Install) -> Result<PathBuf> {
    let example = install.root.join("example");
    let Some(file) = KUSTOMIZATION_FILES
        .iter()
        .map(|name| example.join(name))
        .find(|path| path.is_file())
    else {
        return Err(Failure::new(format!(
            "no example/kustomization.yaml in {} (a kubeflow/pipelines checkout has none), so kfpatch cannot tell which KFP overlay is installed; pass --target PATH, e.g. --target manifests/kustomize/env/platform-agnostic-multi-user",
            install.root.display()
        )));
    };
    let shown = install::relative(&install.root, &file);
    let text = install::read_inside(&install.root, &file, &shown)?.unwrap_or_default();
    let value: yaml_serde::Value = yaml_serde::from_str(&text)
        .map_err(|e| Failure::new(format!("{shown}: not valid YAML: {e}; pass --target PATH")))?;
    let tree = install.kfp_tree();
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for key in ["resources", "bases"] {
        for entry in value
            .get(key)
            .and_then(|v| v.as_sequence())
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str())
        {
            let path = install::absolute(&example.join(entry));
            if path.starts_with(&tree) {
                found.push((entry.to_string(), path));
            }
        }
    }
    match found.as_slice() {
        [(entry, path)] => {
            check_kustomization_dir(
                path,
                &install.root,
                &format!("{shown} installs {entry}, but"),
            )?;
            Ok(path.clone())
        }
        [] => Err(Failure::new(format!(
            "{shown} installs nothing from the KFP tree {}; pass --target PATH (the KFP overlay to build on)",
            install::relative(&install.root, &tree)
        ))),
        many => Err(Failure::new(format!(
            "{shown} installs {} kustomizations from the KFP tree ({}); pass --target PATH to pick one",
            many.len(),
            many.iter()
                .map(|(e, _)| e.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

pub fn check_kustomization_dir(path: &Path, root: &Path, what: &str) -> Result<()> {
    let found = KUSTOMIZATION_FILES
        .iter()
        .any(|name| path.join(name).is_file());
    if found {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "{what} {} is not a kustomization folder (no kustomization.yaml); name the KFP overlay to build on with --target PATH",
            install::relative(root, path)
        )))
    }
}
