//! The plan of edits: every file's old and new bytes with the reason for each changed setting,
//! computed in full before anything is written; its unified diff; and the atomic write.
//!
//! A plan is built from the catalogue (`multiuser on|off`) or from `KEY=VALUE` pairs (`set`). Each
//! file is parsed once, every applicable setting is read, and only settings that hold the other
//! mode's upstream value change: a customised value is kept and reported. The new bytes are checked
//! (the `.env` keys, or the YAML documents read by yaml_serde) to differ from the old in exactly
//! the intended settings before the plan is returned.

use crate::checkout::catalogue::{
    self, API_SERVER_KEYS, CATALOGUE, Mode, Place, Reading, Scope, Setting, holds, show_value,
};
use crate::checkout::install::{Install, PARAMS_ENV};
use crate::checkout::lint::env_lint;
use crate::checkout::parsed::{self, Parsed, Problem};
use crate::edit::splice;
use crate::edit::write::{self, FilePlan};
use crate::error::{Failure, Result};
use crate::output::escape::quoted;
use crate::syntax::envfile::{EnvFile, KeyState};
use crate::syntax::yamledit::{self, LeafChange, Splice};

/// One setting that changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The file relative to the install.
    pub file: String,
    pub line: usize,
    pub setting: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub why: String,
}

/// A setting left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub file: String,
    pub line: Option<usize>,
    pub setting: String,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// Customised values that were kept.
    pub kept: Vec<Note>,
    /// Rows that do not apply to this release or scope.
    pub skipped: Vec<Note>,
    pub files: Vec<FilePlan>,
}

/// The files of the catalogue in first-use order, each with its rows.
fn files_of(rows: &[&'static Setting]) -> Vec<(&'static str, Vec<&'static Setting>)> {
    let mut files: Vec<(&'static str, Vec<&'static Setting>)> = Vec::new();
    for row in rows {
        match files.iter_mut().find(|(f, _)| *f == row.file) {
            Some((_, list)) => list.push(row),
            None => files.push((row.file, vec![row])),
        }
    }
    files
}

/// The plan that switches multi-user mode to `mode` for every row in `scope`.
pub fn switch(install: &Install, mode: Mode, scope: Scope) -> Result<Plan> {
    let mut plan = Plan::default();
    let mut problems = Vec::new();
    let mut bad_keys: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for setting in CATALOGUE {
        match setting.applies(install, scope) {
            Ok(()) => rows.push(setting),
            Err(reason) if setting.scope <= scope => plan.skipped.push(Note {
                file: setting.file.to_string(),
                line: None,
                setting: setting.name(),
                message: reason,
            }),
            Err(_) => {}
        }
    }
    for (file, settings) in files_of(&rows) {
        let shown = install.display(file);
        let Some(text) = install.read(file)? else {
            if file == "persistence-agent/params.env" {
                plan.skipped.push(Note {
                    file: file.to_string(),
                    line: None,
                    setting: "MULTIUSER".to_string(),
                    message: "this release has no persistence-agent/params.env".to_string(),
                });
            } else {
                problems.push(parsed::missing_file(&shown, file));
            }
            continue;
        };
        if file.ends_with(".env") {
            bad_keys.extend(
                env_lint::bad_configmap_keys(&shown, &text)
                    .into_iter()
                    .map(|(_, p)| p),
            );
        }
        match plan_file(file, &shown, &text, &settings, mode) {
            Ok((changes, notes, new)) => {
                plan.changes.extend(changes);
                for (kept, note) in notes {
                    if kept {
                        plan.kept.push(note);
                    } else {
                        plan.skipped.push(note);
                    }
                }
                if new != text {
                    plan.files.push(FilePlan {
                        file: file.to_string(),
                        shown,
                        path: install.real_path(file)?,
                        old: text,
                        new,
                    });
                }
            }
            Err(mut found) => problems.append(&mut found),
        }
    }
    if problems.is_empty() {
        // Checked after the files' own problems, whose messages say more about a malformed
        // line (`MULTIUSER = true`) than the character its key cannot hold.
        refuse_bad_keys(&bad_keys)?;
        plan.sort();
        Ok(plan)
    } else {
        // Several rows of one file can hit the same problem (a renamed container): say it once.
        problems.sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));
        problems.dedup();
        Err(problems_failure(&problems))
    }
}

/// Keys a ConfigMap cannot hold (one paragraph each) as one exit-2 failure.
fn refuse_bad_keys(paragraphs: &[String]) -> Result<()> {
    if paragraphs.is_empty() {
        return Ok(());
    }
    Err(Failure::new(format!(
        "{}\nnothing was written",
        paragraphs.join("\n")
    )))
}

/// Every problem, one per paragraph, as one exit-2 failure.
pub fn problems_failure(problems: &[Problem]) -> Failure {
    let mut text: Vec<String> = Vec::new();
    for problem in problems {
        // Several rows of one file report the same problem of that file once.
        let rendered = problem.render();
        if !text.contains(&rendered) {
            text.push(rendered);
        }
    }
    Failure::new(format!(
        "{}\nnothing was written",
        text.join("\n").trim_end()
    ))
}

type FileOutcome = (Vec<Change>, Vec<(bool, Note)>, String);

fn plan_file(
    file: &str,
    shown: &str,
    text: &str,
    settings: &[&'static Setting],
    mode: Mode,
) -> std::result::Result<FileOutcome, Vec<Problem>> {
    let parsed = Parsed::parse(file, shown, text).map_err(|p| vec![p])?;
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    let mut wanted: Vec<(&Setting, Option<&str>)> = Vec::new();
    for setting in settings {
        let reading = match catalogue::read(setting, shown, &parsed) {
            Ok(r) => r,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let to = setting.value_in(mode);
        let from = setting.value_in(mode.other());
        let line = match &reading {
            Reading::Value { line, .. } => Some(*line),
            _ => None,
        };
        if let Reading::NotApplicable(reason) = &reading {
            notes.push((
                false,
                Note {
                    file: file.to_string(),
                    line,
                    setting: setting.name(),
                    message: reason.clone(),
                },
            ));
            continue;
        }
        if holds(setting, &reading, to) {
            continue;
        }
        let current = match &reading {
            Reading::Value { value, .. } => Some(value.as_str()),
            _ => None,
        };
        if !holds(setting, &reading, from) {
            notes.push((
                true,
                Note {
                    file: file.to_string(),
                    line,
                    setting: setting.name(),
                    message: format!(
                        "{} is customised (upstream: {} in multi-user mode, {} in single-user mode); left as is",
                        show_value(current),
                        show_value(setting.multi),
                        show_value(setting.single)
                    ),
                },
            ));
            continue;
        }
        changes.push(Change {
            file: file.to_string(),
            line: line.unwrap_or(1),
            setting: setting.name(),
            old: current.map(str::to_string),
            new: to.map(str::to_string),
            why: setting.reason(mode).to_string(),
        });
        wanted.push((setting, to));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let (new, lines) = apply_settings(&parsed, text, shown, &wanted).map_err(|p| vec![p])?;
    // An entry that was absent has no line of its own until it is written: show where it goes.
    for (change, line) in changes.iter_mut().zip(lines) {
        if change.old.is_none() {
            change.line = line;
        }
    }
    Ok((changes, notes, new))
}

/// Writes each `(setting, value)` into the parsed file and checks the result.
fn apply_settings(
    parsed: &Parsed<'_>,
    text: &str,
    shown: &str,
    wanted: &[(&Setting, Option<&str>)],
) -> std::result::Result<(String, Vec<usize>), Problem> {
    match parsed {
        Parsed::Env(env) => {
            let mut edited = env.clone();
            for (setting, to) in wanted {
                splice::edit_env(&mut edited, setting, to.unwrap_or_default(), shown)?;
            }
            let keys: Vec<&str> = wanted
                .iter()
                .filter_map(|(s, _)| match s.place {
                    Place::EnvKey(k) => Some(k),
                    _ => None,
                })
                .collect();
            verify_env(env, &edited, &keys, shown)?;
            let lines = keys
                .iter()
                .map(|key| match edited.check_key(key) {
                    KeyState::Set { line, .. } => line,
                    _ => 1,
                })
                .collect();
            Ok((edited.text().to_string(), lines))
        }
        Parsed::Yaml(yaml) => {
            let mut splices: Vec<Splice> = Vec::new();
            let mut leaves: Vec<LeafChange> = Vec::new();
            let mut lines = Vec::new();
            for (setting, to) in wanted {
                let edit = splice::edit_yaml(setting, yaml, *to, shown)?;
                lines.push(edit.splices.first().map_or(1, |s| {
                    let newline_first = usize::from(s.replacement.starts_with(['\n', '\r']));
                    yamledit::line_of(text, s.range.start) + newline_first
                }));
                splices.extend(edit.splices);
                leaves.extend(edit.leaves);
            }
            let new = yamledit::apply(text, &splices).map_err(|e| refused(shown, &e))?;
            yamledit::verify(text, &new, &leaves).map_err(|e| refused(shown, &e))?;
            Ok((new, lines))
        }
    }
}

fn refused(shown: &str, detail: &str) -> Problem {
    Problem {
        file: shown.to_string(),
        line: 1,
        code: "edit-refused",
        message: format!("kfpatch refused its own edit: {detail}"),
        fix: "please report this with the file; edit the file by hand meanwhile".to_string(),
    }
}

/// Checks that only `keys` differ between the two env files, key by key.
fn verify_env(
    old: &EnvFile,
    new: &EnvFile,
    keys: &[&str],
    shown: &str,
) -> std::result::Result<(), Problem> {
    let strip = |env: &EnvFile| -> Vec<(String, Option<String>)> {
        env.pairs()
            .into_iter()
            .filter(|(k, _)| !keys.contains(k))
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    };
    if strip(old) != strip(new) {
        return Err(refused(shown, "keys other than the edited ones changed"));
    }
    Ok(())
}

/// Is `key` a setting a person can `set`, and is `value` valid for it?
pub fn validate_set(
    key: &str,
    value: &str,
    known_key_needed: bool,
) -> std::result::Result<(), String> {
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        || key.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(format!(
            "{key:?} is not a valid environment variable name (letters, digits, '_', '-', '.')"
        ));
    }
    if value.contains(['\n', '\r']) {
        return Err(format!("the value of {key} contains a line break"));
    }
    if value != value.trim() || value.starts_with(['"', '\'']) || value.contains(" #") {
        return Err(format!(
            "{key}={value} would carry quotes, spaces or a comment into the value (kustomize keeps them); give the bare value"
        ));
    }
    if catalogue::API_SERVER_BOOL_KEYS.contains(&key) && !matches!(value, "true" | "false") {
        return Err(format!(
            "{key} must be true or false (the API server exits on anything Go's ParseBool rejects, and the persistence agent reads only lowercase)"
        ));
    }
    if key == "DEFAULTPIPELINERUNNERSERVICEACCOUNT" && !is_kubernetes_name(value) {
        return Err(format!(
            "{value:?} is not a Kubernetes service account name (lowercase letters, digits, '-' and '.', at most 253 characters, starting and ending alphanumeric)"
        ));
    }
    if key == "VISUALIZATIONSERVICE_PORT" && !matches!(value.parse::<u32>(), Ok(1..=65535)) {
        return Err(format!(
            "{key} must be a port number from 1 to 65535, not {value:?}"
        ));
    }
    if known_key_needed && !API_SERVER_KEYS.contains(&key) {
        return Err(match catalogue::closest_api_server_key(key) {
            Some(guess) => format!(
                "{key} is not a key the KFP API server reads (a typo of {guess}?); write {guess}={value}, or pass --allow-unknown-key to add {key} anyway"
            ),
            None => format!(
                "{key} is not a key the KFP API server reads (a typo?); correct the key, or pass --allow-unknown-key to add it anyway"
            ),
        });
    }
    Ok(())
}

/// An RFC 1123 subdomain, which Kubernetes requires of service account names.
pub fn is_kubernetes_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// The plan that sets `KEY=VALUE` pairs in the API server's `params.env`.
pub fn set(install: &Install, pairs: &[(String, String)], allow_unknown: bool) -> Result<Plan> {
    let shown = install.display(PARAMS_ENV);
    let text = install
        .read(PARAMS_ENV)?
        .ok_or_else(|| Failure::new(format!("{shown} is missing")))?;
    let old = EnvFile::parse(&text);
    let mut env = old.clone();
    let mut plan = Plan::default();
    for (key, value) in pairs {
        let known_needed = !allow_unknown && matches!(old.check_key(key), KeyState::Absent);
        validate_set(key, value, known_needed)
            .map_err(|e| Failure::new(format!("set {key}={value}: {e}\nnothing was written")))?;
        let (line, current, malformed) = match env.check_key(key) {
            KeyState::Set { value: v, .. } if v == value => continue,
            KeyState::Set { line, value } => (line, Some(value.to_string()), false),
            KeyState::Malformed(m) => {
                let raw = env
                    .entries()
                    .iter()
                    .find(|e| e.line == m.line())
                    .and_then(|e| env.value_of(e))
                    .map(str::to_string);
                (m.line(), raw, true)
            }
            KeyState::Absent => (text.lines().count() + 1, None, false),
        };
        env.set(key, value, true)
            .map_err(|m| problems_failure(&[parsed::malformed_problem(&shown, key, &m)]))?;
        plan.changes.push(Change {
            file: PARAMS_ENV.to_string(),
            line,
            setting: key.clone(),
            old: current,
            new: Some(value.clone()),
            why: if malformed {
                "set on the command line; the malformed line is rewritten".to_string()
            } else {
                "set on the command line".to_string()
            },
        });
    }
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    verify_env(&old, &env, &keys, &shown).map_err(|p| problems_failure(&[p]))?;
    let bad_keys: Vec<String> = env_lint::bad_configmap_keys(&shown, &text)
        .into_iter()
        .map(|(_, paragraph)| paragraph)
        .collect();
    refuse_bad_keys(&bad_keys)?;
    if env.text() != text {
        plan.files.push(FilePlan {
            file: PARAMS_ENV.to_string(),
            shown,
            path: install.real_path(PARAMS_ENV)?,
            old: text,
            new: env.text().to_string(),
        });
    }
    Ok(plan)
}

impl Plan {
    /// Orders files, changes and notes by file, then line, as the diff shows them.
    fn sort(&mut self) {
        self.files.sort_by(|a, b| a.file.cmp(&b.file));
        self.changes
            .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        for notes in [&mut self.kept, &mut self.skipped] {
            notes.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        }
    }

    /// `title`, then one line per change (file:line, setting, old -> new, why), per kept
    /// customised value and per row that does not apply.
    pub fn summary(&self, title: &str) -> String {
        let at = |file: &str, line: Option<usize>| match line {
            Some(l) => format!("{file}:{l}"),
            None => file.to_string(),
        };
        let mut text = format!("{title}\n");
        for c in &self.changes {
            text.push_str(&format!(
                "  {}: {} {} -> {} ({})\n",
                at(&c.file, Some(c.line)),
                c.setting,
                show_value(c.old.as_deref()),
                show_value(c.new.as_deref()),
                c.why
            ));
        }
        for note in &self.kept {
            text.push_str(&format!(
                "  kept {}: {} {}\n",
                at(&note.file, note.line),
                note.setting,
                note.message
            ));
        }
        for note in &self.skipped {
            text.push_str(&format!(
                "  skip {}: {}: {}\n",
                at(&note.file, note.line),
                note.setting,
                note.message
            ));
        }
        text
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The unified diff of every file, `a/` and `b/` paths relative to the checkout root.
    pub fn diff(&self, color: bool) -> String {
        let mut out = String::new();
        for file in &self.files {
            let diff = similar::TextDiff::from_lines(&file.old, &file.new);
            let text = diff
                .unified_diff()
                .context_radius(3)
                .header(
                    &quoted(&format!("a/{}", file.shown)),
                    &quoted(&format!("b/{}", file.shown)),
                )
                .to_string();
            for line in text.split_inclusive('\n') {
                out.push_str(&paint_diff_line(line, color));
            }
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }

    /// Writes every file atomically. If one write fails, the files already written are put back.
    pub fn write(&self) -> Result<()> {
        write::write_all(&self.files)
    }
}

fn paint_diff_line(line: &str, color: bool) -> String {
    if !color {
        return line.to_string();
    }
    let (body, end) = match line.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (line, ""),
    };
    let code = if body.starts_with("+++") || body.starts_with("---") {
        "1"
    } else if body.starts_with('+') {
        "32"
    } else if body.starts_with('-') {
        "31"
    } else if body.starts_with("@@") {
        "36"
    } else {
        return line.to_string();
    };
    format!("\x1b[{code}m{body}\x1b[0m{end}")
}
