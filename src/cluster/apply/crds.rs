//! The CustomResourceDefinitions of a render against the cluster's: which of the cluster's copies
//! to keep, and waiting (bounded) for the ones the render uses to be Established.
//!
//! The API server refuses a CRD that drops a version it has stored objects in
//! (`status.storedVersions`), whether applied client-side or server-side (`spec.versions` is an
//! atomic list, replaced whole). A cluster with newer CRDs than the release (Istio's of a later
//! Kubeflow) therefore rejects the release's copies for ever; upstream's loop spins on it. When
//! the cluster's copy still serves every version the render's objects use, it is kept instead.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use yaml_serde::Value;

use crate::checkout::model::objects::Object;
use crate::cluster::programs::diagnose::{DROPS_STORED_VERSION, bound, brief};
use crate::cluster::programs::kubectl::Kubectl;
use crate::error::{Failure, Result};
use crate::output::count;
use crate::output::progress::Progress;

/// Every CRD, as the API server lists them: kubectl's `-o json` or `-o jsonpath` of the same list
/// costs more than the API server's answer (the CRDs' schemas are large).
pub const CRDS_PATH: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

/// Between two looks at CRDs not yet Established.
const POLL: Duration = Duration::from_millis(500);

/// What the cluster says of one CRD.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrdState {
    pub stored: Vec<String>,
    pub served: Vec<String>,
    pub conditions: Vec<Condition>,
    /// When it was created, and when its Established condition turned True (`None` until
    /// then): seconds since 1970 by the API server's clock, rounded down.
    pub created: Option<i64>,
    pub established: Option<i64>,
}

/// One entry of a CRD's `status.conditions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub kind: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

impl Condition {
    /// `Established False, InvalidCABundle: The conversion webhook CABundle is invalid`.
    pub fn describe(&self) -> String {
        let mut text = format!("{} {}", self.kind, self.status);
        if !self.reason.is_empty() {
            text.push_str(&format!(", {}", self.reason));
        }
        if !self.message.is_empty() {
            text.push_str(&format!(": {}", self.message));
        }
        bound(&text)
    }
}

impl CrdState {
    fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// `None` when Established; else why not, in the cluster's words (a refused name first,
    /// since it keeps the CRD from ever being Established).
    pub fn not_established(&self) -> Option<String> {
        if self
            .condition("Established")
            .is_some_and(|c| c.status == "True")
        {
            return None;
        }
        let failing = ["NamesAccepted", "Established"]
            .iter()
            .filter_map(|kind| self.condition(kind))
            .find(|c| c.status != "True");
        Some(match failing {
            Some(c) => c.describe(),
            None => "no Established condition reported yet".to_string(),
        })
    }
}

/// The state of each CRD of a CRD list (`kubectl get --raw` of [`CRDS_PATH`]), by name.
pub fn states_of(list: &serde_json::Value) -> BTreeMap<String, CrdState> {
    use serde_json::Value as Json;
    let text = |v: Option<&Json>| v.and_then(Json::as_str).unwrap_or_default().to_string();
    let items = list.get("items").and_then(Json::as_array);
    let mut states = BTreeMap::new();
    for crd in items.into_iter().flatten() {
        let name = text(crd.pointer("/metadata/name"));
        if name.is_empty() {
            continue;
        }
        let array = |pointer: &str| {
            crd.pointer(pointer)
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default()
        };
        states.insert(
            name,
            CrdState {
                stored: array("/status/storedVersions")
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                served: array("/spec/versions")
                    .iter()
                    .filter(|v| v.get("served").and_then(Json::as_bool) == Some(true))
                    .map(|v| text(v.get("name")))
                    .collect(),
                created: seconds(&text(crd.pointer("/metadata/creationTimestamp"))),
                established: array("/status/conditions")
                    .iter()
                    .find(|c| {
                        text(c.get("type")) == "Established" && text(c.get("status")) == "True"
                    })
                    .and_then(|c| seconds(&text(c.get("lastTransitionTime")))),
                conditions: array("/status/conditions")
                    .iter()
                    .map(|c| Condition {
                        kind: text(c.get("type")),
                        status: text(c.get("status")),
                        reason: text(c.get("reason")),
                        message: text(c.get("message")),
                    })
                    .collect(),
            },
        );
    }
    states
}

/// Seconds since 1970 of an API server timestamp (`2024-05-01T12:00:00Z`, the only form
/// Kubernetes writes object times in).
fn seconds(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let field = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (field(0..4)?, field(5..7)?, field(8..10)?);
    let (hour, minute, second) = (field(11..13)?, field(14..16)?, field(17..19)?);
    if !(1..=12).contains(&month) || b[13] != b':' || b[16] != b':' {
        return None;
    }
    // Days from the civil date (March-based years put the leap day last).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// The cluster's state of the CRDs named (those it does not have are left out). One list of
/// every CRD: kubectl asks for named objects one request at a time (77 for Kubeflow 1.8.1), a
/// list is one request.
pub fn read_states(
    kubectl: &Kubectl,
    names: &[&str],
    deadline: Instant,
    progress: &mut Progress<'_>,
) -> Result<BTreeMap<String, CrdState>> {
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let ran = kubectl.run(&["get", "--raw", CRDS_PATH], None, deadline, &mut || {
        progress.tick()
    })?;
    if !ran.success() {
        return Err(Failure::cluster(format!(
            "cannot read the cluster's CustomResourceDefinitions: {}",
            brief(&ran.stderr)
        )));
    }
    let list: serde_json::Value = serde_json::from_str(&ran.stdout).map_err(|e| {
        Failure::cluster(format!(
            "kubectl get --raw {CRDS_PATH} printed something unreadable: {e}"
        ))
    })?;
    let mut states = states_of(&list);
    states.retain(|name, _| names.contains(&name.as_str()));
    Ok(states)
}

/// A CRD of the render that the cluster's copy replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub name: String,
    /// Stored versions the render's copy lacks.
    pub dropped: Vec<String>,
    /// The versions the render's objects of its kind use.
    pub used: Vec<String>,
    /// How many objects of the render are of its kind.
    pub users: usize,
}

/// A CRD of the render that the cluster refuses, and whose copy on the cluster cannot serve the
/// render either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub name: String,
    pub dropped: Vec<String>,
    /// Versions the render uses that the cluster's copy does not serve.
    pub not_served: Vec<String>,
    pub users: usize,
}

/// The render's CRDs that the cluster's copies stand in for, and those that cannot be applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    pub kept: Vec<Kept>,
    pub refused: Vec<Refused>,
}

fn versions_of(crd: &Object) -> BTreeSet<String> {
    crd.value
        .get("spec")
        .and_then(|s| s.get("versions"))
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// For each CRD of the render that the cluster has: would applying it drop a stored version
/// (the API server refuses that), and if so, does the cluster's copy serve what the render uses?
pub fn decide(objects: &[Object], states: &BTreeMap<String, CrdState>) -> Decisions {
    let mut decisions = Decisions::default();
    for crd in objects.iter().filter(|o| o.is_crd()) {
        let (Some(state), Some(defines)) = (states.get(&crd.name), crd.defines()) else {
            continue;
        };
        let listed = versions_of(crd);
        let dropped: Vec<String> = state
            .stored
            .iter()
            .filter(|v| !listed.contains(*v))
            .cloned()
            .collect();
        if dropped.is_empty() {
            continue;
        }
        let users: Vec<&Object> = objects
            .iter()
            .filter(|o| o.group_kind() == defines)
            .collect();
        let used: BTreeSet<String> = users
            .iter()
            .map(|o| {
                o.api_version
                    .rsplit_once('/')
                    .map_or(o.api_version.as_str(), |(_, v)| v)
                    .to_string()
            })
            .collect();
        let not_served: Vec<String> = used
            .iter()
            .filter(|v| !state.served.contains(v))
            .cloned()
            .collect();
        if not_served.is_empty() {
            decisions.kept.push(Kept {
                name: crd.name.clone(),
                dropped,
                used: used.into_iter().collect(),
                users: users.len(),
            });
        } else {
            decisions.refused.push(Refused {
                name: crd.name.clone(),
                dropped,
                not_served,
                users: users.len(),
            });
        }
    }
    decisions
}

impl Kept {
    /// `destinationrules.networking.istio.io: stored v1, which the render's copy lacks; ...`.
    pub fn line(&self) -> String {
        let uses = match self.users {
            0 => "no object of the render uses it".to_string(),
            1 => format!(
                "serves {}, which 1 object of the render uses",
                self.used.join(", ")
            ),
            n => format!(
                "serves {}, which {n} objects of the render use",
                self.used.join(", ")
            ),
        };
        format!(
            "{}: stored {}, {DROPS_STORED_VERSION}; {uses}",
            self.name,
            self.dropped.join(", ")
        )
    }
}

impl Refused {
    pub fn line(&self) -> String {
        format!(
            "{}: stored {}, {DROPS_STORED_VERSION}; {} of the render {} {}, which the cluster's copy does not serve",
            self.name,
            self.dropped.join(", "),
            count(self.users, "object"),
            if self.users == 1 { "uses" } else { "use" },
            self.not_served.join(", ")
        )
    }
}

/// The CRDs left as the cluster has them, one line each; empty when there are none.
pub fn kept_summary(kept: &[Kept]) -> String {
    if kept.is_empty() {
        return String::new();
    }
    let mut text = format!(
        "kept:    {} as they are on the cluster, newer than the render's copies (which the API server would refuse):\n",
        count(kept.len(), "CRD")
    );
    for k in kept {
        text.push_str(&format!("  {}\n", k.line()));
    }
    text
}

/// What to do when the cluster's CRDs are newer than the render's and cannot be kept.
pub const NEWER_CRDS_ADVICE: &str = "render the release that matches the cluster's CRDs, or delete these CRDs first (kubectl delete crd NAME; that deletes every object of their kinds) and run again; server-side apply does not help: it replaces spec.versions whole";

/// The error for CRDs that can be neither applied nor kept.
pub fn refused_message(refused: &[Refused]) -> String {
    let lines: Vec<String> = refused.iter().map(|r| format!("  {}", r.line())).collect();
    format!(
        "the cluster has newer CRDs than this render, and the API server refuses an older copy that drops a version it has stored objects in; nothing was applied:\n{}\n{NEWER_CRDS_ADVICE}",
        lines.join("\n")
    )
}

/// What [`wait_established`] saw last.
struct Waited {
    /// The CRDs not Established, with why.
    pending: Vec<(String, String)>,
    waited: Duration,
    states: BTreeMap<String, CrdState>,
}

/// Polls the CRDs named until each is Established or `limit` passes.
fn wait_established(
    kubectl: &Kubectl,
    names: &[&str],
    limit: Duration,
    progress: &mut Progress<'_>,
) -> Result<Waited> {
    let started = Instant::now();
    let end = started + limit;
    progress.label(&format!(
        "waiting for {} to be Established",
        count(names.len(), "CRD")
    ));
    loop {
        let states = read_states(
            kubectl,
            names,
            Instant::now().max(end) + Duration::from_secs(10),
            progress,
        )?;
        let pending: Vec<(String, String)> = names
            .iter()
            .filter_map(|name| {
                let why = match states.get(*name) {
                    Some(state) => state.not_established()?,
                    None => "not on the cluster".to_string(),
                };
                Some((name.to_string(), why))
            })
            .collect();
        if pending.is_empty() || Instant::now() + POLL >= end {
            return Ok(Waited {
                pending,
                waited: started.elapsed(),
                states,
            });
        }
        let until = Instant::now() + POLL;
        while Instant::now() < until {
            progress.tick();
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// How long to wait for the CRDs a step uses to be Established, at most. Never more than half the
/// time left either, so that a CRD that cannot become Established still leaves time to apply the
/// objects that do not need it.
pub const CRD_WAIT: Duration = Duration::from_secs(60);

/// An object not applied because its CRD is not Established.
#[derive(Debug, Clone)]
pub struct Unready<'a> {
    pub object: &'a Object,
    pub crd: String,
    /// The failing condition, as the cluster states it.
    pub why: String,
    /// cert-manager's cainjector fills in the CRD's conversion webhook CA bundle.
    pub ca_injected: bool,
}

/// The API server holds the create of a custom resource for 2 s when its CRD became Established
/// less than 2 s before, by the time it records (rounded down to the second): apiextensions'
/// guard for API servers that learn of a new CRD at different times. One such create is enough
/// to add 2 s to a step. Waiting out that window instead never ends later than the hold would.
const CREATE_HOLD: Duration = Duration::from_secs(2);

/// CRDs that this apply created (the cluster did not have them before), and when the step that
/// sent them ended.
#[derive(Debug, Clone)]
pub struct Created<'a> {
    pub names: BTreeSet<&'a str>,
    pub by: Instant,
}

impl Created<'_> {
    /// When the API server stops holding creates of custom resources of the CRDs named, at the
    /// latest, whatever the two clocks say. Its window ends 2 s after the latest recorded
    /// Established time L of those CRDs. Each CRD created was created before `by`, and its
    /// recorded creation time is rounded down: at `by` the API server's clock has passed the
    /// latest one, C, so L + 2 s comes at most L + 2 s - C after `by`.
    fn hold_ends(&self, names: &[&str], states: &BTreeMap<String, CrdState>) -> Option<Instant> {
        let state = |name: &&str| states.get(*name);
        let latest_established = names
            .iter()
            .filter(|name| self.names.contains(*name))
            .filter_map(|name| state(name)?.established)
            .max()?;
        let latest_created = self.names.iter().filter_map(|n| state(n)?.created).max()?;
        let after = latest_established - latest_created + CREATE_HOLD.as_secs() as i64;
        u64::try_from(after)
            .ok()
            .map(|after| self.by + Duration::from_secs(after))
    }
}

/// Waits for the CRDs of `objects` (the render) that `custom` (a step's objects) need, and says
/// so in one line per outcome, labelled `step`; then, for CRDs this apply `created`, for the end
/// of the API server's hold on creates ([`CREATE_HOLD`]). Returns the objects that can be
/// applied and those whose CRD did not become Established in time.
pub fn wait_for_step<'a>(
    kubectl: &Kubectl,
    step: &str,
    objects: &[Object],
    custom: &[&'a Object],
    created: Option<&Created<'_>>,
    deadline: Instant,
    progress: &mut Progress<'_>,
) -> Result<(Vec<&'a Object>, Vec<Unready<'a>>)> {
    let crds: Vec<&Object> = objects.iter().filter(|o| o.is_crd()).collect();
    let crd_of = |o: &Object| {
        let gk = o.group_kind();
        crds.iter()
            .copied()
            .find(|c| c.defines() == Some(gk.clone()))
    };
    let mut names: Vec<&str> = Vec::new();
    for o in custom {
        if let Some(crd) = crd_of(o)
            && !names.contains(&crd.name.as_str())
        {
            names.push(&crd.name);
        }
    }
    let limit = (deadline.saturating_duration_since(Instant::now()) / 2).min(CRD_WAIT);
    let Waited {
        pending,
        waited,
        states,
    } = wait_established(kubectl, &names, limit, progress)?;
    let hold_ends = created.and_then(|c| c.hold_ends(&names, &states));
    if let Some(until) = hold_ends.filter(|until| *until < deadline) {
        progress.label("waiting for the API server to take custom resources of new CRDs");
        while Instant::now() < until {
            progress.tick();
            std::thread::sleep(
                Duration::from_millis(20).min(until.saturating_duration_since(Instant::now())),
            );
        }
    }
    if pending.is_empty() {
        let others = crds.len() - names.len();
        let these = match names.len() {
            1 => "the CRD it uses is Established".to_string(),
            n => format!("the {n} CRDs it uses are Established"),
        };
        let line = match others {
            0 => format!("{step}: {these}"),
            n => format!(
                "{step}: {these} (not waiting for the {n} other{})",
                if n == 1 { "" } else { "s" }
            ),
        };
        progress.line(&line)?;
        return Ok((custom.to_vec(), Vec::new()));
    }
    for (name, why) in &pending {
        progress.line(&format!(
            "{step}: not Established after {:.1} s: CRD {name} ({why})",
            waited.as_secs_f64()
        ))?;
    }
    let mut ready = Vec::new();
    let mut unready = Vec::new();
    for o in custom {
        let crd = crd_of(o);
        let failed = crd.and_then(|c| pending.iter().find(|(name, _)| *name == c.name));
        match (crd, failed) {
            (Some(crd), Some((name, why))) => unready.push(Unready {
                object: o,
                crd: name.clone(),
                why: why.clone(),
                ca_injected: crd
                    .value
                    .get("metadata")
                    .and_then(|m| m.get("annotations"))
                    .and_then(|a| a.get("cert-manager.io/inject-ca-from"))
                    .is_some(),
            }),
            _ => ready.push(*o),
        }
    }
    Ok((ready, unready))
}

/// The error for objects left out because their CRD is not Established: one line per CRD (the
/// object, or how many of its kind), and what to do when cert-manager injects its CA bundle.
pub fn unready_message(unready: &[Unready<'_>]) -> String {
    let mut by_crd: Vec<(&str, Vec<&Unready<'_>>)> = Vec::new();
    for u in unready {
        match by_crd.iter_mut().find(|(name, _)| *name == u.crd) {
            Some((_, list)) => list.push(u),
            None => by_crd.push((&u.crd, vec![u])),
        }
    }
    let mut lines: Vec<String> = by_crd
        .iter()
        .map(|(name, list)| {
            let what = match list.as_slice() {
                [one] => one.object.shown(),
                many => format!("{} {} objects", many.len(), many[0].object.kind),
            };
            format!("  {what}: CRD {name}: {}", list[0].why)
        })
        .collect();
    let injected: Vec<&str> = by_crd
        .iter()
        .filter(|(_, list)| list[0].ca_injected)
        .map(|(name, _)| *name)
        .collect();
    if !injected.is_empty() {
        lines.push(format!(
            "cert-manager's cainjector fills in the conversion webhook's CA bundle of {} (annotation cert-manager.io/inject-ca-from); run kfpatch reinstall again once cert-manager runs",
            injected.join(", ")
        ));
    }
    let head = match unready.len() {
        1 => "1 object was not applied: its CRD is not Established".to_string(),
        n => format!("{n} objects were not applied: their CRDs are not Established"),
    };
    format!("{head}:\n{}", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkout::model::objects::split;

    /// A CRD list as the test API server gives it (`get --raw`), cut to the fields read: the kit's
    /// VirtualService CRD, a kserve CRD whose conversion webhook has no CA bundle yet, and one
    /// just applied (no status yet).
    const STATES: &str = r#"{"kind":"CustomResourceDefinitionList","apiVersion":"apiextensions.k8s.io/v1","items":[{"metadata":{"name":"virtualservices.networking.istio.io"},"spec":{"versions":[{"name":"v1","served":true},{"name":"v1alpha3","served":true},{"name":"v1beta1","served":true},{"name":"v1alpha1","served":false}]},"status":{"storedVersions":["v1"],"conditions":[{"lastTransitionTime":"2026-11-30T09:18:59Z","message":"no conflicts found","reason":"NoConflicts","status":"True","type":"NamesAccepted"},{"lastTransitionTime":"2026-11-30T09:18:59Z","message":"the initial names have been accepted","reason":"InitialNamesAccepted","status":"True","type":"Established"}]}},{"metadata":{"name":"inferenceservices.serving.kserve.io"},"spec":{"versions":[{"name":"v1beta1","served":true}]},"status":{"storedVersions":["v1beta1"],"conditions":[{"lastTransitionTime":"2026-11-30T09:15:21Z","message":"no conflicts found","reason":"NoConflicts","status":"True","type":"NamesAccepted"},{"lastTransitionTime":"2026-11-30T09:15:21Z","message":"The conversion webhook CABundle is invalid","reason":"InvalidCABundle","status":"False","type":"Established"}]}},{"metadata":{"name":"just.applied.example.com"},"spec":{"versions":[{"name":"v1","served":true}]}}]}"#;

    const RENDER: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: virtualservices.networking.istio.io\nspec:\n  group: networking.istio.io\n  names:\n    kind: VirtualService\n  versions:\n  - name: v1alpha3\n  - name: v1beta1\n---\napiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata:\n  name: ui\n---\napiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata:\n  name: api\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: sidecars.networking.istio.io\nspec:\n  group: networking.istio.io\n  names:\n    kind: Sidecar\n  versions:\n  - name: v1alpha3\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: inferenceservices.serving.kserve.io\nspec:\n  group: serving.kserve.io\n  names:\n    kind: InferenceService\n  versions:\n  - name: v1beta1\n";

    #[test]
    fn states_and_why_a_crd_is_not_established() {
        let states = states_of(&serde_json::from_str(STATES).unwrap());
        assert_eq!(states.len(), 3);
        let vs = &states["virtualservices.networking.istio.io"];
        assert_eq!(vs.stored, ["v1"]);
        assert_eq!(vs.served, ["v1", "v1alpha3", "v1beta1"]);
        assert_eq!(vs.not_established(), None);
        assert_eq!(
            states["inferenceservices.serving.kserve.io"]
                .not_established()
                .as_deref(),
            Some("Established False, InvalidCABundle: The conversion webhook CABundle is invalid")
        );
        assert_eq!(
            states["just.applied.example.com"]
                .not_established()
                .as_deref(),
            Some("no Established condition reported yet")
        );
        let refused_name = CrdState {
            conditions: vec![Condition {
                kind: "NamesAccepted".into(),
                status: "False".into(),
                reason: "NameConflict".into(),
                message: "\"vs\" is already in use".into(),
            }],
            ..CrdState::default()
        };
        assert_eq!(
            refused_name.not_established().as_deref(),
            Some("NamesAccepted False, NameConflict: \"vs\" is already in use")
        );
    }

    #[test]
    fn a_newer_crd_is_kept_when_it_serves_what_the_render_uses() {
        let objects = split(RENDER).unwrap();
        let mut states = states_of(&serde_json::from_str(STATES).unwrap());
        let sidecars = CrdState {
            stored: vec!["v1".into()],
            served: vec!["v1".into()],
            ..CrdState::default()
        };
        states.insert("sidecars.networking.istio.io".into(), sidecars);
        let decisions = decide(&objects, &states);
        assert!(decisions.refused.is_empty());
        let lines: Vec<String> = decisions.kept.iter().map(Kept::line).collect();
        assert_eq!(
            lines,
            [
                "virtualservices.networking.istio.io: stored v1, which the render's copy lacks; serves v1alpha3, v1beta1, which 2 objects of the render use",
                "sidecars.networking.istio.io: stored v1, which the render's copy lacks; no object of the render uses it",
            ]
        );

        // The cluster's copy no longer serves v1alpha3: neither copy can serve the render.
        states
            .get_mut("virtualservices.networking.istio.io")
            .unwrap()
            .served = vec!["v1".into(), "v1beta1".into()];
        let decisions = decide(&objects, &states);
        assert_eq!(decisions.kept.len(), 1);
        assert_eq!(
            refused_message(&decisions.refused),
            format!(
                "the cluster has newer CRDs than this render, and the API server refuses an older copy that drops a version it has stored objects in; nothing was applied:\n  virtualservices.networking.istio.io: stored v1, which the render's copy lacks; 2 objects of the render use v1alpha3, which the cluster's copy does not serve\n{NEWER_CRDS_ADVICE}"
            )
        );
    }

    #[test]
    fn objects_whose_crd_is_not_established_grouped_by_crd() {
        let objects = split(RENDER).unwrap();
        let unready = |i: usize, crd: &str, ca_injected: bool| Unready {
            object: &objects[i],
            crd: crd.to_string(),
            why: "Established False, InvalidCABundle: The conversion webhook CABundle is invalid"
                .to_string(),
            ca_injected,
        };
        assert_eq!(
            unready_message(&[unready(1, "a.example.com", false)]),
            "1 object was not applied: its CRD is not Established:\n  VirtualService/ui: CRD a.example.com: Established False, InvalidCABundle: The conversion webhook CABundle is invalid"
        );
        assert_eq!(
            unready_message(&[
                unready(1, "a.example.com", true),
                unready(2, "a.example.com", true)
            ]),
            "2 objects were not applied: their CRDs are not Established:\n  2 VirtualService objects: CRD a.example.com: Established False, InvalidCABundle: The conversion webhook CABundle is invalid\ncert-manager's cainjector fills in the conversion webhook's CA bundle of a.example.com (annotation cert-manager.io/inject-ca-from); run kfpatch reinstall again once cert-manager runs"
        );
    }

    #[test]
    fn api_server_times() {
        assert_eq!(seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(seconds("2000-03-01T00:00:01Z"), Some(951_868_801));
        assert_eq!(seconds("2026-12-31T23:59:59Z"), Some(1_798_761_599));
        for bad in [
            "",
            "2026-12-31 23:59:59Z",
            "2026-12-31T23:59:59",
            "2026-13-01T00:00:00Z",
        ] {
            assert_eq!(seconds(bad), None, "{bad}");
        }
        assert_eq!(seconds("2026-1x-01T00:00:00Z"), None);
    }

    #[test]
    fn the_hold_on_new_crds_ends_two_seconds_after_the_latest_established() {
        let state = |created, established| CrdState {
            created: Some(created),
            established,
            ..CrdState::default()
        };
        let states: BTreeMap<String, CrdState> = [
            ("a.example.com", state(100, Some(100))),
            ("b.example.com", state(101, Some(104))),
            ("c.example.com", state(102, None)),
            ("old.example.com", state(1, Some(1))),
        ]
        .into_iter()
        .map(|(name, s)| (name.to_string(), s))
        .collect();
        let by = Instant::now();
        let created = Created {
            names: ["a.example.com", "b.example.com", "c.example.com"].into(),
            by,
        };
        // At `by` the API server's clock is past 102, the latest creation.
        assert_eq!(created.hold_ends(&["a.example.com"], &states), Some(by));
        assert_eq!(
            created.hold_ends(&["a.example.com", "b.example.com"], &states),
            Some(by + Duration::from_secs(4))
        );
        // Not created by this apply, or not Established: no hold to wait for.
        assert_eq!(created.hold_ends(&["old.example.com"], &states), None);
        assert_eq!(created.hold_ends(&["c.example.com"], &states), None);
        let late = Created {
            names: ["a.example.com", "old.example.com"].into(),
            by,
        };
        assert_eq!(late.hold_ends(&["old.example.com"], &states), None);
    }
}
