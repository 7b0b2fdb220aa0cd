//! `render`'s verdict: does the render give the cluster the mode it should? The mode is
//! `--expect`'s, else the install's files' (as a kfpatch overlay being rendered switches them).
//! The rendered objects are decoded as `audit --cluster` decodes a cluster ([`decode`]), and the
//! rows are held to the mode by `audit --expect`'s rules: a row the default switch leaves alone on
//! this release (row 8, row 4 from KFP 2.0.0-beta.0 on or when the version is unknown) is not
//! compared, a value set from elsewhere (`valueFrom`) or not in the render says nothing, and a
//! value neither mode has upstream (customised) is a warning, not a disagreement.

use serde::Serialize;

use super::json::RenderedJson;
use super::{Effective, Rendered};
use crate::checkout::catalogue::{Mode, Setting, show_value};
use crate::checkout::install::Install;
use crate::checkout::model::decode::{self, Decoded};
use crate::checkout::model::deploying::{Deploying, deploying};
use crate::checkout::model::objects::Object;
use crate::checkout::overriding::{Given, Override};
use crate::checkout::settings;
use crate::error::Result;

/// The exit code of a render that disagrees (the one `audit` gives its findings).
pub const EXIT_DISAGREES: i32 = 1;

/// Where the mode a render is held to comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModeFrom {
    /// `--expect on|off`.
    Expect,
    /// Every switched setting of the install's files holds this mode's value.
    Files,
    /// The same, with the settings a kfpatch overlay being rendered switches at its value.
    FilesAndOverlay,
}

/// The render compared with a mode.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// `None`: no mode to compare with (the files are mixed or unreadable, and no `--expect`).
    pub mode: Option<(Mode, ModeFrom)>,
    /// Why there is no mode, when there is none.
    pub no_mode: Option<String>,
    /// Switched settings that render at the other mode's value: exit 1.
    pub differs: Vec<RowVerdict>,
    /// Switched settings that render at neither mode's upstream value: a warning each.
    pub customised: Vec<RowVerdict>,
    /// [`Effective::disagreements`]: the render differs from the files: exit 1.
    pub file_disagreements: Vec<String>,
}

/// One setting as rendered, held to the mode.
#[derive(Debug, Clone)]
pub struct RowVerdict {
    pub setting: &'static Setting,
    pub rendered: Rendered,
    /// The mode's value (`None`: the entry absent).
    pub wanted: Option<&'static str>,
    /// The field of the rendered object it is read from.
    pub in_render: String,
    /// The file (and line) that decides it, and how, when kfpatch traced it.
    pub from: Option<String>,
}

impl Verdict {
    pub fn agrees(&self) -> bool {
        self.differs.is_empty() && self.file_disagreements.is_empty()
    }

    pub fn exit_code(&self) -> i32 {
        if self.agrees() { 0 } else { EXIT_DISAGREES }
    }

    fn wanted_by(&self) -> String {
        match self.mode {
            Some((mode, ModeFrom::Expect)) => format!("--expect {}", mode.word()),
            Some((mode, ModeFrom::Files)) => format!("the install's files say {}", mode.word()),
            Some((mode, ModeFrom::FilesAndOverlay)) => format!(
                "the install's files, as the overlay switches them, say {}",
                mode.word()
            ),
            None => String::new(),
        }
    }

    /// The end of `render`'s text report.
    pub fn text(&self) -> String {
        let mut out = String::from("\n");
        match (self.mode, &self.no_mode) {
            (Some((mode, _)), _) if self.differs.is_empty() => out.push_str(&format!(
                "mode {} ({}): the render agrees{}\n",
                mode.word(),
                self.wanted_by(),
                self.customised_note()
            )),
            (Some((mode, _)), _) => {
                out.push_str(&format!(
                    "mode {} ({}): the render DIFFERS in {}{}:\n",
                    mode.word(),
                    self.wanted_by(),
                    count(self.differs.len(), "setting"),
                    self.customised_note()
                ));
                for row in &self.differs {
                    out.push_str(&format!("  {}\n", row.differs_text(mode)));
                }
            }
            (None, why) => out.push_str(&format!(
                "mode: not compared, {}; pass --expect on|off to compare\n",
                why.as_deref().unwrap_or("no mode")
            )),
        }
        if !self.file_disagreements.is_empty() {
            out.push_str(&format!(
                "the render DIFFERS from the files in {} (an overlay or patch above the install changes them):\n",
                count(self.file_disagreements.len(), "place")
            ));
            for line in &self.file_disagreements {
                out.push_str(&format!("  {line}\n"));
            }
        }
        out
    }

    /// `; 1 setting at neither mode's upstream value (a warning each)`, when there are any.
    fn customised_note(&self) -> String {
        if self.customised.is_empty() {
            return String::new();
        }
        format!(
            "; {} at neither mode's upstream value (a warning each)",
            count(self.customised.len(), "setting")
        )
    }

    /// One warning per customised setting.
    pub fn warnings(&self) -> Vec<String> {
        let Some((mode, _)) = self.mode else {
            return Vec::new();
        };
        self.customised
            .iter()
            .map(|row| {
                format!(
                    "{} renders as {}, neither mode's upstream value ({} multi-user, {} single-user){}; check that it works in {} mode, or set it to {}",
                    row.setting.name(),
                    row.rendered.shown(),
                    show_value(row.setting.multi),
                    show_value(row.setting.single),
                    row.from
                        .as_ref()
                        .map_or(String::new(), |from| format!(", set by {from}")),
                    if mode == Mode::On {
                        "multi-user"
                    } else {
                        "single-user"
                    },
                    show_value(row.wanted)
                )
            })
            .collect()
    }

    pub fn json(&self) -> VerdictJson {
        VerdictJson {
            mode: self.mode.map(|(m, _)| m.word()),
            mode_from: self.mode.map(|(_, from)| from),
            no_mode: self.no_mode.clone(),
            differs: self.differs.iter().map(RowVerdict::json).collect(),
            customised: self.customised.iter().map(RowVerdict::json).collect(),
            agrees: self.agrees(),
            exit_code: self.exit_code(),
        }
    }
}

impl RowVerdict {
    fn differs_text(&self, mode: Mode) -> String {
        format!(
            "{}: rendered {}, the {} value, where {} wants {}; it is {}, {}",
            self.setting.name(),
            self.rendered.shown(),
            if mode == Mode::On {
                "single-user"
            } else {
                "multi-user"
            },
            mode.word(),
            show_value(self.wanted),
            self.in_render,
            self.from.as_ref().map_or_else(
                || "which kfpatch did not trace to a file offline".to_string(),
                |from| format!("set by {from}")
            )
        )
    }

    fn json(&self) -> RowVerdictJson {
        RowVerdictJson {
            row: self.setting.row,
            setting: self.setting.name(),
            rendered: self.rendered.json(),
            wanted: self.wanted.map(str::to_string),
            in_render: self.in_render.clone(),
            from: self.from.clone(),
        }
    }
}

/// `verdict` in `render -o json` (docs/render.schema.json).
#[derive(Debug, Clone, Serialize)]
pub struct VerdictJson {
    /// `on`, `off`, or `null` when there is no mode to compare with.
    pub mode: Option<&'static str>,
    /// `expect`, `files` or `files-and-overlay`; `null` with `mode`.
    pub mode_from: Option<ModeFrom>,
    /// Why there is no mode; `null` when there is one.
    pub no_mode: Option<String>,
    pub differs: Vec<RowVerdictJson>,
    pub customised: Vec<RowVerdictJson>,
    pub agrees: bool,
    pub exit_code: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowVerdictJson {
    pub row: u8,
    pub setting: String,
    pub rendered: RenderedJson,
    /// The mode's value; `null`: the entry absent.
    pub wanted: Option<String>,
    pub in_render: String,
    pub from: Option<String>,
}

/// What the render of `objects` (of the kustomization `target`, relative to the checkout root)
/// gives each switched setting, held to `expect` or else the install's files' mode.
/// `switched_by_overlay` and `overrides` are as for [`super::read`]; `overlay` names the kfpatch
/// overlay being rendered, if it is one.
#[allow(clippy::too_many_arguments)]
pub fn judge(
    install: &Install,
    target: &str,
    objects: &[Object],
    effective: &Effective,
    switched_by_overlay: &[(String, usize)],
    overlay: Option<&str>,
    overrides: &[Override],
    expect: Option<Mode>,
) -> Result<Verdict> {
    let mut rows = settings::rows(install)?;
    let mut switched = false;
    for row in &mut rows {
        let at_overlay = row.line.is_some_and(|line| {
            switched_by_overlay
                .iter()
                .any(|(file, at)| *file == install.display(row.file) && *at == line)
        });
        if at_overlay {
            row.mode = Some(Mode::Off);
            switched = true;
        }
    }
    let (mode, no_mode) = match (expect, settings::mode_word(&rows)) {
        (Some(m), _) => (Some((m, ModeFrom::Expect)), None),
        (None, word @ ("on" | "off")) => {
            let m = if word == "on" { Mode::On } else { Mode::Off };
            let from = if switched {
                ModeFrom::FilesAndOverlay
            } else {
                ModeFrom::Files
            };
            (Some((m, from)), None)
        }
        (None, word) => (
            None,
            Some(format!(
                "the install's files are {}",
                if word == "mixed" {
                    "mixed (some settings at one mode's value, some at the other's)"
                } else {
                    "unreadable (status shows why)"
                }
            )),
        ),
    };
    let mut verdict = Verdict {
        mode,
        no_mode,
        differs: Vec::new(),
        customised: Vec::new(),
        file_disagreements: effective.disagreements.clone(),
    };
    let Some((mode, _)) = mode else {
        return Ok(verdict);
    };
    let version = install.version.as_ref().ok();
    let traced = Traced {
        install,
        rows: &rows,
        switched_by_overlay,
        overlay,
        overrides,
        target,
        model: std::cell::OnceCell::new(),
    };
    for decoded in decode::decode(objects) {
        if !decode::counts(&decoded, version) {
            continue;
        }
        let held = decoded.mode();
        if held == Some(mode) {
            continue;
        }
        let row = RowVerdict {
            setting: decoded.setting,
            wanted: decoded.setting.value_in(mode),
            in_render: decoded.source.clone(),
            from: traced.from(&decoded),
            rendered: decoded.value,
        };
        if held.is_some() {
            verdict.differs.push(row);
        } else {
            verdict.customised.push(row);
        }
    }
    Ok(verdict)
}

/// What kfpatch traced of the files that decide the render's values.
struct Traced<'a> {
    install: &'a Install,
    rows: &'a [settings::RowState],
    switched_by_overlay: &'a [(String, usize)],
    overlay: Option<&'a str>,
    overrides: &'a [Override],
    target: &'a str,
    /// The offline model's build of the target, made only when asked for.
    model: std::cell::OnceCell<Option<Deploying>>,
}

impl Traced<'_> {
    /// The file that decides a rendered value: the kfpatch overlay being rendered, else the
    /// winning override above the install, else the install's file when it holds the value, else
    /// the line the offline model of kustomize found (when it gives the same value).
    fn from(&self, decoded: &Decoded) -> Option<String> {
        let setting = decoded.setting;
        let row = self
            .rows
            .iter()
            .find(|r| (r.row, r.file) == (setting.row, setting.file))?;
        let shown_file = self.install.display(setting.file);
        let at = |line: Option<usize>| match line {
            Some(l) => format!("{shown_file}:{l}"),
            None => shown_file.clone(),
        };
        if row.line.is_some_and(|l| {
            self.switched_by_overlay
                .iter()
                .any(|(file, at)| *file == shown_file && *at == l)
        }) {
            return self
                .overlay
                .map(|o| format!("the kfpatch overlay {o}, which switches {}", at(row.line)));
        }
        if let Some(o) = self
            .overrides
            .iter()
            .rev()
            .find(|o| (o.setting.row, o.setting.file) == (setting.row, setting.file))
            .filter(|o| matches!(o.given, Given::Value(_)))
        {
            return Some(format!("{} through {} ({})", o.at(), o.by, o.how));
        }
        let in_file = match &decoded.value {
            Rendered::Literal(v) => row.value.as_deref() == Some(v.as_str()),
            Rendered::Absent => row.problem.is_none() && row.shown == show_value(None),
            _ => false,
        };
        if in_file {
            return Some(at(row.line));
        }
        let model = self.model.get_or_init(|| {
            deploying(self.install)
                .into_iter()
                .find(|d| d.shown == self.target)
        });
        model
            .as_ref()?
            .effective
            .iter()
            .find(|e| std::ptr::eq(e.setting, setting))
            .filter(|e| e.value.as_ref() == Some(&decoded.value))
            .and_then(|e| e.from.clone())
    }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
