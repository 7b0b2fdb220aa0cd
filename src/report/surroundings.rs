//! What surrounds an install and cannot be switched with it: the generated copies and remote KFP
//! bases of the checkout ([`crate::checkout::scan`]) and the template generator an install may be
//! vendored into; and how `status`, `multiuser` and `audit` print them, in text and JSON.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::checkout::install::Install;
use crate::checkout::lint::finding::{Finding, Severity};
use crate::checkout::model::{self, CannotTrace};
use crate::checkout::paths::relative;
use crate::checkout::scan::{
    Copy, CopyMode, Found, Met, PRUNED, RemoteKfp, kfp_of_ref, read_bounded, read_met,
    remote_lines, scan_copies, scan_start, skip_for,
};
use crate::checkout::walk;
use crate::output::escape::quoted;

/// Everything around an install that the switch cannot edit but the user must know about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Surroundings {
    pub found: Found,
    pub generator: Option<Generator>,
}

/// Scans the checkout around `install` (one walk) and looks for a template generator above it.
pub fn around(install: &Install) -> Surroundings {
    let (around, met) = around_but_kustomizations(install);
    with_kustomizations(install, around, met, &|_| None)
}

/// [`around`] but the kustomization files the scan met, left for [`with_kustomizations`].
pub fn around_but_kustomizations(install: &Install) -> (Surroundings, Met) {
    let (mut found, met) = scan_copies(&install.root, &scan_start(install), &skip_for(install));
    let generator = generator(install, &mut found.unreadable);
    (Surroundings { found, generator }, met)
}

/// Ends [`around_but_kustomizations`]: the remote bases of the kustomization files `met`, each
/// read unless `known` has it (see [`read_met`]).
pub fn with_kustomizations<'a>(
    install: &Install,
    mut around: Surroundings,
    met: Met,
    known: &dyn Fn(&Path) -> Option<Option<&'a str>>,
) -> Surroundings {
    read_met(&install.root, &mut around.found, met, known);
    around.found.unreadable.sort();
    around.found.unreadable.dedup();
    around
}

/// The kustomization files the deploying search could not read (`model`), then those only the
/// scan around the install met (in folders the search does not walk): each file once.
pub fn unreadable(model: &[CannotTrace], around: &Surroundings) -> Vec<CannotTrace> {
    let mut all = model.to_vec();
    for c in &around.found.unreadable {
        if !all.iter().any(|m| m.file == c.file) {
            all.push(c.clone());
        }
    }
    all
}

/// A template generator an install is vendored into (as distributions do): its folder and why
/// kfpatch thinks so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generator {
    /// Relative to the `-C` folder.
    pub dir: String,
    pub why: String,
    /// The generator's own lines that set a managed value: `file:line: text`.
    pub settings: Vec<String>,
}

/// The keys whose lines in a generator's own files set what the catalogue manages.
const MANAGED_KEYS: &[&str] = &[
    "MULTIUSER",
    "DEFAULTPIPELINERUNNERSERVICEACCOUNT",
    "ENABLE_AUTHZ",
    "ARTIFACTS_SERVICE_PROXY_ENABLED",
    "serviceAccountName",
];

/// The template generator around `install`, if any: the highest folder above it (inside `-C`)
/// that is a `templates/` folder of a generator or chart, or whose kustomization holds template
/// delimiters (`{{<`, `{{`), which kustomize cannot read until the generator has run. The
/// kustomizations above the install that cannot be read are added to `unreadable`.
fn generator(install: &Install, unreadable: &mut Vec<CannotTrace>) -> Option<Generator> {
    let mut best: Option<(PathBuf, String)> = None;
    for dir in install.dir.ancestors().skip(1) {
        if !dir.starts_with(&install.root) {
            break;
        }
        if let Some((file, line)) = model::present(dir).into_iter().find_map(|name| {
            let path = dir.join(name);
            let text = match model::read(&install.root, &path) {
                Ok(text) => text,
                Err(why) => {
                    unreadable.push(CannotTrace {
                        file: relative(&install.root, &path),
                        line: 1,
                        why: format!(
                            "cannot be read ({why}): whether it is a template cannot be told"
                        ),
                    });
                    return None;
                }
            };
            let line = text.lines().position(|l| l.contains("{{"))?;
            Some((path, line + 1))
        }) {
            best = Some((
                dir.to_path_buf(),
                format!(
                    "{}:{line} holds template delimiters",
                    relative(&install.root, &file)
                ),
            ));
        } else if dir.file_name().is_some_and(|n| n == "templates")
            && dir.parent().is_some_and(|p| {
                p.file_name().is_some_and(|n| n == "generator") || p.join("Chart.yaml").is_file()
            })
        {
            best = Some((
                dir.to_path_buf(),
                format!(
                    "{}/ is a generator's templates folder",
                    relative(&install.root, dir)
                ),
            ));
        }
        if dir == install.root {
            break;
        }
    }
    let (dir, why) = best?;
    // The generator's own files are those of its whole project: a `templates/` folder's parent.
    let project = if dir.file_name().is_some_and(|n| n == "templates") {
        dir.parent().map_or(dir.clone(), Path::to_path_buf)
    } else {
        dir.clone()
    };
    let skip = skip_for(install);
    let mut settings = Vec::new();
    walk::files(
        &project,
        |path, name| !PRUNED.contains(&name) && !skip.iter().any(|s| path.starts_with(s)),
        |path, _| {
            let Some(text) = read_bounded(path) else {
                return;
            };
            let shown = relative(&install.root, path);
            for (index, line) in text.lines().enumerate() {
                if MANAGED_KEYS.iter().any(|key| line.contains(key)) {
                    settings.push((shown.clone(), index + 1, line.trim().to_string()));
                }
            }
        },
    );
    settings.sort();
    Some(Generator {
        dir: relative(&install.root, &project),
        why,
        settings: settings
            .into_iter()
            .map(|(file, line, text)| format!("{}:{line}: {}", quoted(&file), quoted(&text)))
            .collect(),
    })
}

/// The sections `status` prints after the settings; empty when there is nothing around.
pub fn status_text(around: &Surroundings, install_mode: &str) -> String {
    let mut text = String::new();
    if !around.found.copies.is_empty() {
        text.push_str(
            "generated copies (not switched: regenerate them with the tool that made them):\n",
        );
        for copy in &around.found.copies {
            text.push_str(&format!(
                "  {}{}\n",
                copy.describe(),
                disagreement(copy, install_mode)
            ));
        }
    }
    if !around.found.remote.is_empty() {
        text.push_str("remote bases of KFP (kustomize fetches them; nothing to edit in place):\n");
        text.push_str(&remote_lines(&around.found.remote));
    }
    if let Some(generator) = &around.generator {
        text.push_str(&generator_text(generator));
    }
    text
}

/// `, disagrees with the install (on)` when it does.
fn disagreement(copy: &Copy, install_mode: &str) -> String {
    if copy.disagrees_with(install_mode) {
        format!(", disagrees with the install ({install_mode})")
    } else {
        String::new()
    }
}

/// The template generator section of `status` and `multiuser`.
pub fn generator_text(generator: &Generator) -> String {
    let mut text = format!(
        "template generator: {}/ ({}): the install is not deployed as it stands; the generator renders it first\n",
        quoted(&generator.dir),
        quoted(&generator.why)
    );
    if generator.settings.is_empty() {
        text.push_str("  no file of the generator sets a managed value\n");
    } else {
        text.push_str(
            "  the generator's own files set managed values (kfpatch does not switch them):\n",
        );
        for line in &generator.settings {
            text.push_str(&format!("    {line}\n"));
        }
    }
    text
}

/// What `multiuser on|off` prints after its plan: the copies it did not switch, and the
/// generator around the install.
pub fn plan_notes(around: &Surroundings) -> String {
    let mut text = String::new();
    for copy in &around.found.copies {
        text.push_str(&format!(
            "not switched: generated copy {}:{} (ConfigMap {}, MULTIUSER {}); regenerate it with the tool that made it\n",
            quoted(&copy.file),
            copy.line,
            quoted(&copy.object),
            quoted(&copy.value)
        ));
    }
    if let Some(generator) = &around.generator {
        text.push_str(&generator_text(generator));
    }
    text
}

/// A generated copy in JSON.
#[derive(Debug, Serialize)]
pub struct CopyJson {
    pub file: String,
    pub line: usize,
    pub object: String,
    pub value: String,
    /// `on`, `off`, `templated` or `invalid`.
    pub mode: &'static str,
    pub disagrees: bool,
}

/// A remote KFP base in JSON.
#[derive(Debug, Serialize)]
pub struct RemoteJson {
    file: String,
    line: usize,
    url: String,
    repository: String,
    path: String,
    #[serde(rename = "ref")]
    reference: Option<String>,
    /// The KFP version of a release ref; `null` for a commit, a branch or no ref.
    kfp_version: Option<String>,
}

/// A template generator in JSON.
#[derive(Debug, Serialize)]
pub struct GeneratorJson {
    dir: String,
    why: String,
    settings: Vec<String>,
}

pub fn copies_json(around: &Surroundings, install_mode: &str) -> Vec<CopyJson> {
    around
        .found
        .copies
        .iter()
        .map(|c| CopyJson {
            file: c.file.clone(),
            line: c.line,
            object: c.object.clone(),
            value: c.value.clone(),
            mode: match c.mode {
                CopyMode::On => "on",
                CopyMode::Off => "off",
                CopyMode::Templated => "templated",
                CopyMode::Invalid => "invalid",
            },
            disagrees: c.disagrees_with(install_mode),
        })
        .collect()
}

pub fn remote_json(remote: &[RemoteKfp]) -> Vec<RemoteJson> {
    remote
        .iter()
        .map(|r| RemoteJson {
            file: r.file.clone(),
            line: r.line,
            url: r.url.clone(),
            repository: r.repository.clone(),
            path: r.path.clone(),
            reference: r.reference.clone(),
            kfp_version: r
                .reference
                .as_deref()
                .and_then(|reference| kfp_of_ref(&r.repository, reference)),
        })
        .collect()
}

pub fn generator_json(around: &Surroundings) -> Option<GeneratorJson> {
    around.generator.as_ref().map(|g| GeneratorJson {
        dir: g.dir.clone(),
        why: g.why.clone(),
        settings: g.settings.clone(),
    })
}

/// A warning for each generated copy whose mode disagrees with the install's: deploying it (the
/// Helm chart, the pre-rendered file) undoes the switch.
pub fn copy_findings(around: &Surroundings, mode: &str) -> Vec<Finding> {
    around
        .found
        .copies
        .iter()
        .filter(|c| c.disagrees_with(mode))
        .map(|c| Finding {
            file: c.file.clone(),
            line: Some(c.line),
            column: None,
            severity: Severity::Warning,
            code: "generated-copy-disagrees",
            message: format!(
                "generated copy of ConfigMap {} has MULTIUSER {} ({}) while the install is {mode}: whoever deploys this copy gets the other mode",
                c.object,
                c.value,
                c.mode.word()
            ),
            fix: "regenerate it with the tool that made it (helm template, kustomize build) from the switched install".to_string(),
        })
        .collect()
}
