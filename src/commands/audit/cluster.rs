//! `audit --cluster`: the checkout's effective settings (one render of the deploy target) against
//! the live objects of one or several clusters (`--context`, repeatable), decoded into settings,
//! with what is wrong with the live objects themselves ([`crate::cluster::live::livecheck`]). Exit 1
//! when any cluster drifts or has an error finding, 3 when a cluster cannot be read (the others
//! are still reported).

use std::time::Instant;

use serde::Serialize;

use crate::checkout::catalogue::show_value;
use crate::checkout::install::{Install, PARAMS_ENV};
use crate::checkout::lint::finding::Severity;
use crate::checkout::model::decode::{API_SERVER, KFP_NAMESPACE};
use crate::checkout::model::objects::Object;
use crate::checkout::settings::{self, InstallJson, JSON_SCHEMA};
use crate::cli::{AuditArgs, AuditFormat, Cli};
use crate::cluster::live::livecheck::{self, LiveFinding, SettingDiff};
use crate::cluster::live::{self, Live};
use crate::cluster::programs::process;
use crate::cluster::render::{self, Render};
use crate::error::{EXIT_CLUSTER, Failure, Result};
use crate::output::progress::Progress;
use crate::output::sarif::{self, SarifResult};
use crate::output::{Output, to_json, to_yaml, write_out};

use super::{EXIT_FINDINGS, escape, finding_text, plural, repository_prefix};
use crate::output::escape::quoted;
use crate::output::paint;

#[derive(Debug, Serialize)]
struct Report {
    schema: u32,
    install: InstallJson,
    /// The rendered target, relative to the checkout root.
    target: String,
    clusters: Vec<ClusterReport>,
    summary: Summary,
}

#[derive(Debug, Serialize)]
struct ClusterReport {
    context: String,
    server: String,
    namespace: String,
    /// Why the cluster could not be read (exit 3), or `null`.
    error: Option<String>,
    settings: Vec<SettingDiff>,
    findings: Vec<LiveFinding>,
    drifted_settings: usize,
    errors: usize,
    warnings: usize,
}

#[derive(Debug, Serialize)]
struct Summary {
    contexts: usize,
    /// Contexts with drift or an error finding (or a warning, with `--strict`).
    failing: Vec<String>,
    /// Contexts that could not be read.
    unreadable: Vec<String>,
    exit_code: i32,
}

/// The namespace of KFP in the render: that of its `ml-pipeline` Deployment.
fn kfp_namespace(objects: &[Object]) -> String {
    objects
        .iter()
        .find(|o| o.kind == "Deployment" && o.name == API_SERVER.0)
        .and_then(|o| o.namespace.clone())
        .unwrap_or_else(|| KFP_NAMESPACE.to_string())
}

fn read_cluster(
    live: &Live,
    render: &Render,
    namespace: &str,
) -> Result<(Vec<SettingDiff>, Vec<LiveFinding>)> {
    let mut objects = live.list(&live::DEPLOYMENTS, Some(namespace))?.items();
    objects.extend(live.list(&live::CONFIGMAPS, Some(namespace))?.items());
    objects.extend(live.list(&live::SERVICE_ACCOUNTS, Some(namespace))?.items());
    if !objects
        .iter()
        .any(|o| o.kind == "Deployment" && o.name == API_SERVER.0)
    {
        return Ok((
            Vec::new(),
            vec![LiveFinding {
                severity: Severity::Error,
                code: "live-kfp-missing",
                object: format!("Deployment {namespace}/{}", API_SERVER.0),
                message: format!(
                    "no Deployment {} in namespace {namespace}: Kubeflow Pipelines is not installed on this cluster, or not there",
                    API_SERVER.0
                ),
                fix: "kfpatch reinstall applies the checkout's KFP".to_string(),
            }],
        ));
    }
    let settings = livecheck::compare(&render.objects, &objects);
    let mut findings: Vec<LiveFinding> = settings
        .iter()
        .filter(|s| s.drift)
        .map(|s| LiveFinding {
            severity: Severity::Error,
            code: "live-setting-drift",
            object: s.live_source.clone(),
            message: format!(
                "{}: the checkout renders {}, the cluster has {} ({})",
                s.setting,
                show_value(s.render.as_deref()),
                s.live_shown(),
                s.live_source
            ),
            fix: "kfpatch reinstall applies the checkout; or change the checkout to what the cluster runs".to_string(),
        })
        .collect();
    findings.extend(livecheck::check(&objects));
    Ok((settings, findings))
}

/// `kfpatch audit --cluster`.
pub fn run(cli: &Cli, args: &AuditArgs, io: &mut Output<'_>) -> Result<i32> {
    if args.format == AuditFormat::Gitlab {
        return Err(Failure::new(
            "audit --cluster -o gitlab: GitLab Code Quality needs a file for every finding; use -o text, json, yaml, github or sarif",
        ));
    }
    let install = crate::checkout::locate::find(&cli.dir, cli.install.as_deref())?;
    let mut sink = std::io::sink();
    let mut progress = Progress::new(&mut sink, true);
    let render = render::prepare(
        install,
        args.target.as_deref().unwrap_or("kfp"),
        args.kustomize.as_deref(),
        Instant::now() + process::parse_timeout(render::RENDER_LIMIT)?,
        &format!("{} for a render", render::RENDER_LIMIT),
        io.err,
        &mut progress,
    )?;
    drop(progress);
    let namespace = kfp_namespace(&render.objects);
    let contexts: Vec<Option<String>> = if cli.kube.contexts.is_empty() {
        vec![None]
    } else {
        cli.kube.contexts.iter().cloned().map(Some).collect()
    };
    let mut clusters = Vec::new();
    for context in contexts {
        // A bad kubeconfig or unknown context is bad input (exit 2), as for reinstall.
        let live = Live::connect(cli.kube.kubeconfig.clone(), context)?;
        let mut report = ClusterReport {
            context: live.info.context.clone(),
            server: live.info.server.clone(),
            namespace: namespace.clone(),
            error: None,
            settings: Vec::new(),
            findings: Vec::new(),
            drifted_settings: 0,
            errors: 0,
            warnings: 0,
        };
        match read_cluster(&live, &render, &namespace) {
            Ok((settings, findings)) => {
                report.drifted_settings = settings.iter().filter(|s| s.drift).count();
                report.errors = findings
                    .iter()
                    .filter(|f| f.severity == Severity::Error)
                    .count();
                report.warnings = findings.len() - report.errors;
                report.settings = settings;
                report.findings = findings;
            }
            Err(failure) if failure.code == EXIT_CLUSTER => report.error = Some(failure.message),
            Err(failure) => return Err(failure),
        }
        clusters.push(report);
    }
    let failing: Vec<String> = clusters
        .iter()
        .filter(|c| c.error.is_none() && (c.errors > 0 || (args.strict && c.warnings > 0)))
        .map(|c| c.context.clone())
        .collect();
    let unreadable: Vec<String> = clusters
        .iter()
        .filter(|c| c.error.is_some())
        .map(|c| c.context.clone())
        .collect();
    let exit_code = if !unreadable.is_empty() {
        EXIT_CLUSTER
    } else if !failing.is_empty() {
        EXIT_FINDINGS
    } else {
        0
    };
    let report = Report {
        schema: JSON_SCHEMA,
        install: InstallJson::of(&render.install),
        target: render.target.shown.clone(),
        summary: Summary {
            contexts: clusters.len(),
            failing,
            unreadable,
            exit_code,
        },
        clusters,
    };
    let text = match args.format {
        AuditFormat::Text => text_report(&render, &report, io.color),
        AuditFormat::Json => to_json(&report)?,
        AuditFormat::Yaml => to_yaml(&report)?,
        AuditFormat::Github => github_report(&render, &report),
        AuditFormat::Sarif => sarif_report(&render, &report)?,
        AuditFormat::Gitlab => unreachable!("refused before reading"),
    };
    write_out(io, &text)?;
    for c in &report.clusters {
        if let Some(error) = &c.error {
            let _ = writeln!(io.err, "error: {error}");
        }
    }
    Ok(exit_code)
}

fn summary_line(report: &Report) -> String {
    let s = &report.summary;
    let mut parts = vec![plural(s.contexts, "context", "contexts")];
    if s.failing.is_empty() && s.unreadable.is_empty() {
        parts.push("no drift".to_string());
    }
    if !s.failing.is_empty() {
        parts.push(format!("drift or errors in {}", s.failing.join(", ")));
    }
    if !s.unreadable.is_empty() {
        parts.push(format!("not readable: {}", s.unreadable.join(", ")));
    }
    format!("{} (exit {})", parts.join("; "), s.exit_code)
}

fn text_report(render: &Render, report: &Report, color: bool) -> String {
    let mut text = format!(
        "audit --cluster: the render of {} ({}) against the live objects in namespace {}\n",
        render.target.shown,
        render.target.why,
        report
            .clusters
            .first()
            .map_or(KFP_NAMESPACE, |c| c.namespace.as_str())
    );
    for c in &report.clusters {
        text.push('\n');
        text.push_str(&paint(
            &format!("context {} ({})", quoted(&c.context), quoted(&c.server)),
            "1",
            color,
        ));
        text.push('\n');
        if let Some(error) = &c.error {
            text.push_str(&format!(
                "  {}: {error}\n",
                paint("not readable", "1;31", color)
            ));
            continue;
        }
        let compared = c.settings.len();
        if compared > 0 {
            if c.drifted_settings == 0 {
                text.push_str(&format!(
                    "  settings: all {compared} agree with the checkout\n"
                ));
            } else {
                text.push_str(&format!(
                    "  settings: {} of {compared} differ from the checkout\n",
                    c.drifted_settings
                ));
            }
        }
        for f in &c.findings {
            text.push_str(&finding_text(
                "", f.severity, f.code, &f.message, &f.fix, color,
            ));
        }
        text.push_str(&format!(
            "  {}, {}\n",
            plural(c.errors, "error", "errors"),
            plural(c.warnings, "warning", "warnings")
        ));
    }
    text.push('\n');
    text.push_str(&paint(&summary_line(report), "1", color));
    text.push('\n');
    text
}

/// The checkout file and line a live finding is about: the file of a drifted setting; else none.
fn location(
    install: &Install,
    code: &str,
    setting: Option<&SettingDiff>,
) -> Option<(String, Option<usize>)> {
    if code != "live-setting-drift" {
        return None;
    }
    let setting = setting?;
    match setting.row {
        Some(row) => {
            let rows = settings::rows(install).ok()?;
            let r = rows
                .iter()
                .find(|r| r.row == row && r.setting == setting.setting)?;
            Some((install.display(r.file), r.line))
        }
        None => {
            let text = install.read(PARAMS_ENV).ok()??;
            let line = text
                .lines()
                .position(|l| l.split_once('=').is_some_and(|(k, _)| k == setting.setting))
                .map(|i| i + 1);
            Some((install.display(PARAMS_ENV), line))
        }
    }
}

/// The drifted setting a `live-setting-drift` finding is about.
fn setting_of<'a>(c: &'a ClusterReport, f: &LiveFinding) -> Option<&'a SettingDiff> {
    c.settings.iter().find(|s| {
        s.drift && s.live_source == f.object && f.message.starts_with(&format!("{}:", s.setting))
    })
}

fn github_report(render: &Render, report: &Report) -> String {
    let prefix = repository_prefix(&render.install);
    let mut text = String::new();
    for c in &report.clusters {
        let mut lines: Vec<(String, String, String)> = Vec::new();
        if let Some(error) = &c.error {
            lines.push((
                "error".into(),
                format!("title={}", escape("kfpatch cluster not readable", true)),
                error.clone(),
            ));
        }
        for f in &c.findings {
            let mut props = Vec::new();
            if let Some((file, line)) = location(&render.install, f.code, setting_of(c, f)) {
                props.push(format!("file={}", escape(&format!("{prefix}{file}"), true)));
                if let Some(line) = line {
                    props.push(format!("line={line}"));
                }
            }
            props.push(format!(
                "title={}",
                escape(&format!("kfpatch {}", f.code), true)
            ));
            lines.push((
                f.severity.word().to_string(),
                props.join(","),
                format!("context {}: {}\nfix: {}", c.context, f.message, f.fix),
            ));
        }
        for (level, props, message) in lines {
            text.push_str(&format!("::{level} {props}::{}\n", escape(&message, false)));
        }
    }
    text.push_str(&summary_line(report));
    text.push('\n');
    text
}

fn sarif_report(render: &Render, report: &Report) -> Result<String> {
    let prefix = repository_prefix(&render.install);
    let kustomization = format!("{prefix}{}/kustomization.yaml", render.target.shown);
    let mut results = Vec::new();
    for c in &report.clusters {
        if let Some(error) = &c.error {
            results.push(SarifResult {
                rule: "live-cluster-not-readable",
                level: "error",
                message: error.clone(),
                file: kustomization.clone(),
                line: None,
                column: None,
                object: Some(format!("context {}", c.context)),
                rule_index: None,
                fingerprint: None,
            });
        }
        for f in &c.findings {
            let (file, line) = match location(&render.install, f.code, setting_of(c, f)) {
                Some((file, line)) => (format!("{prefix}{file}"), line),
                None => (kustomization.clone(), None),
            };
            results.push(SarifResult {
                rule: f.code,
                level: f.severity.word(),
                message: format!("context {}: {} Fix: {}", c.context, f.message, f.fix),
                file,
                line,
                column: None,
                object: Some(format!("context {}: {}", c.context, f.object)),
                rule_index: None,
                fingerprint: None,
            });
        }
    }
    sarif::log(&results)
}
