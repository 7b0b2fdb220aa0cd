//! `kfpatch status`: the install, its release and git state, where every catalogue setting
//! stands, and what surrounds it (generated copies, remote bases, a template generator), as text
//! or JSON. A checkout whose KFP comes only from remote bases gets the list of them.
//! `--cluster` shows the settings of running clusters instead (`status/cluster.rs`).

mod cluster;

use serde::Serialize;

use crate::checkout::catalogue::Mode;
use crate::checkout::install::Install;
use crate::checkout::locate;
use crate::checkout::model::json::DeployingJson;
use crate::checkout::model::{self, deploying};
use crate::checkout::overriding::OverrideJson;
use crate::checkout::settings::{
    GitState, GitView, InstallJson, JSON_SCHEMA, RowState, git_views, mode_word, overall_mode, rows,
};
use crate::checkout::{discover, paths, scan};
use crate::cli::{Cli, StatusArgs, StatusFormat};
use crate::error::{Failure, Result};
use crate::output::escape::quoted;
use crate::output::{Output, location, paint, to_json, to_yaml, write_out};
use crate::parallel;
use crate::report::above::Above;
use crate::report::surroundings;
use std::path::Path;

/// `status -o json` (docs/status.schema.json).
#[derive(Debug, Serialize)]
struct StatusJson {
    schema: u32,
    /// `null` when the checkout has no install (its KFP comes from remote bases).
    install: Option<InstallJson>,
    git: Option<GitState>,
    /// The checkout's own kustomizations that deploy the install (absent when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    deployed_through: Vec<String>,
    mode: &'static str,
    settings: Vec<SettingJson>,
    /// Files above the install that decide a managed setting (absent when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    overrides: Vec<OverrideJson>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    generated_copies: Vec<surroundings::CopyJson>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    remote_bases: Vec<surroundings::RemoteJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template_generator: Option<surroundings::GeneratorJson>,
    /// Every kustomization that deploys the install, with what the cluster gets from it.
    deploying: Vec<DeployingJson>,
}

#[derive(Debug, Serialize)]
struct SettingJson {
    /// The row of the catalogue table (docs/catalogue.md, "What changes together").
    row: u8,
    /// Relative to the `-C` folder.
    file: String,
    line: Option<usize>,
    setting: String,
    /// The value as read; `null` when absent, not read or not a literal.
    value: Option<String>,
    /// `multi-user`, `single-user`, `customised`, `file-absent`, `not-applicable` or `problem`.
    state: &'static str,
    /// Part of the default `multiuser on|off` switch on this release.
    switched_by_default: bool,
    note: Option<String>,
    problem: Option<String>,
}

impl SettingJson {
    fn of(install: &Install, row: &RowState) -> SettingJson {
        let state = if row.problem.is_some() {
            "problem"
        } else if row.shown.starts_with("(file not present)") {
            "file-absent"
        } else if row.shown.starts_with("(n/a") {
            "not-applicable"
        } else {
            match row.mode {
                Some(Mode::On) => "multi-user",
                Some(Mode::Off) => "single-user",
                None => "customised",
            }
        };
        SettingJson {
            row: row.row,
            file: install.display(row.file),
            line: row.line,
            setting: row.setting.clone(),
            value: row.value.clone(),
            state,
            switched_by_default: row.counts,
            note: row.note.clone(),
            problem: row.problem.clone(),
        }
    }
}

/// `kfpatch status`.
pub fn run(cli: &Cli, args: &StatusArgs, io: &mut Output<'_>) -> Result<i32> {
    if args.cluster {
        return cluster::run(cli, args, io);
    }
    let root = paths::canonical_root(&cli.dir)?;
    let Some(install) = discover::find_optional(&root, cli.install.as_deref())? else {
        return remote_only(&root, args, io);
    };
    // The repository, the scan around the install and the managed files (whose strict check takes
    // a thread of its own) are read beside the kustomize model, the longest part of a `status`.
    // The kustomization files the scan meets are read by the search (all of them, in a deep tree
    // of kustomizations): the scan reads only the others.
    let ((git, (around, met), rows), (above, (deploying, unreadable, read))) = parallel::beside(
        || {
            (
                git_views(&install),
                surroundings::around_but_kustomizations(&install),
                rows(&install),
            )
        },
        || {
            let (deploying, mut searched) = deploying::deploying_and_reaching(&install);
            let unreadable = searched.unreadable.clone();
            let read = std::mem::take(&mut searched.read);
            (
                Above::of(&install, &deploying, searched),
                (deploying, unreadable, read),
            )
        },
    );
    let around = surroundings::with_kustomizations(&install, around, met, &|dir| {
        read.get(dir.as_os_str()).map(Option::as_deref)
    });
    let rows = rows?;
    let mode = mode_word(&rows);
    if args.format != StatusFormat::Text {
        let report = StatusJson {
            schema: JSON_SCHEMA,
            install: Some(InstallJson::of(&install)),
            git: git.into_iter().find_map(|view| match view {
                GitView::Repository(state) => Some(state),
                _ => None,
            }),
            mode,
            settings: rows.iter().map(|r| SettingJson::of(&install, r)).collect(),
            deployed_through: above.own_folders(&install),
            overrides: above.overrides.iter().map(OverrideJson::of).collect(),
            generated_copies: surroundings::copies_json(&around, mode),
            remote_bases: surroundings::remote_json(&around.found.remote),
            template_generator: surroundings::generator_json(&around),
            deploying: deploying.iter().map(DeployingJson::of).collect(),
        };
        let text = match args.format {
            StatusFormat::Yaml => to_yaml(&report)?,
            _ => to_json(&report)?,
        };
        write_out(io, &text)?;
        // As below: the process's exit frees it.
        std::mem::forget((deploying, above, around, read, report));
        return problems_result(&rows);
    }
    let mut text = String::new();
    text.push_str(&format!("install:  {}\n", quoted(&install.rel)));
    text.push_str(&format!("layout:   {}\n", install.layout.describe()));
    text.push_str(&format!("KFP:      {}\n", install.version_text()));
    let views: Vec<String> = git.iter().map(GitView::text).collect();
    text.push_str(&format!("git:      {}\n", views.join("; ")));
    if let Some(through) = above.deployed_through(&install) {
        text.push_str(&format!("deployed through: {through}\n"));
    }
    // Coloured as `audit` colours: what needs attention in yellow (disagrees) or red (a problem).
    let overall = overall_mode(&rows);
    let (word, rest) = overall.split_at(mode.len());
    let mode_code = match mode {
        "mixed" => "1;33",
        "unknown" => "1;31",
        _ => "1",
    };
    text.push_str(&format!(
        "mode:     {}{rest}\n",
        paint(word, mode_code, io.color)
    ));
    text.push_str("settings:\n");
    let width =
        |cell: &dyn Fn(&RowState) -> String| rows.iter().map(|r| cell(r).len()).max().unwrap_or(0);
    let place = |r: &RowState| location(r.file, r.line);
    let value = |r: &RowState| match mode_label(r) {
        Some(label) => format!("{} [{label}]", r.shown),
        None => r.shown.clone(),
    };
    let (place_width, name_width, value_width) = (
        width(&place),
        width(&|r: &RowState| r.setting.clone()),
        width(&value),
    );
    let switch_mode = rows.iter().find(|r| r.counts).map(|r| r.mode);
    for r in &rows {
        let value_code = if r.problem.is_some() {
            "1;31"
        } else if r.counts && Some(r.mode) != switch_mode {
            "1;33"
        } else {
            "0"
        };
        let shown = value(r);
        let line = format!(
            "  {} {:place_width$}  {:name_width$}  {}{}  {}",
            r.row,
            place(r),
            r.setting,
            paint(&shown, value_code, io.color && value_code != "0"),
            " ".repeat(value_width - shown.len()),
            r.note.as_deref().unwrap_or_default(),
        );
        text.push_str(line.trim_end());
        text.push('\n');
    }
    let overrides = above.override_lines();
    if !overrides.is_empty() {
        text.push_str("overrides above the install (the outermost wins where several apply):\n");
        for line in overrides {
            text.push_str(&format!("  {line}\n"));
        }
    }
    let want = match mode {
        "on" => Some((Mode::On, "the install's files say")),
        "off" => Some((Mode::Off, "the install's files say")),
        _ => None,
    };
    let said = model::findings::all(
        &surroundings::unreadable(&unreadable, &around),
        &deploying,
        want,
        install.version.as_ref().ok(),
    );
    if !said.is_empty() {
        text.push_str(
            "deploying kustomizations (what kubectl kustomize of each gives the cluster):\n",
        );
        for f in &said {
            text.push_str(&format!("  {}  {}\n", location(&f.file, f.line), f.message));
        }
    }
    text.push_str(&surroundings::status_text(&around, mode));
    write_out(io, &text)?;
    // The command ends here: the process's exit frees what it read (one kustomization each, in a
    // deep tree) at once.
    std::mem::forget((deploying, above, around, read));
    problems_result(&rows)
}

/// `status` in a checkout without an install: the remote bases its KFP comes from, or the error
/// that nothing was found.
fn remote_only(root: &Path, args: &StatusArgs, io: &mut Output<'_>) -> Result<i32> {
    let remote = scan::remote_or_unreadable(scan::scan(root, root, &[]))?;
    if remote.is_empty() {
        return locate::find(root, None).map(|_| 0);
    }
    if args.format != StatusFormat::Text {
        let report = StatusJson {
            schema: JSON_SCHEMA,
            install: None,
            git: None,
            deployed_through: Vec::new(),
            mode: "unknown",
            settings: Vec::new(),
            overrides: Vec::new(),
            generated_copies: Vec::new(),
            remote_bases: surroundings::remote_json(&remote),
            template_generator: None,
            deploying: Vec::new(),
        };
        let text = match args.format {
            StatusFormat::Yaml => to_yaml(&report)?,
            _ => to_json(&report)?,
        };
        write_out(io, &text)?;
        return Ok(0);
    }
    let text = format!(
        "install:  none: no KFP files in this checkout\nremote bases of KFP (kustomize fetches them when it renders; nothing here can be edited in place):\n{}{}\n",
        scan::remote_lines(&remote),
        scan::SWITCH_REMOTE
    );
    write_out(io, &text)?;
    Ok(0)
}

/// `multi-user`, `single-user` or `customised` for a row whose value was read.
fn mode_label(row: &RowState) -> Option<&'static str> {
    match row.mode {
        Some(Mode::On) => Some("multi-user"),
        Some(Mode::Off) => Some("single-user"),
        None if row.counts && row.problem.is_none() => Some("customised"),
        None => None,
    }
}

/// Exit 0, or exit 2 naming every problem a managed file has, in file order and once, though
/// several rows (not all adjacent) share a file.
fn problems_result(rows: &[RowState]) -> Result<i32> {
    let mut problems: Vec<String> = rows.iter().filter_map(|r| r.problem.clone()).collect();
    if problems.is_empty() {
        Ok(0)
    } else {
        problems = problems.into_iter().fold(Vec::new(), |mut once, p| {
            if !once.contains(&p) {
                once.push(p);
            }
            once
        });
        Err(Failure::new(problems.join("\n")))
    }
}
