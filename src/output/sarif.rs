//! SARIF 2.1.0, the format code-scanning tools (GitHub code scanning among them) read: one run of
//! kfpatch, its rules, and one result per finding at a file and line. Both SARIF logs kfpatch
//! writes come from here: `audit -o sarif` (every rule described, results with their rule's
//! index and a fingerprint) and `status`/`audit --cluster -o sarif` (the rules its results use,
//! results naming the live object).

use serde_json::{Value, json};

use crate::error::Result;
use crate::output::to_json;

/// One finding, as SARIF needs it.
#[derive(Debug, Clone)]
pub struct SarifResult {
    /// The finding's code, e.g. `live-setting-drift`.
    pub rule: &'static str,
    /// `error`, `warning` or `note`.
    pub level: &'static str,
    pub message: String,
    /// Relative to the repository root (where code scanning resolves it), as a URI reference.
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The object the finding is about, when it is not the file (`context local: ConfigMap ...`).
    pub object: Option<String>,
    /// The rule's place among the described rules of the log, when it lists them all.
    pub rule_index: Option<usize>,
    /// A stable identity that code scanning follows when lines move.
    pub fingerprint: Option<String>,
}

/// The SARIF log of `results`, pretty-printed with a final newline; its rules are the ones the
/// results use, by id.
pub fn log(results: &[SarifResult]) -> Result<String> {
    to_json(&document(None, results))
}

/// The SARIF log of `results`. `described`: every rule kfpatch has, each described (the results'
/// `rule_index` counts in it), in a log that also names kfpatch's home and semantic version and
/// counts columns in code points; `None`: the rules the results use, by id alone.
pub fn document(described: Option<Vec<Value>>, results: &[SarifResult]) -> Value {
    let detailed = described.is_some();
    let rules = described.unwrap_or_else(|| {
        let mut ids: Vec<&str> = results.iter().map(|r| r.rule).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.iter().map(|id| json!({ "id": id })).collect()
    });
    let mut driver = json!({
        "name": "kfpatch",
        "version": env!("CARGO_PKG_VERSION"),
        "rules": rules,
    });
    let mut run = json!({ "results": results.iter().map(result).collect::<Vec<_>>() });
    if detailed {
        driver["semanticVersion"] = json!(env!("CARGO_PKG_VERSION"));
        driver["informationUri"] = json!(env!("CARGO_PKG_REPOSITORY"));
        run["columnKind"] = json!("unicodeCodePoints");
    }
    run["tool"] = json!({ "driver": driver });
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    })
}

fn result(r: &SarifResult) -> Value {
    let mut physical = json!({ "artifactLocation": { "uri": r.file } });
    if let Some(line) = r.line {
        let mut region = json!({ "startLine": line });
        if let Some(column) = r.column {
            region["startColumn"] = json!(column);
        }
        physical["region"] = region;
    }
    let mut location = json!({ "physicalLocation": physical });
    if let Some(object) = &r.object {
        location["logicalLocations"] =
            json!([{ "fullyQualifiedName": object, "kind": "resource" }]);
    }
    let mut result = json!({
        "ruleId": r.rule,
        "level": r.level,
        "message": { "text": r.message },
        "locations": [location],
    });
    if let Some(index) = r.rule_index {
        result["ruleIndex"] = json!(index);
    }
    if let Some(fingerprint) = &r.fingerprint {
        result["partialFingerprints"] = json!({ "kfpatch/v1": fingerprint });
    }
    result
}

/// A relative path as a URI reference: every byte outside the unreserved set and `/` escaped.
pub fn uri(path: &str) -> String {
    let mut out = String::new();
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_escape_what_a_uri_cannot_hold() {
        assert_eq!(uri("a b/ü#1.env"), "a%20b/%C3%BC%231.env");
        assert_eq!(uri("apps/pipeline/params.env"), "apps/pipeline/params.env");
    }
}
