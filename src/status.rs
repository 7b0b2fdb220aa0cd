//! What `status` reports: the install, its release and git state, and where every catalogue
//! setting stands.

use crate::app::{Output, find, location, version_text, write_out};
use crate::catalogue::{self, CATALOGUE, Mode, Parsed, Reading, Scope};
use serde::Serialize;

use crate::cli::{Cli, Format, StatusArgs};
use crate::error::{Failure, Result};
use crate::git::Checkout;
use crate::install::Install;
use crate::plan::{holds, show_value};

/// Where one catalogue row stands.
#[derive(Debug, Clone)]
pub struct RowState {
    pub row: u8,
    pub file: &'static str,
    pub setting: String,
    pub line: Option<usize>,
    /// The value as read (`None`: absent, not read, or not a literal).
    pub value: Option<String>,
    /// The value, `(absent)`, or why the row does not apply / cannot be read.
    pub shown: String,
    /// Why the row does not apply or is not switched by default, if so.
    pub note: Option<String>,
    /// Which mode's upstream value it holds, if any.
    pub mode: Option<Mode>,
    /// Part of the default switch (not parity-only, applicable to this release)?
    pub counts: bool,
    pub problem: Option<String>,
}

/// The git facts of the checkout around an install.
#[derive(Debug, Clone, Serialize)]
pub struct GitState {
    pub commit: String,
    pub tag: Option<String>,
    /// Managed files whose bytes differ from HEAD (relative to the checkout root).
    pub modified: Vec<String>,
}

pub fn git_state(install: &Install) -> Option<GitState> {
    let checkout = Checkout::open(&install.root)?;
    let commit = checkout.head()?;
    let mut files: Vec<&str> = Vec::new();
    for setting in CATALOGUE {
        // Rows of one file are not all adjacent in the catalogue: keep the first of each.
        // A managed file that does not exist in this release is not a change.
        if !files.contains(&setting.file) && install.dir.join(setting.file).is_file() {
            files.push(setting.file);
        }
    }
    let paths: Vec<std::path::PathBuf> = files.iter().map(|f| install.dir.join(f)).collect();
    let modified = files
        .iter()
        .zip(checkout.differ_from_head(&paths))
        .filter(|(_, differs)| *differs)
        .map(|(file, _)| install.display(file))
        .collect();
    Some(GitState {
        commit,
        tag: checkout.head_tag(),
        modified,
    })
}

/// Reads every catalogue row. Each file is read and parsed once, however many rows live in it.
pub fn rows(install: &Install) -> Result<Vec<RowState>> {
    let mut out = Vec::new();
    let mut texts: Vec<(&str, String, Option<String>)> = Vec::new();
    for setting in CATALOGUE {
        if !texts.iter().any(|(f, _, _)| *f == setting.file) {
            let shown = install.display(setting.file);
            let text = install.read(setting.file)?;
            texts.push((setting.file, shown, text));
        }
    }
    let parsed: Vec<(
        &str,
        Option<std::result::Result<Parsed<'_>, catalogue::Problem>>,
    )> = texts
        .iter()
        .map(|(file, shown, text)| {
            let parsed = text.as_deref().map(|text| Parsed::parse(file, shown, text));
            (*file, parsed)
        })
        .collect();
    for setting in CATALOGUE {
        let shown_file = install.display(setting.file);
        let parsed_file = parsed
            .iter()
            .find(|(f, _)| *f == setting.file)
            .and_then(|(_, p)| p.as_ref());
        let applies = setting.applies(install, Scope::Related);
        let mut state = RowState {
            row: setting.row,
            file: setting.file,
            setting: setting.name(),
            line: None,
            value: None,
            shown: String::new(),
            note: None,
            mode: None,
            counts: applies.is_ok(),
            problem: None,
        };
        let Some(parsed_file) = parsed_file else {
            state.shown = "(file not present)".to_string();
            state.counts &= setting.file != "persistence-agent/params.env";
            if state.counts {
                state.problem = Some(catalogue::missing_file(&shown_file, setting.file).render());
            }
            out.push(state);
            continue;
        };
        let reading = parsed_file
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|parsed| catalogue::read(setting, &shown_file, parsed));
        match reading {
            Err(problem) => {
                state.line = Some(problem.line);
                state.shown = "(malformed)".to_string();
                state.problem = Some(problem.render());
            }
            Ok(Reading::NotApplicable(reason)) => {
                state.shown = format!("(n/a: {reason})");
                state.note = Some(reason);
                state.counts = false;
            }
            Ok(reading) => {
                let value = match &reading {
                    Reading::Value { value, line } => {
                        state.line = Some(*line);
                        Some(value.as_str())
                    }
                    _ => None,
                };
                state.shown = show_value(value);
                state.value = value.map(str::to_string);
                // The same test the switch makes, so `status` and `multiuser` agree on what an
                // absent MULTIUSER (false) or a `True` means.
                state.mode = [Mode::On, Mode::Off]
                    .into_iter()
                    .find(|m| holds(setting, &reading, setting.value_in(*m)));
            }
        }
        if let Err(reason) = &applies
            && state.problem.is_none()
            && state.note.is_none()
        {
            state.note = Some(if setting.scope == Scope::Parity {
                "switched only with --parity".to_string()
            } else {
                format!("not switched: {reason}")
            });
        }
        out.push(state);
    }
    Ok(out)
}

/// The install's mode as the default switch sees it, in one word: `on`, `off`, `mixed` (the
/// settings disagree) or `unknown` (a managed file has a problem).
pub fn mode_word(rows: &[RowState]) -> &'static str {
    let counted: Vec<&RowState> = rows.iter().filter(|r| r.counts).collect();
    let all = |m: Mode| counted.iter().all(|r| r.mode == Some(m));
    if counted.iter().any(|r| r.problem.is_some()) {
        "unknown"
    } else if all(Mode::On) {
        "on"
    } else if all(Mode::Off) {
        "off"
    } else {
        "mixed"
    }
}

/// The install's mode as the default switch sees it.
pub fn overall_mode(rows: &[RowState]) -> String {
    let counted: Vec<&RowState> = rows.iter().filter(|r| r.counts).collect();
    match mode_word(rows) {
        "unknown" => "unknown: a managed file has a problem (see below)".to_string(),
        "on" => "on (multi-user: every managed setting at its multi-user value)".to_string(),
        "off" => "off (single-user: every managed setting at its single-user value)".to_string(),
        _ => {
            let first = counted.first().map(|r| r.mode);
            let odd: Vec<String> = counted
                .iter()
                .filter(|r| Some(r.mode) != first)
                .map(|r| r.setting.clone())
                .collect();
            format!(
                "mixed: {} disagree with MULTIUSER (run kfpatch multiuser on|off to make them agree)",
                odd.join(", ")
            )
        }
    }
}

/// The version of the JSON objects `status` and `audit` print; it changes only when a field
/// changes meaning or goes away (new fields may be added within a version).
pub const JSON_SCHEMA: u32 = 1;

/// The install, as `status` and `audit` print it in JSON.
#[derive(Debug, Serialize)]
pub struct InstallJson {
    /// The `installs/multi-user` folder, relative to the `-C` folder (`.` when it is that folder).
    pub path: String,
    /// `manifests-apps`, `manifests-applications`, `manifests-legacy`, `pipelines`, `unrecognised`.
    pub layout: &'static str,
    /// `appVersion` of `installs/generic/pipeline-install-config.yaml`; `null` when unknown.
    pub kfp_version: Option<String>,
    /// Why the version is unknown; `null` when it is known.
    pub kfp_version_error: Option<String>,
}

impl InstallJson {
    pub fn of(install: &Install) -> InstallJson {
        InstallJson {
            path: install.rel.clone(),
            layout: install.layout.id(),
            kfp_version: install.version.as_ref().ok().map(|v| v.to_string()),
            kfp_version_error: install.version.as_ref().err().cloned(),
        }
    }
}

/// `status --format json`.
#[derive(Debug, Serialize)]
struct StatusJson {
    schema: u32,
    install: InstallJson,
    git: Option<GitState>,
    mode: &'static str,
    settings: Vec<SettingJson>,
}

#[derive(Debug, Serialize)]
struct SettingJson {
    /// The row of the catalogue table (README, "What changes together").
    row: u8,
    /// Relative to the `-C` folder.
    file: String,
    line: Option<usize>,
    setting: String,
    /// The value as read; `null` when absent, not read or not a literal.
    value: Option<String>,
    /// `multi-user`, `single-user`, `customised`, `file-absent`, `not-applicable` or `problem`.
    state: &'static str,
    /// Part of the default `multiuser on|off` switch on this release.
    switched_by_default: bool,
    note: Option<String>,
    problem: Option<String>,
}

impl SettingJson {
    fn of(install: &Install, row: &RowState) -> SettingJson {
        let state = if row.problem.is_some() {
            "problem"
        } else if row.shown.starts_with("(file not present)") {
            "file-absent"
        } else if row.shown.starts_with("(n/a") {
            "not-applicable"
        } else {
            match row.mode {
                Some(Mode::On) => "multi-user",
                Some(Mode::Off) => "single-user",
                None => "customised",
            }
        };
        SettingJson {
            row: row.row,
            file: install.display(row.file),
            line: row.line,
            setting: row.setting.clone(),
            value: row.value.clone(),
            state,
            switched_by_default: row.counts,
            note: row.note.clone(),
            problem: row.problem.clone(),
        }
    }
}

/// `value` as pretty-printed JSON with a final newline.
pub fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value)
        .map(|text| text + "\n")
        .map_err(|e| Failure::new(format!("cannot format JSON: {e}")))
}

/// `kfpatch status`.
pub fn run(cli: &Cli, args: &StatusArgs, io: &mut Output<'_>) -> Result<i32> {
    if args.format == Format::Github {
        return Err(Failure::new(
            "status --format github: workflow annotations are for findings; use kfpatch audit --format github, or status --format text|json",
        ));
    }
    let install = find(cli)?;
    let rows = rows(&install)?;
    if args.format == Format::Json {
        let report = StatusJson {
            schema: JSON_SCHEMA,
            install: InstallJson::of(&install),
            git: git_state(&install),
            mode: mode_word(&rows),
            settings: rows.iter().map(|r| SettingJson::of(&install, r)).collect(),
        };
        write_out(io, &to_json(&report)?)?;
        return problems_result(&rows);
    }
    let mut text = String::new();
    text.push_str(&format!("install:  {}\n", install.rel));
    text.push_str(&format!("layout:   {}\n", install.layout.describe()));
    text.push_str(&format!("KFP:      {}\n", version_text(&install)));
    text.push_str(&format!(
        "git:      {}\n",
        match git_state(&install) {
            None => "not a git checkout".to_string(),
            Some(git) => {
                let mut s = git.commit.get(..12).unwrap_or(&git.commit).to_string();
                if let Some(tag) = git.tag {
                    s.push_str(&format!(" (tag {tag})"));
                }
                if git.modified.is_empty() {
                    s.push_str(", managed files unmodified");
                } else {
                    s.push_str(&format!(
                        ", uncommitted changes in {}",
                        git.modified.join(", ")
                    ));
                }
                s
            }
        }
    ));
    text.push_str(&format!("mode:     {}\n", overall_mode(&rows)));
    text.push_str("settings:\n");
    let width =
        |cell: &dyn Fn(&RowState) -> String| rows.iter().map(|r| cell(r).len()).max().unwrap_or(0);
    let place = |r: &RowState| location(r.file, r.line);
    let value = |r: &RowState| match mode_label(r) {
        Some(label) => format!("{} [{label}]", r.shown),
        None => r.shown.clone(),
    };
    let (place_width, name_width, value_width) = (
        width(&place),
        width(&|r: &RowState| r.setting.clone()),
        width(&value),
    );
    for r in &rows {
        let line = format!(
            "  {} {:place_width$}  {:name_width$}  {:value_width$}  {}",
            r.row,
            place(r),
            r.setting,
            value(r),
            r.note.as_deref().unwrap_or_default(),
        );
        text.push_str(line.trim_end());
        text.push('\n');
    }
    write_out(io, &text)?;
    problems_result(&rows)
}

/// `multi-user`, `single-user` or `customised` for a row whose value was read.
fn mode_label(row: &RowState) -> Option<&'static str> {
    match row.mode {
        Some(Mode::On) => Some("multi-user"),
        Some(Mode::Off) => Some("single-user"),
        None if row.counts && row.problem.is_none() => Some("customised"),
        None => None,
    }
}

/// Exit 0, or exit 2 naming every problem a managed file has, in file order and once, though
/// several rows (not all adjacent) share a file.
fn problems_result(rows: &[RowState]) -> Result<i32> {
    let mut problems: Vec<String> = rows.iter().filter_map(|r| r.problem.clone()).collect();
    if problems.is_empty() {
        Ok(0)
    } else {
        problems = problems.into_iter().fold(Vec::new(), |mut once, p| {
            if !once.contains(&p) {
                once.push(p);
            }
            once
        });
        Err(Failure::new(problems.join("\n")))
    }
}
