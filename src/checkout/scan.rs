//! What a checkout holds around (or instead of) the install: generated copies of the KFP objects
//! (Helm charts made from the render, pre-rendered YAML, test snapshots), kustomize remote bases
//! that fetch KFP from GitHub, and the template generator an install may be vendored into.
//!
//! Distributions keep these beside the upstream files. kfpatch cannot switch them, but
//! a user who switches the install and deploys one of them gets the old mode, so `status`,
//! `audit` and `multiuser` name them. The checkout is walked once, reading directory entries
//! only; a file is read only when its name can hold what is looked for (a kustomization, or YAML),
//! and at most [`READ_LIMIT`] bytes of it. The install's own KFP tree and upstream's own folders
//! around it are not walked: their files are the sources, not copies.

use std::fs;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::checkout::install::{Install, Layout};
use crate::checkout::kustomization::{KFP_HOST, KUSTOMIZATION_FILES};
use crate::checkout::model::{self, CannotTrace, entries};
use crate::checkout::paths::relative;
use crate::checkout::version::Version;
use crate::checkout::walk;
use crate::output::escape::quoted;

/// The most kfpatch reads of one file while scanning: a whole rendered KFP install is about
/// 1 MiB, so a copy inside a larger file is still found when it comes early, and a huge file
/// costs no more than this.
pub const READ_LIMIT: u64 = 4 << 20;

/// Folders never walked: version control, dependencies, build output, and kfp-tekton's copies
/// (a different component, not the KFP install kfpatch switches).
pub(crate) const PRUNED: &[&str] = &[".git", "node_modules", "target", "kfp-tekton"];

/// Upstream kubeflow/manifests' and kubeflow/pipelines' own top-level folders: in a checkout of
/// either (or a fork), their files are upstream's sources, never generated copies, and skipping
/// them keeps a plain checkout's scan to a few folder reads.
const UPSTREAM_FOLDERS: &[&str] = &[
    "apps",
    "applications",
    "common",
    "contrib",
    "experimental",
    "example",
    "hack",
    "proposals",
    "docs",
    ".github",
    // kubeflow/pipelines' own source folders
    "api",
    "backend",
    "components",
    "frontend",
    "samples",
    "sdk",
    "test",
    "test_data",
    "third_party",
    "kubernetes_platform",
];

/// The mode a copy's MULTIUSER means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMode {
    On,
    Off,
    /// Set by the tool that makes the copy (`{{ .Values.multiUser }}`).
    Templated,
    /// Not a value the API server accepts.
    Invalid,
}

impl CopyMode {
    pub fn word(self) -> &'static str {
        match self {
            CopyMode::On => "on",
            CopyMode::Off => "off",
            CopyMode::Templated => "set by the template",
            CopyMode::Invalid => "not a boolean",
        }
    }
}

/// A generated copy of the API server's or the persistence agent's ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// Relative to the `-C` folder.
    pub file: String,
    /// The MULTIUSER line.
    pub line: usize,
    /// The ConfigMap's name.
    pub object: String,
    /// MULTIUSER as written.
    pub value: String,
    pub mode: CopyMode,
}

impl Copy {
    /// `file:line: ConfigMap NAME, MULTIUSER VALUE (mode)`.
    pub fn describe(&self) -> String {
        format!(
            "{}:{}: ConfigMap {}, MULTIUSER {} ({})",
            quoted(&self.file),
            self.line,
            quoted(&self.object),
            quoted(&self.value),
            self.mode.word()
        )
    }

    /// Whether the copy disagrees with an install whose mode word is `install_mode`.
    pub fn disagrees_with(&self, install_mode: &str) -> bool {
        match self.mode {
            CopyMode::On => install_mode == "off",
            CopyMode::Off => install_mode == "on",
            CopyMode::Invalid => true,
            CopyMode::Templated => false,
        }
    }
}

/// A kustomize remote reference to KFP's manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteKfp {
    /// The kustomization, relative to the `-C` folder.
    pub file: String,
    pub line: usize,
    pub url: String,
    /// `kubeflow/manifests` or `kubeflow/pipelines`.
    pub repository: String,
    /// The folder inside the repository.
    pub path: String,
    /// `?ref=` (or `?version=`), if given.
    pub reference: Option<String>,
}

impl RemoteKfp {
    /// What the ref means: a release with its KFP version, a commit, or something else.
    pub fn release(&self) -> String {
        let Some(reference) = &self.reference else {
            return "no ref: the default branch, whatever it holds when kustomize runs".to_string();
        };
        if reference.len() >= 7 && reference.chars().all(|c| c.is_ascii_hexdigit()) {
            return format!("ref {reference}: a commit, not a release");
        }
        match kfp_of_ref(&self.repository, reference) {
            Some(kfp) => format!("ref {reference}: KFP {kfp}"),
            None => {
                format!("ref {reference}: not a release kfpatch knows (a branch or another tag)")
            }
        }
    }
}

/// kubeflow/manifests release tags and the KFP version each ships.
pub const MANIFESTS_RELEASES: &[(&str, &str)] = &[
    ("v1.3.1", "1.5.1"),
    ("v1.4.0", "1.7.0"),
    ("v1.4.1", "1.7.0"),
    ("v1.5.0", "1.8.1"),
    ("v1.5.1", "1.8.2"),
    ("v1.6.0", "2.0.0-alpha.3"),
    ("v1.6.1", "2.0.0-alpha.5"),
    ("v1.7.0", "2.0.0-alpha.7"),
    ("v1.8.0", "2.0.3"),
    ("v1.8.1", "2.0.5"),
    ("v1.9.0", "2.2.0"),
    ("v1.9.1", "2.3.0"),
    ("v1.10.0", "2.4.1"),
    ("v1.10.1", "2.5.0"),
    ("v1.10.2", "2.5.0"),
    ("v1.11.0", "2.15.0"),
    ("26.03", "2.16.0"),
];

/// The KFP version a ref of `repository` names, when it is a release tag: kubeflow/manifests by
/// the table, kubeflow/pipelines tags are the KFP version itself.
pub fn kfp_of_ref(repository: &str, reference: &str) -> Option<String> {
    if repository == "kubeflow/manifests" {
        return MANIFESTS_RELEASES
            .iter()
            .find(|(tag, _)| *tag == reference)
            .map(|(_, kfp)| (*kfp).to_string());
    }
    let bare = reference.strip_prefix('v').unwrap_or(reference);
    let looks_like_release =
        bare.split('.').count() >= 3 && bare.starts_with(|c: char| c.is_ascii_digit());
    (looks_like_release && Version::parse(bare).is_some()).then(|| bare.to_string())
}

/// Parses every form of kustomize remote URL that points into kubeflow/manifests or
/// kubeflow/pipelines' KFP manifests: `github.com/ORG/REPO/PATH?ref=`, `https://` with or
/// without `.git`, `//` before the path, `git::`, `ssh://git@github.com/`, `git@github.com:`.
/// `None` for anything else (other repositories, other components such as kfp-tekton).
pub fn parse_kfp_url(url: &str) -> Option<RemoteKfp> {
    let (location, query) = url.split_once('?').unwrap_or((url, ""));
    let mut rest = location.strip_prefix("git::").unwrap_or(location);
    for scheme in ["https://", "http://", "ssh://", "git://"] {
        if let Some(r) = rest.strip_prefix(scheme) {
            rest = r;
        }
    }
    rest = rest.strip_prefix("git@").unwrap_or(rest);
    let rest = rest
        .strip_prefix("github.com/")
        .or_else(|| rest.strip_prefix("github.com:"))?;
    let mut parts = rest.splitn(3, '/');
    let org = parts.next()?;
    let repo = parts.next()?;
    let path = parts.next().unwrap_or("");
    let repo = repo.strip_suffix(".git").unwrap_or(repo);
    let path = path.trim_start_matches('/').trim_end_matches('/');
    if !org.eq_ignore_ascii_case("kubeflow") {
        return None;
    }
    let repository = match repo.to_ascii_lowercase().as_str() {
        "manifests" => "kubeflow/manifests",
        "pipelines" => "kubeflow/pipelines",
        _ => return None,
    };
    let is_kfp = match repository {
        "kubeflow/manifests" => {
            path.split('/').any(|c| c == "pipeline") && !path.contains("kfp-tekton")
        }
        _ => path.starts_with("manifests/kustomize"),
    };
    if !is_kfp {
        return None;
    }
    let reference = query
        .split('&')
        .find_map(|pair| {
            pair.strip_prefix("ref=")
                .or_else(|| pair.strip_prefix("version="))
        })
        .map(str::to_string);
    Some(RemoteKfp {
        file: String::new(),
        line: 0,
        url: url.to_string(),
        repository: repository.to_string(),
        path: path.to_string(),
        reference,
    })
}

/// What the scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub copies: Vec<Copy>,
    pub remote: Vec<RemoteKfp>,
    /// Kustomization files that cannot be read (a FIFO, a device, too large, not UTF-8): what
    /// they fetch cannot be told.
    pub unreadable: Vec<CannotTrace>,
}

/// Walks `start` (a real folder inside the canonical `root`, which paths are shown relative to)
/// once for generated copies and remote KFP bases, not entering `skip` (the KFP trees of the
/// installs found).
pub fn scan(root: &Path, start: &Path, skip: &[PathBuf]) -> Found {
    let (mut found, met) = scan_copies(root, start, skip);
    read_met(root, &mut found, met, &|_| None);
    found
}

/// The kustomization files a scan met, each a folder (real, inside the root) and a name: read
/// by [`read_met`], which can be given the texts another reader already has.
pub type Met = Vec<(PathBuf, &'static str)>;

/// [`scan`] without reading the kustomization files it meets: the generated copies, and the
/// kustomization files for [`read_met`].
pub fn scan_copies(root: &Path, start: &Path, skip: &[PathBuf]) -> (Found, Met) {
    let mut found = Found::default();
    let mut met = Met::new();
    // The kubeflow/manifests checkouts around the installs: their upstream folders are sources.
    let upstream_roots: Vec<PathBuf> = skip.iter().filter_map(|tree| upstream_root(tree)).collect();
    let enter = |path: &Path, name: &str| {
        let upstream_folder = UPSTREAM_FOLDERS.contains(&name)
            && path
                .parent()
                .is_some_and(|parent| upstream_roots.iter().any(|r| r == parent));
        !PRUNED.contains(&name) && !upstream_folder && !skip.iter().any(|s| s == path)
    };
    walk::files(start, enter, |path, name| {
        if let Some(name) = KUSTOMIZATION_FILES.iter().find(|k| **k == name) {
            // The walk starts in the canonical root and follows no symlink: the folder is real.
            met.push((path.parent().unwrap_or(root).to_path_buf(), name));
        } else if [".yaml", ".yml"].iter().any(|ext| name.ends_with(ext))
            && let Some(text) = read_bounded(path)
            && text.contains("MULTIUSER")
        {
            let chart = in_helm_chart(root, path);
            found
                .copies
                .extend(copies_in(&text, &relative(root, path), chart));
        }
    });
    found
        .copies
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    (found, met)
}

/// The remote KFP bases (and the unreadable files) of the kustomization files `met`, added to
/// `found`. `known(folder)`: `None` when it must be read here, `Some` when the only
/// kustomization file of the folder was read already, with its text when it names
/// [`KFP_HOST`] (the search for deploying kustomizations reads most of them: a deep tree's are
/// not read twice).
pub fn read_met<'a>(
    root: &Path,
    found: &mut Found,
    met: Met,
    known: &dyn Fn(&Path) -> Option<Option<&'a str>>,
) {
    for (dir, name) in met {
        let text = match known(&dir) {
            Some(None) => continue,
            Some(Some(text)) => Ok(text.to_string()),
            None => model::read_walked(root, &dir, name),
        };
        match remote_of_read(root, &dir, name, text) {
            Ok(remote) => found.remote.extend(remote),
            Err(c) => found.unreadable.push(c),
        }
    }
    found
        .remote
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    found.unreadable.sort();
}

/// The remote KFP bases of the kustomization file `name` in `dir`, read by the model's one
/// reader; the file and why when it cannot be read.
pub fn remote_of_kustomization(
    root: &Path,
    dir: &Path,
    name: &'static str,
) -> Result<Vec<RemoteKfp>, CannotTrace> {
    remote_of_read(root, dir, name, model::read(root, &dir.join(name)))
}

/// [`remote_of_kustomization`] given the file's text, or why it cannot be read.
fn remote_of_read(
    root: &Path,
    dir: &Path,
    name: &'static str,
    text: Result<String, String>,
) -> Result<Vec<RemoteKfp>, CannotTrace> {
    let shown = relative(root, &dir.join(name));
    let text = text.map_err(|why| CannotTrace {
        file: shown.clone(),
        line: 1,
        why: format!("cannot be read ({why}): whether it fetches KFP cannot be told"),
    })?;
    // Every form of KFP URL names github.com: most kustomizations need no parsing.
    if !text.contains(KFP_HOST) {
        return Ok(Vec::new());
    }
    match model::load(root, dir, Some((name, text.clone()))) {
        Ok(Some(k)) => Ok(entries::entries(&k)
            .iter()
            .filter(|e| e.is_remote())
            .filter_map(|e| {
                let mut remote = parse_kfp_url(e.text)?;
                remote.file = shown.clone();
                remote.line = e.line;
                Some(remote)
            })
            .collect()),
        // Not YAML: a kustomization a template generator fills in, read line by line.
        _ => Ok(remote_in(&text, &shown)),
    }
}

/// The remote KFP bases a checkout without KFP files found, or the error naming each
/// kustomization file the scan could not read (where KFP comes from cannot be told then).
pub fn remote_or_unreadable(found: Found) -> crate::error::Result<Vec<RemoteKfp>> {
    if found.unreadable.is_empty() {
        return Ok(found.remote);
    }
    let lines: String = found
        .unreadable
        .iter()
        .map(|c| format!("  {}\n", c.shown()))
        .collect();
    Err(crate::error::Failure::new(format!(
        "no KFP files in this checkout, and where its KFP comes from cannot be told: kustomization files cannot be read:\n{lines}  fix: make each a readable kustomization file (or remove it), then run again"
    )))
}

/// What a command that needs KFP files says in a checkout whose KFP comes only from remote
/// bases, and the two ways on.
pub fn remote_only(remote: &[RemoteKfp]) -> String {
    format!(
        "no KFP files in this checkout: its kustomizations fetch KFP as remote bases, which kustomize downloads when it renders, so nothing here can be edited in place:\n{}{SWITCH_REMOTE}",
        remote_lines(remote)
    )
}

/// How to switch KFP that comes from a remote base.
pub const SWITCH_REMOTE: &str = "to switch: write an overlay over the kustomization that fetches the base (kfpatch multiuser off --overlay DIR --target FOLDER, offline, for a release ref), or vendor the base (copy the files at that ref into the checkout and point the entry at the copy) and run kfpatch there";

/// The root of the upstream checkout around a KFP tree: the folder that holds `apps/` or
/// `applications/` (kubeflow/manifests), `pipeline/` (its legacy layout) or `manifests/kustomize`
/// (kubeflow/pipelines).
fn upstream_root(kfp_tree: &Path) -> Option<PathBuf> {
    let parent = kfp_tree.parent()?;
    let name = parent.file_name()?;
    if name == "apps" || name == "applications" {
        return parent.parent().map(Path::to_path_buf);
    }
    if kfp_tree.ends_with("manifests/kustomize") {
        return parent.parent().map(Path::to_path_buf);
    }
    kfp_tree
        .file_name()
        .is_some_and(|n| n == "pipeline")
        .then(|| parent.to_path_buf())
}

/// Where the scan around `install` starts: the folder that holds the upstream checkout (the
/// distribution that clones, copies or vendors it, with its charts and pre-rendered files), or
/// `-C` when the upstream checkout is `-C` itself (a fork). Walking only that folder keeps
/// `status` in a monorepo as fast as before: the rest of the monorepo is not read.
pub fn scan_start(install: &Install) -> PathBuf {
    skip_for(install)
        .first()
        .and_then(|tree| upstream_root(tree))
        .and_then(|upstream| upstream.parent().map(Path::to_path_buf))
        .filter(|holder| holder.starts_with(&install.root))
        .unwrap_or_else(|| install.root.clone())
}

/// The skip list for an install: its KFP tree (the sources of what a copy would copy).
pub fn skip_for(install: &Install) -> Vec<PathBuf> {
    match install.layout {
        Layout::Unrecognised => vec![install.dir.clone()],
        _ => vec![install.kfp_tree()],
    }
}

/// Up to [`READ_LIMIT`] bytes of the regular file `path` as text, for the copies and generator
/// scans (kustomization files are read by the model's reader); `None` when it is not a regular
/// file, cannot be read or is not UTF-8 (a copy kustomize or Helm reads is UTF-8). Opened without
/// blocking: a FIFO is never waited on.
pub(crate) fn read_bounded(path: &Path) -> Option<String> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok().filter(fs::Metadata::is_file)?;
    // Sized from the file, the read takes two calls; grown from empty, it takes one per doubling.
    let size = meta.len().min(READ_LIMIT);
    let mut bytes = Vec::with_capacity(size as usize + 1);
    file.take(READ_LIMIT).read_to_end(&mut bytes).ok()?;
    match String::from_utf8(bytes) {
        Ok(text) => Some(text),
        // Cut inside a character at the limit: keep the whole characters before it.
        Err(e) if e.utf8_error().error_len().is_none() => {
            let valid = e.utf8_error().valid_up_to();
            let mut bytes = e.into_bytes();
            bytes.truncate(valid);
            String::from_utf8(bytes).ok()
        }
        Err(_) => None,
    }
}

/// Whether `path` is in the `templates/` folder of a Helm chart (a `Chart.yaml` beside it).
fn in_helm_chart(root: &Path, path: &Path) -> bool {
    path.ancestors()
        .skip(1)
        .take_while(|dir| dir.starts_with(root))
        .any(|dir| {
            dir.file_name().is_some_and(|n| n == "templates")
                && dir.parent().is_some_and(|p| p.join("Chart.yaml").is_file())
        })
}

/// The remote KFP bases among the entries of a kustomization, line by line (a kustomization that
/// a template generator fills in is not YAML until then, and the line is what the user needs).
pub fn remote_in(text: &str, shown: &str) -> Vec<RemoteKfp> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let Some(entry) = trimmed.strip_prefix("- ") else {
            continue;
        };
        let entry = entry.split(" #").next().unwrap_or(entry).trim();
        let entry = entry.trim_matches(|c| c == '"' || c == '\'');
        if let Some(mut remote) = parse_kfp_url(entry) {
            remote.file = shown.to_string();
            remote.line = index + 1;
            found.push(remote);
        }
    }
    found
}

/// The ConfigMaps of a YAML stream that are rendered copies of the API server's or persistence
/// agent's: a kustomize hash suffix on the name (`pipeline-api-server-config-dc9hkg52h6`), or any
/// such name in a Helm chart's templates.
fn copies_in(text: &str, shown: &str, chart: bool) -> Vec<Copy> {
    let mut found = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0;
    while start < lines.len() {
        let end = (start + 1..lines.len())
            .find(|i| lines[*i].starts_with("---"))
            .unwrap_or(lines.len());
        found.extend(copy_in_document(&lines[start..end], start, shown, chart));
        start = end;
    }
    found
}

fn copy_in_document(doc: &[&str], offset: usize, shown: &str, chart: bool) -> Option<Copy> {
    if !doc.iter().any(|l| l.trim_end() == "kind: ConfigMap") {
        return None;
    }
    let object = doc.iter().find_map(|l| {
        let name = l.trim().strip_prefix("name:")?.trim();
        let name = name.trim_matches(|c| c == '"' || c == '\'');
        ["pipeline-api-server-config", "persistenceagent-config"]
            .iter()
            .find_map(|base| {
                let suffix = name.strip_prefix(base)?;
                let hashed = suffix.strip_prefix('-').is_some_and(|hash| {
                    hash.len() == 10 && hash.chars().all(|c| c.is_ascii_alphanumeric())
                });
                (hashed || chart).then(|| name.to_string())
            })
    })?;
    let (index, value) = doc.iter().enumerate().find_map(|(i, l)| {
        let value = l
            .strip_prefix(|c: char| c == ' ')?
            .trim_start()
            .strip_prefix("MULTIUSER:")?;
        Some((i, value.trim()))
    })?;
    let bare = value.trim_matches(|c| c == '"' || c == '\'');
    let mode = if value.contains("{{") {
        CopyMode::Templated
    } else {
        match bare {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => CopyMode::On,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => CopyMode::Off,
            _ => CopyMode::Invalid,
        }
    };
    Some(Copy {
        file: shown.to_string(),
        line: offset + index + 1,
        object,
        value: value.to_string(),
        mode,
    })
}

/// One line per remote base, then what it points at.
pub fn remote_lines(remote: &[RemoteKfp]) -> String {
    remote
        .iter()
        .map(|r| {
            format!(
                "  {}:{}: {}\n    {} {}, {}\n",
                quoted(&r.file),
                r.line,
                quoted(&r.url),
                quoted(&r.repository),
                quoted(if r.path.is_empty() { "." } else { &r.path }),
                quoted(&r.release())
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_url_form_of_facts_8() {
        let cases = [
            (
                "github.com/kubeflow/manifests/apps/pipeline/upstream/base/installs/multi-user?ref=v1.6.0",
                "kubeflow/manifests",
                "apps/pipeline/upstream/base/installs/multi-user",
                Some("v1.6.0"),
            ),
            (
                "https://github.com/kubeflow/pipelines/manifests/kustomize/env/platform-agnostic-multi-user?ref=2.0.1",
                "kubeflow/pipelines",
                "manifests/kustomize/env/platform-agnostic-multi-user",
                Some("2.0.1"),
            ),
            (
                "https://github.com/kubeflow/manifests.git//apps/pipeline/upstream/base?ref=v1.7.0",
                "kubeflow/manifests",
                "apps/pipeline/upstream/base",
                Some("v1.7.0"),
            ),
            (
                "git::https://github.com/kubeflow/manifests//apps/pipeline/upstream/base?ref=v1.8.1",
                "kubeflow/manifests",
                "apps/pipeline/upstream/base",
                Some("v1.8.1"),
            ),
            (
                "ssh://git@github.com/kubeflow/manifests.git//applications/pipeline/upstream?ref=26.03",
                "kubeflow/manifests",
                "applications/pipeline/upstream",
                Some("26.03"),
            ),
            (
                "git@github.com:kubeflow/pipelines.git/manifests/kustomize/base/installs/multi-user?ref=0a1b2c3",
                "kubeflow/pipelines",
                "manifests/kustomize/base/installs/multi-user",
                Some("0a1b2c3"),
            ),
            (
                "https://github.com/kubeflow/manifests/apps/pipeline/upstream/base?version=v1.9.1&timeout=90s",
                "kubeflow/manifests",
                "apps/pipeline/upstream/base",
                Some("v1.9.1"),
            ),
        ];
        for (url, repository, path, reference) in cases {
            let parsed = parse_kfp_url(url).unwrap_or_else(|| panic!("{url} not parsed"));
            assert_eq!(
                (
                    parsed.repository.as_str(),
                    parsed.path.as_str(),
                    parsed.reference.as_deref()
                ),
                (repository, path, reference),
                "{url}"
            );
        }
        for other in [
            "https://github.com/argoproj/argo-workflows/manifests/base?ref=v3.7.3",
            "github.com/kubeflow/manifests/common/istio?ref=v1.8.1",
            "github.com/kubeflow/manifests/apps/kfp-tekton/upstream/base?ref=v1.8.1",
            "https://gitlab.com/kubeflow/manifests/apps/pipeline?ref=v1.8.1",
        ] {
            assert_eq!(parse_kfp_url(other), None, "{other}");
        }
    }

    #[test]
    fn refs_name_releases_by_the_facts_table() {
        let remote = |reference: &str| RemoteKfp {
            file: String::new(),
            line: 1,
            url: String::new(),
            repository: "kubeflow/manifests".to_string(),
            path: String::new(),
            reference: Some(reference.to_string()),
        };
        assert_eq!(remote("v1.8.1").release(), "ref v1.8.1: KFP 2.0.5");
        assert_eq!(remote("26.03").release(), "ref 26.03: KFP 2.16.0");
        assert_eq!(
            remote("0a1b2c3d").release(),
            "ref 0a1b2c3d: a commit, not a release"
        );
        assert_eq!(
            kfp_of_ref("kubeflow/pipelines", "2.0.1").as_deref(),
            Some("2.0.1")
        );
        assert_eq!(kfp_of_ref("kubeflow/pipelines", "master"), None);
    }

    #[test]
    fn copies_by_hashed_name_or_chart() {
        let text = "apiVersion: v1\ndata:\n  MULTIUSER: 'true'\nkind: ConfigMap\nmetadata:\n  name: pipeline-api-server-config-dc9hkg52h6\n---\nkind: ConfigMap\nmetadata:\n  name: pipeline-api-server-config\ndata:\n  MULTIUSER: \"false\"\n";
        let found = copies_in(text, "x.yaml", false);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].mode), (3, CopyMode::On));
        let in_chart = copies_in(text, "x.yaml", true);
        assert_eq!(in_chart.len(), 2);
        assert_eq!((in_chart[1].line, in_chart[1].mode), (12, CopyMode::Off));
    }
}
