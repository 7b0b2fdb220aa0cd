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
pub mod pathhash;
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
    text_or_why(safe_read::read_inside(root, path, &shown), &shown)
}

/// [`read`] of the file `name` in `dir`, a real folder inside `root` (one a walk from a real
/// folder found, never following a symlink): only `name` is looked at, not every folder above it.
pub fn read_walked(root: &Path, dir: &Path, name: &str) -> Result<String, String> {
    let path = dir.join(name);
    if !dir.starts_with(root) {
        return read(root, &path);
    }
    let shown = relative(root, &path);
    text_or_why(safe_read::read_entry(root, dir, name, &shown), &shown)
}

fn text_or_why(read: crate::error::Result<Option<String>>, shown: &str) -> Result<String, String> {
    match read {
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
    // One path for the three names (a folder of a deep tree costs its `lstat`s, not its joins).
    let mut path = dir.join(KUSTOMIZATION_FILES[0]);
    KUSTOMIZATION_FILES
        .iter()
        .copied()
        .filter(|name| {
            path.set_file_name(name);
            path.symlink_metadata().is_ok()
        })
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
    let text_read = crate::syntax::without_bom(&text);
    let parsed = match plain_entries(text_read) {
        Some(value) => Ok(value),
        None => yaml_serde::from_str(text_read),
    };
    let value: Value = match parsed {
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

/// The keys [`plain_entries`] reads.
const PLAIN_KEYS: &[&str] = &["resources", "bases", "components"];

/// The value of a kustomization that only lists folders and files, written the plainest way
/// (`resources:` then `- ../base` lines, the form of most overlays in a deep tree), read without
/// a YAML parser; `None` for anything else, which yaml_serde reads. Only what yaml_serde reads
/// the same is taken: each key once, at the start of its line, with at least one item; items at
/// one indentation (none or two spaces), each a plain scalar of path characters that cannot be
/// read as anything but a string (it starts with `./`, `../` or a letter and holds a `/` or a
/// `.`: no null, boolean or number does); no comment, blank line, tab or carriage return.
fn plain_entries(text: &str) -> Option<Value> {
    let mut map = yaml_serde::Mapping::new();
    let mut open: Option<(&str, Vec<Value>, Option<usize>)> = None;
    let lines = text.strip_suffix('\n').unwrap_or(text).split('\n');
    for line in lines {
        if let Some(key) = line.strip_suffix(':') {
            if !PLAIN_KEYS.contains(&key) {
                return None;
            }
            close(&mut map, open.take())?;
            if map.contains_key(key) {
                return None;
            }
            open = Some((key, Vec::new(), None));
            continue;
        }
        let (_, items, indent) = open.as_mut()?;
        let item_indent = line.len() - line.trim_start_matches(' ').len();
        if item_indent != 0 && item_indent != 2 || *indent.get_or_insert(item_indent) != item_indent
        {
            return None;
        }
        let item = line[item_indent..].strip_prefix("- ")?;
        let path_chars = item
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b));
        let a_string = item.starts_with("./")
            || item.starts_with("../")
            || (item.starts_with(|c: char| c.is_ascii_alphabetic()) && item.contains(['/', '.']));
        if !path_chars || !a_string {
            return None;
        }
        items.push(Value::String(item.to_string()));
    }
    close(&mut map, open)?;
    (!map.is_empty()).then_some(Value::Mapping(map))
}

/// Ends a key of [`plain_entries`]: `None` when it has no item (YAML reads it as null).
fn close(
    map: &mut yaml_serde::Mapping,
    open: Option<(&str, Vec<Value>, Option<usize>)>,
) -> Option<()> {
    match open {
        None => Some(()),
        Some((_, items, _)) if items.is_empty() => None,
        Some((key, items, _)) => {
            map.insert(Value::String(key.to_string()), Value::Sequence(items));
            Some(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_entries_read_as_yaml_serde_reads_them_or_not_at_all() {
        let taken = [
            "resources:\n- ../l1\n",
            "resources:\n- ../l1",
            "resources:\n  - ../../base\n  - ./deployment.yaml\n  - service.yaml\nbases:\n- a/b\n",
            "components:\n- ../components/x\nresources:\n- deployment.yaml\n",
        ];
        for text in taken {
            let yaml: Value = yaml_serde::from_str(text).expect("valid YAML");
            assert_eq!(plain_entries(text), Some(yaml), "{text:?}");
        }
        let left = [
            "",
            "\n",
            "resources:\n",
            "resources:\n- ../a\nresources:\n- ../b\n",
            "resources:\n- ../a\n  - ../b\n",
            "resources:\n  - ../a\n- ../b\n",
            "resources:\n-  ../a\n",
            "resources:\n- ../a \n",
            "resources:\n- ../a # comment\n",
            "resources:\n- ../a\n\n",
            "resources:\r\n- ../a\r\n",
            "resources:\n\t- ../a\n",
            "resources:\n- null\n",
            "resources:\n- true\n",
            "resources:\n- 1.5\n",
            "resources:\n- .inf\n",
            "resources:\n- base\n",
            "resources:\n- -a/b\n",
            "resources:\n- 'a/b'\n",
            "resources:\n- a/b:c\n",
            "resources: [a/b]\n",
            "namespace:\n- a/b\n",
            "- a/b\n",
            "resources:\n- ../a\nkind: Component\n",
        ];
        for text in left {
            assert_eq!(plain_entries(text), None, "{text:?}");
        }
    }
}
