//! Linting the `.env` files the KFP components read: every line kustomize or the component reads
//! differently from what was meant (quotes, inline comments, spaces, `export`, repeated
//! keys), values the API server cannot parse, and keys it does not read (with the likely typo).

use crate::checkout::catalogue;
use crate::checkout::lint::finding::{Finding, Severity, column_at};
use crate::checkout::parsed;
use crate::syntax::envfile::{EnvFile, KeyState, Malformed, normalise_key, parse_go_bool};

/// Every key of a `.env` file that a ConfigMap cannot hold (Kubernetes allows `[-._a-zA-Z0-9]+`):
/// kustomize renders it, but the API server rejects the whole ConfigMap. Each comes with its
/// line and a paragraph `file:line:column: ...` naming the first character that is not allowed.
/// Lines without `=` are left to the malformed-line checks.
pub fn bad_configmap_keys(shown: &str, text: &str) -> Vec<(usize, String)> {
    let env = EnvFile::parse(text);
    env.entries()
        .iter()
        .filter(|entry| entry.value.is_some())
        .filter_map(|entry| {
            let key = env.key_of(entry);
            let (at, c) = key
                .char_indices()
                .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))?;
            let column = column_at(env.text(), entry.key.start + at);
            Some((
                entry.line,
                format!(
                    "{shown}:{}:{column}: the key \"{key}\" holds '{c}' (U+{:04X}), which a ConfigMap key cannot hold (only letters a-z and A-Z, digits, '-', '_' and '.'); kustomize renders it, but the API server rejects the ConfigMap\n  fix: retype the key in plain ASCII (a look-alike letter from another alphabet?)",
                    entry.line, c as u32
                ),
            ))
        })
        .collect()
}

/// The distinct keys a person meant in an env file, in file order.
fn meant_keys(env: &EnvFile) -> Vec<&str> {
    let mut keys: Vec<&str> = Vec::new();
    for entry in env.entries() {
        let key = normalise_key(env.key_of(entry));
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// The column a malformed line is reported at: the value for value problems, else the key.
fn malformed_column(env: &EnvFile, m: &Malformed) -> usize {
    let Some(entry) = env.entries().iter().find(|e| e.line == m.line()) else {
        return 1;
    };
    let offset = match (m, &entry.value) {
        (
            Malformed::Quoted { .. }
            | Malformed::InlineComment { .. }
            | Malformed::SurroundingSpace { .. },
            Some(value),
        ) => value.start,
        _ => entry.key.start,
    };
    column_at(env.text(), offset)
}

/// Which component reads an env file, for messages about what it makes of a malformed line.
#[derive(Clone, Copy)]
enum Reader {
    ApiServer,
    PersistenceAgent,
}

/// What the component does with a malformed line of a key it reads.
fn consequence(reader: Reader, key: &str, m: &Malformed, raw_value: Option<&str>) -> String {
    let bool_key = match reader {
        Reader::ApiServer => catalogue::API_SERVER_BOOL_KEYS.contains(&key),
        Reader::PersistenceAgent => key == "MULTIUSER",
    };
    let raw = raw_value.unwrap_or_default();
    match (m, reader) {
        (Malformed::Repeated { .. }, _) => String::new(),
        (Malformed::NoEquals { .. }, Reader::ApiServer) if bool_key => {
            " (empty when unset, which Go's strconv.ParseBool rejects: the API server exits at start-up)".to_string()
        }
        (Malformed::NoEquals { .. }, _) => String::new(),
        (
            Malformed::SpacesAroundEquals { .. } | Malformed::ExportPrefix { .. },
            Reader::ApiServer,
        ) if key == "MULTIUSER" => {
            "; the API server finds no MULTIUSER and runs in single-user mode (an absent key is false)".to_string()
        }
        (
            Malformed::SpacesAroundEquals { .. } | Malformed::ExportPrefix { .. },
            Reader::ApiServer,
        ) => format!("; the API server uses its built-in default for {key}"),
        (
            Malformed::SpacesAroundEquals { .. } | Malformed::ExportPrefix { .. },
            Reader::PersistenceAgent,
        ) => "; the persistence agent finds no MULTIUSER and runs in single-user mode".to_string(),
        (_, Reader::ApiServer) if bool_key => format!(
            "; the API server gets `{raw}`, which Go's strconv.ParseBool rejects: it exits at start-up (crash loop)"
        ),
        (_, Reader::ApiServer) => format!("; the API server gets {key} as `{raw}`"),
        (_, Reader::PersistenceAgent) => format!(
            "; the persistence agent gets `{raw}`, which is not the exact string false, so it runs in multi-user mode"
        ),
    }
}

/// Key-by-key shape problems of an env file; `known` says whether `reader` reads a key.
fn lint_env_shapes(
    shown: &str,
    env: &EnvFile,
    reader: Reader,
    known: &dyn Fn(&str) -> bool,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for key in meant_keys(env) {
        if let KeyState::Malformed(m) = env.check_key(key) {
            let mut problem = parsed::malformed_problem(shown, key, &m);
            if known(key) {
                let raw = env
                    .entries()
                    .iter()
                    .find(|e| e.line == m.line())
                    .and_then(|e| env.value_of(e));
                problem.message.push_str(&consequence(reader, key, &m, raw));
            }
            // A repeated key fails the build whatever the key; other shapes only matter for
            // keys something reads.
            let severity = if known(key) || matches!(m, Malformed::Repeated { .. }) {
                Severity::Error
            } else {
                Severity::Warning
            };
            findings.push(Finding {
                file: problem.file,
                line: Some(problem.line),
                column: Some(malformed_column(env, &m)),
                severity,
                code: problem.code,
                message: problem.message,
                fix: problem.fix,
            });
        }
    }
    findings
}

/// Every key of `api-service/params.env`.
pub fn lint_api_params(shown: &str, text: &str) -> Vec<Finding> {
    let env = EnvFile::parse(text);
    let known = |key: &str| catalogue::API_SERVER_KEYS.contains(&key);
    let mut findings = lint_env_shapes(shown, &env, Reader::ApiServer, &known);
    for key in meant_keys(&env) {
        let first = env
            .entries()
            .iter()
            .find(|e| normalise_key(env.key_of(e)) == key);
        let Some(entry) = first else { continue };
        if !known(key) {
            let guess = catalogue::closest_api_server_key(key);
            findings.push(Finding {
                file: shown.to_string(),
                line: Some(entry.line),
                column: Some(column_at(text, entry.key.start)),
                severity: Severity::Warning,
                code: "env-unknown-key",
                message: format!(
                    "the KFP API server does not read {key}: it sits unused in the ConfigMap (probably a typo{})",
                    guess.map_or(String::new(), |g| format!(" of {g}"))
                ),
                fix: match guess {
                    Some(g) => format!("rename it to {g}, or delete the line"),
                    None => "correct the key, or delete the line".to_string(),
                },
            });
        }
        if let KeyState::Set { line, value } = env.check_key(key)
            && catalogue::API_SERVER_BOOL_KEYS.contains(&key)
            && parse_go_bool(value).is_none()
        {
            let value_start = entry.value.as_ref().map_or(entry.key.end, |v| v.start);
            findings.push(Finding {
                file: shown.to_string(),
                line: Some(line),
                column: Some(column_at(text, value_start)),
                severity: Severity::Error,
                code: if key == "MULTIUSER" {
                    "multiuser-not-bool"
                } else {
                    "env-not-bool"
                },
                message: format!(
                    "{key}={value} is not a value Go's strconv.ParseBool accepts; the API server exits at start-up (crash loop)"
                ),
                fix: format!("write {key}=true or {key}=false"),
            });
        }
    }
    findings
}

/// How the persistence agent reads its MULTIUSER: only the exact string `false` (or nothing) is
/// single-user (it compares the string, unlike the API server's boolean parse).
pub fn agent_multi_user(value: &str) -> bool {
    !matches!(value, "false" | "")
}

/// `persistence-agent/params.env`: its MULTIUSER must be lowercase `true` or `false`.
pub fn lint_agent_params(shown: &str, text: &str) -> Vec<Finding> {
    let env = EnvFile::parse(text);
    let mut findings = lint_env_shapes(shown, &env, Reader::PersistenceAgent, &|key| {
        key == "MULTIUSER"
    });
    if let KeyState::Set { line, value } = env.check_key("MULTIUSER")
        && !matches!(value, "true" | "false")
    {
        let agent = agent_multi_user(value);
        let meant = parse_go_bool(value);
        let as_read = if agent { "multi-user" } else { "single-user" };
        let (severity, consequence) = if meant == Some(agent) {
            (
                Severity::Warning,
                "as meant, but only because any value other than false counts as multi-user"
                    .to_string(),
            )
        } else {
            (
                Severity::Error,
                format!(
                    "not what it says{}",
                    if agent {
                        ": the agent looks for a profile owner on the kubeflow namespace, finds none, and run status is never recorded"
                    } else {
                        ""
                    }
                ),
            )
        };
        let offset = env
            .entries()
            .iter()
            .find(|e| e.line == line)
            .and_then(|e| e.value.as_ref().map(|v| v.start))
            .unwrap_or(0);
        findings.push(Finding {
            file: shown.to_string(),
            line: Some(line),
            column: Some(column_at(text, offset)),
            severity,
            code: "persistence-multiuser-not-lowercase",
            message: format!(
                "the persistence agent compares MULTIUSER with the exact string false, so it reads MULTIUSER={value} as {as_read} mode, {consequence}"
            ),
            fix: "write MULTIUSER=true or MULTIUSER=false (lowercase)".to_string(),
        });
    }
    findings
}
