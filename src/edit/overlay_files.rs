//! What a kfpatch overlay is on disk: its kustomization (with kfpatch's marker comment first), one
//! `configMapGenerator` merge per switched `.env` file and one strategic-merge patch per patched
//! object, written from an in-place plan (or, over a remote base, from what kfpatch knows of the
//! release) and read back by [`detect`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkout::catalogue::{CATALOGUE, Place, Setting};
use crate::checkout::install::Install;
use crate::checkout::model::{self, sections};
use crate::checkout::safe_read;
use crate::checkout::{overriding, trace};
use crate::edit::overrides;
use crate::edit::plan::{Change, Plan};
use crate::error::{Failure, Result};

/// The file kfpatch writes in the overlay folder.
pub const KUSTOMIZATION: &str = "kustomization.yaml";
/// The line that marks a kustomization kfpatch wrote; what follows says who made the folder.
pub const MARKER: &str = "# kfpatch-overlay: multiuser off; folder ";
pub const FOLDER_CREATED: &str = "created by kfpatch";
pub const FOLDER_EXISTING: &str = "existed before";
pub const PATCH_SUFFIX: &str = "-patch.yaml";

/// A kustomization as kfpatch writes and reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Kustomization {
    api_version: String,
    kind: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    config_map_generator: Vec<Generator>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    patches: Vec<PatchRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Generator {
    name: String,
    behavior: String,
    #[serde(default)]
    literals: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PatchRef {
    path: String,
}

/// A strategic merge patch of one container's env list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentPatch {
    api_version: &'static str,
    kind: &'static str,
    metadata: Name,
    spec: DeploymentSpec,
}

#[derive(Debug, Serialize)]
struct Name {
    name: String,
}

#[derive(Debug, Serialize)]
struct DeploymentSpec {
    template: PodTemplate,
}

#[derive(Debug, Serialize)]
struct PodTemplate {
    spec: PodSpec,
}

#[derive(Debug, Serialize)]
struct PodSpec {
    containers: Vec<Container>,
}

#[derive(Debug, Serialize)]
struct Container {
    name: String,
    env: Vec<EnvEntry>,
}

/// An env entry to set, or (`$patch: delete`) to remove.
#[derive(Debug, Serialize)]
struct EnvEntry {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(rename = "$patch", skip_serializing_if = "Option::is_none")]
    patch: Option<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapPatch {
    api_version: &'static str,
    kind: &'static str,
    metadata: Name,
    data: BTreeMap<String, String>,
}

/// A kfpatch overlay found in a folder (for `audit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    /// The overlay's kustomization file.
    pub kustomization: PathBuf,
    /// The kustomization it builds on, as written (relative to the overlay folder).
    pub resource: String,
    /// Whether kfpatch created the folder (then `on` removes it).
    pub created_folder: bool,
    /// `(ConfigMap, KEY, value)` for every params.env setting it overrides.
    pub literals: Vec<(String, String, String)>,
    /// The patch files it lists, relative to the folder.
    pub patches: Vec<String>,
}

/// Recognises a kfpatch overlay in `dir` (inside `root`, canonical): `Ok(None)` when `dir` holds
/// no kustomization.yaml or one kfpatch did not write; `Err` when the file cannot be read (read
/// as the model reads every kustomization: bounded, a FIFO or device refused) or kfpatch's
/// marker is there but the file is not what kfpatch writes.
pub fn detect(root: &Path, dir: &Path) -> Result<Option<Overlay>> {
    let path = dir.join(KUSTOMIZATION);
    let Some(text) = safe_read::read_inside(root, &path, &path.display().to_string())? else {
        return Ok(None);
    };
    let Some(created_folder) = marker_of(&text) else {
        return Ok(None);
    };
    let kustomization: Kustomization = yaml_serde::from_str(&text).map_err(|e| {
        Failure::new(format!(
            "{}: kfpatch overlay that is not valid YAML ({e}); delete the folder and run kfpatch multiuser off --overlay again",
            path.display()
        ))
    })?;
    let [resource] = kustomization.resources.as_slice() else {
        return Err(Failure::new(format!(
            "{}: a kfpatch overlay lists exactly one resource, this one lists {}; delete the folder and run kfpatch multiuser off --overlay again",
            path.display(),
            kustomization.resources.len()
        )));
    };
    let mut literals = Vec::new();
    for generator in &kustomization.config_map_generator {
        for literal in &generator.literals {
            let (key, value) = literal.split_once('=').unwrap_or((literal, ""));
            literals.push((generator.name.clone(), key.to_string(), value.to_string()));
        }
    }
    Ok(Some(Overlay {
        kustomization: path,
        resource: resource.clone(),
        created_folder,
        literals,
        patches: kustomization
            .patches
            .iter()
            .map(|p| p.path.clone())
            .collect(),
    }))
}

/// `Some(created_folder)` when `text` is a kustomization kfpatch wrote.
fn marker_of(text: &str) -> Option<bool> {
    text.lines()
        .take_while(|line| line.starts_with('#'))
        .find_map(|line| line.strip_prefix(MARKER))
        .map(|rest| rest.trim() == FOLDER_CREATED)
}

/// Only plain file names kfpatch writes are ever removed, whatever a hand-edited kustomization
/// lists.
pub fn is_owned_patch(name: &str) -> bool {
    name.ends_with(PATCH_SUFFIX)
        && !name.contains(['/', '\\'])
        && !name.starts_with('.')
        && name != KUSTOMIZATION
}

/// The overlay's files by name: the kustomization and one patch per patched object.
pub fn overlay_files(
    generator_name: &dyn Fn(&str) -> Result<String>,
    plan: &Plan,
    resource: &str,
    target: Option<(&Install, &Path)>,
    created: bool,
) -> Result<Vec<(String, String)>> {
    let mut generators: Vec<Generator> = Vec::new();
    let mut deployments: Vec<DeploymentPatch> = Vec::new();
    let mut viewer: Option<ConfigMapPatch> = None;
    for change in &plan.changes {
        let setting = row_of(&change.file, &change.setting)?;
        match setting.place {
            Place::EnvKey(key) => {
                let name = generator_name(setting.file)?;
                let literal = format!("{key}={}", change.new.as_deref().unwrap_or_default());
                match generators.iter_mut().find(|g| g.name == name) {
                    Some(generator) => generator.literals.push(literal),
                    None => generators.push(Generator {
                        name,
                        behavior: "merge".to_string(),
                        literals: vec![literal],
                    }),
                }
            }
            Place::ContainerEnv {
                deployment,
                container,
                var,
                ..
            } => {
                let entry = EnvEntry {
                    name: var.to_string(),
                    value: change.new.clone(),
                    patch: change.new.is_none().then_some("delete"),
                };
                let existing = deployments
                    .iter_mut()
                    .find(|d| d.metadata.name == deployment);
                let patch = match existing {
                    Some(patch) => patch,
                    None => {
                        deployments.push(DeploymentPatch {
                            api_version: "apps/v1",
                            kind: "Deployment",
                            metadata: Name {
                                name: deployment.to_string(),
                            },
                            spec: DeploymentSpec {
                                template: PodTemplate {
                                    spec: PodSpec {
                                        containers: Vec::new(),
                                    },
                                },
                            },
                        });
                        let last = deployments.len() - 1;
                        &mut deployments[last]
                    }
                };
                let containers = &mut patch.spec.template.spec.containers;
                match containers.iter_mut().find(|c| c.name == container) {
                    Some(c) => c.env.push(entry),
                    None => containers.push(Container {
                        name: container.to_string(),
                        env: vec![entry],
                    }),
                }
            }
            Place::ViewerAccount => {
                let effective = match target {
                    Some((install, dir)) => effective_viewer(install, dir)?,
                    None => None,
                };
                viewer = match effective {
                    Some(template) => template,
                    None => Some(viewer_patch(plan, setting.file)?),
                };
            }
        }
    }
    let mut files = Vec::new();
    for deployment in &deployments {
        files.push((
            format!("{}-deployment{PATCH_SUFFIX}", deployment.metadata.name),
            to_yaml(deployment)?,
        ));
    }
    if let Some(patch) = &viewer {
        files.push((
            format!("{}{PATCH_SUFFIX}", patch.metadata.name),
            to_yaml(patch)?,
        ));
    }
    let kustomization = Kustomization {
        api_version: "kustomize.config.k8s.io/v1beta1".to_string(),
        kind: "Kustomization".to_string(),
        resources: vec![resource.to_string()],
        config_map_generator: generators,
        patches: files
            .iter()
            .map(|(name, _)| PatchRef { path: name.clone() })
            .collect(),
    };
    let header = format!(
        "# Kubeflow Pipelines with multi-user mode off, as an overlay: the upstream files stay untouched.\n# Written by kfpatch multiuser off --overlay; run it again after an upgrade to update this folder,\n# and kfpatch multiuser on --overlay to remove it. kfpatch owns the files listed here.\n{MARKER}{}\n",
        if created {
            FOLDER_CREATED
        } else {
            FOLDER_EXISTING
        }
    );
    files.push((
        KUSTOMIZATION.to_string(),
        format!("{header}{}", to_yaml(&kustomization)?),
    ));
    Ok(files)
}

fn to_yaml<T: Serialize>(value: &T) -> Result<String> {
    yaml_serde::to_string(value)
        .map_err(|e| Failure::new(format!("cannot serialise the overlay as YAML: {e}")))
}

/// The catalogue row a planned change came from.
fn row_of(file: &str, setting: &str) -> Result<&'static Setting> {
    CATALOGUE
        .iter()
        .find(|s| s.file == file && s.name() == setting)
        .ok_or_else(|| {
            Failure::new(format!(
                "internal error: no catalogue row for {setting} in {file}; please report this"
            ))
        })
}

/// The ConfigMap patch that gives the viewer pod template the account the in-place edit writes:
/// the whole JSON value, taken from the planned new text of the upstream patch, so both render
/// the same string.
fn viewer_patch(plan: &Plan, file: &str) -> Result<ConfigMapPatch> {
    const CONFIGMAP: &str = "ml-pipeline-ui-configmap";
    const KEY: &str = "viewer-pod-template.json";
    let planned = plan
        .files
        .iter()
        .find(|f| f.file == file)
        .ok_or_else(|| Failure::new(format!("internal error: {file} is not in the plan")))?;
    let value = yaml_serde::Deserializer::from_str(&planned.new)
        .filter_map(|doc| yaml_serde::Value::deserialize(doc).ok())
        .find(|doc| {
            doc.get("kind").and_then(|k| k.as_str()) == Some("ConfigMap")
                && doc
                    .get("metadata")
                    .and_then(|m| m.get("name"))
                    .and_then(|n| n.as_str())
                    == Some(CONFIGMAP)
        })
        .and_then(|doc| {
            doc.get("data")
                .and_then(|d| d.get(KEY))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .ok_or_else(|| {
            Failure::new(format!(
                "{}: no data.{KEY} in ConfigMap {CONFIGMAP}",
                planned.shown
            ))
        })?;
    Ok(ConfigMapPatch {
        api_version: "v1",
        kind: "ConfigMap",
        metadata: Name {
            name: CONFIGMAP.to_string(),
        },
        data: BTreeMap::from([(KEY.to_string(), value)]),
    })
}

/// When a file above the install decides the viewer template the target gets (a distribution's
/// own template, with object-store credentials in its env), the overlay's patch must be that
/// template with only the account switched: `Some(Some(patch))`. `Some(None)`: that template
/// keeps its account (none, which single-user mode accepts, or a customised one), so the overlay
/// carries no viewer patch. `None`: the install's own template decides; see [`viewer_patch`].
pub fn effective_viewer(
    install: &Install,
    target: &Path,
) -> Result<Option<Option<ConfigMapPatch>>> {
    let Some(winner) = trace::winners(install, &mut trace::Reaching::new(install), target)
        .into_iter()
        .find(|o| matches!(o.setting.place, Place::ViewerAccount))
    else {
        return Ok(None);
    };
    let (Some(from), Some(to)) = (winner.value(), winner.setting.single) else {
        return Ok(Some(None));
    };
    if Some(from) != winner.setting.multi {
        return Ok(Some(None));
    }
    let Some(template) = overriding::template_of(&winner) else {
        return Err(Failure::new(format!(
            "{}: kfpatch cannot read the viewer pod template that {} gives the target, so it cannot write a patch that keeps it; nothing was written",
            winner.at(),
            winner.by
        )));
    };
    let switched = overrides::switch_account(&template, &winner.file, from, to)?;
    Ok(Some(Some(ConfigMapPatch {
        api_version: "v1",
        kind: "ConfigMap",
        metadata: Name {
            name: overriding::VIEWER_CONFIGMAP.to_string(),
        },
        data: BTreeMap::from([(overriding::VIEWER_KEY.to_string(), switched)]),
    })))
}

/// Whether a planned change is the viewer account's.
pub fn is_viewer_change(change: &Change) -> bool {
    row_of(&change.file, &change.setting).is_ok_and(|s| matches!(s.place, Place::ViewerAccount))
}

/// Whether the overlay files carry the viewer account (a patch of its ConfigMap).
pub fn carries_viewer(files: &[(String, String)]) -> bool {
    files
        .iter()
        .any(|(name, _)| *name == format!("{}{PATCH_SUFFIX}", overriding::VIEWER_CONFIGMAP))
}

/// The name of the ConfigMap that the kustomization beside an env file generates from it, as the
/// model reads that kustomization.
pub fn generator_name(install: &Install, env_file: &str) -> Result<String> {
    let (folder, file_name) = env_file.rsplit_once('/').unwrap_or(("", env_file));
    let file = if folder.is_empty() {
        KUSTOMIZATION.to_string()
    } else {
        format!("{folder}/{KUSTOMIZATION}")
    };
    let shown = install.display(&file);
    let missing = || {
        Failure::new(format!(
            "{shown} is missing; it generates the ConfigMap from {env_file}. Restore it from upstream; nothing was written"
        ))
    };
    let dir = install
        .dir
        .join(folder)
        .canonicalize()
        .map_err(|_| missing())?;
    let loaded = model::load(&install.root, &dir, None)
        .map_err(|c| Failure::new(format!("{}; nothing was written", c.shown())))?
        .ok_or_else(missing)?;
    sections::of(&loaded)
        .generators
        .iter()
        .find(|g| g.envs.iter().any(|(env, _)| env == file_name))
        .map(|g| g.name.clone())
        .ok_or_else(|| {
            Failure::new(format!(
                "{}: no configMapGenerator reads {file_name}, so an overlay cannot merge into it; compare the file with upstream. Nothing was written",
                loaded.shown
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_says_who_made_the_folder() {
        let created = format!("# x\n{MARKER}{FOLDER_CREATED}\napiVersion: v1\n");
        let existing = format!("{MARKER}{FOLDER_EXISTING}\n");
        assert_eq!(marker_of(&created), Some(true));
        assert_eq!(marker_of(&existing), Some(false));
        assert_eq!(marker_of("apiVersion: v1\n# kfpatch-overlay\n"), None);
    }

    #[test]
    fn only_plain_patch_names_are_owned() {
        assert!(is_owned_patch("ml-pipeline-ui-deployment-patch.yaml"));
        assert!(!is_owned_patch("../x-patch.yaml"));
        assert!(!is_owned_patch("secrets.yaml"));
        assert!(!is_owned_patch(".hidden-patch.yaml"));
    }
}
