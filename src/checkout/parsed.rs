//! A managed file parsed once for every setting that lives in it, and the problems a managed
//! file can have (where, what the cluster would do with it, the fix), as every command reports
//! them.

use crate::output::escape::quoted;
use crate::syntax::envfile::{EnvFile, Malformed};
use crate::syntax::strict;
use crate::syntax::yamledit::YamlText;

/// A problem in a managed file: where, what the cluster would do with it, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub code: &'static str,
    pub message: String,
    pub fix: String,
}

impl Problem {
    pub fn render(&self) -> String {
        format!(
            "{}:{}: {}\n  fix: {}",
            quoted(&self.file),
            self.line,
            self.message,
            self.fix
        )
    }
}

/// A file's content, parsed once for every setting that lives in it.
pub enum Parsed<'a> {
    Env(EnvFile),
    Yaml(YamlText<'a>),
}

impl<'a> Parsed<'a> {
    pub fn parse(file: &str, shown: &str, text: &'a str) -> Result<Parsed<'a>, Problem> {
        let parsed = Parsed::parse_lenient(file, shown, text)?;
        match parsed {
            Parsed::Env(_) => Ok(parsed),
            Parsed::Yaml(_) => parsed.checked(shown, strict::check(text)),
        }
    }

    /// [`Parsed::parse`] without the strict YAML check, for a caller that runs
    /// [`strict::check`] on the same text beside it and then passes its verdict to
    /// [`Parsed::checked`].
    pub fn parse_lenient(file: &str, shown: &str, text: &'a str) -> Result<Parsed<'a>, Problem> {
        if !is_yaml(file) {
            return Ok(Parsed::Env(EnvFile::parse(text)));
        }
        YamlText::parse_lenient(text)
            .map(Parsed::Yaml)
            .map_err(|e| yaml_problem(shown, &e))
    }

    /// `self`, or the problem the strict check found in its text (`strict`, its verdict).
    pub fn checked(self, shown: &str, strict: Result<(), String>) -> Result<Parsed<'a>, Problem> {
        strict.map_err(|e| yaml_problem(shown, &e))?;
        Ok(self)
    }
}

/// Whether `file` is read as YAML (and so is held to the strict check) rather than as an env
/// file.
pub fn is_yaml(file: &str) -> bool {
    !file.ends_with(".env")
}

fn yaml_problem(shown: &str, e: &str) -> Problem {
    let (line, message) = split_line(e);
    Problem {
        file: shown.to_string(),
        line,
        code: "yaml-syntax",
        message: format!("not valid YAML: {message}"),
        fix: "repair the YAML (kustomize would refuse it too)".to_string(),
    }
}

fn split_line(e: &str) -> (usize, String) {
    e.strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
        .and_then(|(n, msg)| Some((n.parse().ok()?, msg.to_string())))
        .unwrap_or((1, e.to_string()))
}

/// An env-file problem for `key` as a [`Problem`].
pub fn malformed_problem(shown: &str, key: &str, m: &Malformed) -> Problem {
    let (message, fix) = m.explain(key);
    let code = match m {
        Malformed::Repeated { .. } => "env-repeated-key",
        Malformed::SpacesAroundEquals { .. } => "env-spaces-around-equals",
        Malformed::ExportPrefix { .. } => "env-export-prefix",
        Malformed::NoEquals { .. } => "env-no-equals",
        Malformed::Quoted { .. } => "env-quoted-value",
        Malformed::InlineComment { .. } => "env-inline-comment",
        Malformed::SurroundingSpace { .. } => "env-value-spaces",
    };
    Problem {
        file: shown.to_string(),
        line: m.line(),
        code,
        message,
        fix,
    }
}

/// A file the switch needs is not there.
pub fn missing_file(shown: &str, file: &str) -> Problem {
    Problem {
        file: shown.to_string(),
        line: 1,
        code: "missing-file",
        message: format!("{file} is missing; the switch changes a setting in it"),
        fix:
            "restore the file from upstream, or switch only the params.env files with --params-only"
                .to_string(),
    }
}

pub fn shape_problem(shown: &str, what: &str) -> Problem {
    Problem {
        file: shown.to_string(),
        line: 1,
        code: "unknown-shape",
        message: format!("{what} is not in this file, which is not in the shape kfpatch knows"),
        fix: "compare the file with upstream (kfpatch audit --against REF), or edit it by hand"
            .to_string(),
    }
}
