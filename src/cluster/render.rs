//! One render of a target: resolve it, choose kustomize, render once, split into objects and read
//! the effective settings ([`effective`]). `render` prints it; `reinstall` applies it.

pub mod effective;

use std::io::Write;
use std::time::{Duration, Instant};

use std::path::Path;

use crate::checkout::install::Install;
use crate::checkout::locate;
use crate::checkout::model::objects::{self, Object};
use crate::checkout::overriding::Override;
use crate::checkout::targets::{self, Target};
use crate::checkout::trace;
use crate::checkout::{discover, paths};
use crate::cluster::programs::kustomize::{self, Kustomize};
use crate::cluster::programs::process::Timeout;
use crate::cluster::render::effective::Effective;
use crate::edit::{overlay, overlay_files};
use crate::error::{Failure, Result};
use crate::output::escape::quoted;
use crate::output::progress::Progress;

/// How long a render may take when the command has no `--timeout` of its own (`render`'s default
/// too): kustomize fetching a remote base that never answers must not hang kfpatch.
pub const RENDER_LIMIT: &str = "5m";

/// A target rendered once, with the effective settings read from the render.
pub struct Render {
    pub install: Install,
    pub target: Target,
    pub kustomize: Kustomize,
    pub objects: Vec<Object>,
    pub took: Duration,
    pub effective: Effective,
    /// The settings (`file:line` relative to the checkout root) a kfpatch overlay being rendered
    /// switches, and that overlay.
    pub switched: Vec<(String, usize)>,
    pub overlay: Option<String>,
    /// The files above the install that decide a setting, as kfpatch traced them.
    pub overrides: Vec<Override>,
}

/// The install a render compares with. A checkout without one whose target reaches remote
/// bases gets an error that says the target needs the network, naming each URL with its file and
/// line (kfpatch renders offline); otherwise the usual "nothing found".
pub fn find_install(dir: &Path, named: Option<&Path>, target: &str) -> Result<Install> {
    let root = paths::canonical_root(dir)?;
    if let Some(found) = discover::find_optional(&root, named)? {
        return Ok(found);
    }
    let (remote, unreadable) = if matches!(target, "kfp" | "all") {
        (Vec::new(), Vec::new())
    } else {
        kustomize::remote_bases(&root.join(target), &root)
    };
    if !unreadable.is_empty() {
        return Err(Failure::new(format!(
            "no install found, and whether rendering {target} needs the network cannot be told: kustomizations it builds on cannot be read:\n{}\n  fix: make each a readable kustomization file",
            unreadable
                .iter()
                .map(|c| format!("  {}", c.shown()))
                .collect::<Vec<_>>()
                .join("\n")
        )));
    }
    if remote.is_empty() {
        return locate::find(&root, named);
    }
    let urls: Vec<String> = remote
        .iter()
        .map(|r| format!("  {}:{}: {}", r.file, r.line, r.url))
        .collect();
    Err(Failure::new(format!(
        "rendering {target} needs the network: its KFP comes from remote bases, which kustomize downloads, and this checkout holds no KFP files to render instead:\n{}\nkfpatch renders offline: vendor them (copy the files at that ref into the checkout and point the entries at the copies), then render again",
        urls.join("\n")
    )))
}

/// What `render` prints and `reinstall` applies: the install `target` needs ([`find_install`]),
/// rendered within `timeout` ([`prepare`]).
pub fn find_and_prepare(
    dir: &Path,
    named: Option<&Path>,
    target: &str,
    kustomize_flag: Option<&str>,
    timeout: Timeout<'_>,
    err: &mut dyn Write,
    progress: &mut Progress<'_>,
) -> Result<Render> {
    let install = find_install(dir, named, target)?;
    prepare(
        install,
        target,
        kustomize_flag,
        timeout.deadline,
        timeout.text,
        err,
        progress,
    )
}

/// Resolves `target`, chooses kustomize, renders once and reads the effective settings. A
/// kfpatch overlay as the target is compared with the values it switches. Asking kustomize its
/// version and the render stop at `deadline` (`--timeout LIMIT`).
pub fn prepare(
    install: Install,
    target: &str,
    kustomize_flag: Option<&str>,
    deadline: Instant,
    limit: &str,
    err: &mut dyn Write,
    progress: &mut Progress<'_>,
) -> Result<Render> {
    let target = targets::resolve(&install, target)?;
    let kustomize = Kustomize::choose(kustomize_flag, deadline, limit)?;
    let started = Instant::now();
    progress.label(&format!("rendering {}", target.shown));
    let rendered = kustomize.render(
        &target.dir,
        &install.root,
        &target.shown,
        deadline,
        limit,
        &mut || progress.tick(),
    );
    let took = started.elapsed();
    // Said whether the render worked or not: an old kustomize may be why it failed.
    if let Some(warning) = kustomize.version_warning(&install) {
        let _ = writeln!(err, "warning: {warning}");
    }
    let rendered = rendered?;
    for remote in &rendered.remote {
        let _ = writeln!(
            err,
            "warning: the render fetched {} ({}:{}); vendor it for an install that renders offline and the same every time",
            remote.url, remote.file, remote.line
        );
    }
    let objects = objects::split(&rendered.yaml)
        .map_err(|e| Failure::new(format!("the render of {}: {e}", target.shown)))?;
    // A kfpatch overlay as the target carries the single-user values on purpose: the render must
    // agree with the files as the overlay switches them, not with the files as they are.
    let overlay = match overlay_files::detect(&install.root, &target.dir)? {
        Some(found) => Some(overlay::check(&install, &target.dir, &found)?),
        None => None,
    };
    if let Some(found) = overlay.as_ref().filter(|o| !o.up_to_date) {
        let _ = writeln!(
            err,
            "warning: the overlay {} is not what kfpatch would write for the current upstream files; run kfpatch multiuser off --overlay {} to update it",
            found.path, found.path
        );
    }
    let overlay_path = overlay.as_ref().map(|o| o.path.clone());
    let switched = overlay.map(|o| o.switched).unwrap_or_default();
    // Files above the install that decide a setting: the render must agree with them, not with
    // the install's file.
    let overrides = trace::winners(&install, &mut trace::Reaching::new(&install), &target.dir);
    let effective = effective::read(&install, &objects, &switched, &overrides)?;
    Ok(Render {
        install,
        target,
        kustomize,
        objects,
        took,
        effective,
        switched,
        overlay: overlay_path,
        overrides,
    })
}

impl Render {
    /// What was rendered, with which kustomize, and how long it took.
    pub fn header(&self) -> String {
        format!(
            "render:    {} ({})\nkustomize: {}\nobjects:   {} in {:.1} s\n",
            quoted(&self.target.shown),
            quoted(&self.target.why),
            self.kustomize.describe(),
            self.objects.len(),
            self.took.as_secs_f64()
        )
    }
}
