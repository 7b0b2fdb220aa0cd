//! `multiuser off --overlay DIR --target FOLDER` where FOLDER's kustomization fetches KFP as a
//! kustomize remote base (`github.com/kubeflow/manifests/...?ref=v1.8.1`): the checkout holds no
//! KFP file to plan from, so the overlay is written offline from what kfpatch knows of that
//! release. The managed settings hold the same upstream multi-user values in every release
//! (`params.env` is byte-identical everywhere, and so is the UI's viewer template); what differs
//! per release is which rows exist, decided here by the KFP version the ref names. The result is
//! the overlay `multiuser off --overlay` writes over a local copy of that release, byte for byte.

use std::path::{Path, PathBuf};

use crate::checkout::catalogue::{CATALOGUE, Mode, Place, Scope, Setting};
use crate::checkout::model;
use crate::checkout::paths;
use crate::checkout::scan::{self, RemoteKfp};
use crate::checkout::targets;
use crate::checkout::version::Version;
use crate::checkout::walk;
use crate::edit::overlay::{self, OverlayChanges};
use crate::edit::overlay_files::Overlay;
use crate::edit::plan::{Change, Plan};
use crate::edit::write::FilePlan;
use crate::error::{Failure, Result};

/// The UI's ConfigMap patch as upstream ships it in every release kfpatch has read (v1.5.1 to
/// 26.03, kubeflow/pipelines 2.0.1), with the single-user viewer account; the overlay carries
/// this JSON value.
const VIEWER_PATCH_OFF: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ml-pipeline-ui-configmap\ndata:\n  viewer-pod-template.json:  |-\n    {\n        \"spec\": {\n            \"serviceAccountName\": \"kubeflow-pipelines-viewer\"\n        }\n    }\n";

/// The order of the UI's env entries in upstream's `pipelines-ui/deployment-patch.yaml` (every
/// release), which is the order an in-place plan lists them and so the overlay's patch holds them.
const UI_ENV_ORDER: &[&str] = &[
    "DEPLOYMENT",
    "ARTIFACTS_SERVICE_PROXY_ENABLED",
    "ENABLE_AUTHZ",
];

/// The overlay over a remote base: the base, its release, and the file changes.
pub struct RemoteOff {
    pub remote: RemoteKfp,
    pub kfp: Version,
    pub plan: Plan,
    pub target: PathBuf,
    pub changes: OverlayChanges,
}

/// Plans the overlay in `dir` over the kustomization `target` (relative to `root`) whose KFP is a
/// remote base; `None` when `target` is not given or reaches no remote KFP base, so that the
/// caller reports that no install was found.
pub fn plan_off(
    root: &Path,
    dir: &Path,
    shown: &str,
    target: Option<&Path>,
    scope: Scope,
) -> Result<Option<RemoteOff>> {
    let Some(target) = target else {
        return Ok(None);
    };
    let target_dir = paths::absolute(&root.join(target));
    let Some(name) = model::present(&target_dir).first().copied() else {
        return Ok(None);
    };
    let remote = scan::remote_of_kustomization(root, &target_dir, name).map_err(|c| {
        Failure::new(format!(
            "--target {}: {}\n  fix: make it a readable kustomization file",
            target.display(),
            c.shown()
        ))
    })?;
    let remote = match remote.as_slice() {
        [] => return Ok(None),
        [one] => one.clone(),
        many => {
            return Err(Failure::new(format!(
                "--target {}: {} remote KFP bases, and an overlay switches one:\n{}name a kustomization that fetches exactly one",
                target.display(),
                many.len(),
                scan::remote_lines(many)
            )));
        }
    };
    targets::check_kustomization_dir(
        &target_dir,
        root,
        &format!("--target {}:", target.display()),
    )?;
    if target_dir == dir || target_dir.starts_with(dir) {
        return Err(Failure::new(format!(
            "the overlay folder {shown} would contain its own base {}; pick a folder outside it",
            paths::relative(root, &target_dir)
        )));
    }
    let kfp = release_of(&remote)?;
    let plan = plan_of(&remote, &kfp, scope)?;
    let existing: Option<Overlay> = overlay::existing_overlay(root, dir, shown)?;
    let changes = overlay::overlay_changes(
        overlay::Folder { root, dir, shown },
        existing.as_ref(),
        &generator_name,
        &plan,
        &overlay::relative_path(dir, &target_dir),
        None,
    )?;
    Ok(Some(RemoteOff {
        remote,
        kfp,
        plan,
        target: target_dir,
        changes,
    }))
}

/// The KFP version the base's ref names, or why kfpatch cannot write its overlay offline.
fn release_of(remote: &RemoteKfp) -> Result<Version> {
    remote
        .reference
        .as_deref()
        .and_then(|reference| scan::kfp_of_ref(&remote.repository, reference))
        .and_then(|kfp| Version::parse(&kfp))
        .ok_or_else(|| {
            Failure::new(format!(
                "{}:{}: {} ({}); kfpatch writes an overlay offline only for a release tag it knows (kubeflow/manifests v1.3.1 to 26.03, kubeflow/pipelines release tags). Pin the base to a release, or vendor it",
                remote.file,
                remote.line,
                remote.url,
                remote.release()
            ))
        })
}

/// The in-place plan an upstream copy of the release would get: every row of the scope that the
/// release has, from its multi-user to its single-user value.
fn plan_of(remote: &RemoteKfp, kfp: &Version, scope: Scope) -> Result<Plan> {
    let mut plan = Plan::default();
    for setting in CATALOGUE.iter().filter(|s| s.scope <= scope) {
        if !in_release(setting, remote, kfp)? {
            continue;
        }
        plan.changes.push(Change {
            file: setting.file.to_string(),
            line: 0,
            setting: setting.name(),
            old: setting.value_in(Mode::On).map(str::to_string),
            new: setting.value_in(Mode::Off).map(str::to_string),
            why: setting.why.to_string(),
        });
        if matches!(setting.place, Place::ViewerAccount) {
            plan.files.push(FilePlan {
                file: setting.file.to_string(),
                shown: setting.file.to_string(),
                path: PathBuf::from(setting.file),
                old: String::new(),
                new: VIEWER_PATCH_OFF.to_string(),
            });
        }
    }
    plan.changes.sort_by_key(|c| {
        let rank = UI_ENV_ORDER
            .iter()
            .position(|var| c.setting.starts_with(&format!("env {var} ")))
            .unwrap_or(0);
        (c.file.clone(), rank)
    });
    Ok(plan)
}

/// Whether `setting` exists, and is switched, in the release `kfp` of the base's repository.
fn in_release(setting: &Setting, remote: &RemoteKfp, kfp: &Version) -> Result<bool> {
    let at_least = |v: &str| Version::parse(v).is_some_and(|v| *kfp >= v);
    if setting.only_before_kfp_2_beta && at_least("2.0.0-beta.0") {
        return Ok(false);
    }
    if setting.file == "persistence-agent/params.env" {
        // Only manifests v1.6.1 and v1.7.0 (kubeflow/pipelines 2.0.0-alpha.4 to 2.0.1) have it.
        return Ok(at_least("2.0.0-alpha.4") && !at_least("2.0.2"));
    }
    if let Place::ContainerEnv {
        var: "ARTIFACTS_SERVICE_PROXY_ENABLED",
        ..
    } = setting.place
    {
        // A literal up to manifests v1.10.2 (KFP 2.5.0); from pipeline-install-config from
        // v1.11.0 (KFP 2.15.0) on. Releases between are not in the facts.
        if !at_least("2.5.1") {
            return Ok(true);
        }
        if at_least("2.15.0") {
            return Ok(false);
        }
        return Err(Failure::new(format!(
            "{}:{}: KFP {kfp}: kfpatch does not know whether this release sets ARTIFACTS_SERVICE_PROXY_ENABLED as a literal; vendor the base and run kfpatch on it",
            remote.file, remote.line
        )));
    }
    Ok(true)
}

/// The ConfigMaps upstream generates from its `.env` files (the same in every release).
fn generator_name(env_file: &str) -> Result<String> {
    match env_file {
        "api-service/params.env" => Ok("pipeline-api-server-config".to_string()),
        "persistence-agent/params.env" => Ok("persistenceagent-config".to_string()),
        other => Err(Failure::new(format!(
            "internal error: no generator known for {other}; please report this"
        ))),
    }
}

/// The kfpatch overlays of a checkout without KFP files: for each, whether its base fetches KFP remotely (`over_this_install`) and whether
/// its files are what [`plan_off`] writes now, with or without `--params-only`.
pub fn find_all(root: &Path) -> Result<Vec<overlay::Found>> {
    let mut found = Vec::new();
    let kustomization = crate::edit::overlay_files::KUSTOMIZATION;
    for folder in walk::folders_holding(root, &[kustomization], |_| false) {
        let dir = folder.as_path();
        let Some(existing) = crate::edit::overlay_files::detect(root, dir)? else {
            continue;
        };
        let shown = paths::relative(root, dir);
        let base = paths::absolute(&dir.join(&existing.resource));
        let target = PathBuf::from(paths::relative(root, &base));
        let mut over_remote = false;
        let mut up_to_date = false;
        for scope in [Scope::Related, Scope::Params] {
            // A base kfpatch cannot plan for (a commit ref, several bases) is not up to date.
            if let Ok(Some(off)) = plan_off(root, dir, &shown, Some(&target), scope) {
                over_remote = true;
                up_to_date |= off.changes.files.is_empty();
            }
        }
        found.push(overlay::Found {
            path: shown,
            over_this_install: over_remote,
            up_to_date,
            switched: Vec::new(),
        });
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}
