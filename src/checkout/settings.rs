//! The settings of an install as they stand: every catalogue row read from the files (value,
//! line, which mode's value it holds), the git state of the managed files, the overall mode, and
//! the JSON form of the install that `status` and `audit` share.

use serde::Serialize;

use crate::checkout::catalogue::{self, CATALOGUE, Mode, Reading, Scope, holds, show_value};
use crate::checkout::git::{self, Tracked, Unreadable};
use crate::checkout::install::Install;
use crate::checkout::overall::Overall;
use crate::checkout::parsed::{self, Parsed};
use crate::checkout::paths::relative;
use crate::error::Result;
use crate::output::escape::quoted;
use crate::parallel;
use crate::syntax::strict;
use std::path::{Path, PathBuf};

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

/// The git facts of the repository that holds an install's managed files.
#[derive(Debug, Clone, Serialize)]
pub struct GitState {
    /// The repository's work tree relative to the `-C` folder (`.` for it, or for a repository
    /// around it); a nested clone or submodule shows here as `upstream`.
    pub repository: String,
    pub commit: String,
    pub tag: Option<String>,
    /// Managed files whose bytes differ from HEAD (relative to the `-C` folder).
    pub modified: Vec<String>,
    /// Managed files the repository has never committed (untracked, not ignored).
    pub not_committed: Vec<String>,
}

/// Where version control stands on an install's managed files, per repository that holds them.
#[derive(Debug, Clone)]
pub enum GitView {
    /// No repository around them.
    NoRepository,
    /// The repository around them ignores them (`folder`, relative to `-C`, is ignored by the
    /// repository at `repository`).
    Ignored {
        folder: String,
        repository: String,
    },
    Repository(GitState),
    /// A repository that cannot be read, e.g. one of another user that git's safe.directory
    /// does not name.
    Unreadable(Unreadable),
}

/// Paths from git, each quoted if it holds a control character, separated by commas.
fn list(paths: &[String]) -> String {
    paths
        .iter()
        .map(|p| quoted(p).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

impl GitView {
    pub fn text(&self) -> String {
        match self {
            GitView::NoRepository => "not a git checkout".to_string(),
            GitView::Unreadable(why) => why.summary(),
            GitView::Ignored { folder, repository } => format!(
                "not under version control ({}/ is ignored by the git repository at {})",
                quoted(folder),
                quoted(repository)
            ),
            GitView::Repository(git) => {
                let mut s = String::new();
                if git.repository != "." {
                    s.push_str(&format!("{}/ ", quoted(&git.repository)));
                }
                s.push_str(git.commit.get(..12).unwrap_or(&git.commit));
                if let Some(tag) = &git.tag {
                    s.push_str(&format!(" (tag {})", quoted(tag)));
                }
                if git.modified.is_empty() && git.not_committed.is_empty() {
                    s.push_str(", managed files unmodified");
                }
                if !git.modified.is_empty() {
                    s.push_str(&format!(", uncommitted changes in {}", list(&git.modified)));
                }
                if !git.not_committed.is_empty() {
                    s.push_str(&format!(", not committed: {}", list(&git.not_committed)));
                }
                s
            }
        }
    }
}

/// A path inside `-C` relative to it, else `.` (a repository around `-C` is "the checkout").
fn shown_repository(root: &Path, workdir: &Path) -> String {
    if workdir.starts_with(root) {
        relative(root, workdir)
    } else {
        ".".to_string()
    }
}

/// Git facts for the managed files that exist in this release, from the repository that holds
/// each (a nested clone, a submodule, a worktree): one view per repository.
pub fn git_views(install: &Install) -> Vec<GitView> {
    let mut files: Vec<&str> = Vec::new();
    for setting in CATALOGUE {
        // Rows of one file are not all adjacent in the catalogue: keep the first of each.
        // A managed file that does not exist in this release is not a change.
        if !files.contains(&setting.file) && install.dir.join(setting.file).is_file() {
            files.push(setting.file);
        }
    }
    let paths: Vec<PathBuf> = files.iter().map(|f| install.dir.join(f)).collect();
    let mut views = Vec::new();
    // `status` shows what git knows when it can; the write commands refuse an unreadable
    // repository (edit::write::check_clean).
    let groups = match git::holding_or_why(&install.dir, &paths) {
        Ok(groups) => groups,
        Err(why) => return vec![GitView::Unreadable(why)],
    };
    for group in groups {
        let Some(checkout) = group.checkout else {
            views.push(GitView::NoRepository);
            continue;
        };
        let repository = shown_repository(&install.root, checkout.workdir());
        let tracked = checkout.tracked(&group.files);
        if tracked.iter().all(|t| *t == Tracked::Ignored) {
            let folder = group
                .files
                .first()
                .and_then(|f| checkout.ignored_folder(f))
                .map_or_else(|| install.rel.clone(), |f| relative(&install.root, &f));
            views.push(GitView::Ignored { folder, repository });
            continue;
        }
        let Some(commit) = checkout.head() else {
            views.push(GitView::NoRepository);
            continue;
        };
        let shown = |path: &PathBuf| relative(&install.root, path);
        let pick = |want: &dyn Fn(Tracked) -> bool| -> Vec<String> {
            group
                .files
                .iter()
                .zip(&tracked)
                .filter(|(_, t)| want(**t))
                .map(|(f, _)| shown(f))
                .collect()
        };
        views.push(GitView::Repository(GitState {
            repository,
            commit,
            tag: checkout.head_tag(),
            modified: pick(&|t| t == Tracked::Committed { modified: true }),
            not_committed: pick(&|t| t == Tracked::NotCommitted),
        }));
    }
    views
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
    // The strict YAML check costs about what the lossless parse does: it runs beside it.
    let (verdicts, lenient) = parallel::beside(
        || {
            texts
                .iter()
                .map(|(file, _, text)| match text {
                    Some(text) if parsed::is_yaml(file) => strict::check(text),
                    _ => Ok(()),
                })
                .collect::<Vec<_>>()
        },
        || {
            texts
                .iter()
                .map(|(file, shown, text)| {
                    text.as_deref()
                        .map(|text| Parsed::parse_lenient(file, shown, text))
                })
                .collect::<Vec<_>>()
        },
    );
    let parsed: Vec<(
        &str,
        Option<std::result::Result<Parsed<'_>, parsed::Problem>>,
    )> = texts
        .iter()
        .zip(lenient.into_iter().zip(verdicts))
        .map(|((file, shown, _), (lenient, strict))| {
            let parsed = lenient.map(|lenient| lenient.and_then(|p| p.checked(shown, strict)));
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
                state.problem = Some(parsed::missing_file(&shown_file, setting.file).render());
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
                // The reason is the row's note; the value column only says that it does not apply.
                state.shown = "(n/a)".to_string();
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

/// The counted rows' modes and names, for [`Overall::of`].
fn counted(rows: &[RowState]) -> Vec<(Option<Mode>, String)> {
    rows.iter()
        .filter(|r| r.counts)
        .map(|r| (r.mode, r.setting.clone()))
        .collect()
}

/// The install's mode as the default switch sees it, in one word: `on`, `off`, `mixed` (the
/// settings disagree) or `unknown` (a managed file has a problem).
pub fn mode_word(rows: &[RowState]) -> &'static str {
    if rows.iter().any(|r| r.counts && r.problem.is_some()) {
        "unknown"
    } else {
        Overall::of(&counted(rows)).word()
    }
}

/// The install's mode as the default switch sees it.
pub fn overall_mode(rows: &[RowState]) -> String {
    if mode_word(rows) == "unknown" {
        return "unknown: a managed file has a problem (see below)".to_string();
    }
    let overall = Overall::of(&counted(rows));
    if !matches!(overall, Overall::Mixed(_)) {
        return overall.line();
    }
    let customised: Vec<String> = rows
        .iter()
        .filter(|r| r.counts && r.mode.is_none())
        .filter_map(put_back)
        .collect();
    if customised.is_empty() {
        format!(
            "{} (run kfpatch multiuser on|off to make them agree)",
            overall.line()
        )
    } else {
        // The switch keeps a customised value, so running it alone changes nothing here.
        format!(
            "{}; kfpatch multiuser on|off leaves a customised value as is, so first {}, then run kfpatch multiuser on|off",
            overall.line(),
            customised.join("; ")
        )
    }
}

/// How to give a customised row an upstream value again: `kfpatch set` for a key of the API
/// server's `params.env`, an edit of the file for the others.
fn put_back(row: &RowState) -> Option<String> {
    let setting = CATALOGUE
        .iter()
        .find(|s| s.row == row.row && s.file == row.file)?;
    let (multi, single) = (show_value(setting.multi), show_value(setting.single));
    Some(match setting.place {
        catalogue::Place::EnvKey(key) if setting.file == "api-service/params.env" => {
            format!("run kfpatch set {key}={multi} (multi-user) or {key}={single} (single-user)")
        }
        _ => format!(
            "edit {} of {}{} to {multi} (multi-user) or {single} (single-user)",
            row.setting,
            row.file,
            row.line.map_or(String::new(), |l| format!(":{l}"))
        ),
    })
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
