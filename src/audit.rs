//! `kfpatch audit`: what this checkout would do to a cluster, without changing it.
//!
//! Platform teams keep forks of kubeflow/manifests for years and need, in every CI run, the
//! answer to "will this break KFP when applied?". The audit reads the same files the switch
//! manages and reports, each at its file, line and column:
//! - values kustomize or the KFP components read differently from what was meant (facts §3),
//!   for every key of the API server's `params.env`, not only the catalogue's;
//! - combinations of settings that break runs or the UI (facts §4), whatever tool made them;
//! - with `--expect on|off`, every switched setting that is not at that mode's value;
//! - files the catalogue expects but cannot find or cannot read.
//!
//! `--against REF` adds the drift from a git ref ([`crate::drift`]). Findings are errors (the
//! cluster breaks) or warnings (probably a mistake, nothing breaks); only errors and drift fail
//! the run, unless `--strict`.

use std::path::Path;

use serde::Serialize;

use crate::app::{Output, find, write_out};
use crate::catalogue::{self, CATALOGUE, Mode, Parsed, Place, Problem, Reading, Scope};
use crate::cli::{AuditArgs, Cli, Format, OnOff};
use crate::drift::{self, Drift, FileChange};
use crate::envfile::{EnvFile, KeyState, Malformed, normalise_key, parse_go_bool};
use crate::error::Result;
use crate::git::Checkout;
use crate::install::{self, Install, PARAMS_ENV};
use crate::overlay;
use crate::plan::{holds, show_value};
use crate::status::{self, InstallJson, JSON_SCHEMA, to_json};

/// Exit code when the audit found errors or drift (or warnings, with `--strict`).
pub const EXIT_FINDINGS: i32 = 1;

const AGENT_PARAMS: &str = "persistence-agent/params.env";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The cluster breaks (build fails, a component crashes, runs or the UI fail).
    Error,
    /// Probably a mistake; nothing breaks.
    Warning,
}

impl Severity {
    fn word(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding, at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Relative to the `-C` folder.
    pub file: String,
    /// 1-based; `null` when the finding is about the whole file (e.g. it is missing).
    pub line: Option<usize>,
    /// 1-based, in characters; `null` with `line`.
    pub column: Option<usize>,
    pub severity: Severity,
    pub code: &'static str,
    /// What happens on the cluster.
    pub message: String,
    pub fix: String,
}

/// Everything `audit` reports.
#[derive(Debug, Serialize)]
struct Report {
    schema: u32,
    install: InstallJson,
    /// `on`, `off`, `mixed` or `unknown`, as `status` reports it.
    mode: &'static str,
    /// The `--expect` mode, or `null`.
    expect: Option<&'static str>,
    /// kfpatch overlays (`multiuser off --overlay DIR`) found in the checkout.
    overlays: Vec<overlay::Found>,
    findings: Vec<Finding>,
    drift: Option<Drift>,
    summary: Summary,
}

#[derive(Debug, Serialize)]
struct Summary {
    errors: usize,
    warnings: usize,
    drifted_files: usize,
    exit_code: i32,
}

/// `kfpatch audit`.
pub fn run(cli: &Cli, args: &AuditArgs, io: &mut Output<'_>) -> Result<i32> {
    let install = find(cli)?;
    let expect = args.expect.map(|e| match e {
        OnOff::On => Mode::On,
        OnOff::Off => Mode::Off,
    });
    let overlays = overlay::find_all(&install)?;
    let findings = with_overlays(expect, audit(&install, expect)?, &overlays);
    let drift = match &args.against {
        Some(reference) => Some(drift::against(&install, reference)?),
        None => None,
    };
    let rows = status::rows(&install)?;
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    let drifted_files = drift.as_ref().map_or(0, |d| d.files.len());
    let fails = errors > 0 || drifted_files > 0 || (args.strict && warnings > 0);
    let report = Report {
        schema: JSON_SCHEMA,
        install: InstallJson::of(&install),
        mode: status::mode_word(&rows),
        expect: expect.map(Mode::word),
        overlays,
        findings,
        drift,
        summary: Summary {
            errors,
            warnings,
            drifted_files,
            exit_code: if fails { EXIT_FINDINGS } else { 0 },
        },
    };
    let text = match args.format {
        Format::Text => text_report(&install, &report, io.color),
        Format::Json => to_json(&report)?,
        Format::Github => github_report(&install, &report),
    };
    write_out(io, &text)?;
    Ok(report.summary.exit_code)
}

/// Takes kfpatch overlays into account: an up-to-date overlay over this install carries the
/// single-user values, so `--expect off` is met for the settings it switches; `--expect on` is not
/// met while such an overlay exists; and an overlay that no longer matches the upstream files is
/// a warning, as the cluster would get its stale values.
fn with_overlays(
    expect: Option<Mode>,
    mut findings: Vec<Finding>,
    overlays: &[overlay::Found],
) -> Vec<Finding> {
    for found in overlays.iter().filter(|o| o.over_this_install) {
        let file = format!("{}/{}", found.path, overlay::KUSTOMIZATION);
        let at = |severity, code, message: String, fix: String| Finding {
            file: file.clone(),
            line: Some(1),
            column: Some(1),
            severity,
            code,
            message,
            fix,
        };
        if !found.up_to_date {
            findings.push(at(
                Severity::Warning,
                "overlay-stale",
                format!(
                    "the overlay {} is not what kfpatch would write for the current upstream files (an upgrade or a hand edit?); applied, it carries stale values",
                    found.path
                ),
                format!("run kfpatch multiuser off --overlay {}", found.path),
            ));
        }
        match expect {
            Some(Mode::On) => findings.push(at(
                Severity::Error,
                "overlay-switches-off",
                format!(
                    "the overlay {} switches multi-user mode off over this install; --expect on",
                    found.path
                ),
                format!(
                    "remove it with kfpatch multiuser on --overlay {}",
                    found.path
                ),
            )),
            Some(Mode::Off) if found.up_to_date => findings.retain(|f| {
                f.code != "expect-mismatch"
                    || !found
                        .switched
                        .iter()
                        .any(|(file, line)| *file == f.file && Some(*line) == f.line)
            }),
            _ => {}
        }
    }
    findings.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    findings
}

/// Every finding of the install, sorted by file, line and column.
pub fn audit(install: &Install, expect: Option<Mode>) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let mut readings: Vec<Option<Reading>> = vec![None; CATALOGUE.len()];
    let mut files: Vec<&'static str> = CATALOGUE.iter().map(|s| s.file).collect();
    files.dedup();
    let mut texts = Vec::new();
    for file in files {
        let shown = install.display(file);
        let Some(text) = install.read(file)? else {
            if file != AGENT_PARAMS {
                findings.push(missing_file(&shown, file));
            }
            continue;
        };
        if file == PARAMS_ENV {
            findings.extend(lint_api_params(&shown, &text));
        } else if file == AGENT_PARAMS {
            findings.extend(lint_agent_params(&shown, &text));
        }
        match Parsed::parse(file, &shown, &text) {
            Err(problem) => findings.push(from_problem(&problem, &text, None)),
            Ok(parsed) => {
                for (i, setting) in CATALOGUE.iter().enumerate() {
                    if setting.file != file {
                        continue;
                    }
                    match catalogue::read(setting, &shown, &parsed) {
                        Ok(reading) => readings[i] = Some(reading),
                        // The env files are linted key by key above, with messages that fit
                        // each file's reader; the catalogue's own problems are for YAML.
                        Err(_) if file.ends_with(".env") => {}
                        Err(problem) => findings.push(from_problem(&problem, &text, None)),
                    }
                }
            }
        }
        texts.push((file, text));
    }
    let facts = Facts::new(install, &readings);
    let combos = combinations(install, &facts, &texts);
    if let Some(mode) = expect {
        let taken: Vec<(String, Option<usize>)> =
            combos.iter().map(|f| (f.file.clone(), f.line)).collect();
        findings.extend(
            expectations(install, mode, &readings, &texts)
                .into_iter()
                .filter(|f| !taken.contains(&(f.file.clone(), f.line))),
        );
    }
    findings.extend(combos);
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.code).cmp(&(&b.file, b.line, b.column, b.code))
    });
    findings.dedup();
    Ok(findings)
}

/// The files read, by catalogue file name.
type Texts = [(&'static str, String)];

/// A file's text, or `""` when it was not read.
fn text_of<'t>(texts: &'t Texts, file: &str) -> &'t str {
    texts
        .iter()
        .find(|(f, _)| *f == file)
        .map_or("", |(_, t)| t.as_str())
}

fn missing_file(shown: &str, file: &str) -> Finding {
    Finding {
        file: shown.to_string(),
        line: None,
        column: None,
        severity: Severity::Error,
        code: "missing-file",
        message: format!(
            "{file} is missing: kustomize fails if multi-user/kustomization.yaml still lists it, and kfpatch multiuser cannot switch the settings in it"
        ),
        fix: format!("restore it from upstream (git checkout <release tag> -- {shown})"),
    }
}

fn from_problem(problem: &Problem, text: &str, needle: Option<&str>) -> Finding {
    Finding {
        file: problem.file.clone(),
        line: Some(problem.line),
        column: Some(column_of(text, problem.line, needle)),
        severity: Severity::Error,
        code: problem.code,
        message: problem.message.clone(),
        fix: problem.fix.clone(),
    }
}

/// 1-based column (in characters) of `needle` on `line`, else of the line's first non-blank.
fn column_of(text: &str, line: usize, needle: Option<&str>) -> usize {
    let content = text.split('\n').nth(line.saturating_sub(1)).unwrap_or("");
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let at = needle
        .and_then(|n| content.find(n))
        .unwrap_or_else(|| content.len() - content.trim_start().len());
    content[..at].chars().count() + 1
}

/// 1-based column (in characters) of a byte offset.
fn column_at(text: &str, offset: usize) -> usize {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[start..offset];
    before
        .strip_prefix('\u{feff}')
        .unwrap_or(before)
        .chars()
        .count()
        + 1
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
            let mut problem = catalogue::malformed_problem(shown, key, &m);
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
fn lint_api_params(shown: &str, text: &str) -> Vec<Finding> {
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
            let guess = closest_key(key);
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

/// The one known key at most two edits away from `key` (a typo), if exactly one is.
fn closest_key(key: &str) -> Option<&'static str> {
    let upper = key.to_ascii_uppercase();
    let near: Vec<&'static str> = catalogue::API_SERVER_KEYS
        .iter()
        .copied()
        .filter(|k| *k == upper || edit_distance(k, &upper) <= 2)
        .collect();
    match near.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// Levenshtein distance (keys are short ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// How the persistence agent reads its MULTIUSER: only the exact string `false` (or nothing) is
/// single-user (facts §3).
fn agent_multi_user(value: &str) -> bool {
    !matches!(value, "false" | "")
}

/// `persistence-agent/params.env`: its MULTIUSER must be lowercase `true` or `false`.
fn lint_agent_params(shown: &str, text: &str) -> Vec<Finding> {
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

/// The values the combination rules look at.
struct Facts<'a> {
    /// MULTIUSER of the API server as it reads it (absent: false); `None` when unreadable.
    api_multi: Option<bool>,
    api_line: Option<usize>,
    /// The persistence agent's mode, line and raw value (`None`: the key is absent), when the
    /// release has its params.env.
    agent: Option<(bool, usize, Option<&'a str>)>,
    runner: Option<(&'a str, usize)>,
    viewer: Option<(&'a str, usize)>,
    deployment: Option<(&'a str, usize)>,
    before_2_beta: Option<bool>,
}

impl<'a> Facts<'a> {
    fn new(install: &Install, readings: &'a [Option<Reading>]) -> Facts<'a> {
        let reading = |row: u8| {
            let i = CATALOGUE.iter().position(|s| s.row == row)?;
            readings[i].as_ref()
        };
        let value = |row: u8| match reading(row) {
            Some(Reading::Value { value, line }) => Some((value.as_str(), *line)),
            _ => None,
        };
        let (api_multi, api_line) = match (value(1), reading(1)) {
            (Some((v, line)), _) => (parse_go_bool(v), Some(line)),
            (None, Some(Reading::Absent)) => (Some(false), None),
            _ => (None, None),
        };
        let agent = match value(3) {
            Some((v, line)) => Some((agent_multi_user(v), line, Some(v))),
            // An agent params.env without a MULTIUSER key leaves the variable unset: single-user.
            None if matches!(reading(3), Some(Reading::Absent)) => Some((false, 1, None)),
            None => None,
        };
        Facts {
            api_multi,
            api_line,
            agent,
            runner: value(2),
            viewer: value(5),
            deployment: value(4),
            before_2_beta: install.is_kfp_before_2_beta(),
        }
    }
}

fn finding(
    install: &Install,
    file: &str,
    line: usize,
    column: usize,
    code: &'static str,
    message: String,
    fix: String,
) -> Finding {
    Finding {
        file: install.display(file),
        line: Some(line),
        column: Some(column),
        severity: Severity::Error,
        code,
        message,
        fix,
    }
}

/// Settings that break runs or the UI together (facts §4), whatever made them.
fn combinations(install: &Install, facts: &Facts<'_>, texts: &Texts) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(multi) = facts.api_multi else {
        return out;
    };
    let mode = if multi { "true" } else { "false" };
    let switch_fix = |m: Mode| {
        format!(
            "or run kfpatch multiuser {} to switch every related setting",
            m.word()
        )
    };
    let wanted_mode = if multi { Mode::On } else { Mode::Off };
    let ui_config = "pipelines-ui/configmap-patch.yaml";
    if let Some((account, line)) = facts.runner {
        let column = column_of(text_of(texts, PARAMS_ENV), line, Some(account));
        if !multi && account == "default-editor" {
            out.push(finding(
                install,
                PARAMS_ENV,
                line,
                column,
                "runner-account-wrong-mode",
                "DEFAULTPIPELINERUNNERSERVICEACCOUNT=default-editor with MULTIUSER=false: single-user runs go to the kubeflow namespace, where service account default-editor does not exist, so every run pod fails (serviceaccount \"default-editor\" not found)".to_string(),
                format!(
                    "set DEFAULTPIPELINERUNNERSERVICEACCOUNT=pipeline-runner, {}",
                    switch_fix(wanted_mode)
                ),
            ));
        } else if multi && account == "pipeline-runner" {
            out.push(finding(
                install,
                PARAMS_ENV,
                line,
                column,
                "runner-account-wrong-mode",
                "DEFAULTPIPELINERUNNERSERVICEACCOUNT=pipeline-runner with MULTIUSER=true: multi-user runs go to the profile namespaces, which have default-editor but not pipeline-runner, so every run pod fails (serviceaccount \"pipeline-runner\" not found)".to_string(),
                format!(
                    "set DEFAULTPIPELINERUNNERSERVICEACCOUNT=default-editor, {}",
                    switch_fix(wanted_mode)
                ),
            ));
        }
    }
    if let Some((agent_multi, line, value)) = facts.agent
        && agent_multi != multi
    {
        let text = text_of(texts, AGENT_PARAMS);
        let column = column_of(text, line, value.map(|_| "MULTIUSER"));
        let consequence = if multi {
            "the persistence agent runs in single-user mode while the API server runs in multi-user mode, a combination upstream never ships; run status may not be recorded"
        } else {
            "the persistence agent stays in multi-user mode: it looks for a profile owner annotation on the kubeflow namespace, finds none, and run status is never recorded"
        };
        let api = match facts.api_line {
            Some(l) => format!(
                "MULTIUSER={mode} on line {l} of {}",
                install.display(PARAMS_ENV)
            ),
            None => format!("no MULTIUSER in {} (false)", install.display(PARAMS_ENV)),
        };
        let shown_value = match value {
            Some(v) => format!("MULTIUSER={v}"),
            None => "no MULTIUSER (single-user)".to_string(),
        };
        out.push(finding(
            install,
            AGENT_PARAMS,
            line,
            column,
            "multiuser-switches-disagree",
            format!(
                "the two MULTIUSER switches disagree: {shown_value} here, {api}; {consequence}"
            ),
            format!(
                "write MULTIUSER={mode} here too, {}",
                switch_fix(wanted_mode)
            ),
        ));
    }
    if let Some((account, line)) = facts.viewer {
        let column = column_of(
            text_of(texts, ui_config),
            line,
            Some("\"serviceAccountName\""),
        );
        if !multi && account == "default-editor" {
            out.push(finding(
                install,
                ui_config,
                line,
                column,
                "viewer-account-wrong-mode",
                "viewer-pod-template.json uses service account default-editor with MULTIUSER=false: TensorBoard viewer pods run in the kubeflow namespace, where default-editor does not exist, so they are never created".to_string(),
                format!(
                    "set \"serviceAccountName\": \"kubeflow-pipelines-viewer\", {}",
                    switch_fix(wanted_mode)
                ),
            ));
        } else if multi && account == "kubeflow-pipelines-viewer" {
            out.push(finding(
                install,
                ui_config,
                line,
                column,
                "viewer-account-wrong-mode",
                "viewer-pod-template.json uses service account kubeflow-pipelines-viewer with MULTIUSER=true: TensorBoard viewer pods run in the profile namespaces, which do not have it, so they are never created".to_string(),
                format!(
                    "set \"serviceAccountName\": \"default-editor\", {}",
                    switch_fix(wanted_mode)
                ),
            ));
        }
    }
    if let Some(("KUBEFLOW", line)) = facts.deployment
        && !multi
        && facts.before_2_beta == Some(true)
    {
        let file = "pipelines-ui/deployment-patch.yaml";
        let version = crate::app::version_text(install);
        out.push(finding(
            install,
            file,
            line,
            column_of(text_of(texts, file), line, Some("DEPLOYMENT")),
            "ui-deployment-kubeflow-single-user",
            format!(
                "DEPLOYMENT=KUBEFLOW in the UI with MULTIUSER=false on KFP {version} (below 2.0.0-beta.0): the UI sends the dashboard's namespace and the API server rejects it (\"In single-user mode, ListExperiment cannot filter by namespace.\"), so the Pipelines UI shows errors instead of experiments and runs"
            ),
            format!(
                "remove the DEPLOYMENT entry of container ml-pipeline-ui, {}",
                switch_fix(wanted_mode)
            ),
        ));
    }
    out
}

/// `--expect MODE`: every setting the default switch manages that is not at MODE's value.
fn expectations(
    install: &Install,
    mode: Mode,
    readings: &[Option<Reading>],
    texts: &Texts,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (setting, reading) in CATALOGUE.iter().zip(readings) {
        // Rows the default switch leaves alone (parity rows, rows of other releases) are
        // harmless in either mode, so they are not held against the install.
        if setting.applies(install, Scope::Related).is_err() {
            continue;
        }
        let Some(reading) = reading else { continue };
        let wanted = setting.value_in(mode);
        if matches!(reading, Reading::NotApplicable(_)) || holds(setting, reading, wanted) {
            continue;
        }
        let (value, line) = match reading {
            Reading::Value { value, line } => (Some(value.as_str()), Some(*line)),
            _ => (None, None),
        };
        let other = mode.other();
        let is_other = holds(setting, reading, setting.value_in(other));
        let text = text_of(texts, setting.file);
        let needle = match setting.place {
            Place::ContainerEnv { var, .. } => Some(var),
            _ => value.filter(|v| !v.is_empty()),
        };
        let (line, column) = match line {
            Some(l) => (l, column_of(text, l, needle)),
            None => (1, 1),
        };
        let mut f = finding(
            install,
            setting.file,
            line,
            column,
            "expect-mismatch",
            format!(
                "{} is {}, the {} value; --expect {} wants {}: {}",
                setting.name(),
                show_value(value),
                mode_name(other),
                mode.word(),
                show_value(wanted),
                setting.why
            ),
            format!(
                "run kfpatch multiuser {} (switches it with every related setting)",
                mode.word()
            ),
        );
        if !is_other {
            f.severity = Severity::Warning;
            f.code = "expect-customised";
            f.message = format!(
                "{} is {}, neither mode's upstream value ({} multi-user, {} single-user); kfpatch multiuser {} leaves it as is",
                setting.name(),
                show_value(value),
                show_value(setting.multi),
                show_value(setting.single),
                mode.word()
            );
            f.fix = format!(
                "check that {} works in {} mode, or set it to {}",
                show_value(value),
                mode_name(mode),
                show_value(wanted)
            );
        }
        out.push(f);
    }
    out
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::On => "multi-user",
        Mode::Off => "single-user",
    }
}

fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn summary_line(report: &Report) -> String {
    let s = &report.summary;
    let mut parts = Vec::new();
    if s.errors + s.warnings == 0 {
        parts.push("no findings".to_string());
    } else {
        let files: Vec<&str> = {
            let mut files: Vec<&str> = report.findings.iter().map(|f| f.file.as_str()).collect();
            files.dedup();
            files
        };
        parts.push(format!(
            "{}, {} in {}",
            plural(s.errors, "error", "errors"),
            plural(s.warnings, "warning", "warnings"),
            plural(files.len(), "file", "files")
        ));
    }
    if let Some(drift) = &report.drift {
        parts.push(if drift.files.is_empty() {
            format!("no drift since {}", drift.reference)
        } else {
            format!(
                "{} changed since {}",
                plural(drift.files.len(), "file", "files"),
                drift.reference
            )
        });
    }
    format!("{} (exit {})", parts.join("; "), s.exit_code)
}

fn setting_change_text(change: &drift::SettingChange) -> String {
    format!(
        "{}: {} → {}",
        change.setting,
        show_value(change.old.as_deref()),
        show_value(change.new.as_deref())
    )
}

fn text_report(install: &Install, report: &Report, color: bool) -> String {
    let mut text = format!(
        "audit {} (KFP {}, mode {}{})\n",
        install.rel,
        crate::app::version_text(install),
        report.mode,
        report
            .expect
            .map_or(String::new(), |e| format!(", expecting {e}"))
    );
    for found in &report.overlays {
        text.push_str(&format!(
            "overlay {}: multi-user mode off {}, {}\n",
            found.path,
            if found.over_this_install {
                "over this install"
            } else {
                "over another kustomization"
            },
            if found.up_to_date {
                "up to date"
            } else {
                "stale"
            }
        ));
    }
    let mut current: Option<&str> = None;
    for f in &report.findings {
        if current != Some(f.file.as_str()) {
            text.push('\n');
            text.push_str(&paint(&f.file, "1", color));
            text.push('\n');
            current = Some(&f.file);
        }
        let place = match (f.line, f.column) {
            (Some(l), Some(c)) => format!("{l}:{c}: "),
            (Some(l), None) => format!("{l}: "),
            _ => String::new(),
        };
        let label = match f.severity {
            Severity::Error => paint("error", "1;31", color),
            Severity::Warning => paint("warning", "1;33", color),
        };
        text.push_str(&format!(
            "  {place}{label}[{}]: {}\n    fix: {}\n",
            f.code, f.message, f.fix
        ));
    }
    if let Some(drift) = &report.drift {
        text.push_str(&format!(
            "\ndrift of {} since {}:\n",
            drift.tree, drift.reference
        ));
        if drift.files.is_empty() {
            text.push_str("  no file changed\n");
        }
        for file in &drift.files {
            let code = match file.change {
                FileChange::Added => "32",
                FileChange::Removed => "31",
                FileChange::Modified => "33",
            };
            text.push_str(&format!(
                "  {} {}\n",
                paint(&format!("{:8}", file.change.word()), code, color),
                file.file
            ));
            for change in &file.settings {
                text.push_str(&format!("           {}\n", setting_change_text(change)));
            }
            if let Some(note) = &file.note {
                text.push_str(&format!("           ({note})\n"));
            }
        }
    }
    text.push('\n');
    text.push_str(&paint(&summary_line(report), "1", color));
    text.push('\n');
    text
}

/// The prefix that turns a path relative to the `-C` folder into one relative to the git
/// repository root (GitHub resolves annotation paths from there).
fn repository_prefix(install: &Install) -> String {
    match Checkout::open(&install.root) {
        Some(checkout) => match install::relative(checkout.workdir(), &install.root).as_str() {
            "." => String::new(),
            rel if !Path::new(rel).is_absolute() => format!("{rel}/"),
            _ => String::new(),
        },
        None => String::new(),
    }
}

/// Escapes workflow-command data (`%`, CR, LF) and, for properties, `:` and `,`.
fn escape(text: &str, property: bool) -> String {
    let mut out = text
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if property {
        out = out.replace(':', "%3A").replace(',', "%2C");
    }
    out
}

fn github_report(install: &Install, report: &Report) -> String {
    let prefix = repository_prefix(install);
    let mut text = String::new();
    for f in &report.findings {
        let mut props = vec![format!(
            "file={}",
            escape(&format!("{prefix}{}", f.file), true)
        )];
        if let Some(line) = f.line {
            props.push(format!("line={line}"));
        }
        if let Some(col) = f.column {
            props.push(format!("col={col}"));
        }
        props.push(format!(
            "title={}",
            escape(&format!("kfpatch {}", f.code), true)
        ));
        text.push_str(&format!(
            "::{} {}::{}\n",
            f.severity.word(),
            props.join(","),
            escape(&format!("{}\nfix: {}", f.message, f.fix), false)
        ));
    }
    if let Some(drift) = &report.drift {
        for file in &drift.files {
            let mut message = format!("{} since {}", file.change.word(), drift.reference);
            for change in &file.settings {
                message.push_str(&format!("\n{}", setting_change_text(change)));
            }
            text.push_str(&format!(
                "::notice file={},title={}::{}\n",
                escape(&format!("{prefix}{}", file.file), true),
                escape(&format!("kfpatch drift since {}", drift.reference), true),
                escape(&message, false)
            ));
        }
    }
    text.push_str(&summary_line(report));
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_and_skip_a_bom() {
        assert_eq!(column_of("\u{feff}A=\"x\"\n", 1, Some("\"")), 3);
        assert_eq!(column_of("a\n  b: c\n", 2, None), 3);
        assert_eq!(column_at("ab\nüx=1", 5), 2);
        assert_eq!(column_at("ab\nüx=1", 6), 3);
    }

    #[test]
    fn closest_key_finds_one_edit_typos_only() {
        assert_eq!(closest_key("MULTIUSR"), Some("MULTIUSER"));
        assert_eq!(closest_key("multiuser"), Some("MULTIUSER"));
        assert_eq!(closest_key("SOMETHING_ELSE"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn github_escaping() {
        assert_eq!(escape("a:b,c%\nd", true), "a%3Ab%2Cc%25%0Ad");
        assert_eq!(escape("a:b,c%\nd", false), "a:b,c%25%0Ad");
    }
}
