//! One kustomization compared: kfpatch's `deploying` entry against the settings decoded from
//! `kubectl kustomize`'s render (the decoder is kfpatch's own `checkout::model::decode`, which is not what
//! is under test: the model that predicts the render is).

use std::collections::BTreeMap;

use kfpatch::checkout::catalogue::CATALOGUE;
use kfpatch::checkout::model::objects::Rendered;
use serde_json::Value;

/// What kustomize built for one kustomization: each catalogue row decoded, or its error.
pub type Built = Result<Vec<Rendered>, String>;

/// `(state, value)` as the contract spells a rendered value.
pub fn spelled(r: &Rendered) -> (&'static str, Option<&str>) {
    match r {
        Rendered::Literal(v) => ("literal", Some(v)),
        Rendered::ValueFrom(from) => ("value-from", Some(from)),
        Rendered::Absent => ("absent", None),
        Rendered::Missing(why) => ("missing", Some(why)),
    }
}

fn shown(state: &str, value: Option<&str>) -> String {
    match value {
        Some(v) => format!("{state} {v:?}"),
        None => state.to_string(),
    }
}

/// Counts of one comparison.
#[derive(Default)]
pub struct Tally {
    pub settings: usize,
    pub cannot_trace_allowed: usize,
    pub unbuildable: usize,
    /// Settings kfpatch says it cannot trace where kustomize builds them: imprecise, and allowed
    /// by the rule (the value, or "cannot trace"), but counted and shown so that a model
    /// that gives up too often is seen.
    pub needless_cannot_trace: Vec<String>,
}

/// Compares kfpatch's `entry` for kustomization `dir` with `built`. `untraceable_reached`: the
/// build reads a plugin's configuration or a YAML file with a repeated key (which kustomize
/// accepts), where kfpatch may say it cannot trace. Returns the
/// disagreements, one line each.
pub fn compare(
    dir: &str,
    entry: &Value,
    built: &Built,
    untraceable_reached: bool,
    tally: &mut Tally,
) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(rows) = entry.get("effective").and_then(Value::as_array) else {
        return vec![format!(
            "{dir}: the 'deploying' entry has no 'effective' list"
        )];
    };
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    let mut kfpatch: Vec<(usize, &str, Option<&str>, Option<&str>)> = Vec::new();
    for row in rows {
        let number = row.get("row").and_then(Value::as_u64).unwrap_or(0) as usize;
        let setting = row.get("setting").and_then(Value::as_str).unwrap_or("?");
        let Some(index) = CATALOGUE
            .iter()
            .position(|s| usize::from(s.row) == number && s.name() == setting)
        else {
            problems.push(format!(
                "{dir}: 'effective' has row {number} {setting:?}, which is no catalogue setting"
            ));
            continue;
        };
        *seen.entry(index).or_default() += 1;
        let state = row.get("state").and_then(Value::as_str).unwrap_or("?");
        let value = row.get("value").and_then(Value::as_str);
        let from = row.get("from").and_then(Value::as_str);
        kfpatch.push((index, state, value, from));
    }
    for (index, setting) in CATALOGUE.iter().enumerate() {
        match seen.get(&index) {
            Some(1) => {}
            Some(n) => problems.push(format!(
                "{dir}: 'effective' gives row {} {} {n} times",
                setting.row,
                setting.name()
            )),
            None => problems.push(format!(
                "{dir}: 'effective' has no row {} {}",
                setting.row,
                setting.name()
            )),
        }
    }
    let traced_at = |from: Option<&str>| from.map(|f| format!(" (from {f})")).unwrap_or_default();
    match built {
        Err(error) => {
            tally.unbuildable += 1;
            for (index, state, value, from) in &kfpatch {
                if *state != "cannot-trace" {
                    let s = &CATALOGUE[*index];
                    problems.push(format!(
                        "{dir}: FALSE ALL-CLEAR: kustomize cannot build it ({}), kfpatch traces row {} {} = {}{}",
                        first_line(error),
                        s.row,
                        s.name(),
                        shown(state, *value),
                        traced_at(*from)
                    ));
                }
            }
        }
        Ok(decoded) => {
            for (index, state, value, from) in &kfpatch {
                let s = &CATALOGUE[*index];
                let (want_state, want_value) = spelled(&decoded[*index]);
                tally.settings += 1;
                if *state == "cannot-trace" {
                    if untraceable_reached {
                        tally.cannot_trace_allowed += 1;
                    } else {
                        tally.needless_cannot_trace.push(format!(
                            "{dir}: NEEDLESS CANNOT-TRACE: row {} {}: kustomize builds it and gives {}",
                            s.row,
                            s.name(),
                            shown(want_state, want_value)
                        ));
                    }
                    continue;
                }
                // A missing object's reason is prose: the state is the fact.
                let agrees =
                    *state == want_state && (want_state == "missing" || *value == want_value);
                if !agrees {
                    problems.push(format!(
                        "{dir}: DIFFERS: row {} {}: kfpatch {}{}, kustomize {}",
                        s.row,
                        s.name(),
                        shown(state, *value),
                        traced_at(*from),
                        shown(want_state, want_value)
                    ));
                }
            }
        }
    }
    problems
}

/// The first line of kustomize's error that says something (warnings left out).
pub fn first_line(error: &str) -> String {
    let mut lines = error
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("# Warning") && !l.contains("log.go"));
    let line = lines.next().unwrap_or("(no message)");
    let line = match line.split_once("err=") {
        // `err=<` opens a block: the message is on the lines after it.
        Some((_, "<")) => lines.next().unwrap_or(line),
        Some((_, rest)) => rest,
        None => line,
    };
    line.chars().take(300).collect()
}
