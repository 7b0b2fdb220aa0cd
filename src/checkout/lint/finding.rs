//! One finding of an audit: a place in a file (line and column, in characters), how bad it is,
//! what happens on the cluster, and the fix.

use serde::Serialize;

use crate::checkout::parsed::Problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The cluster breaks (build fails, a component crashes, runs or the UI fail).
    Error,
    /// Probably a mistake; nothing breaks.
    Warning,
}

impl Severity {
    pub fn word(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding, at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Relative to the `-C` folder.
    pub file: String,
    /// 1-based; `null` when the finding is about the whole file (e.g. it is missing).
    pub line: Option<usize>,
    /// 1-based, in characters; `null` with `line`.
    pub column: Option<usize>,
    pub severity: Severity,
    pub code: &'static str,
    /// What happens on the cluster.
    pub message: String,
    pub fix: String,
}

pub fn from_problem(problem: &Problem, text: &str, needle: Option<&str>) -> Finding {
    Finding {
        file: problem.file.clone(),
        line: Some(problem.line),
        column: Some(column_of(text, problem.line, needle)),
        severity: Severity::Error,
        code: problem.code,
        message: problem.message.clone(),
        fix: problem.fix.clone(),
    }
}

/// 1-based column (in characters) of `needle` on `line`, else of the line's first non-blank.
pub fn column_of(text: &str, line: usize, needle: Option<&str>) -> usize {
    let content = text.split('\n').nth(line.saturating_sub(1)).unwrap_or("");
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let at = needle
        .and_then(|n| content.find(n))
        .unwrap_or_else(|| content.len() - content.trim_start().len());
    content[..at].chars().count() + 1
}

/// 1-based column (in characters) of a byte offset.
pub fn column_at(text: &str, offset: usize) -> usize {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[start..offset];
    before
        .strip_prefix('\u{feff}')
        .unwrap_or(before)
        .chars()
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_and_skip_a_bom() {
        assert_eq!(column_of("\u{feff}A=\"x\"\n", 1, Some("\"")), 3);
        assert_eq!(column_of("a\n  b: c\n", 2, None), 3);
        assert_eq!(column_at("ab\nüx=1", 5), 2);
        assert_eq!(column_at("ab\nüx=1", 6), 3);
    }
}
