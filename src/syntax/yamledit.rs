//! Lossless edits of the Kubernetes patch files kfpatch manages.
//!
//! yaml-edit parses a file into a concrete syntax tree that keeps every byte; kfpatch uses it to
//! *locate* the nodes it manages (an env entry of a container, a scalar inside a ConfigMap) and
//! then splices new bytes into exactly those ranges. Nothing else of the file is re-serialised, so
//! comments, quoting style, indentation, a missing final newline and CRLF survive.
//!
//! Because a splice is only as good as the location it was given, [`verify`] re-reads the old and
//! the new text with yaml_serde and checks that the documents differ in exactly the intended
//! places: a misplaced edit is refused rather than written.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Range;

use rowan::ast::AstNode;
use yaml_edit::{YamlFile, YamlNode};

use super::{strict, without_bom};

/// Bytes `range` of a text become `replacement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    pub range: Range<usize>,
    pub replacement: String,
}

/// Applies non-overlapping splices, in any order. Overlapping splices, or a range that is not
/// on character boundaries of `text`, are an error (two settings located in the same bytes of a
/// file kfpatch does not understand), never a panic.
pub fn apply(text: &str, splices: &[Splice]) -> Result<String, String> {
    let mut sorted: Vec<&Splice> = splices.iter().collect();
    sorted.sort_by_key(|s| s.range.start);
    let mut out = String::with_capacity(text.len() + 64);
    let mut at = 0;
    for s in sorted {
        let kept = text
            .get(at..s.range.start)
            .ok_or_else(|| format!("edits overlap at byte {}", s.range.start))?;
        out.push_str(kept);
        out.push_str(&s.replacement);
        at = s.range.end;
    }
    out.push_str(
        text.get(at..)
            .ok_or_else(|| format!("an edit ends at byte {at}, outside the file"))?,
    );
    Ok(out)
}

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn line_start(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .and_then(|before| before.rfind('\n'))
        .map_or(0, |i| i + 1)
}

fn range_of(node: &YamlNode) -> Range<usize> {
    let r = node.byte_range();
    r.start as usize..r.end as usize
}

/// The same tree, read-only. yaml-edit hands out a tree that can be edited in place, where
/// every node's position is recomputed from its siblings each time it is asked for; kfpatch only
/// reads the tree (edits are splices of the text), and a read-only tree knows each position
/// once it is built. Locating the managed settings takes a third of the time this way.
fn immutable(file: &YamlFile) -> YamlFile {
    let green = file.syntax().green().into_owned();
    YamlFile::cast(rowan::SyntaxNode::new_root(green))
        .expect("the root of a parsed YAML file is a YAML file")
}

/// A parsed YAML file (possibly several documents).
pub struct YamlText<'a> {
    text: &'a str,
    file: YamlFile,
    /// `container_env` answers by (deployment, container): several settings live in one
    /// container, and locating it in yaml-edit's tree is the slowest step of a status.
    envs: RefCell<Vec<(String, String, Option<EnvList>)>>,
}

/// A scalar in the file: where its bytes are, and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalarAt {
    pub range: Range<usize>,
    pub value: String,
}

/// One item of a container's `env:` list.
#[derive(Debug, Clone)]
pub struct EnvItem {
    pub name: String,
    /// Whole lines, from the start of the `- name:` line to the end of the item.
    pub lines: Range<usize>,
    pub value: Option<ScalarAt>,
    pub has_value_from: bool,
}

/// A container's `env:` list, and where to put entries that are not there.
#[derive(Debug, Clone)]
pub struct EnvList {
    pub items: Vec<EnvItem>,
    /// The `env:` key's whole lines, through its last item.
    pub block: Option<Range<usize>>,
    /// End of the container's mapping: where a new `env:` block goes.
    pub container_end: usize,
    /// Column of the container's keys (`name:`), for a new `env:` block.
    pub container_indent: usize,
}

impl EnvList {
    pub fn get(&self, name: &str) -> Option<&EnvItem> {
        self.items.iter().find(|i| i.name == name)
    }
}

impl<'a> YamlText<'a> {
    /// Parses `text`; the error names the first line yaml-edit could not read, or the line
    /// where the strict check ([`strict::check`]) refused it.
    pub fn parse(text: &'a str) -> Result<YamlText<'a>, String> {
        let yaml = YamlText::parse_lenient(text)?;
        strict::check(text)?;
        Ok(yaml)
    }

    /// The lossless parse alone, for a caller that runs [`strict::check`] on the same text
    /// itself (on another thread) and refuses the file when either fails.
    pub fn parse_lenient(text: &'a str) -> Result<YamlText<'a>, String> {
        let parsed = YamlFile::parse(text);
        if let Some(first) = parsed.positioned_errors().first() {
            let line = line_of(text, first.range.start as usize);
            return Err(format!("line {line}: {}", first.message));
        }
        Ok(YamlText {
            text,
            file: immutable(&parsed.tree()),
            envs: RefCell::new(Vec::new()),
        })
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The top-level mapping of the document whose `kind` and `metadata.name` match.
    fn object(&self, kind: &str, name: &str) -> Option<YamlNode> {
        self.objects(kind, name).next()
    }

    fn objects<'s>(&'s self, kind: &'s str, name: &'s str) -> impl Iterator<Item = YamlNode> + 's {
        self.file.documents().filter_map(move |doc| {
            let map = YamlNode::Mapping(doc.as_mapping()?);
            let k = self.get(&map, "kind")?.as_scalar()?.as_string();
            let metadata = self.get(&map, "metadata")?;
            let n = self.get(&metadata, "name")?.as_scalar()?.as_string();
            (k == kind && n == name).then_some(map)
        })
    }

    /// The value of `key` in a mapping node. A plain key is matched by its bytes, which is what
    /// yaml-edit's semantic lookup decides for a plain string key too, without building a key
    /// identity for every entry passed (the slowest step of a `status`); a mapping with a quoted,
    /// tagged or anchored key falls back to the semantic lookup.
    fn get(&self, node: &YamlNode, key: &str) -> Option<YamlNode> {
        let map = node.as_mapping()?;
        let mut only_plain = true;
        for entry in map.entries() {
            let Some(raw) = entry.key_node().and_then(|k| self.text.get(range_of(&k))) else {
                only_plain = false;
                continue;
            };
            if raw == key {
                return entry.value_node();
            }
            only_plain &= raw
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.');
        }
        if only_plain { None } else { map.get(key) }
    }

    /// How many documents of the file are the object `kind`/`name`. kustomize applies every one
    /// of them, so an edit of only the first would not be the value the cluster gets.
    pub fn count_objects(&self, kind: &str, name: &str) -> usize {
        self.objects(kind, name).count()
    }

    /// The `env:` list of a container of a Deployment patch; `None` when the Deployment or the
    /// container is not in the file (the file is not in the shape kfpatch knows).
    pub fn container_env(&self, deployment: &str, container: &str) -> Option<EnvList> {
        if let Some((_, _, known)) = self
            .envs
            .borrow()
            .iter()
            .find(|(d, c, _)| d == deployment && c == container)
        {
            return known.clone();
        }
        let env = self.locate_container_env(deployment, container);
        self.envs
            .borrow_mut()
            .push((deployment.to_string(), container.to_string(), env.clone()));
        env
    }

    fn locate_container_env(&self, deployment: &str, container: &str) -> Option<EnvList> {
        let mut containers = self.object("Deployment", deployment)?;
        for key in ["spec", "template", "spec", "containers"] {
            containers = self.get(&containers, key)?;
        }
        let container = containers.as_sequence()?.values().find(|c| {
            self.get(c, "name")
                .and_then(|n| n.as_scalar().map(|s| s.as_string()))
                .as_deref()
                == Some(container)
        })?;
        let container_range = range_of(&container);
        let container_indent = container_range.start - line_start(self.text, container_range.start);
        let mut list = EnvList {
            items: Vec::new(),
            block: None,
            container_end: container_range.end,
            container_indent,
        };
        let Some(env) = self.get(&container, "env") else {
            return Some(list);
        };
        let env_range = range_of(&env);
        // The `env:` key sits on the line before the first item (block style).
        let key_line = container_range.start
            + self
                .text
                .get(container_range.start..env_range.start)?
                .rfind("env:")?;
        list.block = Some(line_start(self.text, key_line)..env_range.end);
        for item in env.as_sequence()?.values() {
            let range = range_of(&item);
            let name = self.get(&item, "name")?.as_scalar()?.as_string();
            let value = self.get(&item, "value").and_then(|v| {
                let s = v.as_scalar()?;
                Some(ScalarAt {
                    range: range_of(&v),
                    value: s.as_string(),
                })
            });
            list.items.push(EnvItem {
                name,
                lines: line_start(self.text, range.start)..range.end,
                value,
                has_value_from: self.get(&item, "valueFrom").is_some(),
            });
        }
        Some(list)
    }

    /// A string under `data:` of a ConfigMap patch.
    pub fn configmap_data(&self, configmap: &str, key: &str) -> Option<ScalarAt> {
        let data = self.get(&self.object("ConfigMap", configmap)?, "data")?;
        let value = self.get(&data, key)?;
        let scalar = value.as_scalar()?;
        Some(ScalarAt {
            range: range_of(&value),
            value: scalar.as_string(),
        })
    }
}

/// Writes `value` as a YAML scalar in the style of `old_raw`: single- or double-quoted as it was,
/// plain where a plain scalar stays a string, else single-quoted.
pub fn scalar_like(old_raw: &str, value: &str) -> String {
    if old_raw.starts_with('"') {
        return format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""));
    }
    if old_raw.starts_with('\'') || !plain_is_string(value) {
        return format!("'{}'", value.replace('\'', "''"));
    }
    value.to_string()
}

fn plain_is_string(value: &str) -> bool {
    let reserved = [
        "true", "false", "True", "False", "TRUE", "FALSE", "null", "Null", "NULL", "~", "yes",
        "no", "on", "off", "y", "n",
    ];
    !value.is_empty()
        && !reserved.contains(&value)
        && value.parse::<f64>().is_err()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && !value.starts_with(['-', '.'])
}

/// Re-indents `block` (whole lines) so that its first line starts at `column`.
pub fn reindent(block: &str, column: usize) -> String {
    let current = block.len() - block.trim_start_matches(' ').len();
    block
        .split_inclusive('\n')
        .map(|line| {
            let stripped = line.strip_prefix(&" ".repeat(current)).unwrap_or(line);
            format!("{}{stripped}", " ".repeat(column))
        })
        .collect()
}

/// One leaf of a document, as yaml_serde reads it: `doc0.spec.template...env[name=X].value`.
type Leaves = BTreeMap<String, String>;

/// An intended difference at one leaf: `None` means the leaf does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafChange {
    pub path: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Reads both texts with yaml_serde and checks that they differ in exactly `expected`.
pub fn verify(old: &str, new: &str, expected: &[LeafChange]) -> Result<(), String> {
    let before = leaves(old)?;
    let after = leaves(new)?;
    let mut actual: Vec<LeafChange> = Vec::new();
    for (path, value) in &before {
        match after.get(path) {
            Some(v) if v == value => {}
            other => actual.push(LeafChange {
                path: path.clone(),
                old: Some(value.clone()),
                new: other.cloned(),
            }),
        }
    }
    for (path, value) in &after {
        if !before.contains_key(path) {
            actual.push(LeafChange {
                path: path.clone(),
                old: None,
                new: Some(value.clone()),
            });
        }
    }
    let mut wanted = expected.to_vec();
    wanted.sort_by(|a, b| a.path.cmp(&b.path));
    actual.sort_by(|a, b| a.path.cmp(&b.path));
    if wanted == actual {
        Ok(())
    } else {
        Err(format!(
            "the edit would change {} instead of exactly {}",
            describe_changes(&actual),
            describe_changes(&wanted)
        ))
    }
}

fn describe_changes(changes: &[LeafChange]) -> String {
    if changes.is_empty() {
        return "nothing".to_string();
    }
    let shown: Vec<String> = changes
        .iter()
        .map(|c| {
            let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".to_string());
            format!("{} ({} -> {})", c.path, side(&c.old), side(&c.new))
        })
        .collect();
    shown.join(", ")
}

/// The flattened leaves of every document in `text`.
pub fn leaves(text: &str) -> Result<Leaves, String> {
    let mut out = Leaves::new();
    for (i, doc) in yaml_serde::Deserializer::from_str(without_bom(text)).enumerate() {
        let value = <yaml_serde::Value as serde::Deserialize>::deserialize(doc)
            .map_err(|e| e.to_string())?;
        flatten(&format!("doc{i}"), &value, &mut out);
    }
    Ok(out)
}

fn flatten(path: &str, value: &yaml_serde::Value, out: &mut Leaves) {
    use yaml_serde::Value;
    match value {
        Value::Mapping(map) => {
            for (k, v) in map {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => format!("{other:?}"),
                };
                flatten(&format!("{path}.{key}"), v, out);
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                let name = item.get("name").and_then(|n| n.as_str());
                let segment = match name {
                    Some(n) => format!("[name={n}]"),
                    None => format!("[{i}]"),
                };
                flatten(&format!("{path}{segment}"), item, out);
            }
        }
        Value::Tagged(t) => flatten(path, &t.value, out),
        Value::String(s) => {
            out.insert(path.to_string(), format!("{s:?}"));
        }
        other => {
            out.insert(path.to_string(), format!("{other:?}"));
        }
    }
}

/// The leaf path of an env entry's field, as [`leaves`] spells it.
pub fn env_leaf(deployment_doc: usize, container: &str, var: &str, field: &str) -> String {
    format!(
        "doc{deployment_doc}.spec.template.spec.containers[name={container}].env[name={var}].{field}"
    )
}

/// The index of the document holding `kind`/`name`, as [`leaves`] numbers them.
pub fn document_index(text: &str, kind: &str, name: &str) -> Option<usize> {
    for (i, doc) in yaml_serde::Deserializer::from_str(without_bom(text)).enumerate() {
        // After an error yaml_serde's document iterator yields that error forever: stop at it.
        let value = <yaml_serde::Value as serde::Deserialize>::deserialize(doc).ok()?;
        let matches = value.get("kind").and_then(|k| k.as_str()) == Some(kind)
            && value
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(|n| n.as_str())
                == Some(name);
        if matches {
            return Some(i);
        }
    }
    None
}

/// The quoted-string form [`leaves`] uses for a string leaf.
pub fn string_leaf(value: &str) -> String {
    format!("{value:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const UI: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ml-pipeline-ui\nspec:\n  template:\n    spec:\n      containers:\n      - name: ml-pipeline-ui\n        env:\n        - name: DEPLOYMENT\n          value: KUBEFLOW\n        - name: ENABLE_AUTHZ\n          value: 'true' # keep\n";

    #[test]
    fn finds_env_entries_and_their_bytes() {
        let yaml = YamlText::parse(UI).unwrap();
        let env = yaml
            .container_env("ml-pipeline-ui", "ml-pipeline-ui")
            .unwrap();
        let authz = env.get("ENABLE_AUTHZ").unwrap();
        let value = authz.value.clone().unwrap();
        assert_eq!(&UI[value.range.clone()], "'true'");
        assert_eq!(value.value, "true");
        let deployment = env.get("DEPLOYMENT").unwrap();
        assert_eq!(
            &UI[deployment.lines.clone()],
            "        - name: DEPLOYMENT\n          value: KUBEFLOW\n"
        );
        assert!(yaml.container_env("ml-pipeline-ui", "other").is_none());
    }

    #[test]
    fn splice_keeps_comment_and_verify_accepts_exact_change() {
        let yaml = YamlText::parse(UI).unwrap();
        let env = yaml
            .container_env("ml-pipeline-ui", "ml-pipeline-ui")
            .unwrap();
        let value = env.get("ENABLE_AUTHZ").unwrap().value.clone().unwrap();
        let new = apply(
            UI,
            &[Splice {
                range: value.range.clone(),
                replacement: scalar_like("'true'", "false"),
            }],
        )
        .unwrap();
        assert!(new.ends_with("value: 'false' # keep\n"));
        let leaf = env_leaf(0, "ml-pipeline-ui", "ENABLE_AUTHZ", "value");
        let change = LeafChange {
            path: leaf,
            old: Some(string_leaf("true")),
            new: Some(string_leaf("false")),
        };
        verify(UI, &new, std::slice::from_ref(&change)).unwrap();
        let wrong = LeafChange {
            new: Some(string_leaf("true")),
            ..change
        };
        assert!(verify(UI, &new, &[wrong]).is_err());
    }

    #[test]
    fn scalar_style_follows_the_old_one() {
        assert_eq!(scalar_like("'true'", "false"), "'false'");
        assert_eq!(scalar_like("\"true\"", "false"), "\"false\"");
        assert_eq!(scalar_like("true", "false"), "'false'");
        assert_eq!(scalar_like("KUBEFLOW", "OTHER"), "OTHER");
        assert_eq!(scalar_like("x", "8080"), "'8080'");
    }

    #[test]
    fn text_that_only_yaml_edit_accepts_is_invalid_and_never_loops() {
        // Found by tests/fuzz.rs: yaml-edit accepts `a: b: c`, yaml_serde refuses it, and
        // document_index used to spin forever on yaml_serde's repeated error.
        let bad = UI.replace("apiVersion: apps/v1", "apiVersion: apps/v1: oops");
        assert_eq!(document_index(&bad, "Deployment", "ml-pipeline-ui"), None);
        assert_eq!(
            YamlText::parse(&bad).err().as_deref(),
            Some("line 1: mapping values are not allowed in this context")
        );
    }

    #[test]
    fn a_byte_order_mark_is_read_as_kustomize_reads_it() {
        // Found by tests/fuzz.rs: yaml_serde took a BOM for the start of a second document.
        let bom = format!("\u{feff}{UI}");
        let yaml = YamlText::parse(&bom).unwrap();
        assert!(
            yaml.container_env("ml-pipeline-ui", "ml-pipeline-ui")
                .is_some()
        );
        assert_eq!(leaves(&bom).unwrap(), leaves(UI).unwrap());
        assert_eq!(
            document_index(&bom, "Deployment", "ml-pipeline-ui"),
            Some(0)
        );
    }

    #[test]
    fn reindent_moves_a_block() {
        assert_eq!(reindent("  - a\n    b\n", 4), "    - a\n      b\n");
    }
}
