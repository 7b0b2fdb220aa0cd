//! `kfpatch man --output-dir DIR`: the man pages, `kfpatch.1` and `kfpatch-COMMAND.1` per
//! subcommand, rendered by clap_mangen from the same definition as `--help`.
//!
//! clap_mangen's page is given what it lacks to read as a man page (CI checks every page with
//! `mandoc -T lint -W warning`): a `.TH` line with a date, the source and the manual (left empty,
//! the source sat where the date goes); a synopsis naming every option's value (clap_mangen's
//! shows `[-C ]`); the examples of `--help` as an EXAMPLES section and the exit codes as EXIT
//! STATUS (clap_mangen puts all text after the options under EXTRA, line by line); and one blank
//! line between an option's help and its possible values where clap_mangen writes `.br`, an empty
//! line and `.br` again.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Arg, ArgAction, CommandFactory};
use clap_mangen::roff::{Roff, bold, roman};

use crate::cli::{Cli, ManArgs};
use crate::edit::write::write_file;
use crate::error::{Failure, Result};
use crate::output::{Output, write_out};

/// The pages' date comes from this variable when it is set, as in every tool that follows
/// reproducible-builds.org (dist/release.sh sets it to the commit's time); else it is today.
const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// What clap_mangen writes between an option's help and its "Possible values:".
const BREAK_BLANK_BREAK: &str = "\n.br\n\n.br\n";

/// `kfpatch man`.
pub fn run(cli: &Cli, args: &ManArgs, io: &mut Output<'_>) -> Result<i32> {
    // Like every path on the command line, --output-dir is relative to -C.
    let dir = cli.dir.join(&args.output_dir);
    let date = page_date(std::env::var_os(SOURCE_DATE_EPOCH).as_deref())?;
    let pages = pages(&date)?;
    std::fs::create_dir_all(&dir).map_err(|e| Failure::io("create", &dir, &e))?;
    let mut names = Vec::new();
    for (name, roff) in pages {
        let path = dir.join(&name);
        write_file(&path, roff.as_bytes()).map_err(|e| Failure::io("write", &path, &e))?;
        names.push(name);
    }
    write_out(
        io,
        &format!(
            "wrote {} man pages to {}: {}\n",
            names.len(),
            Path::new(&args.output_dir).display(),
            names.join(", ")
        ),
    )?;
    Ok(0)
}

/// Every page, by file name: the command's, then one per subcommand.
fn pages(date: &str) -> Result<Vec<(String, String)>> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let version = root.get_version().unwrap_or_default().to_string();
    let mut commands = vec![root.clone()];
    commands.extend(root.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    commands
        .into_iter()
        .map(|command| page(command, date, &version))
        .collect()
}

/// One page: clap_mangen's, with the changes the module doc lists.
fn page(command: clap::Command, date: &str, version: &str) -> Result<(String, String)> {
    let is_root = command.get_name() == "kfpatch";
    let after_help = command
        .get_after_help()
        .map(|help| help.to_string())
        .unwrap_or_default();
    let synopsis = synopsis(&command);
    let command = command
        .override_usage(synopsis)
        .after_help(None::<&'static str>);
    let man = clap_mangen::Man::new(command)
        .date(date)
        .source(format!("kfpatch {version}"))
        .manual("User Commands");
    let name = man.get_filename();
    let man = man.title(name.trim_end_matches(".1").to_uppercase());
    let mut roff = Vec::new();
    man.render(&mut roff)
        .map_err(|e| Failure::new(format!("cannot render the man page {name}: {e}")))?;
    let roff = String::from_utf8(roff)
        .map_err(|e| Failure::new(format!("the man page {name} is not UTF-8: {e}")))?;
    let mut page = roff.replace(BREAK_BLANK_BREAK, "\n.sp\n");
    // Before the root page's VERSION, which clap_mangen writes last.
    let at = page.find("\n.SH VERSION\n").map_or(page.len(), |at| at + 1);
    page.insert_str(at, &closing_sections(&name, &after_help, is_root)?);
    Ok((name, page))
}

/// The usage line, every option with its value: `kfpatch audit [-C DIR] [--expect on|off] ...`.
fn synopsis(command: &clap::Command) -> String {
    let mut words = vec![
        command
            .get_bin_name()
            .unwrap_or(command.get_name())
            .to_string(),
    ];
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        let mut word = match (arg.get_short(), arg.get_long()) {
            (Some(short), Some(long)) => format!("-{short}|--{long}"),
            (Some(short), None) => format!("-{short}"),
            (None, Some(long)) => format!("--{long}"),
            (None, None) => format!("<{}>", value_name(arg)),
        };
        if !arg.is_positional() {
            match arg.get_num_args() {
                Some(n) if n.takes_values() && n.min_values() == 0 => {
                    word.push_str(&format!("[={}]", value_name(arg)));
                }
                Some(n) if n.takes_values() => word.push_str(&format!(" {}", value_name(arg))),
                _ => {}
            }
        }
        if !arg.is_required_set() {
            word = format!("[{word}]");
        }
        if matches!(arg.get_action(), ArgAction::Append) {
            word.push_str("...");
        }
        words.push(word);
    }
    if command.has_subcommands() {
        words.push("<COMMAND>".to_string());
    }
    words.join(" ")
}

fn value_name(arg: &Arg) -> String {
    match arg.get_value_names() {
        Some(names) => names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        None => arg.get_id().as_str().to_uppercase(),
    }
}

/// EXIT STATUS and EXAMPLES from the text `--help` ends with, then SEE ALSO on a subcommand's
/// page, in the order of man-pages(7).
fn closing_sections(name: &str, after_help: &str, is_root: bool) -> Result<String> {
    let mut exit_codes = None;
    let mut examples = None;
    for block in after_help.split("\n\n").filter(|b| !b.is_empty()) {
        if let Some(codes) = block.strip_prefix("Exit codes: ") {
            exit_codes = Some(codes);
        } else if let Some(lines) = block.strip_prefix("Examples:\n") {
            examples = Some(lines);
        } else {
            return Err(Failure::new(format!(
                "the man page {name}: --help ends with text that is neither examples nor exit codes: {block:?}"
            )));
        }
    }
    let mut roff = Roff::new();
    if let Some(codes) = exit_codes {
        roff.control("SH", ["EXIT STATUS"]);
        roff.text([roman(codes)]);
    }
    if let Some(examples) = examples {
        roff.control("SH", ["EXAMPLES"]);
        for (i, line) in examples.lines().map(str::trim).enumerate() {
            match line.strip_prefix("# ") {
                Some(comment) => {
                    // A section starts a paragraph of its own.
                    if i > 0 {
                        roff.control("PP", []);
                    }
                    roff.text([roman(comment)]);
                }
                None => {
                    roff.control("RS", ["4"])
                        .control("nf", [])
                        .text([bold(line)])
                        .control("fi", [])
                        .control("RE", []);
                }
            }
        }
    }
    if !is_root {
        roff.control("SH", ["SEE ALSO"]);
        roff.control("BR", ["kfpatch", "(1)"]);
    }
    // clap_mangen's page starts with the definitions every roff text needs (the apostrophe);
    // this part goes after it, so without them.
    let preamble = Roff::new().render();
    let text = roff.render();
    Ok(text.strip_prefix(&preamble).unwrap_or(&text).to_string())
}

/// `YYYY-MM-DD` of SOURCE_DATE_EPOCH (`value`) when set, else of today (UTC).
fn page_date(value: Option<&std::ffi::OsStr>) -> Result<String> {
    let seconds = match value {
        Some(value) => value
            .to_str()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| {
                Failure::new(format!(
                    "{SOURCE_DATE_EPOCH} is {:?}, not a number of seconds since 1970-01-01 (the man pages' date): unset it or give e.g. {SOURCE_DATE_EPOCH}=$(git log -1 --format=%ct); nothing was written",
                    value.to_string_lossy()
                ))
            })?,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
    };
    let (year, month, day) = civil_date(seconds / 86_400);
    Ok(format!("{year:04}-{month:02}-{day:02}"))
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after 1970).
fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_date_of_known_days() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(59), (1970, 3, 1));
        // 2000-02-29 (a leap day of a century year) and 2100-03-01 (after a non-leap century).
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(47_541), (2100, 3, 1));
        assert_eq!(civil_date(20_454), (2026, 1, 1));
    }

    #[test]
    fn page_date_reads_source_date_epoch() {
        let date = |v: &str| page_date(Some(std::ffi::OsStr::new(v)));
        assert_eq!(date("1767225600").expect("date"), "2026-01-01");
        assert_eq!(date("0").expect("date"), "1970-01-01");
        let err = date("yesterday").expect_err("not a number");
        assert_eq!(err.code, 2);
        assert!(
            err.message
                .starts_with("SOURCE_DATE_EPOCH is \"yesterday\", not a number")
        );
    }

    /// Every page renders, names its values in the synopsis and has no clap_mangen EXTRA section.
    #[test]
    fn every_page_has_examples_and_a_full_synopsis() {
        for (name, page) in pages("2026-01-01").expect("pages") {
            assert!(page.contains("\n.SH EXAMPLES\n"), "{name}");
            assert!(!page.contains(".SH EXTRA"), "{name}");
            assert!(!page.contains(BREAK_BLANK_BREAK), "{name}");
            assert!(page.contains("[\\-C DIR]"), "{name}");
            assert!(page.contains(" 1 2026-01-01 \"kfpatch "), "{name}");
        }
    }
}
