//! `kfpatch audit`: what this checkout would do to a cluster, without changing it.
//!
//! Platform teams keep forks of kubeflow/manifests for years and need, in every CI run, the
//! answer to "will this break KFP when applied?". The audit reads the same files the switch
//! manages and reports, each at its file, line and column:
//! - values kustomize or the KFP components read differently from what was meant,
//!   for every key of the API server's `params.env`, not only the catalogue's;
//! - combinations of settings that break runs or the UI, whatever tool made them;
//! - with `--expect on|off`, every switched setting that is not at that mode's value;
//! - files the catalogue expects but cannot find or cannot read;
//! - generated copies of the KFP ConfigMaps in the checkout (Helm charts, pre-rendered YAML),
//!   with a warning for each whose mode disagrees with the install's.
//!
//! `--against REF` adds the drift from a git ref ([`crate::checkout::drift`]). Findings are errors (the
//! cluster breaks) or warnings (probably a mistake, nothing breaks); only errors and drift fail
//! the run, unless `--strict`. Formats: text, JSON/YAML, GitHub workflow commands here; SARIF and
//! GitLab Code Quality in [`formats`]. `--cluster` compares the checkout with running clusters
//! instead (`audit/cluster.rs`).

mod cluster;
mod formats;

use std::path::Path;

use serde::Serialize;

use crate::checkout::catalogue::{Mode, holds, show_value};
use crate::checkout::drift::{self, Drift, FileChange};
use crate::checkout::git::Checkout;
use crate::checkout::install::Install;
use crate::checkout::lint::finding::{Finding, Severity};
use crate::checkout::lint::findings::audit;
use crate::checkout::locate;
use crate::checkout::model::{self, deploying};
use crate::checkout::overriding::{Editor, OverrideJson};
use crate::checkout::scan;
use crate::checkout::settings::{self, InstallJson, JSON_SCHEMA};
use crate::checkout::{discover, paths};
use crate::cli::{AuditArgs, AuditFormat, Cli, OnOff};
use crate::edit::{overlay, overlay_files, remote_overlay};
use crate::error::{Failure, Result};
use crate::output::escape::quoted;
use crate::output::{Output, location, paint, to_json, to_yaml, write_out};
use crate::parallel;
use crate::report::above::Above;
use crate::report::surroundings;

/// Exit code when the audit found errors or drift (or warnings, with `--strict`).
pub const EXIT_FINDINGS: i32 = 1;
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
    /// Files above the install that decide a managed setting (absent when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    overrides: Vec<OverrideJson>,
    /// Generated copies of the KFP ConfigMaps (Helm charts, pre-rendered YAML) in the checkout.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    generated_copies: Vec<surroundings::CopyJson>,
    findings: Vec<Finding>,
    drift: Option<Drift>,
    summary: Summary,
}

/// `--expect MODE` for the files above the install: an override holding the other mode's value
/// decides what the cluster gets, whatever the install says.
fn override_expectations(mode: Mode, above: &Above) -> Vec<Finding> {
    let mut out = Vec::new();
    for o in &above.overrides {
        let Some(reading) = o.reading() else {
            continue;
        };
        let other = o.setting.value_in(mode.other());
        if !holds(o.setting, &reading, other)
            || holds(o.setting, &reading, o.setting.value_in(mode))
        {
            continue;
        }
        out.push(Finding {
            file: o.file.clone(),
            line: o.line,
            column: o.line.map(|_| 1),
            severity: Severity::Error,
            code: "expect-mismatch",
            message: format!(
                "{} is {}, the {} value, and overrides the install through {} ({}): the cluster gets {}; --expect {} wants {}",
                o.setting.name(),
                show_value(o.value()),
                if mode == Mode::On { "single-user" } else { "multi-user" },
                o.by,
                o.how,
                show_value(o.value()),
                mode.word(),
                show_value(o.setting.value_in(mode))
            ),
            fix: if o.editor == Editor::None {
                format!("change it by hand to {}", show_value(o.setting.value_in(mode)))
            } else {
                format!(
                    "run kfpatch multiuser {} (it switches this override too)",
                    mode.word()
                )
            },
        });
    }
    out
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
    if args.cluster {
        return cluster::run(cli, args, io);
    }
    let root = paths::canonical_root(&cli.dir)?;
    let Some(install) = discover::find_optional(&root, cli.install.as_deref())? else {
        return remote_only(&root, args, io);
    };
    let expect = args.expect.map(|e| match e {
        OnOff::On => Mode::On,
        OnOff::Off => Mode::Off,
    });
    // The install's own files, the overlays, the drift and the scan around the install are read
    // on a second thread beside the kustomize model, the longest part of an audit. The scan's
    // kustomization files are read by the search (all of them, in a deep tree of
    // kustomizations): the scan reads only the others.
    let ((overlays, found, drift, rows, (around, met)), (deploying, unreadable, above, read)) =
        parallel::beside(
            || {
                let drift = args
                    .against
                    .as_ref()
                    .map(|reference| drift::against(&install, reference));
                (
                    overlay::find_all(&install),
                    audit(&install, expect),
                    drift,
                    settings::rows(&install),
                    surroundings::around_but_kustomizations(&install),
                )
            },
            || {
                let (deploying, mut searched) = deploying::deploying_and_reaching(&install);
                let unreadable = searched.unreadable.clone();
                let read = std::mem::take(&mut searched.read);
                let above = Above::of(&install, &deploying, searched);
                (deploying, unreadable, above, read)
            },
        );
    let around = surroundings::with_kustomizations(&install, around, met, &|dir| {
        read.get(dir.as_os_str()).map(Option::as_deref)
    });
    let overlays = overlays?;
    let mut found = found?;
    if let Some(mode) = expect {
        found.extend(override_expectations(mode, &above));
    }
    let findings = with_overlays(expect, found, &overlays);
    let drift = drift.transpose()?;
    let rows = rows?;
    let mode = settings::mode_word(&rows);
    let mut findings = findings;
    let want = match (expect, mode) {
        (Some(m), _) => Some((m, "--expect wants")),
        (None, "on") => Some((Mode::On, "the install's files say")),
        (None, "off") => Some((Mode::Off, "the install's files say")),
        _ => None,
    };
    let said = model::findings::all(
        &surroundings::unreadable(&unreadable, &around),
        &deploying,
        want,
        install.version.as_ref().ok(),
    );
    for f in said {
        let known = findings
            .iter()
            .any(|k| (&k.file, k.line) == (&f.file, f.line));
        if !known {
            findings.push(f);
        }
    }
    findings.extend(surroundings::copy_findings(&around, mode));
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    let drifted_files = drift.as_ref().map_or(0, |d| d.files.len());
    let fails = errors > 0 || drifted_files > 0 || (args.strict && warnings > 0);
    let report = Report {
        schema: JSON_SCHEMA,
        install: InstallJson::of(&install),
        mode,
        expect: expect.map(Mode::word),
        generated_copies: surroundings::copies_json(&around, mode),
        overlays,
        overrides: above.overrides.iter().map(OverrideJson::of).collect(),
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
        AuditFormat::Text => text_report(&install, &report, io.color),
        AuditFormat::Json => to_json(&report)?,
        AuditFormat::Yaml => to_yaml(&report)?,
        AuditFormat::Github => github_report(&install, &report),
        AuditFormat::Sarif => to_json(&formats::sarif(
            &report.findings,
            report.drift.as_ref(),
            &repository_prefix(&install),
        ))?,
        AuditFormat::Gitlab => to_json(&formats::gitlab(
            &report.findings,
            report.drift.as_ref(),
            &repository_prefix(&install),
        ))?,
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
        let file = format!("{}/{}", found.path, overlay_files::KUSTOMIZATION);
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
/// One finding of the text report: `  PLACE SEVERITY[CODE]: MESSAGE`, and its fix below.
fn finding_text(
    place: &str,
    severity: Severity,
    code: &str,
    message: &str,
    fix: &str,
    color: bool,
) -> String {
    let label = match severity {
        Severity::Error => paint("error", "1;31", color),
        Severity::Warning => paint("warning", "1;33", color),
    };
    format!("  {place}{label}[{code}]: {message}\n    fix: {fix}\n")
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
        quoted(&install.rel),
        install.version_text(),
        report.mode,
        report
            .expect
            .map_or(String::new(), |e| format!(", expecting {e}"))
    );
    for found in &report.overlays {
        text.push_str(&format!(
            "overlay {}: multi-user mode off {}, {}\n",
            quoted(&found.path),
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
    for o in &report.overrides {
        text.push_str(&format!(
            "override {}: {} {} (through {}, {})\n",
            location(&o.file, o.line),
            o.setting,
            match (&o.value, &o.untraced) {
                (_, Some(why)) => format!("(not traced: {why})"),
                (value, None) => show_value(value.as_deref()),
            },
            quoted(&o.through),
            quoted(&o.how)
        ));
    }
    for copy in &report.generated_copies {
        text.push_str(&format!(
            "generated copy {}:{}: ConfigMap {}, MULTIUSER {} ({}){}\n",
            quoted(&copy.file),
            copy.line,
            quoted(&copy.object),
            copy.value,
            copy.mode,
            if copy.disagrees {
                ", disagrees with the install"
            } else {
                ""
            }
        ));
    }
    let mut current: Option<&str> = None;
    for f in &report.findings {
        if current != Some(f.file.as_str()) {
            text.push('\n');
            text.push_str(&paint(&quoted(&f.file), "1", color));
            text.push('\n');
            current = Some(&f.file);
        }
        let place = match (f.line, f.column) {
            (Some(l), Some(c)) => format!("{l}:{c}: "),
            (Some(l), None) => format!("{l}: "),
            _ => String::new(),
        };
        text.push_str(&finding_text(
            &place,
            f.severity,
            f.code,
            &quoted(&f.message),
            &quoted(&f.fix),
            color,
        ));
    }
    if let Some(drift) = &report.drift {
        text.push_str(&format!(
            "\ndrift of {} since {}:\n",
            quoted(&drift.tree),
            quoted(&drift.reference)
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
                quoted(&file.file)
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
    match Checkout::open(&install.root).ok().flatten() {
        Some(checkout) => match paths::relative(checkout.workdir(), &install.root).as_str() {
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
    fn github_escaping() {
        assert_eq!(escape("a:b,c%\nd", true), "a%3Ab%2Cc%25%0Ad");
        assert_eq!(escape("a:b,c%\nd", false), "a:b,c%25%0Ad");
    }
}

/// `audit --format json` in a checkout whose KFP comes only from remote bases.
#[derive(Debug, Serialize)]
struct RemoteReport {
    schema: u32,
    /// Always `null`: no KFP files here.
    install: Option<InstallJson>,
    overlays: Vec<overlay::Found>,
    remote_bases: Vec<surroundings::RemoteJson>,
    findings: Vec<Finding>,
    summary: Summary,
}

/// `audit` in a checkout without KFP files: its remote KFP bases and the kfpatch overlays over
/// them (a stale one is a warning); nothing else can be read offline. `--against` and `--expect`
/// need files, so they are refused.
fn remote_only(root: &Path, args: &AuditArgs, io: &mut Output<'_>) -> Result<i32> {
    let remote = scan::remote_or_unreadable(scan::scan(root, root, &[]))?;
    if remote.is_empty() {
        return locate::find(root, None).map(|_| 0);
    }
    if args.against.is_some() || args.expect.is_some() {
        return Err(Failure::new(format!(
            "--against and --expect read the KFP files, and there are none here; {}",
            scan::remote_only(&remote)
        )));
    }
    let overlays = remote_overlay::find_all(root)?;
    let findings: Vec<Finding> = overlays
        .iter()
        .filter(|o| o.over_this_install && !o.up_to_date)
        .map(|o| Finding {
            file: format!("{}/{}", o.path, overlay_files::KUSTOMIZATION),
            line: None,
            column: None,
            severity: Severity::Warning,
            code: "overlay-stale",
            message: format!(
                "the overlay {} is not what kfpatch would write for the release its remote base names (a new ref, or a hand edit?); applied, it carries stale values",
                o.path
            ),
            fix: format!(
                "run kfpatch multiuser off --overlay {} --target {} again",
                o.path,
                base_of(root, &o.path)
            ),
        })
        .collect();
    let warnings = findings.len();
    let fails = args.strict && warnings > 0;
    let report = RemoteReport {
        schema: JSON_SCHEMA,
        install: None,
        overlays,
        remote_bases: surroundings::remote_json(&remote),
        findings,
        summary: Summary {
            errors: 0,
            warnings,
            drifted_files: 0,
            exit_code: if fails { EXIT_FINDINGS } else { 0 },
        },
    };
    let text = match args.format {
        AuditFormat::Json => to_json(&report)?,
        AuditFormat::Yaml => to_yaml(&report)?,
        AuditFormat::Sarif => to_json(&formats::sarif(&report.findings, None, ""))?,
        AuditFormat::Gitlab => to_json(&formats::gitlab(&report.findings, None, ""))?,
        AuditFormat::Github => report
            .findings
            .iter()
            .map(|f| {
                format!(
                    "::warning file={},title=kfpatch {}::{}\n",
                    f.file, f.code, f.message
                )
            })
            .collect(),
        AuditFormat::Text => {
            let mut text =
                "audit: no KFP files in this checkout; its KFP comes from remote bases\n"
                    .to_string();
            for o in &report.overlays {
                text.push_str(&format!(
                    "overlay {}: multi-user mode off {}, {}\n",
                    o.path,
                    if o.over_this_install {
                        "over a remote base"
                    } else {
                        "over another kustomization"
                    },
                    if o.up_to_date { "up to date" } else { "stale" }
                ));
            }
            text.push_str("remote bases of KFP (kustomize fetches them; nothing here can be audited offline but the overlays):\n");
            text.push_str(&scan::remote_lines(&remote));
            for f in &report.findings {
                text.push_str(&format!(
                    "\n{}\n  warning[{}]: {}\n    fix: {}\n",
                    f.file, f.code, f.message, f.fix
                ));
            }
            text.push_str(&format!(
                "\n0 errors, {warnings} {} (exit {})\n",
                if warnings == 1 { "warning" } else { "warnings" },
                report.summary.exit_code
            ));
            text
        }
    };
    write_out(io, &text)?;
    Ok(report.summary.exit_code)
}

/// The kustomization a kfpatch overlay in `path` (relative to `root`) builds on, relative to
/// `root`; `FOLDER` when it cannot be read.
fn base_of(root: &Path, path: &str) -> String {
    let dir = root.join(path);
    match overlay_files::detect(root, &dir) {
        Ok(Some(overlay)) => paths::relative(root, &paths::absolute(&dir.join(&overlay.resource))),
        _ => "FOLDER".to_string(),
    }
}
