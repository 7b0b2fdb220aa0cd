//! SARIF 2.1.0, the format code-scanning tools (GitHub code scanning among them) read: one run of
//! kfpatch, its rules, and one result per finding at a file and line.

use serde_json::{Value, json};

use crate::error::Result;
use crate::output::to_json;

/// One finding, as SARIF needs it.
#[derive(Debug, Clone)]
pub struct SarifResult {
    /// The finding's code, e.g. `live-setting-drift`.
    pub rule: &'static str,
    /// `error` or `warning`.
    pub level: &'static str,
    pub message: String,
    /// Relative to the repository root (where code scanning resolves it).
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The object the finding is about, when it is not the file (`context local: ConfigMap ...`).
    pub object: Option<String>,
}

/// The SARIF log of `results`, pretty-printed with a final newline.
pub fn log(results: &[SarifResult]) -> Result<String> {
    let mut rules: Vec<&str> = results.iter().map(|r| r.rule).collect();
    rules.sort_unstable();
    rules.dedup();
    let results: Vec<Value> = results
        .iter()
        .map(|r| {
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
            json!({
                "ruleId": r.rule,
                "level": r.level,
                "message": { "text": r.message },
                "locations": [location],
            })
        })
        .collect();
    to_json(&json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "kfpatch",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>(),
                }
            },
            "results": results,
        }]
    }))
}
