//! `multiuser off|on --overlay DIR`: the switch as a kustomize overlay, for GitOps. Upstream files
//! stay byte-identical, so a manifests upgrade is a clean checkout plus a re-run of kfpatch.
//!
//! The overlay is derived from the in-place plan ([`plan::switch`]): every setting the in-place
//! edit would change becomes a `configMapGenerator` merge (the `params.env` rows) or a strategic
//! merge patch (the UI rows), carrying exactly the value the in-place edit would write. So the
//! two render to the same effective values by construction, customised upstream values are kept
//! in both, and the per-release rules of the catalogue apply to both. The row-8 parity entries
//! restore the generic base's `fieldRef`, which an overlay cannot express without copying the
//! base, so `--parity` is refused here.
//!
//! The kustomization starts with a marker comment. Only a folder holding kfpatch's marker is ever
//! rewritten or removed, and the marker records whether kfpatch created the folder, so `on` can
//! remove the folder too.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::app::{EXIT_CHANGES, Output, find, version_text, write_out};
use crate::catalogue::{CATALOGUE, Mode, Place, Scope, Setting};
use crate::cli::{Cli, MultiuserArgs, OnOff, WriteFlags};
use crate::error::{Failure, Result};
use crate::install::{self, Install};
use crate::plan::{self, FilePlan, Plan};

/// The file kfpatch writes in the overlay folder.
pub const KUSTOMIZATION: &str = "kustomization.yaml";
/// The line that marks a kustomization kfpatch wrote; what follows says who made the folder.
const MARKER: &str = "# kfpatch-overlay: multiuser off; folder ";
const FOLDER_CREATED: &str = "created by kfpatch";
const FOLDER_EXISTING: &str = "existed before";
const PATCH_SUFFIX: &str = "-patch.yaml";

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
struct ConfigMapPatch {
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

/// Recognises a kfpatch overlay in `dir`: `Ok(None)` when `dir` holds no kustomization.yaml or
/// one kfpatch did not write; `Err` when kfpatch's marker is there but the file is unreadable.
pub fn detect(dir: &Path) -> Result<Option<Overlay>> {
    let path = dir.join(KUSTOMIZATION);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Failure::io("read", &path, &e)),
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

/// What happens to one file of the overlay folder.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileChange {
    name: String,
    old: Option<String>,
    new: Option<String>,
}

/// A kfpatch overlay found in the checkout, as `audit` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// The overlay folder, relative to the `-C` folder.
    pub path: String,
    /// Its base resolves into this install's KFP tree.
    pub over_this_install: bool,
    /// Its files are exactly what `multiuser off --overlay` would write now; when `false`, the
    /// upstream files changed (an upgrade, an edit) or the overlay was edited by hand.
    pub up_to_date: bool,
    /// The catalogue settings it switches, as `file:line` of the upstream file (for `audit`).
    #[serde(skip)]
    pub switched: Vec<(String, usize)>,
}

/// Every kfpatch overlay under the checkout root (pruning `.git`, `node_modules`, `target` and the
/// KFP tree itself, where kfpatch never writes one).
pub fn find_all(install: &Install) -> Result<Vec<Found>> {
    let kfp_tree = install.kfp_tree();
    let mut found = Vec::new();
    let mut walker = walkdir::WalkDir::new(&install.root).into_iter();
    while let Some(entry) = walker.next() {
        let Ok(entry) = entry else { continue };
        if entry.file_type().is_dir() {
            let name = entry.file_name();
            if entry.depth() > 0
                && ([".git", "node_modules", "target"]
                    .iter()
                    .any(|n| name == *n)
                    || entry.path() == kfp_tree)
            {
                walker.skip_current_dir();
            }
            continue;
        }
        if entry.file_name() != KUSTOMIZATION {
            continue;
        }
        let Some(dir) = entry.path().parent() else {
            continue;
        };
        let Some(overlay) = detect(dir)? else {
            continue;
        };
        found.push(check(install, dir, &overlay)?);
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// Whether `overlay` in `dir` builds on this install, and is what kfpatch would write now.
pub fn check(install: &Install, dir: &Path, overlay: &Overlay) -> Result<Found> {
    let base = absolute(&dir.join(&overlay.resource));
    let over_this_install = base.starts_with(install.kfp_tree());
    let mut found = Found {
        path: install::relative(&install.root, dir),
        over_this_install,
        up_to_date: false,
        switched: Vec::new(),
    };
    if !over_this_install {
        return Ok(found);
    }
    for scope in [Scope::Related, Scope::Params] {
        let plan = plan::switch(install, Mode::Off, scope)?;
        let wanted = overlay_files(install, &plan, &overlay.resource, overlay.created_folder)?;
        let mut current = true;
        for (name, content) in &wanted {
            current &= read_optional(&dir.join(name))?.as_deref() == Some(content.as_str());
        }
        if current {
            found.up_to_date = true;
            found.switched = plan
                .changes
                .iter()
                .map(|c| (install.display(&c.file), c.line))
                .collect();
            break;
        }
    }
    Ok(found)
}

pub fn run(cli: &Cli, args: &MultiuserArgs, io: &mut Output<'_>) -> Result<i32> {
    let Some(overlay) = &args.overlay else {
        return Err(Failure::new("--overlay DIR is missing"));
    };
    if args.parity {
        return Err(Failure::new(
            "--parity cannot be written as an overlay: its single-user value is the generic base's fieldRef, which an overlay would have to copy from the base. Use the in-place switch (without --overlay) for parity",
        ));
    }
    let root = fs::canonicalize(&cli.dir).map_err(|e| Failure::io("open", &cli.dir, &e))?;
    let dir = absolute(&root.join(overlay));
    let shown = install::relative(&root, &dir);
    match args.mode {
        OnOff::Off => switch_off(cli, args, &root, &dir, &shown, io),
        OnOff::On => remove(&root, &dir, &shown, &args.write, io),
    }
}

fn switch_off(
    cli: &Cli,
    args: &MultiuserArgs,
    root: &Path,
    dir: &Path,
    shown: &str,
    io: &mut Output<'_>,
) -> Result<i32> {
    let install = find(cli)?;
    let existing = existing_overlay(dir, shown)?;
    let target = match &args.target {
        Some(target) => {
            let path = absolute(&root.join(target));
            check_kustomization_dir(&path, root, &format!("--target {}:", target.display()))?;
            path
        }
        None => example_pipeline_overlay(&install)?,
    };
    if target == dir || target.starts_with(dir) {
        return Err(Failure::new(format!(
            "the overlay folder {shown} would contain its own base {}; pick a folder outside it",
            install::relative(root, &target)
        )));
    }
    let scope = if args.params_only {
        Scope::Params
    } else {
        Scope::Related
    };
    let plan = plan::switch(&install, Mode::Off, scope)?;
    let created = match &existing {
        Some(overlay) => overlay.created_folder,
        None => !dir.exists(),
    };
    let wanted = overlay_files(&install, &plan, &relative_path(dir, &target), created)?;
    let mut changes = Vec::new();
    for (name, content) in &wanted {
        let old = read_optional(&dir.join(name))?;
        if existing.is_none() && old.is_some() {
            return Err(Failure::new(format!(
                "{shown}/{name} exists and {shown} holds no kfpatch overlay; kfpatch does not overwrite it. Pick a new or empty folder; nothing was written"
            )));
        }
        if old.as_deref() != Some(content.as_str()) {
            changes.push(FileChange {
                name: name.clone(),
                old,
                new: Some(content.clone()),
            });
        }
    }
    for stale in existing.iter().flat_map(|o| &o.patches) {
        if wanted.iter().any(|(name, _)| name == stale) || !is_owned_patch(stale) {
            continue;
        }
        if let Some(old) = read_optional(&dir.join(stale))? {
            changes.push(FileChange {
                name: stale.clone(),
                old: Some(old),
                new: None,
            });
        }
    }
    let mut text = plan.summary(&format!(
        "multiuser off --overlay {shown}: on {} (KFP {}), upstream files untouched",
        install::relative(root, &target),
        version_text(&install)
    ));
    if plan.changes.is_empty() {
        text.push_str("  no upstream setting holds its multi-user value (switched in place already?), so the overlay overrides nothing; restore the upstream files (kfpatch multiuser on) to let the overlay carry the switch\n");
    }
    let code = finish(dir, shown, &changes, &args.write, None, &mut text, io)?;
    if !args.write.check {
        write_out(
            io,
            &format!(
                "render and apply: kubectl kustomize {shown} | kubectl apply --server-side -f -\nnote: with multi-user mode off, every user can see every run, experiment and artifact. To keep isolation between profiles, keep it on and give notebooks token access instead (README, \"Token access\").\n"
            ),
        )?;
    }
    Ok(code)
}

/// `multiuser on --overlay DIR`: removes the files kfpatch wrote, and the folder when kfpatch
/// created it and nothing else is in it.
fn remove(
    root: &Path,
    dir: &Path,
    shown: &str,
    flags: &WriteFlags,
    io: &mut Output<'_>,
) -> Result<i32> {
    let mut text = format!("multiuser on --overlay {shown}: remove the kfpatch overlay\n");
    let Some(overlay) = existing_overlay(dir, shown)? else {
        text.push_str(&format!(
            "{shown} holds no kfpatch overlay; nothing to change\n"
        ));
        write_out(io, &text)?;
        return Ok(0);
    };
    let mut changes = Vec::new();
    let owned = overlay
        .patches
        .iter()
        .filter(|p| is_owned_patch(p))
        .map(String::as_str);
    for name in owned.chain([KUSTOMIZATION]) {
        if let Some(old) = read_optional(&dir.join(name))? {
            changes.push(FileChange {
                name: name.to_string(),
                old: Some(old),
                new: None,
            });
        }
    }
    let folder = overlay.created_folder.then_some(root);
    finish(dir, shown, &changes, flags, folder, &mut text, io)
}

/// Prints the file changes with their diff, then checks, previews or makes them. `created_in`:
/// kfpatch created `dir` (with any missing parents) inside this checkout root, so the folders it
/// leaves empty are removed afterwards, up to the root.
fn finish(
    dir: &Path,
    shown: &str,
    changes: &[FileChange],
    flags: &WriteFlags,
    created_in: Option<&Path>,
    text: &mut String,
    io: &mut Output<'_>,
) -> Result<i32> {
    if changes.is_empty() {
        text.push_str(&format!("{shown} is up to date; nothing to change\n"));
        write_out(io, text)?;
        return Ok(0);
    }
    let diff = Plan {
        files: changes
            .iter()
            .map(|c| FilePlan {
                file: c.name.clone(),
                shown: format!("{shown}/{}", c.name),
                path: dir.join(&c.name),
                old: c.old.clone().unwrap_or_default(),
                new: c.new.clone().unwrap_or_default(),
            })
            .collect(),
        ..Plan::default()
    };
    text.push('\n');
    text.push_str(&diff.diff(io.color));
    let count = changes.len();
    let files = if count == 1 { "file" } else { "files" };
    if flags.check {
        text.push_str(&format!(
            "{count} overlay {files} would change; run without --check to write\n"
        ));
        write_out(io, text)?;
        return Ok(EXIT_CHANGES);
    }
    if flags.dry_run {
        text.push_str(&format!(
            "dry run: {count} overlay {files} would change, nothing written\n"
        ));
        write_out(io, text)?;
        return Ok(0);
    }
    fs::create_dir_all(dir).map_err(|e| Failure::io("create", Path::new(shown), &e))?;
    // The kustomization goes last when writing and first when removing, so that it never lists
    // a patch file that is not there.
    let mut ordered: Vec<&FileChange> = changes.iter().collect();
    ordered.sort_by_key(|c| (c.name == KUSTOMIZATION) == c.new.is_some());
    let (mut wrote, mut removed) = (0, 0);
    for change in ordered {
        let path = dir.join(&change.name);
        match &change.new {
            Some(content) => {
                plan::write_file(&path, content.as_bytes()).map_err(|e| {
                    Failure::new(format!("cannot write {shown}/{}: {e}", change.name))
                })?;
                wrote += 1;
            }
            None => {
                fs::remove_file(&path).map_err(|e| {
                    Failure::io("remove", Path::new(&format!("{shown}/{}", change.name)), &e)
                })?;
                removed += 1;
            }
        }
    }
    let mut done = Vec::new();
    if wrote > 0 {
        done.push(format!("wrote {wrote} {}", plural(wrote)));
    }
    if removed > 0 {
        done.push(format!("removed {removed} {}", plural(removed)));
    }
    text.push_str(&done.join(", "));
    if let Some(root) = created_in {
        if is_empty_dir(dir) {
            fs::remove_dir(dir).map_err(|e| Failure::io("remove", Path::new(shown), &e))?;
            text.push_str(&format!(" and the folder {shown} (kfpatch created it)"));
            // Parents that kfpatch created with it are empty now too; git does not track empty
            // folders, so nothing a person made is lost.
            let mut parent = dir.parent();
            while let Some(folder) = parent {
                if folder == root || !folder.starts_with(root) || !is_empty_dir(folder) {
                    break;
                }
                if fs::remove_dir(folder).is_err() {
                    break;
                }
                text.push_str(&format!(
                    ", and the empty folder {}",
                    install::relative(root, folder)
                ));
                parent = folder.parent();
            }
        } else {
            text.push_str(&format!(
                "; kept the folder {shown}: it holds files kfpatch did not write"
            ));
        }
    }
    text.push('\n');
    write_out(io, text)?;
    Ok(0)
}

fn is_empty_dir(path: &Path) -> bool {
    fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "file" } else { "files" }
}

/// The kfpatch overlay in `dir`, `None` when there is no kustomization; refuses a folder
/// somebody else's kustomization lives in.
fn existing_overlay(dir: &Path, shown: &str) -> Result<Option<Overlay>> {
    for other in ["kustomization.yml", "Kustomization"] {
        if dir.join(other).exists() {
            return Err(Failure::new(format!(
                "{shown}/{other} exists: {shown} is somebody else's kustomization, and kfpatch writes and removes only its own overlay. Pick another --overlay folder; nothing was written"
            )));
        }
    }
    match detect(dir)? {
        Some(overlay) => Ok(Some(overlay)),
        None if dir.join(KUSTOMIZATION).exists() => Err(Failure::new(format!(
            "{shown}/{KUSTOMIZATION} was not written by kfpatch (no kfpatch-overlay marker); kfpatch writes and removes only its own overlay. Pick another --overlay folder, or list kfpatch's folder as a resource of yours; nothing was written"
        ))),
        None => Ok(None),
    }
}

/// Only plain file names kfpatch writes are ever removed, whatever a hand-edited kustomization
/// lists.
fn is_owned_patch(name: &str) -> bool {
    name.ends_with(PATCH_SUFFIX)
        && !name.contains(['/', '\\'])
        && !name.starts_with('.')
        && name != KUSTOMIZATION
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::io("read", path, &e)),
    }
}

/// The overlay's files by name: the kustomization and one patch per patched object.
fn overlay_files(
    install: &Install,
    plan: &Plan,
    resource: &str,
    created: bool,
) -> Result<Vec<(String, String)>> {
    let mut generators: Vec<Generator> = Vec::new();
    let mut deployments: Vec<DeploymentPatch> = Vec::new();
    let mut viewer: Option<ConfigMapPatch> = None;
    for change in &plan.changes {
        let setting = row_of(&change.file, &change.setting)?;
        match setting.place {
            Place::EnvKey(key) => {
                let name = generator_name(install, setting.file)?;
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
                viewer = Some(viewer_patch(plan, setting.file)?);
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

/// The name of the ConfigMap that the kustomization beside an env file generates from it.
fn generator_name(install: &Install, env_file: &str) -> Result<String> {
    let (folder, file_name) = env_file.rsplit_once('/').unwrap_or(("", env_file));
    let file = if folder.is_empty() {
        KUSTOMIZATION.to_string()
    } else {
        format!("{folder}/{KUSTOMIZATION}")
    };
    let shown = install.display(&file);
    let text = install.read(&file)?.ok_or_else(|| {
        Failure::new(format!(
            "{shown} is missing; it generates the ConfigMap from {env_file}. Restore it from upstream; nothing was written"
        ))
    })?;
    let value: yaml_serde::Value = yaml_serde::from_str(&text)
        .map_err(|e| Failure::new(format!("{shown}: not valid YAML: {e}")))?;
    value
        .get("configMapGenerator")
        .and_then(|g| g.as_sequence())
        .into_iter()
        .flatten()
        .find(|generator| {
            ["envs", "env"].iter().any(|key| match generator.get(*key) {
                Some(yaml_serde::Value::Sequence(list)) => {
                    list.iter().any(|e| e.as_str() == Some(file_name))
                }
                Some(yaml_serde::Value::String(one)) => one == file_name,
                _ => false,
            })
        })
        .and_then(|generator| generator.get("name").and_then(|n| n.as_str()))
        .map(str::to_string)
        .ok_or_else(|| {
            Failure::new(format!(
                "{shown}: no configMapGenerator reads {file_name}, so an overlay cannot merge into it; compare the file with upstream. Nothing was written"
            ))
        })
}

/// The KFP overlay the checkout's `example/kustomization.yaml` installs: its one resource inside
/// the KFP tree (facts §2).
pub fn example_pipeline_overlay(install: &Install) -> Result<PathBuf> {
    let example = install.root.join("example");
    let Some(file) = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
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
            let path = absolute(&example.join(entry));
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

fn check_kustomization_dir(path: &Path, root: &Path, what: &str) -> Result<()> {
    let found = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
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

/// `path` made absolute without requiring it to exist: the longest existing ancestor is
/// canonicalised (resolving symlinks) and the rest is normalised lexically.
fn absolute(path: &Path) -> PathBuf {
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

/// `to` relative to the folder `from` (both absolute), with `/` separators, as kustomize
/// resolves resources.
fn relative_path(from: &Path, to: &Path) -> String {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_from_the_overlay_folder() {
        assert_eq!(
            relative_path(
                Path::new("/r/overlays/kfp"),
                Path::new("/r/apps/pipeline/upstream/env/x")
            ),
            "../../apps/pipeline/upstream/env/x"
        );
        assert_eq!(relative_path(Path::new("/r/o"), Path::new("/r/o/b")), "b");
        assert_eq!(relative_path(Path::new("/r/o"), Path::new("/r")), "..");
    }

    #[test]
    fn absolute_normalises_missing_parts() {
        let temp = std::env::temp_dir();
        let real = fs::canonicalize(&temp).unwrap();
        assert_eq!(
            absolute(&temp.join("kfpatch-no-such/a/../b/./c")),
            real.join("kfpatch-no-such/b/c")
        );
    }

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
