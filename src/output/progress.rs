//! The progress of a long command: one line per finished step on the command's output, and a
//! spinner on a terminal's stderr while a step runs.

use std::io::{IsTerminal, Write};

use crate::error::{Failure, Result};

/// Writes progress lines to the command's output, and a spinner on a terminal's stderr while a
/// step runs.
pub struct Progress<'a> {
    out: &'a mut dyn Write,
    spinner: bool,
    frame: usize,
    label: String,
    drawn: bool,
}

impl<'a> Progress<'a> {
    /// `spinner`: draw one on stderr (only when stderr is a terminal).
    pub fn new(out: &'a mut dyn Write, spinner: bool) -> Progress<'a> {
        Progress {
            out,
            spinner: spinner && std::io::stderr().is_terminal(),
            frame: 0,
            label: String::new(),
            drawn: false,
        }
    }

    /// One line of output.
    pub fn line(&mut self, text: &str) -> Result<()> {
        self.clear();
        writeln!(self.out, "{}", super::escape::visible(text, false))
            .and_then(|_| self.out.flush())
            .map_err(|e| Failure::new(format!("cannot write to standard output: {e}")))
    }

    /// What the spinner says while the next step runs.
    pub fn label(&mut self, label: &str) {
        self.label = label.to_string();
    }

    /// Advances the spinner (called while a child process runs).
    pub fn tick(&mut self) {
        if !self.spinner {
            return;
        }
        const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
        self.frame = (self.frame + 1) % FRAMES.len();
        let mut err = std::io::stderr();
        let _ = write!(err, "\r{} {}\x1b[K", FRAMES[self.frame], self.label);
        let _ = err.flush();
        self.drawn = true;
    }

    fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.drawn = false;
        }
    }

    /// The output writer, for text that is not progress (the safety prompt).
    pub fn out(&mut self) -> &mut dyn Write {
        self.clear();
        self.out
    }
}

impl Drop for Progress<'_> {
    /// An error printed after the last step must not land on the spinner's line.
    fn drop(&mut self) {
        self.clear();
    }
}
