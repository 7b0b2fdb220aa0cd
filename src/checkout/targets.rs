//! Which kustomization folder a command renders or builds on (`--target kfp|all|PATH`).
//!
//! `kfp` is the pipeline line of `example/kustomization.yaml`, resolved relative to
//! `example/`; `all` is `example/`; anything else is a kustomization folder relative to `-C`. A
//! kubeflow/pipelines checkout has no `example/`: there `kfp` is
//! `env/cert-manager/platform-agnostic-multi-user`, the overlay kubeflow/manifests copies into
//! its own tree and applies.

use std::path::{Path, PathBuf};

use crate::checkout::deploys::{self, Deploy, Graph};
use crate::checkout::install::{Install, Layout};
use crate::checkout::model::entries::{self, Kind};
use crate::checkout::model::{self, Loaded};
use crate::checkout::paths::{self, relative};
use crate::error::{Failure, Result};

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

/// Resolves `--target kfp|all|PATH` in `install`'s checkout. `kfp` and `all` are read from the
/// kubeflow/manifests root that holds the install (which a distribution keeps in a folder of its
/// own, e.g. `upstream/`); `kfp` prefers the checkout's own kustomization that builds on the
/// install, when exactly one does.
pub fn resolve(install: &Install, target: &str) -> Result<Target> {
    let root = &install.root;
    let manifests = deploys::manifests_root(install);
    let mut examples = vec![manifests.join("example")];
    if manifests != *root {
        examples.push(root.join("example"));
    }
    let example = examples.iter().find(|e| has_kustomization(e));
    let looked = || {
        examples
            .iter()
            .map(|e| format!("{}/kustomization.yaml", relative(root, e)))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    match target {
        "kfp" => {
            let own = own_deploys(install, "--target kfp")?;
            if let Some(deploy) = deploys::own_kfp(&own, install) {
                return folder(
                    root,
                    &deploy.dir,
                    "--target kfp: the checkout's own kustomization that builds on the install",
                );
            }
            if let Some(example) = example {
                return pipeline_line(root, example);
            }
            if install.layout == Layout::Pipelines {
                let dir = install.kfp_tree().join(PIPELINES_DEFAULT_OVERLAY);
                return folder(
                    root,
                    &dir,
                    "--target kfp: no example/ in a kubeflow/pipelines checkout, so its cert-manager multi-user overlay",
                );
            }
            if manifests == *root {
                return Err(Failure::new(format!(
                    "--target kfp reads the pipeline line of example/kustomization.yaml, and {} has none; run in the kubeflow/manifests checkout root (-C DIR), or pass --target PATH (the KFP overlay to apply)",
                    root.display()
                )));
            }
            let own_text = if own.is_empty() {
                format!("no kustomization of the checkout builds on {}", install.rel)
            } else {
                format!(
                    "{} kustomizations of the checkout build on the install directly ({}), not one",
                    own.iter().filter(|d| d.direct).count(),
                    own.iter()
                        .filter(|d| d.direct)
                        .map(|d| d.shown.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            Err(Failure::new(format!(
                "--target kfp: nothing to render: looked for the pipeline line of {}, and neither exists, and {own_text}; pass --target PATH (the kustomization that deploys KFP)",
                looked()
            )))
        }
        "all" => match example {
            Some(example) => folder(root, example, "--target all: the whole of example/"),
            None if manifests == *root => Err(Failure::new(format!(
                "--target all renders example/, and {} has no example/kustomization.yaml; run in the kubeflow/manifests checkout root (-C DIR), or pass --target PATH",
                root.display()
            ))),
            None => Err(Failure::new(format!(
                "--target all renders example/, and there is none: looked for {}; pass --target PATH",
                looked()
            ))),
        },
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

/// Whether `dir` holds a kustomization file (of any kind: one that cannot be read is named when
/// it is read).
pub fn has_kustomization(dir: &Path) -> bool {
    !model::present(dir).is_empty()
}

/// The kustomization of `dir`, read by the model's one reader; one that cannot be read or parsed
/// is an error naming its file and line.
fn read_kustomization(root: &Path, dir: &Path, what: &str) -> Result<Option<Loaded>> {
    entries::load_folder(root, dir).map_err(|c| {
        Failure::new(format!(
            "{what}: {}\n  fix: make it a readable kustomization file, or pass --target PATH",
            c.shown()
        ))
    })
}

/// The checkout's own kustomizations that deploy the install; an error naming each kustomization
/// the search could not read (whether it deploys the install cannot be told).
fn own_deploys(install: &Install, what: &str) -> Result<Vec<Deploy>> {
    let mut graph = Graph::new(install);
    let own = deploys::own_deploys(install, &mut graph);
    match graph.unreadable() {
        [] => Ok(own),
        unreadable => Err(Failure::new(format!(
            "{what}: cannot tell which kustomization deploys the install:\n{}\n  fix: make each a readable kustomization file, or pass --target PATH",
            unreadable
                .iter()
                .map(|c| format!("  {}", c.shown()))
                .collect::<Vec<_>>()
                .join("\n")
        ))),
    }
}

fn folder(root: &Path, dir: &Path, why: &str) -> Result<Target> {
    let real = dir
        .canonicalize()
        .map_err(|e| Failure::io("open", dir, &e))?;
    if read_kustomization(root, &real, why)?.is_none() {
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

/// The one `resources:`/`bases:` entry of `example/kustomization.yaml` under `.../pipeline/...`
/// (a component cannot be rendered on its own, so `components` are not candidates).
fn pipeline_line(root: &Path, example: &Path) -> Result<Target> {
    let k = read_kustomization(root, example, "--target kfp")?
        .ok_or_else(|| Failure::new("cannot read example/kustomization.yaml"))?;
    let shown = k.shown.as_str();
    let found = entries::entries(&k);
    let entries: Vec<(&str, usize)> = found
        .iter()
        .filter(|e| e.kind == Kind::Resource)
        .filter(|e| e.text.split('/').any(|segment| segment == "pipeline"))
        .map(|e| (e.text, e.line))
        .collect();
    match entries.as_slice() {
        [] => Err(Failure::new(format!(
            "{shown} has no Kubeflow Pipelines line (a resources entry under .../pipeline/...); if it is commented out, uncomment it, or pass --target PATH"
        ))),
        [(entry, line)] => {
            let at = format!("{shown}:{line}");
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
                .map(|(e, line)| format!("  {shown}:{line}: {e}"))
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
/// the KFP tree.
pub fn example_pipeline_overlay(install: &Install) -> Result<PathBuf> {
    let what = "the KFP overlay the checkout installs";
    if let Some(own) = deploys::own_kfp(&own_deploys(install, what)?, install) {
        return Ok(own.dir);
    }
    let example = deploys::manifests_root(install).join("example");
    let Some(k) = read_kustomization(&install.root, &example, what)? else {
        return Err(Failure::new(format!(
            "no example/kustomization.yaml in {} (a kubeflow/pipelines checkout has none), so kfpatch cannot tell which KFP overlay is installed; pass --target PATH, e.g. --target manifests/kustomize/env/platform-agnostic-multi-user",
            install.root.display()
        )));
    };
    let shown = k.shown.as_str();
    let tree = install.kfp_tree();
    let found: Vec<(String, PathBuf)> = entries::entries(&k)
        .iter()
        .filter(|e| e.kind == Kind::Resource && !e.is_remote())
        .map(|e| (e.text.to_string(), paths::absolute(&example.join(e.text))))
        .filter(|(_, path)| path.starts_with(&tree))
        .collect();
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
            paths::relative(&install.root, &tree)
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
    let read = entries::load_folder(root, path).map_err(|c| {
        Failure::new(format!(
            "{what} {}\n  fix: make it a readable kustomization file, or name another KFP overlay with --target PATH",
            c.shown()
        ))
    })?;
    if read.is_some() {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "{what} {} is not a kustomization folder (no kustomization.yaml); name the KFP overlay to build on with --target PATH",
            paths::relative(root, path)
        )))
    }
}
