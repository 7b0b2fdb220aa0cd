//! Lossless document models: a file is parsed once into a model that keeps every byte it does not
//! own, values are changed, and the text is written back with only those bytes different. These
//! modules know the formats (kustomize's `.env` reading, YAML, and which YAML kustomize refuses:
//! [`strict`]) and nothing of Kubeflow.

pub mod envfile;
pub mod strict;
pub mod yamledit;

use yaml_serde::Value;

/// `text` without a leading UTF-8 byte-order mark, which kustomize skips and yaml_serde misreads
/// as the start of a second document: every YAML reader here starts from this.
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// The items of a YAML sequence; none when `v` is absent or not a sequence, as kustomize and
/// Kubernetes treat a missing list.
pub fn seq(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_sequence).into_iter().flatten()
}

/// The string items of a YAML sequence (other items skipped), as kustomize lists entries.
pub fn strings(v: Option<&Value>) -> impl Iterator<Item = &str> {
    seq(v).filter_map(Value::as_str)
}
