//! Fuzzing on stable Rust: proptest properties over the `.env` model and the YAML edits.
//!
//! Two families, each with its own case count so that `cargo test` stays fast and a long campaign
//! is one environment variable away (docs/fuzzing.md):
//!
//! - text properties (`KFPATCH_FUZZ_CASES`, default 256 per property): arbitrary bytes and
//!   generated `.env` files through [`kfpatch::syntax::envfile`], arbitrary text and mutated fixture YAML
//!   through [`kfpatch::syntax::yamledit`] and the catalogue readers;
//! - tree properties (`KFPATCH_FUZZ_TREE_CASES`, default 24 per property): a fixture tree whose
//!   managed files get random comments, CRLF, a BOM, whitespace and extra keys, switched with
//!   [`kfpatch::edit::plan::switch`].
//!
//! Properties: parsing never panics; editing key K changes only K's value bytes; an unedited
//! file round-trips byte for byte; applying twice equals applying once; off then on is the
//! identity. A failure prints the generated input (and proptest stores its seed under
//! `tests/proptest-regressions/`), so it can be replayed.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use kfpatch::checkout::catalogue::{self, CATALOGUE, Mode, Scope};
use kfpatch::checkout::parsed::{self, Parsed};
use kfpatch::edit::plan;
use kfpatch::syntax::envfile::{EnvFile, KeyState};
use kfpatch::syntax::yamledit::{self, YamlText};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

fn count(var: &str, default: u32) -> u32 {
    match std::env::var(var) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{var}={v:?} is not a number of cases")),
        Err(_) => default,
    }
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        // The seeds of failures found, replayed first on every later run.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/fuzz.txt",
        ))),
        ..Config::default()
    }
}

fn text_config() -> Config {
    config(count("KFPATCH_FUZZ_CASES", 256))
}

fn tree_config() -> Config {
    config(count("KFPATCH_FUZZ_TREE_CASES", 24))
}

// ---------------------------------------------------------------------------------------------
// Generated `.env` files

const MANAGED_KEYS: &[&str] = &["MULTIUSER", "DEFAULTPIPELINERUNNERSERVICEACCOUNT"];

/// One line of a generated `.env` file, without its terminator.
fn env_line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("MULTIUSER".to_string()),
        Just("DEFAULTPIPELINERUNNERSERVICEACCOUNT".to_string()),
        "[A-Z_]{1,3}",
        "[a-zA-Z_][a-zA-Z0-9_.-]{0,8}",
    ];
    let value = prop_oneof![
        "[a-z0-9-]{0,10}",
        "[ -~]{0,12}",
        "\\PC{0,6}",
        Just("\"true\"".to_string()),
        Just("true # note".to_string()),
    ];
    prop_oneof![
        4 => ("[ \t]{0,2}", key.clone(), value).prop_map(|(indent, k, v)| format!("{indent}{k}={v}")),
        1 => ("[ \t]{0,2}", "[ -~]{0,20}").prop_map(|(indent, c)| format!("{indent}#{c}")),
        1 => "[ \t]{0,3}",
        1 => ("(export )?", key.clone(), "[ ]{0,2}", "[ ]{0,2}", "[a-z]{0,4}")
            .prop_map(|(e, k, a, b, v)| format!("{e}{k}{a}={b}{v}")),
        1 => key,
        1 => "\\PC{0,20}",
    ]
}

/// A whole `.env` text: lines, CRLF or LF (or mixed), an optional BOM, and the last line ended
/// by a newline, nothing, or a lone carriage return.
fn env_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((env_line(), prop::bool::weighted(0.2)), 0..12),
        any::<bool>(),
        any::<bool>(),
        0..3u8,
    )
        .prop_map(|(lines, crlf, bom, ending)| {
            let mut text = String::new();
            if bom {
                text.push('\u{feff}');
            }
            let count = lines.len();
            for (i, (line, flip)) in lines.into_iter().enumerate() {
                text.push_str(&line);
                let newline = if crlf != flip { "\r\n" } else { "\n" };
                if i + 1 < count {
                    text.push_str(newline);
                } else {
                    // The last line: a line end, none, or a lone '\r' (kustomize's line end too).
                    text.push_str(["", newline, "\r"][usize::from(ending)]);
                }
            }
            text
        })
}

/// The byte range of the value of the one entry on `line`.
fn value_range(env: &EnvFile, line: usize) -> std::ops::Range<usize> {
    let entry = env
        .entries()
        .iter()
        .find(|e| e.line == line)
        .expect("check_key names the line of an entry");
    entry.value.clone().expect("a set key has a value")
}

/// Touches every read path of the model, which must not panic on any text.
fn exercise_env(text: &str) {
    let env = EnvFile::parse(text);
    assert_eq!(env.text(), text, "parsing keeps the text");
    let mut last_line = 0;
    for entry in env.entries() {
        assert!(entry.line > last_line, "entries in line order");
        last_line = entry.line;
        assert!(text.is_char_boundary(entry.key.start) && text.is_char_boundary(entry.key.end));
        if let Some(v) = &entry.value {
            assert!(entry.key.end < v.start && v.end <= text.len());
            assert!(text.is_char_boundary(v.start) && text.is_char_boundary(v.end));
        }
    }
    let keys: Vec<String> = env.pairs().iter().map(|(k, _)| k.to_string()).collect();
    for key in keys
        .iter()
        .map(String::as_str)
        .chain(MANAGED_KEYS.iter().copied())
    {
        let state = env.check_key(key);
        if let KeyState::Malformed(m) = &state {
            let _ = m.explain(key);
            let _ = parsed::malformed_problem("params.env", key, m).render();
        }
        for allow in [false, true] {
            let mut edited = env.clone();
            let _ = edited.set(key, "x", allow);
        }
    }
}

proptest! {
    #![proptest_config(text_config())]

    #[test]
    fn env_parsing_never_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        exercise_env(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn env_parsing_never_panics_on_generated_files(text in env_text()) {
        exercise_env(&text);
    }

    #[test]
    fn env_edit_changes_only_the_value_bytes(
        text in env_text(),
        pick in any::<prop::sample::Index>(),
        new in "[a-z0-9-]{1,12}",
    ) {
        let env = EnvFile::parse(&text);
        let keys: Vec<&str> = env.pairs().iter().map(|(k, _)| *k).collect();
        // A file without keys has nothing to edit (rejecting it would stop a long campaign).
        if keys.is_empty() {
            return Ok(());
        }
        let key = keys[pick.index(keys.len())].to_string();
        let KeyState::Set { line, value: old } = env.check_key(&key) else {
            return Ok(());
        };
        let old = old.to_string();
        let range = value_range(&env, line);
        let mut edited = env.clone();
        edited.set(&key, &new, false).expect("a cleanly set key can be edited");
        let expected = format!("{}{new}{}", &text[..range.start], &text[range.end..]);
        prop_assert_eq!(edited.text(), expected.as_str());
        prop_assert_eq!(edited.check_key(&key), KeyState::Set { line, value: new.as_str() });
        let others = |e: &EnvFile| -> Vec<(String, Option<String>)> {
            e.pairs()
                .into_iter()
                .filter(|(k, _)| *k != key)
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect()
        };
        prop_assert_eq!(others(&edited), others(&env));

        // Applying twice equals applying once.
        let mut twice = edited.clone();
        twice.set(&key, &new, false).expect("edit again");
        prop_assert_eq!(twice.text(), edited.text());

        // Back to the old value: the original bytes.
        let mut back = edited.clone();
        back.set(&key, &old, false).expect("edit back");
        prop_assert_eq!(back.text(), text.as_str());
    }

    #[test]
    fn env_adding_an_absent_key_keeps_every_other_byte_and_pair(
        text in env_text(),
        new in "[a-z0-9-]{1,12}",
    ) {
        let env = EnvFile::parse(&text);
        let key = "KFPATCH_FUZZ_NEW";
        if env.check_key(key) != KeyState::Absent {
            return Ok(());
        }
        let mut edited = env.clone();
        edited.set(key, &new, false).expect("append");
        prop_assert!(edited.text().starts_with(&text), "the old text is kept as a prefix");
        let mut expected: Vec<(String, Option<String>)> = env
            .pairs()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect();
        expected.push((key.to_string(), Some(new.clone())));
        let actual: Vec<(String, Option<String>)> = edited
            .pairs()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect();
        prop_assert_eq!(actual, expected);
        let mut twice = edited.clone();
        twice.set(key, &new, false).expect("again");
        prop_assert_eq!(twice.text(), edited.text());
    }
}

// ---------------------------------------------------------------------------------------------
// YAML: arbitrary text and mutated fixture files through the locators and the catalogue

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The layout fixtures (one install each) and their install folders.
fn fixture_installs() -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for name in [
        "manifests-v1.5-apps",
        "manifests-v1.7-apps",
        "manifests-v1.8-apps",
        "manifests-26.03-applications",
        "pipelines-2.0.1",
        "monorepo",
    ] {
        let root = fixtures().join(name);
        let found = kfpatch::checkout::locate::find(&root, None).expect("fixture install");
        let rel = found
            .dir
            .strip_prefix(&found.root)
            .expect("inside")
            .to_path_buf();
        out.push((root, rel));
    }
    out
}

/// Every managed YAML file of every fixture, as text.
fn fixture_yaml_texts() -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (root, rel) in fixture_installs() {
        for setting in CATALOGUE {
            if setting.file.ends_with(".yaml")
                && let Ok(text) = fs::read_to_string(root.join(&rel).join(setting.file))
                && !out.iter().any(|(f, t)| *f == setting.file && *t == text)
            {
                out.push((setting.file, text));
            }
        }
    }
    out
}

/// Reads every setting of `file` from `text` the way plan and status do; must not panic.
fn exercise_yaml(file: &str, text: &str) {
    if let Ok(yaml) = YamlText::parse(text) {
        let _ = yaml.container_env("ml-pipeline-ui", "ml-pipeline-ui");
        let _ = yaml.configmap_data("ml-pipeline-ui-configmap", "viewer-pod-template.json");
    }
    let _ = yamledit::leaves(text);
    let _ = yamledit::document_index(text, "Deployment", "ml-pipeline-ui");
    let Ok(parsed) = Parsed::parse(file, file, text) else {
        return;
    };
    for setting in CATALOGUE.iter().filter(|s| s.file == file) {
        let _ = catalogue::read(setting, file, &parsed);
        if let Parsed::Yaml(yaml) = &parsed {
            for to in [setting.multi, setting.single] {
                if let Ok(edit) = kfpatch::edit::splice::edit_yaml(setting, yaml, to, file) {
                    // Splices must lie on character boundaries and not overlap.
                    let mut ranges: Vec<_> = edit.splices.iter().map(|s| s.range.clone()).collect();
                    ranges.sort_by_key(|r| r.start);
                    for pair in ranges.windows(2) {
                        assert!(pair[0].end <= pair[1].start, "overlapping splices");
                    }
                    for r in &ranges {
                        assert!(r.end <= text.len());
                        assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
                    }
                    let new = yamledit::apply(text, &edit.splices).expect("checked splices apply");
                    let _ = yamledit::verify(text, &new, &edit.leaves);
                }
            }
        }
    }
}

/// A character-level mutation of `text`.
#[derive(Debug, Clone)]
enum Mutation {
    Insert(prop::sample::Index, String),
    Delete(prop::sample::Index, usize),
    Replace(prop::sample::Index, char),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippet = prop_oneof![
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("\t".to_string()),
        Just(" ".to_string()),
        Just("# ".to_string()),
        Just("- ".to_string()),
        Just(": ".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("---\n".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("{".to_string()),
        Just("[".to_string()),
        Just("|".to_string()),
        Just("\u{feff}".to_string()),
        Just("\0".to_string()),
        "\\PC{1,4}",
    ];
    prop_oneof![
        3 => (any::<prop::sample::Index>(), snippet).prop_map(|(i, s)| Mutation::Insert(i, s)),
        2 => (any::<prop::sample::Index>(), 1usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (any::<prop::sample::Index>(), any::<char>()).prop_map(|(i, c)| Mutation::Replace(i, c)),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for m in mutations {
        match m {
            Mutation::Insert(at, s) => {
                let i = at.index(chars.len() + 1);
                chars.splice(i..i, s.chars());
            }
            Mutation::Delete(at, n) if !chars.is_empty() => {
                let i = at.index(chars.len());
                let end = (i + n).min(chars.len());
                chars.drain(i..end);
            }
            Mutation::Replace(at, c) if !chars.is_empty() => {
                let i = at.index(chars.len());
                chars[i] = *c;
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(text_config())]

    #[test]
    fn yaml_reading_never_panics_on_arbitrary_text(text in "\\PC{0,200}", pick in any::<prop::sample::Index>()) {
        let files: Vec<&str> = CATALOGUE.iter().map(|s| s.file).filter(|f| f.ends_with(".yaml")).collect();
        exercise_yaml(files[pick.index(files.len())], &text);
    }

    #[test]
    fn yaml_reading_never_panics_on_mutated_fixture_files(
        pick in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let texts = yaml_texts();
        let (file, text) = &texts[pick.index(texts.len())];
        exercise_yaml(file, &mutate(text, &mutations));
    }
}

fn yaml_texts() -> &'static [(&'static str, String)] {
    static TEXTS: std::sync::OnceLock<Vec<(&'static str, String)>> = std::sync::OnceLock::new();
    TEXTS.get_or_init(fixture_yaml_texts)
}

// ---------------------------------------------------------------------------------------------
// Whole fixture trees with harmless mutations, switched with plan::switch

/// A small deterministic generator for the mutation choices of one tree (seeded by proptest).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Lines an identity property must not touch: inside block scalars (their bytes are content),
/// and the env entries the single-user switch removes (their bytes cannot come back except as
/// upstream wrote them), with the line before each such region.
fn protected_lines(lines: &[&str]) -> Vec<bool> {
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let mut protected = vec![false; lines.len()];
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim_end_matches('\r').trim();
        let block_scalar = trimmed.ends_with('|')
            || trimmed.ends_with("|-")
            || trimmed.ends_with('>')
            || trimmed.ends_with(">-");
        let removed = ["DEPLOYMENT", "NAMESPACE", "NAMESPACE_TO_WATCH"]
            .iter()
            .any(|v| trimmed == format!("- name: {v}"));
        if block_scalar || removed {
            let base = indent(lines[i]);
            let mut start = i;
            if removed && i > 0 && lines[i - 1].trim() == "env:" {
                start = i - 1;
            }
            let mut end = i + 1;
            while end < lines.len()
                && (lines[end].trim().is_empty()
                    || indent(lines[end]) > base
                    || (removed && lines[end].trim_start().starts_with("valueFrom")))
            {
                end += 1;
            }
            for p in protected
                .iter_mut()
                .take(end.min(lines.len()) + 1)
                .skip(start)
            {
                *p = true;
            }
            i = end;
        } else {
            i += 1;
        }
    }
    protected
}

/// Adds comments, whitespace and extra keys to a managed file, without changing what kustomize
/// reads for the managed settings. `crlf`/`bom`/`final_newline` apply to the whole file.
fn dress(file: &str, text: &str, dice: &mut Dice) -> String {
    let is_env = file.ends_with(".env");
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let had_final_newline = body.ends_with('\n');
    let mut lines: Vec<String> = body.lines().map(str::to_string).collect();
    let protected = {
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        protected_lines(&refs)
    };
    let mut keep: Vec<bool> = protected;
    // Trailing comments and spaces on safe YAML lines; leading spaces on .env lines.
    for (line, protected) in lines.iter_mut().zip(&keep) {
        if *protected {
            continue;
        }
        if is_env {
            if dice.chance(20) {
                line.insert_str(0, [" ", "\t", "  "][dice.below(3)]);
            }
        } else {
            let t = line.trim();
            let plain_pair = t.contains(": ")
                && !t.starts_with('#')
                && !t.ends_with(':')
                && !t.ends_with('|')
                && !t.ends_with("|-");
            if plain_pair && dice.chance(15) {
                line.push_str(" # fuzz note");
            } else if dice.chance(15) {
                line.push_str([" ", "  ", "\t"][dice.below(3)]);
            }
        }
    }
    // Whole lines inserted at safe places: comments, blank lines, extra keys.
    let inserts = dice.below(4);
    for n in 0..inserts {
        let allowed: Vec<usize> = (0..=lines.len())
            .filter(|&i| i == lines.len() || !keep[i])
            .filter(|&i| i == 0 || i == lines.len() || !keep[i - 1] || !keep[i])
            .collect();
        let at = allowed[dice.below(allowed.len())];
        let line = if is_env {
            match dice.below(4) {
                0 => format!("# fuzz comment {n}"),
                1 => String::new(),
                2 => format!("FUZZ_EXTRA_{n}=value {n}"),
                _ => format!("  # indented comment {n}"),
            }
        } else {
            let column = lines
                .get(at)
                .map(|l| l.len() - l.trim_start().len())
                .unwrap_or(0);
            match dice.below(3) {
                0 => format!("{}# fuzz comment {n}", " ".repeat(column)),
                1 => String::new(),
                _ => format!("# top comment {n}"),
            }
        };
        lines.insert(at, line);
        keep.insert(at, false);
    }
    if !is_env && dice.chance(30) {
        // An extra top-level key right after `kind:`.
        if let Some(k) = lines.iter().position(|l| l.starts_with("kind:")) {
            lines.insert(k + 1, "x-fuzz-extra: kept".to_string());
            keep.insert(k + 1, false);
        }
    }
    let crlf = dice.chance(25);
    let newline = if crlf { "\r\n" } else { "\n" };
    let mut out = String::new();
    if dice.chance(15) {
        out.push('\u{feff}');
    }
    out.push_str(&lines.join(newline));
    if had_final_newline || !dice.chance(30) {
        out.push_str(newline);
    }
    out
}

/// Copies a fixture to a temp dir, dresses every managed file, returns the temp dir.
fn dressed_tree(fixture: usize, seed: u64) -> (tempfile::TempDir, PathBuf) {
    let installs = fixture_installs();
    let (root, rel) = &installs[fixture % installs.len()];
    let temp = tempfile::tempdir().expect("tempdir");
    support::copy_tree(root, temp.path());
    let mut dice = Dice(seed | 1);
    let dir = temp.path().join(rel);
    for file in managed_files() {
        let path = dir.join(file);
        if let Ok(text) = fs::read_to_string(&path) {
            fs::write(&path, dress(file, &text, &mut dice)).expect("write dressed file");
        }
    }
    (temp, dir)
}

/// Every file the catalogue manages, once each.
fn managed_files() -> Vec<&'static str> {
    let mut files: Vec<&'static str> = Vec::new();
    for setting in CATALOGUE {
        if !files.contains(&setting.file) {
            files.push(setting.file);
        }
    }
    files
}

/// Every managed file's bytes.
fn managed_bytes(dir: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    managed_files()
        .into_iter()
        .map(|f| (f.to_string(), fs::read(dir.join(f)).ok()))
        .collect()
}

/// Writes a plan without the atomic machinery (tests/crash_safety.rs covers that).
fn apply(plan: &plan::Plan) {
    for file in &plan.files {
        fs::write(&file.path, &file.new).expect("write plan");
    }
}

/// Every line the edit changed holds a managed setting: no other byte of the file moved.
fn changed_lines_are_managed(old: &str, new: &str) -> Result<(), String> {
    let managed = [
        "MULTIUSER",
        "DEFAULTPIPELINERUNNERSERVICEACCOUNT",
        "serviceAccountName",
        "value:",
        "valueFrom:",
        "env:",
        "- name: DEPLOYMENT",
        "- name: NAMESPACE",
    ];
    let diff = similar::TextDiff::from_lines(old, new);
    for change in diff.iter_all_changes() {
        if change.tag() != similar::ChangeTag::Equal
            && !managed.iter().any(|m| change.value().contains(m))
        {
            return Err(format!(
                "the edit changed an unmanaged line: {:?}",
                change.value()
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(tree_config())]

    #[test]
    fn switching_a_dressed_tree_off_then_on_is_the_identity(
        fixture in 0usize..6,
        seed in any::<u64>(),
        parity in any::<bool>(),
    ) {
        let (_temp, dir) = dressed_tree(fixture, seed);
        let root = _temp.path();
        let scope = if parity { Scope::Parity } else { Scope::Related };
        let original = managed_bytes(&dir);
        let found = kfpatch::checkout::locate::find(root, None).expect("find");

        // An unedited (multi-user) file round-trips: switching on changes nothing.
        let on = plan::switch(&found, Mode::On, scope).map_err(|f| TestCaseError::fail(f.message))?;
        prop_assert!(on.is_empty(), "on changed {:?}", on.files.iter().map(|f| &f.file).collect::<Vec<_>>());

        let off = plan::switch(&found, Mode::Off, scope).map_err(|f| TestCaseError::fail(f.message))?;
        prop_assert!(!off.is_empty());
        for file in &off.files {
            changed_lines_are_managed(&file.old, &file.new).map_err(TestCaseError::fail)?;
        }
        apply(&off);

        // Applying twice equals applying once.
        let again = plan::switch(&found, Mode::Off, scope).map_err(|f| TestCaseError::fail(f.message))?;
        prop_assert!(again.is_empty(), "a second off changed {:?}", again.files.iter().map(|f| (&f.file, &f.old, &f.new)).collect::<Vec<_>>());

        // Off then on is the identity.
        let back = plan::switch(&found, Mode::On, scope).map_err(|f| TestCaseError::fail(f.message))?;
        apply(&back);
        let restored = managed_bytes(&dir);
        for ((file, before), (_, after)) in original.iter().zip(&restored) {
            prop_assert_eq!(
                before.as_deref().map(String::from_utf8_lossy),
                after.as_deref().map(String::from_utf8_lossy),
                "{} after off then on", file
            );
        }
    }

    #[test]
    fn switching_a_damaged_tree_never_panics(
        fixture in 0usize..6,
        seed in any::<u64>(),
        pick in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let (_temp, dir) = dressed_tree(fixture, seed);
        let root = _temp.path();
        let present: Vec<&str> = managed_files().into_iter().filter(|f| dir.join(f).is_file()).collect();
        let file = present[pick.index(present.len())];
        let text = fs::read_to_string(dir.join(file)).expect("read");
        fs::write(dir.join(file), mutate(&text, &mutations)).expect("write");
        let found = kfpatch::checkout::locate::find(root, None).expect("find");
        let _ = kfpatch::checkout::settings::rows(&found);
        for mode in [Mode::On, Mode::Off] {
            for scope in [Scope::Params, Scope::Related, Scope::Parity] {
                if let Ok(plan) = plan::switch(&found, mode, scope) {
                    let _ = plan.diff(false);
                    // Whatever it plans must be a fixed point once applied.
                    if scope == Scope::Parity && !plan.is_empty() {
                        apply(&plan);
                        let again = plan::switch(&found, mode, scope).map_err(|f| TestCaseError::fail(f.message))?;
                        prop_assert!(again.is_empty(), "not a fixed point: {:?}", again.files.iter().map(|f| (&f.file, &f.old, &f.new)).collect::<Vec<_>>());
                    }
                }
            }
        }
    }
}
