//! Finding what a checkout would do to a cluster, at file, line and column: values kustomize or
//! the KFP components read differently from what was meant, for every key of the API
//! server's `params.env`; combinations of settings that break runs or the UI, whatever
//! tool made them; with an expected mode, every switched setting not at that mode's value; and
//! managed files that are missing or unreadable. Findings are errors (the cluster breaks) or
//! warnings (probably a mistake, nothing breaks).

use crate::checkout::catalogue::{self, CATALOGUE, Mode, Place, Reading, Scope, holds, show_value};
use crate::checkout::install::{Install, PARAMS_ENV};
use crate::checkout::lint::env_lint::{
    agent_multi_user, bad_configmap_keys, lint_agent_params, lint_api_params,
};
use crate::checkout::lint::finding::{Finding, Severity, column_of, from_problem};
use crate::checkout::parsed::Parsed;
use crate::error::{Failure, Result};
use crate::syntax::envfile::parse_go_bool;

const AGENT_PARAMS: &str = "persistence-agent/params.env";

/// Every finding of the install, sorted by file, line and column.
pub fn audit(install: &Install, expect: Option<Mode>) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let mut readings: Vec<Option<Reading>> = vec![None; CATALOGUE.len()];
    let mut files: Vec<&'static str> = CATALOGUE.iter().map(|s| s.file).collect();
    files.dedup();
    let mut texts = Vec::new();
    let mut bad_keys: Vec<String> = Vec::new();
    for file in files {
        let shown = install.display(file);
        let Some(text) = install.read(file)? else {
            if file != AGENT_PARAMS {
                findings.push(missing_file(&shown, file));
            }
            continue;
        };
        let lints = if file == PARAMS_ENV {
            lint_api_params(&shown, &text)
        } else if file == AGENT_PARAMS {
            lint_agent_params(&shown, &text)
        } else {
            Vec::new()
        };
        if file.ends_with(".env") {
            // A key the API server would reject is bad input, not a finding: the ConfigMap
            // cannot be applied at all. A line the lints already call an error (`KEY = value`)
            // is left to them.
            let errors: Vec<Option<usize>> = lints
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|f| f.line)
                .collect();
            bad_keys.extend(
                bad_configmap_keys(&shown, &text)
                    .into_iter()
                    .filter(|(line, _)| !errors.contains(&Some(*line)))
                    .map(|(_, paragraph)| paragraph),
            );
        }
        findings.extend(lints);
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
    if !bad_keys.is_empty() {
        return Err(Failure::new(bad_keys.join("\n")));
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

/// Settings that break runs or the UI together, whatever made them.
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
        // Runs go to the kubeflow namespace in single-user mode and to the profile namespaces in
        // multi-user mode: each has the other mode's runner account missing.
        let (wrong, right, where_runs_go) = if multi {
            (
                "pipeline-runner",
                "default-editor",
                "multi-user runs go to the profile namespaces, which have default-editor but not pipeline-runner",
            )
        } else {
            (
                "default-editor",
                "pipeline-runner",
                "single-user runs go to the kubeflow namespace, where service account default-editor does not exist",
            )
        };
        if account == wrong {
            out.push(finding(
                install,
                PARAMS_ENV,
                line,
                column,
                "runner-account-wrong-mode",
                format!(
                    "DEFAULTPIPELINERUNNERSERVICEACCOUNT={wrong} with MULTIUSER={mode}: {where_runs_go}, so every run pod fails (serviceaccount \"{wrong}\" not found)"
                ),
                format!(
                    "set DEFAULTPIPELINERUNNERSERVICEACCOUNT={right}, {}",
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
        let (wrong, right, where_viewers_run) = if multi {
            (
                "kubeflow-pipelines-viewer",
                "default-editor",
                "the profile namespaces, which do not have it",
            )
        } else {
            (
                "default-editor",
                "kubeflow-pipelines-viewer",
                "the kubeflow namespace, where default-editor does not exist",
            )
        };
        if account == wrong {
            out.push(finding(
                install,
                ui_config,
                line,
                column,
                "viewer-account-wrong-mode",
                format!(
                    "viewer-pod-template.json uses service account {wrong} with MULTIUSER={mode}: TensorBoard viewer pods run in {where_viewers_run}, so they are never created"
                ),
                format!(
                    "set \"serviceAccountName\": \"{right}\", {}",
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
        let version = install.version_text();
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
                setting.reason(mode)
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
