//! The one rule for showing text that came from outside kfpatch (a file's bytes, a path, git, the
//! cluster) in text output: a control character never reaches the terminal or the CI log as
//! itself. It is shown the way git quotes a path: a value holding a control character (C0,
//! including CR, LF and TAB; DEL; C1) is printed in double quotes with C escapes: `\a \b \t \n \v
//! \f \r`, `\"`, `\\`, and every other such character as the octal escape of its UTF-8 bytes
//! (ESC is `\033`, DEL `\177`, the C1 CSI `\302\233`). Any other value is printed as is.
//!
//! Commands mark an untrusted value with [`quoted`] where they know its bounds; [`visible`] is the
//! net under every line printed, for the values nobody marked: it writes the same escapes
//! without the quotes, keeping only line breaks, tabs and (when colour is on) kfpatch's own
//! colour codes; stderr goes through it whole ([`Visible`]). Machine formats (JSON, YAML, SARIF) escape by their own rules and do not come
//! through here.

use std::borrow::Cow;
use std::io::Write;

/// A control character: C0, DEL or C1.
fn is_control(c: char) -> bool {
    c.is_control()
}

/// Appends `c`'s escape (C escape, or octal of its UTF-8 bytes).
fn push_escape(out: &mut String, c: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\x0b' => out.push_str("\\v"),
        '\x0c' => out.push_str("\\f"),
        '\r' => out.push_str("\\r"),
        _ => {
            let mut bytes = [0; 4];
            for byte in c.encode_utf8(&mut bytes).bytes() {
                out.push_str(&format!("\\{byte:03o}"));
            }
        }
    }
}

/// `value` as a person should see it: as is, or, when it holds a control character, in double
/// quotes with C escapes (as `git` quotes a path).
pub fn quoted(value: &str) -> Cow<'_, str> {
    if !value.chars().any(is_control) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_control(c) => push_escape(&mut out, c),
            c => out.push(c),
        }
    }
    out.push('"');
    Cow::Owned(out)
}

/// `text` (whole lines kfpatch composed) with every control character but LF, TAB and the CR of
/// a CRLF line end (which hides nothing: the diff of a CRLF file) escaped; with `colour`,
/// kfpatch's own colour codes (`ESC [ digits; m`) are kept.
pub fn visible(text: &str, colour: bool) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| is_control(c) && c != '\n' && c != '\t')
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b'
            && colour
            && let Some(len) = colour_code(rest)
        {
            out.push_str(&rest[..len]);
            rest = &rest[len..];
            continue;
        }
        if is_control(c) && c != '\n' && c != '\t' && !rest.starts_with("\r\n") {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// A writer (stderr) that passes what it is given through [`visible`], without colour: kfpatch
/// writes whole strings to it, so no character is split between two writes.
pub struct Visible<W: Write>(pub W);

impl<W: Write> Write for Visible<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(visible(&text, false).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The length of the SGR colour code at the start of `text` (`ESC [ 1;31 m`), if there is one.
fn colour_code(text: &str) -> Option<usize> {
    let body = text.strip_prefix("\x1b[")?;
    let params = body
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b';')
        .count();
    (body.as_bytes().get(params) == Some(&b'm')).then_some(2 + params + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_with_controls_is_quoted_as_git_quotes_a_path() {
        assert_eq!(quoted("plain \"value\""), "plain \"value\"");
        assert_eq!(
            quoted("a\nb\r\t\x1b]0;x\x07\x7f\u{9b}\"\\"),
            "\"a\\nb\\r\\t\\033]0;x\\a\\177\\302\\233\\\"\\\\\""
        );
    }

    #[test]
    fn the_net_keeps_lines_tabs_and_only_kfpatchs_colour() {
        assert_eq!(visible("a\tb\nc\r\n", false), "a\tb\nc\r\n");
        assert_eq!(visible("x\ry\x1b[2J\n", false), "x\\ry\\033[2J\n");
        assert_eq!(
            visible("\x1b[31m-x\x1b[0m \x1b]0;t\x07\n", true),
            "\x1b[31m-x\x1b[0m \\033]0;t\\a\n"
        );
        assert_eq!(visible("\x1b[2J", true), "\\033[2J");
    }
}
