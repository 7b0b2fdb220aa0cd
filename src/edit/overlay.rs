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

use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::checkout::catalogue::{Mode, Place, Scope};
use crate::checkout::install::Install;
use crate::checkout::trace;
use crate::checkout::{paths, safe_read};
use crate::checkout::{targets, walk};
use crate::edit::overlay_files::{
    KUSTOMIZATION, Overlay, carries_viewer, detect, effective_viewer, generator_name,
    is_owned_patch, is_viewer_change, overlay_files,
};
use crate::edit::plan::{self, Plan};
use crate::edit::write;
use crate::edit::write::FilePlan;
use crate::error::{Failure, Result};

/// What happens to one file of the overlay folder: `old` and `new` content, `None` for absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The changes to one overlay folder, computed in full before anything is written.
#[derive(Debug, Clone)]
pub struct OverlayChanges {
    /// The checkout root (canonical): no write leaves it, through a symlink or otherwise.
    pub root: PathBuf,
    pub dir: PathBuf,
    /// `dir` relative to the checkout root.
    pub shown: String,
    pub files: Vec<FileChange>,
    /// kfpatch created `dir` (with any missing parents) inside this checkout root, so the folders
    /// it leaves empty are removed afterwards, up to the root.
    pub created_in: Option<PathBuf>,
}

/// `multiuser off --overlay`: the in-place plan the overlay carries, the kustomization it builds
/// on, and the file changes.
pub struct OffPlan {
    pub plan: Plan,
    pub target: PathBuf,
    pub changes: OverlayChanges,
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
/// KFP tree itself, where kfpatch never writes one). Leaf folders are not read: a stat of their
/// kustomization is enough, so a monorepo costs what `status`'s walk costs.
pub fn find_all(install: &Install) -> Result<Vec<Found>> {
    let kfp_tree = install.kfp_tree();
    let mut found = Vec::new();
    let root = &install.root;
    for dir in walk::folders_holding(root, &[KUSTOMIZATION], |dir| dir != root && dir == kfp_tree) {
        if let Some(overlay) = detect(root, &dir)? {
            found.push(check(install, &dir, &overlay)?);
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// Whether `overlay` in `dir` builds on this install, and is what kfpatch would write now.
pub fn check(install: &Install, dir: &Path, overlay: &Overlay) -> Result<Found> {
    let base = paths::absolute(&dir.join(&overlay.resource));
    let mut reaching = trace::Reaching::new(install);
    let over_this_install = base.canonicalize().is_ok_and(|b| reaching.reaches(&b));
    let mut found = Found {
        path: paths::relative(&install.root, dir),
        over_this_install,
        up_to_date: false,
        switched: Vec::new(),
    };
    if !over_this_install {
        return Ok(found);
    }
    for scope in [Scope::Related, Scope::Params] {
        let plan = plan::switch(install, Mode::Off, scope)?;
        let wanted = overlay_files(
            &|file| generator_name(install, file),
            &plan,
            &overlay.resource,
            Some((install, &base)),
            overlay.created_folder,
        )?;
        let mut current = true;
        for (name, content) in &wanted {
            current &= read_optional(&dir.join(name))?.as_deref() == Some(content.as_str());
        }
        if current {
            found.up_to_date = true;
            let viewer = carries_viewer(&wanted);
            found.switched = plan
                .changes
                .iter()
                .filter(|c| viewer || !is_viewer_change(c))
                .map(|c| (install.display(&c.file), c.line))
                .collect();
            // The overrides below the overlay are overridden by it in turn.
            if let Ok(real) = dir.canonicalize() {
                let chain = reaching.chain(&real);
                found.switched.extend(
                    trace::overrides(install, &chain)
                        .into_iter()
                        .filter_map(|o| o.line.map(|line| (o.file, line))),
                );
            }
            break;
        }
    }
    Ok(found)
}

/// The overlay that switches `install` off in `dir` over `target` (default: the pipeline overlay
/// `example/` installs), with the files to write and the stale patches to remove.
pub fn plan_off(
    install: &Install,
    dir: &Path,
    shown: &str,
    target: Option<&Path>,
    scope: Scope,
) -> Result<OffPlan> {
    let root = &install.root;
    let existing = existing_overlay(root, dir, shown)?;
    let target = match target {
        Some(target) => {
            let path = paths::absolute(&root.join(target));
            targets::check_kustomization_dir(
                &path,
                root,
                &format!("--target {}:", target.display()),
            )?;
            path
        }
        None => targets::example_pipeline_overlay(install)?,
    };
    if target == dir || target.starts_with(dir) {
        return Err(Failure::new(format!(
            "the overlay folder {shown} would contain its own base {}; pick a folder outside it",
            paths::relative(root, &target)
        )));
    }
    let mut plan = plan::switch(install, Mode::Off, scope)?;
    let changes = overlay_changes(
        Folder { root, dir, shown },
        existing.as_ref(),
        &|file| generator_name(install, file),
        &plan,
        &relative_path(dir, &target),
        Some((install, &target)),
    )?;
    if matches!(effective_viewer(install, &target)?, Some(None))
        && let Some(at) = plan.changes.iter().position(is_viewer_change)
    {
        let change = plan.changes.remove(at);
        let winner = trace::winners(install, &mut trace::Reaching::new(install), &target)
            .into_iter()
            .find(|o| matches!(o.setting.place, Place::ViewerAccount));
        let message = match winner {
            Some(w) => format!(
                "not patched: the target gets the viewer template of {} (through {}), whose account is {}: {}",
                w.at(),
                w.by,
                w.shown_value(),
                if w.value().is_none() {
                    "valid in single-user mode, viewer pods run as the default service account of the kubeflow namespace"
                } else {
                    "customised, left as is"
                }
            ),
            None => "not patched".to_string(),
        };
        plan.kept.push(plan::Note {
            file: change.file,
            line: Some(change.line),
            setting: change.setting,
            message,
        });
    }
    Ok(OffPlan {
        plan,
        target,
        changes,
    })
}

/// An overlay folder: where it is (`dir`), as the user sees it (`shown`), in which checkout
/// (`root`, canonical).
pub struct Folder<'a> {
    pub root: &'a Path,
    pub dir: &'a Path,
    pub shown: &'a str,
}

/// The file changes that make `dir` hold the overlay of `plan` over `resource`: new and changed
/// files, and the patches of an earlier run that are no longer needed.
pub fn overlay_changes(
    Folder { root, dir, shown }: Folder<'_>,
    existing: Option<&Overlay>,
    generator_name: &dyn Fn(&str) -> Result<String>,
    plan: &Plan,
    resource: &str,
    target: Option<(&Install, &Path)>,
) -> Result<OverlayChanges> {
    let created = match existing {
        Some(overlay) => overlay.created_folder,
        None => !dir.exists(),
    };
    let wanted = overlay_files(generator_name, plan, resource, target, created)?;
    let mut files = Vec::new();
    for (name, content) in &wanted {
        let old = read_optional(&dir.join(name))?;
        if existing.is_none() && old.is_some() {
            return Err(Failure::new(format!(
                "{shown}/{name} exists and {shown} holds no kfpatch overlay; kfpatch does not overwrite it. Pick a new or empty folder; nothing was written"
            )));
        }
        if old.as_deref() != Some(content.as_str()) {
            files.push(FileChange {
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
            files.push(FileChange {
                name: stale.clone(),
                old: Some(old),
                new: None,
            });
        }
    }
    Ok(OverlayChanges {
        root: root.to_path_buf(),
        dir: dir.to_path_buf(),
        shown: shown.to_string(),
        files,
        created_in: None,
    })
}

/// `multiuser on --overlay`: removing the files kfpatch wrote, and the folder when kfpatch created
/// it and nothing else is in it. `None` when `dir` holds no kfpatch overlay.
pub fn plan_removal(root: &Path, dir: &Path, shown: &str) -> Result<Option<OverlayChanges>> {
    let Some(overlay) = existing_overlay(root, dir, shown)? else {
        return Ok(None);
    };
    let mut files = Vec::new();
    let owned = overlay
        .patches
        .iter()
        .filter(|p| is_owned_patch(p))
        .map(String::as_str);
    for name in owned.chain([KUSTOMIZATION]) {
        if let Some(old) = read_optional(&dir.join(name))? {
            files.push(FileChange {
                name: name.to_string(),
                old: Some(old),
                new: None,
            });
        }
    }
    Ok(Some(OverlayChanges {
        root: root.to_path_buf(),
        dir: dir.to_path_buf(),
        shown: shown.to_string(),
        files,
        created_in: overlay.created_folder.then(|| root.to_path_buf()),
    }))
}

impl OverlayChanges {
    /// The unified diff of every file change.
    pub fn diff(&self, color: bool) -> String {
        Plan {
            files: self
                .files
                .iter()
                .map(|c| FilePlan {
                    file: c.name.clone(),
                    shown: format!("{}/{}", self.shown, c.name),
                    path: self.dir.join(&c.name),
                    old: c.old.clone().unwrap_or_default(),
                    new: c.new.clone().unwrap_or_default(),
                })
                .collect(),
            ..Plan::default()
        }
        .diff(color)
    }

    /// Makes the changes, each file written only if it still holds what the plan read, and
    /// through a symlink only when its target stays in the checkout; removes the temporary files
    /// killed runs left in the folder, saying so on `err`. Returns what was done, for the user
    /// (`wrote 2 files and ...`).
    pub fn write(&self, err: &mut dyn std::io::Write) -> Result<String> {
        let shown = self.shown.as_str();
        let dir = &safe_read::write_target(&self.root, &self.dir, shown)?;
        fs::create_dir_all(dir).map_err(|e| Failure::io("create", Path::new(shown), &e))?;
        write::clean_stale_temps(std::slice::from_ref(dir), &self.root, err);
        // The kustomization goes last when writing and first when removing, so that it never
        // lists a patch file that is not there.
        let mut ordered: Vec<&FileChange> = self.files.iter().collect();
        ordered.sort_by_key(|c| (c.name == KUSTOMIZATION) == c.new.is_some());
        let (mut wrote, mut removed) = (0, 0);
        for change in ordered {
            let path = dir.join(&change.name);
            match &change.new {
                Some(content) => {
                    let file_shown = format!("{shown}/{}", change.name);
                    let path = safe_read::write_target(&self.root, &path, &file_shown)?;
                    write::write_file_from(
                        &path,
                        content.as_bytes(),
                        change.old.as_deref().map(str::as_bytes),
                    )
                    .map_err(|e| Failure::new(format!("cannot write {file_shown}: {e}")))?;
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
        let mut text = done.join(", ");
        if let Some(root) = &self.created_in {
            if is_empty_dir(dir) {
                fs::remove_dir(dir).map_err(|e| Failure::io("remove", Path::new(shown), &e))?;
                text.push_str(&format!(" and the folder {shown} (kfpatch created it)"));
                // Parents that kfpatch created with it are empty now too; git does not track
                // empty folders, so nothing a person made is lost.
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
                        paths::relative(root, folder)
                    ));
                    parent = folder.parent();
                }
            } else {
                text.push_str(&format!(
                    "; kept the folder {shown}: it holds files kfpatch did not write"
                ));
            }
        }
        Ok(text)
    }
}

fn is_empty_dir(path: &Path) -> bool {
    fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "file" } else { "files" }
}

/// The kfpatch overlay in `dir`, `None` when there is no kustomization; refuses a folder
/// somebody else's kustomization lives in.
pub fn existing_overlay(root: &Path, dir: &Path, shown: &str) -> Result<Option<Overlay>> {
    for other in ["kustomization.yml", "Kustomization"] {
        if dir.join(other).exists() {
            return Err(Failure::new(format!(
                "{shown}/{other} exists: {shown} is somebody else's kustomization, and kfpatch writes and removes only its own overlay. Pick another --overlay folder; nothing was written"
            )));
        }
    }
    match detect(root, dir)? {
        Some(overlay) => Ok(Some(overlay)),
        None if dir.join(KUSTOMIZATION).exists() => Err(Failure::new(format!(
            "{shown}/{KUSTOMIZATION} was not written by kfpatch (no kfpatch-overlay marker); kfpatch writes and removes only its own overlay. Pick another --overlay folder, or list kfpatch's folder as a resource of yours; nothing was written"
        ))),
        None => Ok(None),
    }
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::io("read", path, &e)),
    }
}

/// `to` relative to the folder `from` (both absolute), with `/` separators, as kustomize
/// resolves resources.
pub fn relative_path(from: &Path, to: &Path) -> String {
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
            paths::absolute(&temp.join("kfpatch-no-such/a/../b/./c")),
            real.join("kfpatch-no-such/b/c")
        );
    }
}
