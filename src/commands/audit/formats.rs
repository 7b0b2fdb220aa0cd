//! `audit -o sarif` (SARIF 2.1.0, for GitHub code scanning: the rules and results, written by
//! [`crate::output::sarif`]) and `audit -o gitlab` (GitLab Code Quality). Both name files
//! relative to the git repository root, as those services resolve them, give every finding kind
//! a stable rule id (its `code`), and fingerprint findings by code, file and message, so a
//! finding keeps its identity when lines move.

use serde_json::{Value, json};

use crate::checkout::drift::Drift;
use crate::checkout::lint::finding::{Finding, Severity};
use crate::output::sarif::{self, SarifResult};

/// Every finding code with what it means, in the order of the "Findings" table of docs/commands/audit.md (a test
/// keeps the two, and docs/audit.schema.json, in step). `drift` is a file changed since
/// `--against REF`.
pub const RULES: &[(&str, &str)] = &[
    (
        "env-quoted-value",
        "KEY=\"value\": kustomize keeps the quotes (a quoted MULTIUSER crash-loops the API server)",
    ),
    (
        "env-inline-comment",
        "KEY=value # note: the comment is part of the value",
    ),
    (
        "env-value-spaces",
        "spaces after = or at the end of the line are part of the value",
    ),
    (
        "env-spaces-around-equals",
        "KEY = value: sets a key 'KEY ' (MULTIUSER is then absent: single-user)",
    ),
    (
        "env-export-prefix",
        "export KEY=value: sets a key 'export KEY'",
    ),
    (
        "env-no-equals",
        "KEY alone takes its value from the environment of whoever runs kustomize",
    ),
    (
        "env-repeated-key",
        "a key on several lines: kustomize refuses to build",
    ),
    (
        "multiuser-not-bool",
        "MULTIUSER that Go's strconv.ParseBool rejects: the API server crash-loops",
    ),
    (
        "env-not-bool",
        "a boolean key of the API server that strconv.ParseBool rejects: the API server crash-loops",
    ),
    (
        "env-unknown-key",
        "a key of api-service/params.env the API server does not read: probably a typo",
    ),
    (
        "persistence-multiuser-not-lowercase",
        "persistence-agent/params.env MULTIUSER other than true/false: the agent treats only the exact string false as single-user",
    ),
    (
        "multiuser-switches-disagree",
        "the API server's and the persistence agent's MULTIUSER differ",
    ),
    (
        "runner-account-wrong-mode",
        "the pipeline runner service account does not exist where runs go in this mode: run pods fail",
    ),
    (
        "viewer-account-wrong-mode",
        "the TensorBoard viewer service account does not exist where viewers run in this mode",
    ),
    (
        "ui-deployment-kubeflow-single-user",
        "UI DEPLOYMENT=KUBEFLOW with MULTIUSER=false before KFP 2.0.0-beta.0: the UI shows errors instead of experiments",
    ),
    (
        "expect-mismatch",
        "--expect: a setting holds the other mode's value",
    ),
    (
        "cannot-trace",
        "kfpatch cannot tell offline what a deploying kustomization gives the cluster",
    ),
    (
        "deployed-value-differs",
        "a deploying kustomization gives a setting the other mode's value",
    ),
    (
        "expect-customised",
        "--expect: a setting holds neither mode's upstream value",
    ),
    ("missing-file", "a file of the catalogue is missing"),
    (
        "unknown-shape",
        "a patch file no longer holds what kfpatch reads",
    ),
    ("yaml-syntax", "a managed YAML file does not parse"),
    (
        "repeated-object",
        "several documents of a YAML file patch the same object",
    ),
    (
        "overlay-stale",
        "a kfpatch overlay is no longer what kfpatch would write for the current upstream files",
    ),
    (
        "overlay-switches-off",
        "--expect on, but a kfpatch overlay switches this install off",
    ),
    (
        "generated-copy-disagrees",
        "a generated copy of the KFP ConfigMaps holds the other mode than the install",
    ),
    (
        "drift",
        "--against REF: a file of the KFP tree changed since REF",
    ),
];

/// The section of the audit reference (docs/commands/audit.md) that explains every rule.
const HELP_URI: &str = concat!(
    env!("CARGO_PKG_REPOSITORY"),
    "/blob/main/docs/commands/audit.md#findings"
);

/// One thing to report, finding or drifted file, with its path from the repository root.
struct Item {
    rule: &'static str,
    level: Level,
    path: String,
    line: Option<usize>,
    column: Option<usize>,
    message: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Error,
    Warning,
    Note,
}

fn items(findings: &[Finding], drift: Option<&Drift>, prefix: &str) -> Vec<Item> {
    let mut items: Vec<Item> = findings
        .iter()
        .map(|f| Item {
            rule: f.code,
            level: match f.severity {
                Severity::Error => Level::Error,
                Severity::Warning => Level::Warning,
            },
            path: format!("{prefix}{}", f.file),
            line: f.line,
            column: f.column,
            message: sentence(&format!("{} Fix: {}", sentence(&f.message), f.fix)),
        })
        .collect();
    if let Some(drift) = drift {
        for file in &drift.files {
            let mut message = format!("{} since {}", file.change.word(), drift.reference);
            for change in &file.settings {
                message.push_str(&format!(
                    "; {}: {} -> {}",
                    change.setting,
                    change.old.as_deref().unwrap_or("(absent)"),
                    change.new.as_deref().unwrap_or("(absent)")
                ));
            }
            items.push(Item {
                rule: "drift",
                level: Level::Note,
                path: format!("{prefix}{}", file.file),
                line: None,
                column: None,
                message: sentence(&message),
            });
        }
    }
    items
}

/// `text` ending with a full stop, as SARIF asks of messages.
fn sentence(text: &str) -> String {
    if text.ends_with(['.', '!', '?']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

/// A stable identity for a finding: FNV-1a (64 bit) of rule, path and message, in hex.
fn fingerprint(item: &Item) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in [item.rule, "\0", &item.path, "\0", &item.message]
        .iter()
        .flat_map(|s| s.bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The SARIF 2.1.0 log of an audit. `prefix`: the install's checkout relative to the repository
/// root (`manifests/`, or empty).
pub fn sarif(findings: &[Finding], drift: Option<&Drift>, prefix: &str) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|(id, what)| {
            let level = match *id {
                "env-unknown-key" | "expect-customised" | "overlay-stale"
                | "generated-copy-disagrees" => "warning",
                "drift" => "note",
                _ => "error",
            };
            json!({
                "id": id,
                "shortDescription": { "text": sentence(what) },
                "fullDescription": { "text": sentence(what) },
                "help": {
                    "text": format!("{} See the audit reference, section Findings: {HELP_URI}", sentence(what)),
                    "markdown": format!("{} See [Findings]({HELP_URI}) in the audit reference.", sentence(what)),
                },
                "helpUri": HELP_URI,
                "defaultConfiguration": { "level": level },
            })
        })
        .collect();
    let results: Vec<SarifResult> = items(findings, drift, prefix)
        .iter()
        .map(|item| SarifResult {
            rule: item.rule,
            level: match item.level {
                Level::Error => "error",
                Level::Warning => "warning",
                Level::Note => "note",
            },
            message: item.message.clone(),
            file: sarif::uri(&item.path),
            line: item.line,
            column: item.column,
            object: None,
            rule_index: Some(
                RULES
                    .iter()
                    .position(|(id, _)| *id == item.rule)
                    .expect("every finding code has a rule (tested)"),
            ),
            fingerprint: Some(fingerprint(item)),
        })
        .collect();
    sarif::document(Some(rules), &results)
}

/// The GitLab Code Quality report of an audit (a JSON array of issues).
pub fn gitlab(findings: &[Finding], drift: Option<&Drift>, prefix: &str) -> Value {
    let issues: Vec<Value> = items(findings, drift, prefix)
        .iter()
        .map(|item| {
            json!({
                "description": item.message,
                "check_name": item.rule,
                "fingerprint": fingerprint(item),
                "severity": match item.level {
                    Level::Error => "major",
                    Level::Warning => "minor",
                    Level::Note => "info",
                },
                "location": {
                    "path": item.path,
                    "lines": { "begin": item.line.unwrap_or(1) },
                },
            })
        })
        .collect();
    Value::Array(issues)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes of the "Findings" table of docs/commands/audit.md, in order.
    fn reference_codes() -> Vec<String> {
        let reference = include_str!("../../../docs/commands/audit.md");
        let table = reference
            .split("| code | severity | what |")
            .nth(1)
            .expect("the Findings table");
        table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with("| `"))
            .map(|l| l[3..].split('`').next().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn every_finding_code_is_a_rule_in_reference_and_schema_order() {
        let rules: Vec<&str> = RULES.iter().map(|(id, _)| *id).collect();
        let (drift, findings) = rules.split_last().expect("rules");
        assert_eq!(*drift, "drift");
        assert_eq!(reference_codes(), findings.to_vec());
        let schema: Value =
            serde_json::from_str(include_str!("../../../docs/audit.schema.json")).expect("schema");
        let codes = &schema["properties"]["findings"]["items"]["properties"]["code"]["enum"];
        assert_eq!(codes, &json!(findings));
        let schema: Value = serde_json::from_str(include_str!(
            "../../../docs/gitlab-code-quality.schema.json"
        ))
        .expect("schema");
        assert_eq!(
            schema["items"]["properties"]["check_name"]["enum"],
            json!(rules)
        );
    }

    #[test]
    fn fingerprints_ignore_the_line() {
        let finding = |line| Finding {
            file: "x/params.env".to_string(),
            line: Some(line),
            column: Some(1),
            severity: Severity::Error,
            code: "env-quoted-value",
            message: "m".to_string(),
            fix: "f".to_string(),
        };
        let a = gitlab(&[finding(1)], None, "");
        let b = gitlab(&[finding(7)], None, "");
        assert_eq!(a[0]["fingerprint"], b[0]["fingerprint"]);
        assert_eq!(b[0]["location"]["lines"]["begin"], 7);
        let c = gitlab(&[finding(1)], None, "repo/");
        assert_ne!(a[0]["fingerprint"], c[0]["fingerprint"]);
        assert_eq!(c[0]["location"]["path"], "repo/x/params.env");
    }
}
