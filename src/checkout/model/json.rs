//! `deploying` in `status -o json` (docs/status.schema.json): one entry per kustomization of the
//! checkout whose build includes the install (every such folder, not only the outermost;
//! never the install's folder or one below it), sorted by `kustomization`, the folder relative
//! to the checkout root.
//!
//! The contract: `effective` has one entry per entry of `settings`, in the same order, with the
//! same `row` and `setting` strings; its `state` and `value` are what `kubectl kustomize` of that
//! folder gives the cluster, decoded as `render -o json` decodes a render (`literal`, `absent`,
//! `value-from`, `missing`), or `cannot-trace` (value `null`) wherever the offline model meets
//! what it cannot evaluate: a plugin, a file it cannot read or parse, a missing file, a remote
//! base, a construct it does not implement, or a build kustomize would refuse. Each such cause
//! is in `cannot_trace` with its file and line. `from` is the `file:line` that last decided the
//! value, when known. A traced value that differs from kustomize's render is a bug.

use serde::Serialize;

use super::CannotTrace;
use super::deploying::{Deploying, json_value};

#[derive(Debug, Serialize)]
pub struct DeployingJson {
    pub kustomization: String,
    pub effective: Vec<EffectiveJson>,
    pub cannot_trace: Vec<CannotTrace>,
}

#[derive(Debug, Serialize)]
pub struct EffectiveJson {
    pub row: u8,
    pub setting: String,
    pub state: &'static str,
    pub value: Option<String>,
    pub from: Option<String>,
}

impl DeployingJson {
    pub fn of(d: &Deploying) -> DeployingJson {
        DeployingJson {
            kustomization: d.shown.clone(),
            effective: d
                .effective
                .iter()
                .map(|e| {
                    let (state, value) = json_value(e);
                    EffectiveJson {
                        row: e.setting.row,
                        setting: e.setting.name(),
                        state,
                        value,
                        from: e.from.clone(),
                    }
                })
                .collect(),
            cannot_trace: d.cannot_trace.to_vec(),
        }
    }
}
