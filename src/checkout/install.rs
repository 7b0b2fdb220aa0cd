//! Finding the KFP multi-user install in a checkout, and reading its files safely.
//!
//! An install is the `installs/multi-user` folder whose `api-service/params.env` holds the
//! MULTIUSER switch. Its path changed between releases (facts §2), so the known layouts are probed
//! first: a checkout root, or a KFP tree itself, is answered with a handful of `stat` calls. Only
//! when none matches does kfpatch walk the tree (pruning `.git`, `node_modules`, `target`, and
//! not descending into an install once found). kfp-tekton ships identical copies of the file for a
//! different, optional component; they are never picked unless named with `--install`.

use std::fs;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use crate::checkout::version::Version;
use crate::checkout::walk;
use crate::error::{Failure, Result};

/// The API server's switch file, relative to the install.
pub const PARAMS_ENV: &str = "api-service/params.env";

/// Which upstream repository layout an install sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// kubeflow/manifests v1.3.0 to v1.10.1: `apps/pipeline/upstream/...`
    ManifestsApps,
    /// kubeflow/manifests v1.10.2 on: `applications/pipeline/upstream/...`
    ManifestsApplications,
    /// kubeflow/manifests v1.1.0, v1.2.0: `pipeline/installs/...`
    ManifestsLegacy,
    /// kubeflow/pipelines: `manifests/kustomize/base/...`
    Pipelines,
    /// Found by name in a tree kfpatch does not recognise (a vendored or renamed copy).
    Unrecognised,
}

impl Layout {
    pub fn describe(self) -> &'static str {
        match self {
            Layout::ManifestsApps => "kubeflow/manifests, apps/ layout (v1.3.0 to v1.10.1)",
            Layout::ManifestsApplications => {
                "kubeflow/manifests, applications/ layout (v1.10.2 and later)"
            }
            Layout::ManifestsLegacy => "kubeflow/manifests, legacy pipeline/ layout (v1.1, v1.2)",
            Layout::Pipelines => "kubeflow/pipelines, manifests/kustomize layout",
            Layout::Unrecognised => "unrecognised layout (found by its installs/multi-user path)",
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Layout::ManifestsApps => "manifests-apps",
            Layout::ManifestsApplications => "manifests-applications",
            Layout::ManifestsLegacy => "manifests-legacy",
            Layout::Pipelines => "pipelines",
            Layout::Unrecognised => "unrecognised",
        }
    }

    fn of(rel: &str) -> Layout {
        let known = [
            (
                "apps/pipeline/upstream/base/installs/multi-user",
                Layout::ManifestsApps,
            ),
            (
                "applications/pipeline/upstream/base/installs/multi-user",
                Layout::ManifestsApplications,
            ),
            (
                "manifests/kustomize/base/installs/multi-user",
                Layout::Pipelines,
            ),
            (
                "manifests/kustomize/v1/base/installs/multi-user",
                Layout::Pipelines,
            ),
            ("pipeline/installs/multi-user", Layout::ManifestsLegacy),
        ];
        known
            .iter()
            .find(|(suffix, _)| rel == *suffix || rel.ends_with(&format!("/{suffix}")))
            .map_or(Layout::Unrecognised, |(_, layout)| *layout)
    }
}

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

/// A KFP multi-user install.
#[derive(Debug, Clone)]
pub struct Install {
    /// The checkout root kfpatch runs in (`-C`), canonical.
    pub root: PathBuf,
    /// The `installs/multi-user` folder, canonical.
    pub dir: PathBuf,
    /// `dir` relative to `root`, with `/` separators (`.` when they are the same).
    pub rel: String,
    pub layout: Layout,
    /// `appVersion` of `installs/generic/pipeline-install-config.yaml`, or why it is unknown.
    pub version: std::result::Result<Version, String>,
}

impl Install {
    /// The KFP version for output, or why it is unknown.
    pub fn version_text(&self) -> String {
        match &self.version {
            Ok(v) => v.to_string(),
            Err(why) => format!("unknown ({why})"),
        }
    }

    /// A managed file's path relative to the checkout root, for messages and diffs.
    pub fn display(&self, file: &str) -> String {
        if self.rel == "." {
            file.to_string()
        } else {
            format!("{}/{file}", self.rel)
        }
    }

    /// The folder that holds the whole KFP tree: `pipeline/` (with `upstream/`) in
    /// kubeflow/manifests, `manifests/kustomize` in kubeflow/pipelines.
    pub fn kfp_tree(&self) -> PathBuf {
        let levels = match self.layout {
            Layout::ManifestsApps | Layout::ManifestsApplications => 4,
            Layout::Pipelines => 3,
            Layout::ManifestsLegacy => 2,
            Layout::Unrecognised => 3,
        };
        let mut tree = self.dir.clone();
        for _ in 0..levels {
            if tree == self.root {
                break;
            }
            tree.pop();
        }
        tree
    }

    /// `appVersion` below 2.0.0-beta.0 (the old UI/API-server namespace behaviour).
    pub fn is_kfp_before_2_beta(&self) -> Option<bool> {
        let beta = Version::parse("2.0.0-beta.0")?;
        self.version.as_ref().ok().map(|v| *v < beta)
    }

    /// Reads a file of the install, or `None` when it does not exist. Refuses files that are not
    /// UTF-8, that are not regular files, or whose real path leaves the checkout.
    pub fn read(&self, file: &str) -> Result<Option<String>> {
        // `dir` is canonical and inside the checkout, so only the components of `file` can lead
        // out of it: a couple of `lstat` calls instead of resolving the whole path.
        read_below(&self.root, &self.dir, Path::new(file), &self.display(file))
    }

    /// The real path to write `file` to (through any symlink that stays in the checkout).
    pub fn real_path(&self, file: &str) -> Result<PathBuf> {
        let path = self.dir.join(file);
        let real = fs::canonicalize(&path).map_err(|e| Failure::io("resolve", &path, &e))?;
        ensure_inside(&self.root, &real, &self.display(file))?;
        Ok(real)
    }
}

/// Reads `path` as UTF-8 text after checking that its real path is inside `root` (canonical).
pub fn read_inside(root: &Path, path: &Path, shown: &str) -> Result<Option<String>> {
    match path.strip_prefix(root) {
        Ok(rel) => read_below(root, root, rel, shown),
        Err(_) => match fs::canonicalize(path) {
            Ok(real) => {
                ensure_inside(root, &real, shown)?;
                let rel = real.strip_prefix(root).unwrap_or(&real).to_path_buf();
                read_below(root, root, &rel, shown)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Failure::io("read", Path::new(shown), &e)),
        },
    }
}

/// The most kfpatch reads of one file: a ConfigMap holds at most 1 MiB, so a managed file larger
/// than that could never reach the cluster (and reading a huge one whole costs its size in
/// memory, several times over).
pub const MAX_FILE: u64 = 1 << 20;

/// Reads `base/rel`, where `base` is a canonical folder inside `root`: see [`resolve_below`].
/// The file is opened without blocking and checked again once open (a FIFO swapped in after the
/// check must not hang the read), and at most [`MAX_FILE`] bytes are read.
fn read_below(root: &Path, base: &Path, rel: &Path, shown: &str) -> Result<Option<String>> {
    let Some(real) = resolve_below(root, base, rel, shown)? else {
        return Ok(None);
    };
    let failed = |e: std::io::Error| Failure::io("read", Path::new(shown), &e);
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&real)
        .map_err(failed)?;
    let meta = file.metadata().map_err(failed)?;
    check_kind(&meta, shown)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(too_large(shown, meta.len().max(bytes.len() as u64)));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            // `valid_up_to` is at most the length of the bytes, so the slice cannot panic.
            let line = e.as_bytes()[..offset]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            Err(Failure::new(format!(
                "{shown}:{line}: not valid UTF-8 (byte {offset}); kustomize refuses such files too. Re-save it as UTF-8"
            )))
        }
    }
}

/// Where `base/rel` really is, checked without opening it: `None` when it does not exist; an
/// error when it is not a regular file, is larger than [`MAX_FILE`], or its real path leaves
/// `root`. `base` is a canonical folder inside `root`: each component of `rel` is checked with
/// `lstat`, and only a symlink or `..` among them costs a full resolution (which must stay in
/// `root`).
fn resolve_below(root: &Path, base: &Path, rel: &Path, shown: &str) -> Result<Option<PathBuf>> {
    let mut at = base.to_path_buf();
    let mut last = None;
    let mut through_link = false;
    for component in rel.components() {
        let Component::Normal(name) = component else {
            last = None;
            break;
        };
        at.push(name);
        let meta = match fs::symlink_metadata(&at) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Failure::io("read", Path::new(shown), &e)),
        };
        if meta.file_type().is_symlink() {
            last = None;
            through_link = true;
            break;
        }
        last = Some(meta);
    }
    let (real, meta) = match last {
        Some(meta) => (at, meta),
        None => {
            let full = base.join(rel);
            let real = match fs::canonicalize(&full) {
                Ok(real) => real,
                Err(e) if !through_link && e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(None);
                }
                Err(e) if !through_link => return Err(Failure::io("read", Path::new(shown), &e)),
                Err(e) => {
                    return Err(Failure::new(format!(
                        "{shown} is a symlink that cannot be followed ({e}); fix or remove the link"
                    )));
                }
            };
            ensure_inside(root, &real, shown)?;
            let meta =
                fs::metadata(&real).map_err(|e| Failure::io("read", Path::new(shown), &e))?;
            (real, meta)
        }
    };
    check_kind(&meta, shown)?;
    Ok(Some(real))
}

/// Refuses anything but a regular file of at most [`MAX_FILE`] bytes, naming what it is.
fn check_kind(meta: &fs::Metadata, shown: &str) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    let what = if kind.is_file() {
        if meta.len() > MAX_FILE {
            return Err(too_large(shown, meta.len()));
        }
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "something else"
    };
    Err(Failure::new(format!(
        "{shown} is {what}, not a regular file; kfpatch reads and writes regular files only\n  fix: put the upstream file back (git checkout -- {shown})"
    )))
}

fn too_large(shown: &str, len: u64) -> Failure {
    Failure::new(format!(
        "{shown} is {len} bytes; kfpatch reads managed files of at most 1 MiB ({MAX_FILE} bytes), the most a ConfigMap holds, so the cluster could never take this one\n  fix: shrink it to the settings it is meant to hold"
    ))
}

/// Whether anything (a file, a folder, a FIFO, a link, even a broken one) is at `path`.
fn something_at(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

fn ensure_inside(root: &Path, real: &Path, shown: &str) -> Result<()> {
    let real = fs::canonicalize(real).unwrap_or_else(|_| real.to_path_buf());
    if real.starts_with(root) {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "{shown} resolves to {}, outside the checkout {}; kfpatch does not read or write through symlinks that leave the checkout",
            real.display(),
            root.display()
        )))
    }
}

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
        [one] => open(&root, one).map(Some),
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
            open(root, &real)
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

fn open(root: &Path, dir: &Path) -> Result<Install> {
    let dir = fs::canonicalize(dir).map_err(|e| Failure::io("open", dir, &e))?;
    ensure_inside(root, &dir, &relative(root, &dir))?;
    let rel = relative(root, &dir);
    // The switch file was found by its name alone: a FIFO, a folder or a broken link there is
    // named as such here, not passed over as "no install".
    resolve_below(
        root,
        &dir,
        Path::new(PARAMS_ENV),
        &relative(root, &dir.join(PARAMS_ENV)),
    )?;
    let version = read_version(root, &dir);
    Ok(Install {
        root: root.to_path_buf(),
        layout: Layout::of(&dir.to_string_lossy()),
        rel,
        dir,
        version,
    })
}

fn read_version(root: &Path, dir: &Path) -> std::result::Result<Version, String> {
    let Some(installs) = dir.parent() else {
        return Err("no installs/ folder".to_string());
    };
    let file = installs.join("generic/pipeline-install-config.yaml");
    let shown = relative(root, &file);
    let text = match read_inside(root, &file, &shown) {
        Ok(Some(text)) => text,
        Ok(None) => return Err(format!("{shown} not found")),
        Err(e) => return Err(e.message),
    };
    let text = crate::syntax::yamledit::without_bom(&text);
    if let Some(version) = plain_app_version(text).and_then(Version::parse) {
        return Ok(version);
    }
    let value: yaml_serde::Value =
        yaml_serde::from_str(text).map_err(|e| format!("{shown}: {e}"))?;
    let raw = value
        .get("data")
        .and_then(|d| d.get("appVersion"))
        .ok_or_else(|| format!("{shown} has no data.appVersion"))?;
    let text = match raw {
        yaml_serde::Value::String(s) => s.clone(),
        other => yaml_serde::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    };
    Version::parse(&text).ok_or_else(|| format!("{shown}: appVersion {text:?} is not a version"))
}

/// `data.appVersion` of a one-document file written the plain way every release writes it
/// (`data:` at the start of a line, `  appVersion: 2.16.0` among its entries, plain or simply
/// quoted), read without building the whole document: it is a large file, and `status` reads
/// only this value of it. Anything else (more documents, flow style, anchors, escapes) gives
/// `None` and is read by the YAML parser.
fn plain_app_version(text: &str) -> Option<&str> {
    let (mut in_data, mut content_seen) = (false, false);
    let mut entry_indent: Option<usize> = None;
    let mut found = None;
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with("---") && content_seen || line.starts_with("...") {
            return None;
        }
        if line.trim().is_empty() || line.trim_start().starts_with('#') || line.starts_with("---") {
            continue;
        }
        content_seen = true;
        if line.starts_with('\t') {
            return None;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            in_data = line.trim_end() == "data:";
            entry_indent = None;
            continue;
        }
        if !in_data {
            continue;
        }
        // The first entry of `data:` sets the indentation of its keys; deeper lines are values.
        if *entry_indent.get_or_insert(indent) != indent {
            continue;
        }
        let Some(value) = line.trim_start().strip_prefix("appVersion:") else {
            continue;
        };
        if found.is_some() {
            return None;
        }
        let value = value.split(" #").next().unwrap_or_default().trim();
        let unquoted = match value.as_bytes().first() {
            Some(b'\'' | b'"') => {
                let quote = &value[..1];
                value.strip_prefix(quote)?.strip_suffix(quote)?
            }
            _ => value,
        };
        if unquoted.is_empty()
            || !unquoted
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        {
            return None;
        }
        found = Some(unquoted);
    }
    found
}

/// `path` relative to `root` with `/` separators; `.` for the root itself.
pub fn relative(root: &Path, path: &Path) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_version_read_plainly_or_left_to_the_parser() {
        let config = |data: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pipeline-install-config\ndata:\n  appName: pipeline\n{data}  bucketName: mlpipeline\n"
            )
        };
        assert_eq!(
            plain_app_version(&config("  appVersion: 2.16.0\n")),
            Some("2.16.0")
        );
        assert_eq!(
            plain_app_version(&config("  appVersion: '2.0.5' # KFP\n")),
            Some("2.0.5")
        );
        assert_eq!(
            plain_app_version(&config("  appVersion: \"2.0.0-alpha.7\"\n")),
            Some("2.0.0-alpha.7")
        );
        // A line inside a block scalar is not a key of data.
        assert_eq!(
            plain_app_version(&config(
                "  script: |\n    appVersion: 9.9.9\n  appVersion: 1.8.2\n"
            )),
            Some("1.8.2")
        );
        // What only a YAML parser can answer right.
        for odd in [
            config("  appVersion: &v 2.16.0\n"),
            config("  appVersion: \"2.16\\u00300\"\n"),
            config("  appVersion: 1.0.0\n  appVersion: 2.0.0\n"),
            format!("{}---\nkind: Other\n", config("  appVersion: 2.16.0\n")),
            "data: {appVersion: 2.16.0}\n".to_string(),
        ] {
            assert_eq!(plain_app_version(&odd), None, "{odd}");
        }
    }

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

    #[test]
    fn layouts_by_path() {
        assert_eq!(
            Layout::of("apps/pipeline/upstream/base/installs/multi-user"),
            Layout::ManifestsApps
        );
        assert_eq!(
            Layout::of("vendor/kubeflow/applications/pipeline/upstream/base/installs/multi-user"),
            Layout::ManifestsApplications
        );
        assert_eq!(
            Layout::of("manifests/kustomize/base/installs/multi-user"),
            Layout::Pipelines
        );
        assert_eq!(Layout::of("x/installs/multi-user"), Layout::Unrecognised);
    }
}
