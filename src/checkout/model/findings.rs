//! What `status` and `audit` say of the deploying kustomizations: every cause the model cannot
//! trace (a finding `cannot-trace`, pointing to `render`), and every setting a deploying
//! kustomization gives the cluster at the other mode's value (`deployed-value-differs`).

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::deploying::{Deploying, Effective};
use crate::checkout::catalogue::{Mode, show_value};
use crate::checkout::lint::finding::{Finding, Severity};
use crate::checkout::model::decode::{self, Decoded};
use crate::checkout::version::Version;

/// A `cannot-trace` finding for each kustomization file that cannot be read.
pub fn unreadable(files: &[super::CannotTrace]) -> Vec<Finding> {
    files
        .iter()
        .map(|c| Finding {
            file: c.file.clone(),
            line: None,
            column: None,
            severity: Severity::Error,
            code: "cannot-trace",
            message: c.why.clone(),
            fix: "make it a regular file, or remove it".to_string(),
        })
        .collect()
}

/// What `status` and `audit` say of the deploying kustomizations: the files that cannot be read,
/// then [`findings`].
pub fn all(
    unreadable_files: &[super::CannotTrace],
    deploying: &[Deploying],
    want: Option<(Mode, &str)>,
    version: Option<&Version>,
) -> Vec<Finding> {
    let mut said = unreadable(unreadable_files);
    said.extend(findings(deploying, want, version));
    said
}

/// The findings, once per file and line.
/// `want`: the mode, and who wants it (`--expect`, `the files`).
pub fn findings(
    deploying: &[Deploying],
    want: Option<(Mode, &str)>,
    version: Option<&Version>,
) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let mut said = HashSet::new();
    let mut push = |f: Finding| {
        if said.insert((f.file.clone(), f.line, f.code, f.message.clone())) {
            out.push(f);
        }
    };
    // Kustomizations whose builds give the same rows (the levels of a chain of overlays) share
    // them: which of them differ is decided once.
    type Differing = (Rc<[Effective]>, Vec<(Decoded, usize)>);
    let mut differing: HashMap<*const Effective, Differing> = HashMap::new();
    for d in deploying {
        for c in d.cannot_trace.iter() {
            push(Finding {
                file: c.file.clone(),
                line: Some(c.line),
                column: Some(1),
                severity: Severity::Error,
                code: "cannot-trace",
                message: format!(
                    "{}: kfpatch cannot tell offline what the cluster gets from {}",
                    c.why, d.shown
                ),
                fix: format!(
                    "run kfpatch render --target {} to see what kustomize renders",
                    d.shown
                ),
            });
        }
        let Some((want, wanted_by)) = want else {
            continue;
        };
        let (_, rows) = differing
            .entry(Rc::as_ptr(&d.effective).cast())
            .or_insert_with(|| {
                let rows = d.decoded().unwrap_or_default();
                let differ = rows
                    .into_iter()
                    .zip(0..)
                    .filter(|(row, i)| {
                        // kfpatch's own overlays switch the mode on purpose (audit reports them
                        // as overlays).
                        !d.effective[*i].by_kfpatch_overlay
                            && decode::counts(row, version)
                            && row.mode() == Some(want.other())
                    })
                    .collect();
                (d.effective.clone(), differ)
            });
        for (row, i) in rows.iter() {
            let e = &d.effective[*i];
            let (file, line) = match e.from.as_deref().and_then(|f| f.rsplit_once(':')) {
                Some((file, line)) => (file.to_string(), line.parse().ok()),
                None => (format!("{}/kustomization.yaml", d.shown), None),
            };
            push(Finding {
                file,
                line,
                column: line.map(|_| 1),
                severity: Severity::Error,
                code: "deployed-value-differs",
                message: format!(
                    "{} builds {} as {}, the {} value; {wanted_by} {}",
                    d.shown,
                    row.setting.name(),
                    row.shown(),
                    if want == Mode::On {
                        "single-user"
                    } else {
                        "multi-user"
                    },
                    want.word()
                ),
                fix: format!(
                    "set it to {} here, or run kfpatch render --target {} to see the whole build",
                    show_value(row.setting.value_in(want)),
                    d.shown
                ),
            });
        }
    }
    out
}
