//! What the user sees and answers: the writers a command prints to (so tests can read them), the
//! colour choice, progress lines ([`progress`]), the safety prompt ([`consent`]), SARIF
//! ([`sarif`]) and the one rule for showing untrusted text ([`escape`]): every line of text
//! output passes through [`escape::visible`]. Knows nothing of Kubeflow; every layer above may use
//! it.

pub mod consent;
pub mod escape;
pub mod progress;
pub mod sarif;

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::error::{Failure, Result};

/// Where a command prints: its standard output and error, and whether stdout is coloured.
pub struct Output<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub color: bool,
}

/// The `--color` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// `text` in the SGR colour `code` (`1;31`: bold red) when colouring, as the text reports do.
pub fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Whether to colour stdout, honouring `--color`, NO_COLOR and `TERM=dumb` (a terminal that
/// shows escape codes as text, as git and clap-based tools assume).
pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
                && std::io::stdout().is_terminal()
        }
    }
}

/// `file:line`, or `file` when the line is unknown; a file name holding a control character is
/// quoted ([`escape::quoted`]).
pub fn location(file: &str, line: Option<usize>) -> String {
    let file = escape::quoted(file);
    match line {
        Some(l) => format!("{file}:{l}"),
        None => file.into_owned(),
    }
}

/// Writes to standard output, with every control character the text carries made visible
/// ([`escape::visible`]). A closed pipe (`kfpatch status | head -1`) ends the command
/// quietly with exit 0, as in git and ripgrep; any other failure is an error.
pub fn write_out(io: &mut Output<'_>, text: &str) -> Result<()> {
    let text = escape::visible(text, io.color);
    io.out
        .write_all(text.as_bytes())
        .and_then(|()| io.out.flush())
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                Failure::stdout_closed()
            } else {
                Failure::new(format!("cannot write to standard output: {e}"))
            }
        })
}

/// Each line indented by two spaces, one per line (the errors of a failed step, say).
pub fn indented(lines: &[String]) -> String {
    lines
        .iter()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `1 object`, `2 objects`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `value` as pretty-printed JSON with a final newline. JSON escapes C0 controls itself; DEL and
/// the C1 controls, which it may carry raw, are written as `\u` escapes too, so that no control
/// character reaches a terminal and [`escape::visible`] leaves the document as it is.
pub fn to_json<T: Serialize>(value: &T) -> Result<String> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::new(format!("cannot format JSON: {e}")))?;
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if c.is_control() && c != '\n' {
            // Outside strings, pretty JSON holds only line breaks and spaces.
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.push('\n');
    Ok(out)
}

/// `value` as YAML: the JSON document for readers who prefer YAML (kubectl's `-o yaml`).
pub fn to_yaml<T: Serialize>(value: &T) -> Result<String> {
    yaml_serde::to_string(value).map_err(|e| Failure::new(format!("cannot format YAML: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTROLS: &str = "a\x1b]0;t\x07\rb\x7f\u{9b}c\nd\te";

    #[test]
    fn json_and_yaml_carry_no_control_character_and_read_back() {
        let json = to_json(&vec![CONTROLS]).expect("json");
        assert!(!json.trim_end().chars().any(|c| c.is_control() && c != '\n'));
        assert_eq!(escape::visible(&json, false), json);
        let back: Vec<String> = serde_json::from_str(&json).expect("read back");
        assert_eq!(back, [CONTROLS]);
        let yaml = to_yaml(&vec![CONTROLS]).expect("yaml");
        assert!(
            !yaml.chars().any(|c| c.is_control() && c != '\n'),
            "{yaml:?}"
        );
        let back: Vec<String> = yaml_serde::from_str(&yaml).expect("read back");
        assert_eq!(back, [CONTROLS]);
    }
}
