//! `kfpatch __complete WORD...`: completions in Cobra's protocol, which kubectl (1.26 on) speaks
//! with plugins. kubectl runs `kubectl_complete-kfpatch` (written by `completion kubectl-plugin`)
//! with the words after `kubectl kfpatch`, the last being the one to complete; the answer is one
//! candidate per line (`value<TAB>description`) and a last line `:DIRECTIVE`.
//!
//! The candidates come from the same clap definition as `--help`, so they cannot drift from it;
//! `set KEY=VALUE`, which clap knows no values for, gets the keys the API server reads. fish's
//! script (`completion fish`) asks the same question.

use clap::{Arg, ArgAction, Command, CommandFactory, ValueHint};

use crate::checkout::catalogue::{API_SERVER_BOOL_KEYS, API_SERVER_KEYS};
use crate::cli::Cli;

/// Cobra's `ShellCompDirective` bits kfpatch uses.
const DEFAULT: u32 = 0;
const NO_SPACE: u32 = 2;
const NO_FILE_COMP: u32 = 4;
const FILTER_DIRS: u32 = 16;

/// The answer to `__complete WORDS`.
pub fn answer(words: &[String]) -> String {
    let mut command = Cli::command();
    // Built, so that the global flags are on every subcommand.
    command.build();
    answer_for(&command, words)
}

fn answer_for(command: &Command, words: &[String]) -> String {
    let (done, current) = match words.split_last() {
        Some((last, rest)) => (rest, last.as_str()),
        None => (&[][..], ""),
    };
    let mut cmd = command;
    let mut pending: Option<&Arg> = None;
    let mut positionals = 0;
    let mut only_positionals = false;
    for word in done {
        if pending.take().is_some() {
            continue;
        }
        if only_positionals || word == "-" || !word.starts_with('-') {
            if positionals == 0
                && !only_positionals
                && let Some(sub) = cmd.find_subcommand(word)
            {
                cmd = sub;
                continue;
            }
            positionals += 1;
            continue;
        }
        if word == "--" {
            only_positionals = true;
            continue;
        }
        if let Some(long) = word.strip_prefix("--") {
            if !long.contains('=') {
                pending = cmd
                    .get_arguments()
                    .find(|a| {
                        a.get_long_and_visible_aliases()
                            .is_some_and(|l| l.contains(&long))
                    })
                    .filter(|a| takes_value(a));
            }
        } else {
            // -abc: flags; the first that takes a value takes the rest of the word, or the next.
            let shorts = &word[1..];
            for (i, c) in shorts.char_indices() {
                let arg = cmd.get_arguments().find(|a| {
                    a.get_short_and_visible_aliases()
                        .is_some_and(|s| s.contains(&c))
                });
                if let Some(arg) = arg.filter(|a| takes_value(a)) {
                    if i + c.len_utf8() == shorts.len() {
                        pending = Some(arg);
                    }
                    break;
                }
            }
        }
    }
    let mut out = String::new();
    let directive = if let Some(arg) = pending {
        values(arg, "", current, &mut out)
    } else if let Some((flag, value)) = current.split_once('=').filter(|(f, _)| f.starts_with("--"))
    {
        let arg = cmd.get_arguments().find(|a| {
            a.get_long_and_visible_aliases()
                .is_some_and(|l| l.contains(&&flag[2..]))
        });
        match arg {
            Some(arg) => values(arg, &format!("{flag}="), value, &mut out),
            None => NO_FILE_COMP,
        }
    } else if current.starts_with('-') && !only_positionals {
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            let help = about(arg.get_help());
            for long in arg.get_long_and_visible_aliases().unwrap_or_default() {
                candidate(&mut out, &format!("--{long}"), current, &help);
            }
            if current.len() <= 2 {
                for short in arg.get_short_and_visible_aliases().unwrap_or_default() {
                    candidate(&mut out, &format!("-{short}"), current, &help);
                }
            }
        }
        NO_FILE_COMP
    } else if positionals == 0 && cmd.has_subcommands() {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            candidate(&mut out, sub.get_name(), current, &about(sub.get_about()));
        }
        NO_FILE_COMP
    } else {
        match cmd.get_positionals().nth(positionals).or_else(|| {
            cmd.get_positionals()
                .last()
                .filter(|a| matches!(a.get_action(), ArgAction::Append))
        }) {
            Some(arg) if cmd.get_name() == "set" && arg.get_id() == "pairs" => {
                set_pairs(current, &mut out)
            }
            Some(arg) => values(arg, "", current, &mut out),
            None => NO_FILE_COMP,
        }
    };
    out.push_str(&format!(":{directive}\n"));
    out
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_num_args().is_some_and(|n| n.takes_values())
}

/// The values of `arg` that start with `current`, each written after `prefix`; the directive.
fn values(arg: &Arg, prefix: &str, current: &str, out: &mut String) -> u32 {
    let possible = arg.get_possible_values();
    if possible.is_empty() {
        return match arg.get_value_hint() {
            ValueHint::DirPath => FILTER_DIRS,
            ValueHint::FilePath | ValueHint::AnyPath => DEFAULT,
            _ => NO_FILE_COMP,
        };
    }
    for value in possible.iter().filter(|v| !v.is_hide_set()) {
        candidate(
            out,
            &format!("{prefix}{}", value.get_name()),
            &format!("{prefix}{current}"),
            &about(value.get_help()),
        );
    }
    NO_FILE_COMP
}

/// `set`'s pairs: `KEY=` for each key the API server reads (no space after it: the value
/// follows), then `true` and `false` after a boolean key's `=`.
fn set_pairs(current: &str, out: &mut String) -> u32 {
    match current.split_once('=') {
        None => {
            for key in API_SERVER_KEYS {
                candidate(out, &format!("{key}="), current, "");
            }
            return NO_SPACE | NO_FILE_COMP;
        }
        Some((key, _)) if API_SERVER_BOOL_KEYS.contains(&key) => {
            for value in ["true", "false"] {
                candidate(out, &format!("{key}={value}"), current, "");
            }
        }
        Some(_) => {}
    }
    NO_FILE_COMP
}

/// The first line of a help text, for a candidate's description.
fn about(help: Option<&clap::builder::StyledStr>) -> String {
    help.map(|h| h.to_string().lines().next().unwrap_or_default().to_string())
        .unwrap_or_default()
}

fn candidate(out: &mut String, value: &str, current: &str, description: &str) {
    if value.starts_with(current) {
        out.push_str(value);
        if !description.is_empty() {
            out.push('\t');
            out.push_str(description);
        }
        out.push('\n');
    }
}
