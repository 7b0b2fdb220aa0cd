//! A KFP multi-user install: the `installs/multi-user` folder whose `api-service/params.env`
//! holds the MULTIUSER switch, which upstream layout it sits in, and which release it is (read
//! from `installs/generic/pipeline-install-config.yaml`, or in the kfctl-era `pipeline/` layout
//! from `pipeline/upstream/base/params.env`). Finding one is [`crate::checkout::discover`];
//! reading its files goes through [`crate::checkout::safe_read`].

use std::fs;
use std::path::{Path, PathBuf};

use crate::checkout::paths::relative;
use crate::checkout::safe_read::{ensure_inside, read_below, read_inside, resolve_below};
use crate::checkout::version::Version;
use crate::error::{Failure, Result};
use crate::syntax::envfile::KeyState;

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

    pub(super) fn of(rel: &str) -> Layout {
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

/// Opens the install at `dir` (which holds the switch file) under a canonical `root`.
pub(super) fn open(root: &Path, dir: &Path) -> Result<Install> {
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
        Ok(None) => {
            return kfctl_version(root, installs)
                .unwrap_or_else(|| Err(format!("{shown} not found")));
        }
        Err(e) => return Err(e.message),
    };
    let text = crate::syntax::without_bom(&text);
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

/// The kfctl-era layout (kubeflow/manifests v1.1, v1.2: `pipeline/installs/multi-user`, KFP
/// 1.0.x) has no `pipeline-install-config.yaml`: `installs/generic` generates that ConfigMap from
/// `pipeline/upstream/base/params.env`, whose `appVersion` is the release. `None` when the file
/// is not there (another layout).
fn kfctl_version(root: &Path, installs: &Path) -> Option<std::result::Result<Version, String>> {
    let file = installs.parent()?.join("upstream/base/params.env");
    let shown = relative(root, &file);
    let text = match read_inside(root, &file, &shown) {
        Ok(Some(text)) => text,
        Ok(None) => return None,
        Err(e) => return Some(Err(e.message)),
    };
    let env = crate::syntax::envfile::EnvFile::parse(crate::syntax::without_bom(&text));
    Some(match env.check_key("appVersion") {
        KeyState::Set { line, value } => Version::parse(value)
            .ok_or_else(|| format!("{shown}:{line}: appVersion {value:?} is not a version")),
        KeyState::Absent => Err(format!("{shown} has no appVersion")),
        KeyState::Malformed(m) => Err(format!("{shown}:{}: appVersion is malformed", m.line())),
    })
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
