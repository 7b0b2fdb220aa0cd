//! The safety prompt before anything is sent to a cluster: `--yes`, a question on a terminal, or a
//! refusal when there is no terminal to ask on.

use std::io::{BufRead, Write};

use crate::error::{Failure, Result};

/// Where the answer to the safety prompt comes from.
pub enum Consent<'a> {
    /// `--yes`.
    Given,
    /// A terminal to ask on.
    Ask(&'a mut dyn BufRead),
    /// No terminal and no `--yes`: refuse.
    NoTerminal,
}

impl<'a> Consent<'a> {
    /// `--yes`, else ask on `stdin` when it is a terminal, else refuse.
    pub fn from_flags(yes: bool, stdin: &'a mut dyn BufRead, is_terminal: bool) -> Consent<'a> {
        if yes {
            Consent::Given
        } else if is_terminal {
            Consent::Ask(stdin)
        } else {
            Consent::NoTerminal
        }
    }
}

/// Asks `question`; only `y` or `yes` goes on.
pub fn confirm(out: &mut dyn Write, consent: Consent<'_>, question: &str) -> Result<()> {
    let input = match consent {
        Consent::Given => return Ok(()),
        Consent::NoTerminal => {
            return Err(Failure::new(
                "refusing to apply: standard input is not a terminal to ask on; pass --yes to apply without asking",
            ));
        }
        Consent::Ask(input) => input,
    };
    let _ = write!(out, "{question}");
    let _ = out.flush();
    let mut answer = String::new();
    input
        .read_line(&mut answer)
        .map_err(|e| Failure::new(format!("cannot read the answer: {e}")))?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Failure::new("not applied: the answer was not yes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_asks_and_refuses_without_a_terminal() {
        let mut out = Vec::new();
        let mut yes: &[u8] = b"y\n";
        confirm(&mut out, Consent::Ask(&mut yes), "Apply? [y/N] ").unwrap();
        assert_eq!(out, b"Apply? [y/N] ");
        let mut no: &[u8] = b"\n";
        let err = confirm(&mut out, Consent::Ask(&mut no), "Apply? [y/N] ").unwrap_err();
        assert_eq!(err.message, "not applied: the answer was not yes");
        let err = confirm(&mut out, Consent::NoTerminal, "Apply? [y/N] ").unwrap_err();
        assert_eq!(err.code, 2);
        assert!(err.message.contains("pass --yes"));
        confirm(&mut out, Consent::Given, "unused").unwrap();
    }
}
