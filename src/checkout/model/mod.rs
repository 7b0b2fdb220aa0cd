//! kustomize, modelled offline: what building a kustomization of the checkout gives the objects
//! that hold the managed settings, without running kustomize. One model for every question of
//! the kind "what does the cluster get from this folder": [`build`] evaluates a kustomization
//! (resources, bases, components, config map and secret generators, every form of patch,
//! namePrefix/nameSuffix, namespace, labels, vars) into [`objects`], [`patch`] applies strategic
//! merge and JSON 6902 patches and target selectors, `replace` runs `replacements`, `transform`
//! runs generators and transformers (with kustomize's name hash, [`confighash`]), `vars` resolves
//! vars, and [`deploying`] finds every kustomization of the checkout whose build includes the
//! install. [`entries`] lists the entries of one kustomization, with their lines, as every
//! reader of kustomization files sees them, and [`sections`] gives its generators and patches,
//! with their lines, to the readers of overrides. [`decode`] reads the managed settings from
//! objects, the model's or a real render's
//! or a live cluster's alike, and [`findings`] turns what the model finds into audit findings.
//!
//! Where the model meets what it cannot evaluate offline (a plugin, a file it cannot read or
//! parse, a remote base, a construct it does not implement, a build kustomize would refuse), it
//! says so with the file and line: never a silent guess.

pub mod build;
pub mod confighash;
pub mod decode;
pub mod deploying;
pub mod entries;
pub mod findings;
pub mod json;
pub mod objects;
pub mod patch;
mod replace;
pub mod sections;
mod transform;
mod vars;

use std::path::{Path, PathBuf};

use serde::Serialize;
use yaml_serde::Value;

use crate::checkout::kustomization::KUSTOMIZATION_FILES;
use crate::checkout::paths::relative;
use crate::checkout::safe_read;

/// Something the model cannot evaluate, where it is, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CannotTrace {
    /// Relative to the checkout root.
    pub file: String,
    pub line: usize,
    pub why: String,
}

impl CannotTrace {
    pub fn shown(&self) -> String {
        format!("{}:{}: {}", self.file, self.line, self.why)
    }
}

/// The keys of a kustomization that cannot change a managed setting: read by kustomize, ignored
/// here.
const INERT: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "images",
    "replicas",
    "sortOptions",
    "buildMetadata",
    "commonLabels",
    "labels",
    "commonAnnotations",
];

/// The keys the model evaluates.
const EVALUATED: &[&str] = &[
    "resources",
    "bases",
    "components",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "namePrefix",
    "nameSuffix",
    "namespace",
    "vars",
    "replacements",
];

/// A kustomization file, read and parsed.
#[derive(Debug)]
pub struct Loaded {
    /// The folder, canonical.
    pub dir: PathBuf,
    /// The file, relative to the checkout root.
    pub shown: String,
    pub text: String,
    pub value: Value,
    pub component: bool,
    /// The fields the model does not evaluate (plugins, helm, fields kustomize refuses): its
    /// build cannot be traced, but its resources are still followed (it deploys what they do).
    pub unevaluated: Vec<CannotTrace>,
}

impl Loaded {
    /// The line of the first line holding `needle` (1 if none).
    pub fn line(&self, needle: &str) -> usize {
        entries::line_containing(&self.text, needle)
    }

    pub fn here(&self, needle: &str, why: impl Into<String>) -> CannotTrace {
        CannotTrace {
            file: self.shown.clone(),
            line: self.line(needle),
            why: why.into(),
        }
    }

    pub fn seq(&self, key: &str) -> &[Value] {
        self.value
            .get(key)
            .and_then(Value::as_sequence)
            .map_or(&[], Vec::as_slice)
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.value.get(key).and_then(Value::as_str)
    }

    /// The folder or file entries of `resources` and `bases` (kustomize reads `bases` as
    /// resources, after them), then `components`, each with whether it is a component.
    pub fn entries(&self) -> impl Iterator<Item = (&str, bool)> {
        ["resources", "bases", "components"]
            .into_iter()
            .flat_map(move |key| {
                self.seq(key)
                    .iter()
                    .filter_map(Value::as_str)
                    .map(move |e| (e, key == "components"))
            })
    }
}

/// The fields of a `configurations` file that cannot change a managed setting: where vars are
/// substituted (a managed value holding a var is caught when decoded), labels and images go.
const INERT_CONFIGURATIONS: &[&str] = &[
    "varReference",
    "commonLabels",
    "commonAnnotations",
    "images",
    "replicas",
];

impl Loaded {
    /// Checks the `configurations` files: only the fields that cannot change a managed setting.
    fn configurations(&self, root: &Path) -> Result<(), CannotTrace> {
        for entry in self.seq("configurations").iter().filter_map(Value::as_str) {
            let text = read(root, &self.dir.join(entry))
                .map_err(|why| self.here(entry, format!("cannot be read: {why}")))?;
            let value: Value = yaml_serde::from_str(crate::syntax::without_bom(&text))
                .map_err(|e| self.here(entry, format!("{entry} is not valid YAML: {e}")))?;
            let keys = value.as_mapping().into_iter().flat_map(|m| m.keys());
            for key in keys.filter_map(Value::as_str) {
                if !INERT_CONFIGURATIONS.contains(&key) {
                    return Err(self.here(
                        entry,
                        format!("{entry} configures {key}, not evaluated offline"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Reads a file a kustomization names: kustomize's load restrictor refuses one whose real path
/// is outside the kustomization's folder.
pub fn read_in(root: &Path, k: &Loaded, rel: &str) -> Result<String, String> {
    let path = k.dir.join(rel);
    // Only an entry that climbs (or is absolute) can leave the folder: the rest is not resolved
    // (a symlink inside pointing outside is still kept inside the checkout by safe_read).
    let climbs = Path::new(rel).components().any(|c| {
        !matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if climbs
        && let Ok(real) = path.canonicalize()
        && !real.starts_with(&k.dir)
    {
        return Err(format!(
            "{} is outside {}: kustomize refuses it (its load restrictor; kubectl kustomize --load-restrictor LoadRestrictionsNone allows it)",
            relative(root, &real),
            relative(root, &k.dir)
        ));
    }
    read(root, &path)
}

/// Reads a file of the checkout through [`safe_read`], as text or the reason it cannot be read.
pub fn read(root: &Path, path: &Path) -> Result<String, String> {
    let shown = relative(root, path);
    match safe_read::read_inside(root, path, &shown) {
        Ok(Some(text)) => Ok(text),
        Ok(None) => Err(format!("{shown} does not exist")),
        // The first line: safe_read's own advice follows on the next.
        Err(failure) => Err(failure
            .message
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()),
    }
}

/// The kustomization file names present in `dir`.
pub fn present(dir: &Path) -> Vec<&'static str> {
    KUSTOMIZATION_FILES
        .iter()
        .copied()
        .filter(|name| dir.join(name).symlink_metadata().is_ok())
        .collect()
}

/// The kustomization of `dir` (canonical): `Ok(None)` when the folder has none. `known`: the
/// text of its only kustomization file, already read.
pub fn load(
    root: &Path,
    dir: &Path,
    known: Option<(&'static str, String)>,
) -> Result<Option<Loaded>, CannotTrace> {
    if let Some((name, text)) = known {
        return parse(root, dir, name, text).map(Some);
    }
    let present: Vec<&str> = KUSTOMIZATION_FILES
        .iter()
        .copied()
        .filter(|name| dir.join(name).symlink_metadata().is_ok())
        .collect();
    let Some(name) = present.first() else {
        return Ok(None);
    };
    let path = dir.join(name);
    let shown = relative(root, &path);
    let fail = |line, why: String| CannotTrace {
        file: shown.clone(),
        line,
        why,
    };
    if present.len() > 1 {
        return Err(fail(
            1,
            format!(
                "kustomize refuses a folder with several kustomization files ({})",
                present.join(", ")
            ),
        ));
    }
    let text = read(root, &path).map_err(|why| fail(1, format!("cannot be read: {why}")))?;
    parse(root, dir, name, text).map(Some)
}

fn parse(root: &Path, dir: &Path, name: &str, text: String) -> Result<Loaded, CannotTrace> {
    let shown = relative(root, &dir.join(name));
    let fail = |line, why: String| CannotTrace {
        file: shown.clone(),
        line,
        why,
    };
    let value: Value = match yaml_serde::from_str(crate::syntax::without_bom(&text)) {
        Ok(Value::Null) => Value::Mapping(Default::default()),
        Ok(v @ Value::Mapping(_)) => v,
        Ok(_) => {
            return Err(fail(
                1,
                "not a YAML mapping: kustomize refuses it".to_string(),
            ));
        }
        Err(e) => {
            let line = e.location().map_or(1, |l| l.line());
            return Err(fail(
                line,
                format!("not valid YAML, kustomize refuses it: {e}"),
            ));
        }
    };
    let mut loaded = Loaded {
        dir: dir.to_path_buf(),
        shown,
        component: value.get("kind").and_then(Value::as_str) == Some("Component"),
        text,
        value,
        unevaluated: Vec::new(),
    };
    let mut unevaluated = Vec::new();
    if let Some(map) = loaded.value.as_mapping() {
        for key in map.keys().filter_map(Value::as_str) {
            if INERT.contains(&key) || EVALUATED.contains(&key) {
                continue;
            }
            if key == "configurations" {
                if let Err(c) = loaded.configurations(root) {
                    unevaluated.push(c);
                }
                continue;
            }
            let why = match key {
                "generators" | "transformers" | "validators" => {
                    format!("{key} (plugins) are not evaluated offline")
                }
                "helmCharts" | "helmGlobals" | "helmChartInflationGenerator" => {
                    format!("{key} (helm) is not evaluated offline")
                }
                "crds" | "openapi" => {
                    format!("{key} is not evaluated offline")
                }
                _ => format!("unknown field {key}: kustomize refuses it"),
            };
            unevaluated.push(loaded.here(&format!("{key}:"), why));
        }
    }
    loaded.unevaluated = unevaluated;
    Ok(loaded)
}
