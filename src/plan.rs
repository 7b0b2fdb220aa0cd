//! The plan of edits: every file's old and new bytes with the reason for each changed setting,
//! computed in full before anything is written; its unified diff; and the atomic write.
//!
//! A plan is built from the catalogue (`multiuser on|off`) or from `KEY=VALUE` pairs (`set`). Each
//! file is parsed once, every applicable setting is read, and only settings that hold the other
//! mode's upstream value change: a customised value is kept and reported. The new bytes are checked
//! (the `.env` keys, or the YAML documents read by yaml_serde) to differ from the old in exactly
//! the intended settings before the plan is returned.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::catalogue::{
    self, API_SERVER_KEYS, CATALOGUE, Mode, Parsed, Place, Problem, Reading, Scope, Setting,
};
use crate::envfile::{EnvFile, KeyState, parse_go_bool};
use crate::error::{Failure, Result};
use crate::git::Checkout;
use crate::install::{Install, PARAMS_ENV};
use crate::yamledit::{self, LeafChange, Splice};

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

/// One file's old and new bytes.
#[derive(Debug, Clone)]
pub struct FilePlan {
    /// The file relative to the install (`api-service/params.env`).
    pub file: String,
    /// The file relative to the checkout root, for the diff.
    pub shown: String,
    /// The real path to write.
    pub path: PathBuf,
    pub old: String,
    pub new: String,
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

/// Shows a value in a change list: `(absent)` for a missing entry, `''` for an empty string.
pub fn show_value(value: Option<&str>) -> String {
    match value {
        None => "(absent)".to_string(),
        Some("") => "''".to_string(),
        Some(v) => v.to_string(),
    }
}

/// Whether a read value means `wanted` for this setting (MULTIUSER compares as Go booleans).
pub fn holds(setting: &Setting, reading: &Reading, wanted: Option<&str>) -> bool {
    let is_switch = matches!(setting.place, Place::EnvKey("MULTIUSER"));
    match (reading, wanted) {
        (Reading::Value { value, .. }, Some(w)) if is_switch => {
            parse_go_bool(value) == parse_go_bool(w)
        }
        (Reading::Value { value, .. }, Some(w)) => value == w,
        // An absent MULTIUSER is false for the API server.
        (Reading::Absent, Some("false")) if is_switch => true,
        (Reading::Absent, None) => true,
        _ => false,
    }
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
                problems.push(catalogue::missing_file(&shown, file));
            }
            continue;
        };
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
        plan.sort();
        Ok(plan)
    } else {
        // Several rows of one file can hit the same problem (a renamed container): say it once.
        problems.sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));
        problems.dedup();
        Err(problems_failure(&problems))
    }
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
            why: setting.why.to_string(),
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
                catalogue::edit_env(&mut edited, setting, to.unwrap_or_default(), shown)?;
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
                let edit = catalogue::edit_yaml(setting, yaml, *to, shown)?;
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
        return Err(format!(
            "{key} is not a key the KFP API server reads (a typo?); known keys: {}. Pass --allow-unknown-key to add it anyway",
            API_SERVER_KEYS.join(", ")
        ));
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
            .map_err(|m| problems_failure(&[catalogue::malformed_problem(&shown, key, &m)]))?;
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

/// Refuses to write a file whose uncommitted changes go beyond the settings kfpatch manages
/// (`extra_keys`: keys a `set` command manages too). Both the committed and the working copy are
/// brought to the multi-user values of every managed setting; if they still differ, somebody
/// else's edit is in the file.
pub fn check_clean(plan: &Plan, install: &Install, extra_keys: &[&str]) -> Result<()> {
    let Some(checkout) = Checkout::open(&install.root) else {
        return Ok(());
    };
    let mut dirty = Vec::new();
    for file in &plan.files {
        let committed = checkout.at_head(&file.path);
        let same = match committed {
            Some(bytes) if bytes == file.old.as_bytes() => true,
            Some(bytes) => match String::from_utf8(bytes) {
                Ok(head) => normalise(&file.file, &head, extra_keys)
                    .zip(normalise(&file.file, &file.old, extra_keys))
                    .is_some_and(|(a, b)| a == b),
                Err(_) => false,
            },
            None => false,
        };
        if !same {
            dirty.push(file.shown.clone());
        }
    }
    if dirty.is_empty() {
        return Ok(());
    }
    Err(Failure::new(format!(
        "these files have uncommitted changes beyond the settings kfpatch manages (or are not committed):\n  {}\ncommit or stash them first, or pass --allow-dirty to edit them anyway; nothing was written",
        dirty.join("\n  ")
    )))
}

/// `text` with every managed setting of `file` at its multi-user value (or blanked, for keys
/// only `set` manages); `None` when the file cannot be brought there.
fn normalise(file: &str, text: &str, extra_keys: &[&str]) -> Option<String> {
    let parsed = Parsed::parse(file, file, text).ok()?;
    let rows: Vec<&Setting> = CATALOGUE.iter().filter(|s| s.file == file).collect();
    match &parsed {
        Parsed::Env(env) => {
            let mut env = env.clone();
            for setting in &rows {
                if let Place::EnvKey(key) = setting.place {
                    env.set(key, "", true).ok()?;
                }
            }
            for key in extra_keys {
                env.set(key, "", true).ok()?;
            }
            Some(env.text().to_string())
        }
        Parsed::Yaml(yaml) => {
            let mut splices = Vec::new();
            for setting in &rows {
                let reading = catalogue::read(setting, file, &parsed).ok()?;
                if holds(setting, &reading, setting.multi)
                    || matches!(reading, Reading::NotApplicable(_))
                {
                    continue;
                }
                let edit = catalogue::edit_yaml(setting, yaml, setting.multi, file).ok()?;
                splices.extend(edit.splices);
            }
            yamledit::apply(text, &splices).ok()
        }
    }
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
                .header(&format!("a/{}", file.shown), &format!("b/{}", file.shown))
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
        for (i, file) in self.files.iter().enumerate() {
            if let Err(e) = write_atomic(&file.path, file.new.as_bytes()) {
                let mut restored = true;
                for done in &self.files[..i] {
                    restored &= write_atomic(&done.path, done.old.as_bytes()).is_ok();
                }
                return Err(Failure::new(format!(
                    "cannot write {}: {e}; {}",
                    file.shown,
                    if restored {
                        "the files written before it were put back, so nothing changed"
                    } else {
                        "some files written before it could not be put back: check git status"
                    }
                )));
            }
        }
        Ok(())
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

/// Writes `content` to a temporary file beside `path`, syncs it, gives it `path`'s permissions and
/// renames it over `path`, so a reader (or a crash) sees the old or the new file, never a part.
pub fn write_atomic(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let permissions = fs::metadata(path)?.permissions();
    let temp = dir.join(format!(".{name}.kfpatch-{}.tmp", std::process::id()));
    let result = (|| {
        let create = || OpenOptions::new().write(true).create_new(true).open(&temp);
        let mut file = match create() {
            // Left by a run that was killed and had this process id: no live process can own
            // it, so it is replaced (a CI container often gives kfpatch the same id every time).
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                fs::remove_file(&temp)?;
                create()?
            }
            other => other?,
        };
        file.write_all(content)?;
        file.set_permissions(permissions)?;
        file.sync_all()?;
        pause_for_crash_test();
        fs::rename(&temp, path)?;
        // The new file is in place: a failed directory sync only weakens durability against
        // power loss, and reporting it as a failed write would make `Plan::write` put the
        // earlier files back while this one stays new.
        let _ = File::open(dir).and_then(|d| d.sync_all());
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Writes `content` to `path` atomically whether or not the file exists: an existing file is
/// replaced by [`write_atomic`] (keeping its permissions); a new one is written to a temporary file
/// beside it, synced and renamed into place, with the permissions a new file gets.
pub fn write_file(path: &Path, content: &[u8]) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(_) => return write_atomic(path, content),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.kfpatch-{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(content)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// The crash-safety test sets `KFPATCH_TEST_PAUSE_BEFORE_RENAME` to a number of milliseconds, so
/// that it can kill kfpatch between the temporary write and the rename.
fn pause_for_crash_test() {
    if let Some(ms) = std::env::var_os("KFPATCH_TEST_PAUSE_BEFORE_RENAME")
        .and_then(|v| v.to_str().and_then(|s| s.parse::<u64>().ok()))
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
