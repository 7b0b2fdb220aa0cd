//! A lossless model of kustomize `.env` files (the `params.env` that feeds a `configMapGenerator`).
//!
//! The file is kept as its original text; parsing only records where each line's key and value
//! sit. An edit replaces the bytes of one value and nothing else, so comments, blank lines, key
//! order, unknown keys, CRLF line ends, a UTF-8 byte-order mark and a missing final newline all
//! survive, in the way toml_edit keeps a TOML document.
//!
//! The reading rules are kustomize v5.5's (checked with `kubectl kustomize`): leading white space
//! is trimmed, a line starting with `#` is a comment, the key is everything before the first `=`
//! *including* spaces and an `export ` prefix, and the value is everything after it *including*
//! quotes, trailing spaces and `# comments`. A line without `=` takes its value from the
//! environment of whoever runs kustomize. That is why [`EnvFile::check_key`] exists: it names every
//! way a line that a person meant as `KEY=value` is read differently.

use std::ops::Range;

const BOM: &str = "\u{feff}";

/// One `KEY=value` line, with byte ranges into [`EnvFile::text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number, as editors show it.
    pub line: usize,
    /// The key exactly as kustomize reads it (leading white space trimmed, nothing else).
    pub key: Range<usize>,
    /// The value exactly as kustomize reads it; `None` when the line has no `=`.
    pub value: Option<Range<usize>>,
}

/// A lossless `.env` document.
#[derive(Debug, Clone)]
pub struct EnvFile {
    text: String,
    entries: Vec<Entry>,
    /// The line terminator to use for an appended line: the file's first one, or `\n`.
    newline: &'static str,
}

/// Why a line that was meant to set a key is not read the way a person would expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformed {
    /// The key appears on more than one line; kustomize refuses to build.
    Repeated { lines: Vec<usize> },
    /// `KEY = value`: the key keeps its spaces, so the intended key is not set at all.
    SpacesAroundEquals { line: usize },
    /// `export KEY=value`: the key becomes `export KEY`.
    ExportPrefix { line: usize },
    /// `KEY` with no `=`: the value comes from the environment of the kustomize process.
    NoEquals { line: usize },
    /// `KEY="value"`: the quotes are part of the value.
    Quoted { line: usize },
    /// `KEY=value # note`: the comment is part of the value.
    InlineComment { line: usize },
    /// `KEY=value ` or `KEY= value`: the spaces are part of the value.
    SurroundingSpace { line: usize },
}

impl Malformed {
    pub fn line(&self) -> usize {
        match self {
            Malformed::Repeated { lines } => lines.last().copied().unwrap_or(1),
            Malformed::SpacesAroundEquals { line }
            | Malformed::ExportPrefix { line }
            | Malformed::NoEquals { line }
            | Malformed::Quoted { line }
            | Malformed::InlineComment { line }
            | Malformed::SurroundingSpace { line } => *line,
        }
    }

    /// What kustomize makes of the line, and how to fix it.
    pub fn explain(&self, key: &str) -> (String, String) {
        match self {
            Malformed::Repeated { lines } => (
                format!(
                    "{key} is set on lines {}; kustomize refuses to build: \"illegally repeats the key `{key}`\"",
                    join_numbers(lines)
                ),
                format!("keep one {key}= line and delete the others"),
            ),
            Malformed::SpacesAroundEquals { .. } => (
                format!(
                    "kustomize keeps the spaces, so this sets a key \"{key} \" and {key} itself is never set"
                ),
                format!("write {key}=value with no spaces around '='"),
            ),
            Malformed::ExportPrefix { .. } => (
                format!(
                    "kustomize reads the key as \"export {key}\", so {key} itself is never set"
                ),
                "remove the 'export ' prefix: .env files for kustomize are not shell scripts"
                    .to_string(),
            ),
            Malformed::NoEquals { .. } => (
                format!(
                    "a line without '=' takes {key}'s value from the environment of whoever runs kustomize"
                ),
                format!("write {key}=value"),
            ),
            Malformed::Quoted { .. } => (
                "kustomize keeps the quotes as part of the value".to_string(),
                "remove the quotes: kustomize .env values are never unquoted".to_string(),
            ),
            Malformed::InlineComment { .. } => (
                "kustomize keeps an inline '# comment' as part of the value".to_string(),
                "move the comment to a line of its own, starting with '#'".to_string(),
            ),
            Malformed::SurroundingSpace { .. } => (
                "kustomize keeps spaces after '=' and at the end of the line as part of the value"
                    .to_string(),
                "remove the spaces around the value".to_string(),
            ),
        }
    }
}

fn join_numbers(numbers: &[usize]) -> String {
    let parts: Vec<String> = numbers.iter().map(|n| n.to_string()).collect();
    parts.join(" and ")
}

/// How one key stands in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState<'a> {
    Absent,
    Set { line: usize, value: &'a str },
    Malformed(Malformed),
}

impl EnvFile {
    /// Parses any UTF-8 text; there is no `.env` text kustomize cannot at least read line by line,
    /// so parsing never fails. Problems are reported per key by [`EnvFile::check_key`].
    pub fn parse(text: &str) -> EnvFile {
        let mut entries = Vec::new();
        let mut newline = None;
        let mut offset = if text.starts_with(BOM) { BOM.len() } else { 0 };
        let mut line = 0;
        // Slicing is safe throughout: `offset` only ever moves past a whole line, its end found
        // with `find('\n')` (and a preceding ASCII '\r'), so it stays on a char boundary, and the
        // loop runs while it is inside the text.
        while offset < text.len() {
            line += 1;
            let rest = &text[offset..];
            let (content_len, terminator_len, terminator) = match rest.find('\n') {
                Some(i) if i > 0 && rest.as_bytes()[i - 1] == b'\r' => (i - 1, 2, Some("\r\n")),
                Some(i) => (i, 1, Some("\n")),
                // Go's bufio.ScanLines (kustomize) also drops a '\r' that ends the last line
                // without a '\n' after it.
                None if rest.ends_with('\r') => (rest.len() - 1, 1, None),
                None => (rest.len(), 0, None),
            };
            if newline.is_none() {
                newline = terminator;
            }
            let content = &rest[..content_len];
            let trimmed = content.trim_start();
            let start = offset + (content.len() - trimmed.len());
            if !trimmed.is_empty() && !trimmed.starts_with('#') {
                let entry = match trimmed.find('=') {
                    Some(eq) => Entry {
                        line,
                        key: start..start + eq,
                        value: Some(start + eq + 1..start + trimmed.len()),
                    },
                    None => Entry {
                        line,
                        key: start..start + trimmed.len(),
                        value: None,
                    },
                };
                // kustomize skips a line whose key is empty (`=value`).
                if !entry.key.is_empty() {
                    entries.push(entry);
                }
            }
            offset += content_len + terminator_len;
        }
        EnvFile {
            text: text.to_string(),
            entries,
            newline: newline.unwrap_or("\n"),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    // Entries are only built by `parse` from this very text (an edit re-parses), so their
    // ranges are inside it and on char boundaries.
    pub fn key_of(&self, entry: &Entry) -> &str {
        &self.text[entry.key.clone()]
    }

    pub fn value_of(&self, entry: &Entry) -> Option<&str> {
        entry.value.clone().map(|r| &self.text[r])
    }

    /// The keys and values kustomize would put in the ConfigMap, in file order. A key without `=`
    /// is listed with `None` (its value depends on the environment).
    pub fn pairs(&self) -> Vec<(&str, Option<&str>)> {
        self.entries
            .iter()
            .map(|e| (self.key_of(e), self.value_of(e)))
            .collect()
    }

    /// Every line that a person may have meant as setting `key`: the exact key, and the key with
    /// spaces or an `export ` prefix.
    fn lines_meaning(&self, key: &str) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| {
                let raw = self.key_of(e);
                raw == key || normalise_key(raw) == key
            })
            .collect()
    }

    /// How `key` stands: absent, set to a clean value, or set in a way kustomize reads
    /// differently from what was meant.
    pub fn check_key(&self, key: &str) -> KeyState<'_> {
        let lines = self.lines_meaning(key);
        match lines.as_slice() {
            [] => KeyState::Absent,
            [entry] => {
                let raw_key = self.key_of(entry);
                let line = entry.line;
                if raw_key != key {
                    let trimmed = raw_key.trim_end();
                    return KeyState::Malformed(if trimmed.starts_with("export") {
                        Malformed::ExportPrefix { line }
                    } else {
                        Malformed::SpacesAroundEquals { line }
                    });
                }
                let Some(value) = self.value_of(entry) else {
                    return KeyState::Malformed(Malformed::NoEquals { line });
                };
                if let Some(problem) = value_problem(value, line) {
                    return KeyState::Malformed(problem);
                }
                KeyState::Set { line, value }
            }
            many => KeyState::Malformed(Malformed::Repeated {
                lines: many.iter().map(|e| e.line).collect(),
            }),
        }
    }

    /// Replaces the value of `key`'s one line, or (`allow_malformed`) rewrites that one line as
    /// `key=value`. Appends `key=value` when the key is absent. Never chooses between repeated
    /// lines.
    pub fn set(&mut self, key: &str, value: &str, allow_malformed: bool) -> Result<(), Malformed> {
        let replace = match self.check_key(key) {
            KeyState::Malformed(m @ Malformed::Repeated { .. }) => return Err(m),
            KeyState::Malformed(m) if !allow_malformed => return Err(m),
            KeyState::Malformed(m) => {
                let entry = self.entry_on_line(m.line());
                let end = entry.value.clone().map_or(entry.key.end, |v| v.end);
                (entry.key.start..end, format!("{key}={value}"))
            }
            KeyState::Set { line, .. } => {
                let entry = self.entry_on_line(line);
                let range = entry.value.clone().unwrap_or(entry.key.end..entry.key.end);
                (range, value.to_string())
            }
            KeyState::Absent => {
                let at = self.text.len();
                let body = if self.text.is_empty() || self.text == BOM || self.ends_with_newline() {
                    format!("{key}={value}{}", self.newline)
                } else if self.text.ends_with('\r') {
                    // The last line ends with a lone '\r', which kustomize drops: a '\n' after it
                    // makes it a CRLF and keeps that line's value.
                    format!("\n{key}={value}")
                } else {
                    // Keep the file's style of no final newline: separate, do not terminate.
                    format!("{}{key}={value}", self.newline)
                };
                (at..at, body)
            }
        };
        let (range, replacement) = replace;
        // `range` is an entry's range, or empty at the end of the text: inside it, on boundaries.
        let mut text = String::with_capacity(self.text.len() + replacement.len());
        text.push_str(&self.text[..range.start]);
        text.push_str(&replacement);
        text.push_str(&self.text[range.end..]);
        *self = EnvFile::parse(&text);
        Ok(())
    }

    fn ends_with_newline(&self) -> bool {
        self.text.ends_with('\n')
    }

    fn entry_on_line(&self, line: usize) -> &Entry {
        // Cannot fail: `set` only asks for a line `check_key` reported, and `check_key` reports
        // only the `line` of an entry it found in `self.entries` (`Repeated`, whose lines are
        // several, returns before this is called).
        self.entries
            .iter()
            .find(|e| e.line == line)
            .expect("check_key reported a line of an existing entry")
    }
}

/// The key a person meant: without surrounding spaces and without an `export ` prefix.
pub fn normalise_key(raw: &str) -> &str {
    let trimmed = raw.trim();
    match trimmed.strip_prefix("export") {
        Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
        _ => trimmed,
    }
}

fn value_problem(value: &str, line: usize) -> Option<Malformed> {
    let trimmed = value.trim();
    if trimmed.len() >= 2
        && ((trimmed.starts_with('"') && trimmed.ends_with('"'))
            || (trimmed.starts_with('\'') && trimmed.ends_with('\'')))
    {
        return Some(Malformed::Quoted { line });
    }
    if value.starts_with('#') || value.contains(" #") || value.contains("\t#") {
        return Some(Malformed::InlineComment { line });
    }
    if trimmed.len() != value.len() {
        return Some(Malformed::SurroundingSpace { line });
    }
    None
}

/// Go's `strconv.ParseBool`, which the KFP API server uses for MULTIUSER; anything else makes the
/// server exit at start-up.
pub fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAM: &str = "MULTIUSER=true\nDEFAULTPIPELINERUNNERSERVICEACCOUNT=default-editor\nVISUALIZATIONSERVICE_NAME=ml-pipeline-visualizationserver\nVISUALIZATIONSERVICE_PORT=8888\n";

    fn set(text: &str, key: &str, value: &str) -> String {
        let mut file = EnvFile::parse(text);
        file.set(key, value, false).unwrap();
        file.text().to_string()
    }

    #[test]
    fn reads_upstream_file() {
        let file = EnvFile::parse(UPSTREAM);
        assert_eq!(
            file.pairs(),
            vec![
                ("MULTIUSER", Some("true")),
                (
                    "DEFAULTPIPELINERUNNERSERVICEACCOUNT",
                    Some("default-editor")
                ),
                (
                    "VISUALIZATIONSERVICE_NAME",
                    Some("ml-pipeline-visualizationserver")
                ),
                ("VISUALIZATIONSERVICE_PORT", Some("8888")),
            ]
        );
        assert_eq!(
            file.check_key("MULTIUSER"),
            KeyState::Set {
                line: 1,
                value: "true"
            }
        );
        assert_eq!(file.check_key("NOPE"), KeyState::Absent);
    }

    #[test]
    fn edits_only_the_value_bytes() {
        assert_eq!(
            set(UPSTREAM, "MULTIUSER", "false"),
            UPSTREAM.replace("MULTIUSER=true", "MULTIUSER=false")
        );
    }

    #[test]
    fn keeps_crlf_bom_comments_and_missing_final_newline() {
        let text = "\u{feff}# comment\r\n\r\n  MULTIUSER=true\r\nOTHER=x";
        assert_eq!(
            set(text, "MULTIUSER", "false"),
            "\u{feff}# comment\r\n\r\n  MULTIUSER=false\r\nOTHER=x"
        );
        assert_eq!(
            set(text, "OTHER", "y"),
            "\u{feff}# comment\r\n\r\n  MULTIUSER=true\r\nOTHER=y"
        );
    }

    #[test]
    fn appends_absent_key_in_the_files_style() {
        assert_eq!(set("A=1\n", "B", "2"), "A=1\nB=2\n");
        assert_eq!(set("A=1", "B", "2"), "A=1\nB=2");
        assert_eq!(set("A=1\r\n", "B", "2"), "A=1\r\nB=2\r\n");
        assert_eq!(set("", "B", "2"), "B=2\n");
        assert_eq!(set("\u{feff}", "B", "2"), "\u{feff}B=2\n");
    }

    #[test]
    fn a_carriage_return_ending_the_last_line_is_a_line_end() {
        // `kubectl kustomize` reads `MULTIUSER=true\r` at the end of a file as `true`.
        let file = EnvFile::parse("A=1\nMULTIUSER=true\r");
        assert_eq!(
            file.check_key("MULTIUSER"),
            KeyState::Set {
                line: 2,
                value: "true"
            }
        );
        assert_eq!(
            set("A=1\nMULTIUSER=true\r", "MULTIUSER", "false"),
            "A=1\nMULTIUSER=false\r"
        );
        assert_eq!(set("A=1\r", "B", "2"), "A=1\r\nB=2");
        // Found by tests/fuzz.rs: the file's CRLF after a lone '\r' made the value "\r".
        assert_eq!(set("A=\r\nC=\r", "B", "2"), "A=\r\nC=\r\nB=2");
    }

    #[test]
    fn bom_is_not_part_of_the_first_key() {
        let file = EnvFile::parse("\u{feff}MULTIUSER=true\n");
        assert_eq!(
            file.check_key("MULTIUSER"),
            KeyState::Set {
                line: 1,
                value: "true"
            }
        );
    }

    #[test]
    fn names_every_malformed_shape() {
        let cases: &[(&str, Malformed)] = &[
            (
                "MULTIUSER = false\n",
                Malformed::SpacesAroundEquals { line: 1 },
            ),
            (
                "MULTIUSER =false\n",
                Malformed::SpacesAroundEquals { line: 1 },
            ),
            (
                "export MULTIUSER=false\n",
                Malformed::ExportPrefix { line: 1 },
            ),
            ("# x\nMULTIUSER\n", Malformed::NoEquals { line: 2 }),
            ("MULTIUSER=\"false\"\n", Malformed::Quoted { line: 1 }),
            ("MULTIUSER='false'\n", Malformed::Quoted { line: 1 }),
            (
                "MULTIUSER=false # off\n",
                Malformed::InlineComment { line: 1 },
            ),
            (
                "MULTIUSER=false \n",
                Malformed::SurroundingSpace { line: 1 },
            ),
            (
                "MULTIUSER= false\n",
                Malformed::SurroundingSpace { line: 1 },
            ),
            (
                "MULTIUSER=true\nA=1\nMULTIUSER=false\n",
                Malformed::Repeated { lines: vec![1, 3] },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                EnvFile::parse(text).check_key("MULTIUSER"),
                KeyState::Malformed(expected.clone()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_leading_indent_is_fine_as_kustomize_trims_it() {
        assert_eq!(
            EnvFile::parse("   MULTIUSER=false\n").check_key("MULTIUSER"),
            KeyState::Set {
                line: 1,
                value: "false"
            }
        );
    }

    #[test]
    fn set_refuses_malformed_unless_allowed_and_never_guesses_between_repeats() {
        let mut file = EnvFile::parse("MULTIUSER = \"true\" \nB=1\n");
        assert_eq!(
            file.set("MULTIUSER", "false", false),
            Err(Malformed::SpacesAroundEquals { line: 1 })
        );
        file.set("MULTIUSER", "false", true).unwrap();
        assert_eq!(file.text(), "MULTIUSER=false\nB=1\n");

        let mut repeated = EnvFile::parse("A=1\nA=2\n");
        assert_eq!(
            repeated.set("A", "3", true),
            Err(Malformed::Repeated { lines: vec![1, 2] })
        );
    }

    #[test]
    fn empty_key_lines_are_ignored_like_kustomize() {
        assert!(EnvFile::parse("=x\n").entries().is_empty());
    }

    #[test]
    fn go_parse_bool() {
        for v in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(v), Some(true));
        }
        for v in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(v), Some(false));
        }
        for v in ["", "yes", "no", "tRUE", " true", "\"true\""] {
            assert_eq!(parse_go_bool(v), None);
        }
    }
}
