//! What `status` reports: the install, its release and git state, and where every catalogue
//! setting stands.

use crate::app::{Output, find, location, version_text, write_out};
use crate::catalogue::{self, CATALOGUE, Mode, Parsed, Place, Reading, Scope};
use crate::cli::{Cli, StatusArgs};
use crate::envfile::parse_go_bool;
use crate::error::{Failure, Result};
use crate::git::Checkout;
use crate::install::Install;
use crate::plan::show_value;

/// Where one catalogue row stands.
#[derive(Debug, Clone)]
pub struct RowState {
    pub row: u8,
    pub file: &'static str,
    pub setting: String,
    pub line: Option<usize>,
    /// The value, `(absent)`, or why the row does not apply / cannot be read.
    pub shown: String,
    /// Which mode's upstream value it holds, if any.
    pub mode: Option<Mode>,
    /// Part of the default switch (not parity-only, applicable to this release)?
    pub counts: bool,
    pub problem: Option<String>,
}

/// The git facts of the checkout around an install.
#[derive(Debug, Clone)]
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
            shown: String::new(),
            mode: None,
            counts: applies.is_ok(),
            problem: None,
        };
        let Some(parsed_file) = parsed_file else {
            state.shown = "(file not present)".to_string();
            state.counts &= setting.file != "persistence-agent/params.env";
            if state.counts {
                state.problem = Some(format!("{shown_file} is missing"));
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
                state.mode = [Mode::On, Mode::Off].into_iter().find(|m| {
                    let wanted = setting.value_in(*m);
                    match (value, wanted) {
                        (Some(v), Some(w))
                            if matches!(setting.place, Place::EnvKey("MULTIUSER")) =>
                        {
                            parse_go_bool(v).is_some() && parse_go_bool(v) == parse_go_bool(w)
                        }
                        (v, w) => v == w,
                    }
                });
            }
        }
        if let Err(reason) = &applies
            && state.problem.is_none()
            && setting.scope != Scope::Parity
        {
            state.shown = format!("{} (not switched: {reason})", state.shown);
        }
        out.push(state);
    }
    Ok(out)
}

/// The install's mode as the default switch sees it.
pub fn overall_mode(rows: &[RowState]) -> String {
    let counted: Vec<&RowState> = rows.iter().filter(|r| r.counts).collect();
    if counted.iter().any(|r| r.problem.is_some()) {
        return "unknown: a managed file has a problem (see below)".to_string();
    }
    let all = |m: Mode| counted.iter().all(|r| r.mode == Some(m));
    if all(Mode::On) {
        "on (multi-user: every managed setting at its multi-user value)".to_string()
    } else if all(Mode::Off) {
        "off (single-user: every managed setting at its single-user value)".to_string()
    } else {
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

/// `kfpatch status`.
pub fn run(cli: &Cli, _args: &StatusArgs, io: &mut Output<'_>) -> Result<i32> {
    let install = find(cli)?;
    let rows = rows(&install)?;
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
    let width = rows
        .iter()
        .map(|r| location(r.file, r.line).len())
        .max()
        .unwrap_or(0);
    let name_width = rows.iter().map(|r| r.setting.len()).max().unwrap_or(0);
    let mut problems = Vec::new();
    for r in &rows {
        let mode = match (r.mode, r.counts) {
            (Some(Mode::On), _) => "multi-user",
            (Some(Mode::Off), _) => "single-user",
            (None, true) if r.problem.is_none() => "customised",
            _ => "",
        };
        text.push_str(
            format!(
                "  {} {:width$}  {:name_width$}  {}{}\n",
                r.row,
                location(r.file, r.line),
                r.setting,
                r.shown,
                if mode.is_empty() {
                    String::new()
                } else {
                    format!("  [{mode}]")
                },
            )
            .trim_end_matches(' '),
        );
        if !text.ends_with('\n') {
            text.push('\n');
        }
        // One file's problem shows on each of its rows, which are not all adjacent.
        if let Some(p) = &r.problem
            && !problems.contains(p)
        {
            problems.push(p.clone());
        }
    }
    write_out(io, &text)?;
    if problems.is_empty() {
        Ok(0)
    } else {
        Err(Failure::new(problems.join("\n")))
    }
}
