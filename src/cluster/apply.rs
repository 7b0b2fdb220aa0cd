//! Applying rendered objects to a cluster, in an order that does not need a retry loop.
//!
//! Upstream's install is `while ! kustomize build | kubectl apply -f -; do sleep 10; done`
//! (its README): it re-renders every time and spins forever on an error that cannot heal. Here the
//! objects are split once into three steps: Namespaces and CRDs; the objects that need no CRD of
//! the render; then the custom resources of the render's CRDs, after waiting (bounded) for just
//! the CRDs they use. A CRD that does not become Established fails only the objects of its kind.
//! Before anything is sent, the cluster's discovery is compared with the render, so a kind that
//! nothing will ever serve (Istio not installed) or a namespace that nothing creates stops the
//! command at once, named; and the cluster's own copies of the render's CRDs are read, so that a
//! newer one the render's copy cannot replace is kept when it serves what the render uses
//! ([`crate::cluster::apply::crds`]). Only errors that can heal (a CRD just applied, a webhook not yet
//! serving, a refused connection) are retried, with backoff, a bounded number of times.
//!
//! kubectl is always spawned with an argument vector and the YAML on stdin, never through a
//! shell. Other commands (`access --apply`) use [`apply_with_prompt`] for the same safety prompt.
//!
//! Its parts: the apply order ([`steps`]), each step by several kubectl processes at once
//! ([`streams`]), only what the cluster does not have already ([`unchanged`]), the render's CRDs
//! against the cluster's ([`crds`]), bounded waits ([`wait`]) and pruning stale ConfigMaps
//! ([`prune`]).

pub mod crds;
pub mod prune;
pub mod steps;
pub mod streams;
pub mod unchanged;
pub mod wait;

use std::collections::{BTreeMap, BTreeSet};

use std::time::{Duration, Instant};

use crate::checkout::model::objects::RenderFacts;
use crate::checkout::model::objects::{GroupKind, Object};
use crate::cluster::apply::crds::NEWER_CRDS_ADVICE;
use crate::cluster::apply::steps::{counts_by_kind, steps};
use crate::cluster::apply::unchanged::Live;
use crate::cluster::programs::diagnose::{
    Cause, DROPS_STORED_VERSION, bounded, classify, missing_kind_message, missing_namespace_message,
};
use crate::cluster::programs::kubectl::{ClusterInfo, Discovery, Kubectl, parse_api_resources};
use crate::cluster::programs::process::{self, Ran};
use crate::error::{Failure, Result};
use crate::output::consent::{Consent, confirm};
use crate::output::progress::Progress;
use crate::output::{count, indented};

/// `--dry-run`: send nothing (`client`), or let the API server check without storing (`server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DryRun {
    None,
    Client,
    Server,
}

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub dry_run: DryRun,
    /// `kubectl apply --server-side --force-conflicts` (not with a client dry run, which kubectl
    /// refuses with server-side apply).
    pub server_side: bool,
    /// Tries per step, for errors that can heal.
    pub attempts: u32,
    pub deadline: Instant,
}

impl ApplyOptions {
    fn server_side(&self) -> bool {
        self.server_side && self.dry_run != DryRun::Client
    }

    /// `server-side apply (--force-conflicts)` or `client-side apply`, with the dry run.
    pub fn describe(&self) -> String {
        let how = if self.server_side() {
            "server-side apply (--force-conflicts)"
        } else {
            "client-side apply"
        };
        match self.dry_run {
            DryRun::None => how.to_string(),
            DryRun::Client => format!("{how}, client dry run (nothing sent to the cluster)"),
            DryRun::Server => {
                format!("{how}, server dry run (checked by the API server, nothing stored)")
            }
        }
    }
}

/// What an apply did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Objects sent to the cluster (or checked, in a dry run).
    pub sent: usize,
    /// Objects a dry run could not check, with why.
    pub not_checked: Vec<String>,
    /// The deadline, moved by the time the user took to answer the prompt (which the time
    /// limit does not count).
    pub deadline: Instant,
}

/// Connects (unless `connected`, read beforehand by [`connect_quietly`]), checks the objects
/// against the cluster's discovery, shows the safety prompt (not for dry runs), and applies in
/// order. `what` says what is applied (`the render of ...`).
pub fn apply_with_prompt<'o>(
    kubectl: &Kubectl,
    connected: Option<Connection>,
    objects: &'o [Object],
    what: &str,
    options: &ApplyOptions,
    consent: Consent<'_>,
    progress: &mut Progress<'_>,
) -> Result<Applied> {
    if objects.is_empty() {
        return Err(Failure::new(format!(
            "{what} holds no objects: nothing to apply"
        )));
    }
    let mut deadline = options.deadline;
    let facts = RenderFacts::of(objects);
    let Connection {
        info,
        discovery,
        crds: crd_list,
    } = match connected {
        Some(connection) => connection,
        None => {
            let info = kubectl.info(options.deadline)?;
            let discovery = discover(kubectl, &info, options, progress)?;
            Connection {
                info,
                discovery,
                crds: None,
            }
        }
    };
    let checked = check(objects, &facts, &discovery, options.dry_run)?;
    let crd_names: Vec<&str> = objects
        .iter()
        .filter(|o| o.is_crd())
        .map(|o| o.name.as_str())
        .collect();
    // Dry runs check every object; an apply sends only those the cluster does not have as the
    // apply would leave them. The CRDs' states come from the same read, or from the list read
    // beside the render.
    let live = match options.dry_run {
        DryRun::None => {
            let all: Vec<&Object> = objects.iter().collect();
            Live::read(
                kubectl,
                &all,
                &discovery.kinds,
                crd_list,
                options.deadline,
                &mut || progress.tick(),
            )?
        }
        _ => Live::of_crds(crd_list),
    };
    let states = match live.crd_states(&crd_names) {
        Some(states) => states,
        None => crds::read_states(kubectl, &crd_names, options.deadline, progress)?,
    };
    let decisions = crds::decide(objects, &states);
    if !decisions.refused.is_empty() {
        return Err(Failure::cluster(crds::refused_message(&decisions.refused)));
    }
    let kept: BTreeSet<&str> = decisions.kept.iter().map(|k| k.name.as_str()).collect();
    let sent_objects: Vec<&Object> = objects
        .iter()
        .filter(|o| !(o.is_crd() && kept.contains(o.name.as_str())))
        .collect();
    let changed = |step: &[&'o Object]| changed_in(step, &live, &discovery, options.server_side());
    let mut prompt = safety_summary(&info, what, &sent_objects, options);
    prompt.push_str(&crds::kept_summary(&decisions.kept));
    progress
        .out()
        .write_all(prompt.as_bytes())
        .map_err(|e| Failure::new(format!("cannot write to standard output: {e}")))?;
    if options.dry_run == DryRun::None {
        let question = format!(
            "Apply {} objects to context {} ({})? [y/N] ",
            sent_objects.len(),
            info.context,
            info.server
        );
        let asked = Instant::now();
        confirm(progress.out(), consent, &question)?;
        deadline += asked.elapsed();
    }
    let options = &ApplyOptions {
        deadline,
        ..options.clone()
    };
    let started = Instant::now();
    let checkable = |o: &&Object| !checked.unchecked.iter().any(|(i, _)| std::ptr::eq(*i, *o));
    let mut order = steps(objects, &facts, &kept);
    for step in [&mut order.first, &mut order.plain, &mut order.custom] {
        step.retain(checkable);
    }
    let mut sent = 0;
    let mut unchanged = 0;
    let mut unready = Vec::new();
    if options.dry_run != DryRun::None {
        let all: Vec<&Object> = [order.first, order.plain, order.custom].concat();
        if !all.is_empty() {
            sent += apply_step(kubectl, "check", &all, 0, &facts, options, progress)?;
        }
    } else {
        let total = [&order.first, &order.plain, &order.custom]
            .iter()
            .filter(|s| !s.is_empty())
            .count();
        let mut index = 0;
        let mut next = || {
            index += 1;
            format!("step {index}/{total}")
        };
        let mut created = None;
        if !order.first.is_empty() {
            let label = format!("{} ({})", next(), kinds_phrase(&order.first));
            let (mut send, same) = changed(&order.first);
            // The API server establishes new CRDs in about the order they come; those the
            // custom resources wait for go first.
            let used: BTreeSet<GroupKind> = order.custom.iter().map(|o| o.group_kind()).collect();
            send.sort_by_key(|o| !o.defines().is_some_and(|gk| used.contains(&gk)));
            sent += apply_step(kubectl, &label, &send, same, &facts, options, progress)?;
            unchanged += same;
            created = Some(crds::Created {
                names: send
                    .iter()
                    .filter(|o| o.is_crd() && !states.contains_key(&o.name))
                    .map(|o| o.name.as_str())
                    .collect(),
                by: Instant::now(),
            });
        }
        if !order.plain.is_empty() {
            let label = format!(
                "{} ({} that {} no CRD of this render)",
                next(),
                count(order.plain.len(), "object"),
                if order.plain.len() == 1 {
                    "needs"
                } else {
                    "need"
                }
            );
            let (send, same) = changed(&order.plain);
            sent += apply_step(kubectl, &label, &send, same, &facts, options, progress)?;
            unchanged += same;
        }
        if !order.custom.is_empty() {
            let step = next();
            let (send, same) = changed(&order.custom);
            unchanged += same;
            if send.is_empty() {
                let label = format!("{step} ({})", count(same, "custom resource"));
                apply_step(kubectl, &label, &send, same, &facts, options, progress)?;
            } else {
                let ready;
                (ready, unready) = crds::wait_for_step(
                    kubectl,
                    &step,
                    objects,
                    &send,
                    created.as_ref(),
                    options.deadline,
                    progress,
                )?;
                if ready.is_empty() {
                    progress.line(&format!("{step}: nothing left to apply"))?;
                } else {
                    let label = format!("{step} ({})", count(ready.len(), "custom resource"));
                    sent += apply_step(kubectl, &label, &ready, same, &facts, options, progress)?;
                }
            }
        }
    }
    let not_checked: Vec<String> = checked
        .unchecked
        .iter()
        .map(|(o, why)| format!("{}: {why}", o.shown()))
        .collect();
    for line in &not_checked {
        progress.line(&format!("  not checked: {line}"))?;
    }
    progress.line(&format!(
        "{} {} in {:.1} s{}",
        match options.dry_run {
            DryRun::None => "applied",
            _ => "checked",
        },
        count(sent, "object"),
        started.elapsed().as_secs_f64(),
        match unchanged {
            0 => String::new(),
            n => format!(" ({n} unchanged, not sent)"),
        }
    ))?;
    if !unready.is_empty() {
        return Err(Failure::cluster(crds::unready_message(&unready)));
    }
    Ok(Applied {
        sent,
        not_checked,
        deadline,
    })
}

/// The objects of `step` the cluster does not have as the apply would leave them, and how many
/// it has.
fn changed_in<'o>(
    step: &[&'o Object],
    live: &Live,
    discovery: &Discovery,
    server_side: bool,
) -> (Vec<&'o Object>, usize) {
    let changed: Vec<&Object> = step
        .iter()
        .copied()
        .filter(|o| {
            let namespaced = discovery.kinds.get(&o.group_kind()).copied();
            !live.unchanged(o, namespaced.unwrap_or(true), server_side)
        })
        .collect();
    let same = step.len() - changed.len();
    (changed, same)
}

/// The text shown before applying: context, server, what, and object counts by kind.
pub fn safety_summary(
    info: &ClusterInfo,
    what: &str,
    objects: &[&Object],
    options: &ApplyOptions,
) -> String {
    let mut text = format!(
        "context: {}\nserver:  {}\napply:   {what}, {}\nobjects: {}\n",
        info.context,
        info.server,
        options.describe(),
        objects.len()
    );
    for (kind, count) in counts_by_kind(objects) {
        text.push_str(&format!("  {count:>4} {kind}\n"));
    }
    text
}

fn kinds_phrase(objects: &[&Object]) -> String {
    counts_by_kind(objects)
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Wait before attempt `next` (2, 3, ...): 1 s, 2 s, 4 s, ... at most 16 s.
pub fn backoff(next: u32) -> Duration {
    Duration::from_secs(1u64 << next.saturating_sub(2).min(4))
}

/// Runs one kubectl call with bounded retries of errors that can heal. `facts` tells which
/// missing kinds and namespaces the render itself creates.
fn retrying(
    label: &str,
    attempts: u32,
    deadline: Instant,
    facts: &RenderFacts,
    progress: &mut Progress<'_>,
    call: &mut dyn FnMut(&mut Progress<'_>) -> Result<Ran>,
) -> Result<Ran> {
    let attempts = attempts.max(1);
    let mut attempt = 1;
    loop {
        progress.label(&format!("{label}: attempt {attempt}/{attempts}"));
        let ran = call(progress)?;
        if ran.success() {
            return Ok(ran);
        }
        let causes = classify(&ran.stderr, facts);
        let stops: Vec<String> = causes
            .iter()
            .filter_map(|c| match c {
                Cause::Stops(s) => Some(s.clone()),
                Cause::Heals(_) => None,
            })
            .collect();
        let heals: Vec<String> = causes
            .iter()
            .filter_map(|c| match c {
                Cause::Heals(s) => Some(s.clone()),
                Cause::Stops(_) => None,
            })
            .collect();
        if !stops.is_empty() || heals.is_empty() {
            let stops = if stops.is_empty() {
                vec![format!(
                    "kubectl exited with {:?} and said nothing",
                    ran.code
                )]
            } else {
                stops
            };
            progress.line(&format!(
                "{label}: attempt {attempt}/{attempts}: failed, cannot heal"
            ))?;
            let advice = if stops.iter().any(|s| s.contains(DROPS_STORED_VERSION)) {
                format!("\nthe cluster has newer CRDs than this render: {NEWER_CRDS_ADVICE}")
            } else {
                String::new()
            };
            return Err(Failure::cluster(format!(
                "{label}: the cluster rejected it, and retrying cannot help:\n{}{advice}",
                indented(&bounded(&stops))
            )));
        }
        if attempt >= attempts {
            progress.line(&format!("{label}: attempt {attempt}/{attempts}: failed"))?;
            return Err(Failure::cluster(format!(
                "{label}: still failing after {attempts} attempts (--attempts):\n{}",
                indented(&bounded(&heals))
            )));
        }
        let wait = backoff(attempt + 1);
        if Instant::now() + wait >= deadline {
            progress.line(&format!("{label}: attempt {attempt}/{attempts}: failed"))?;
            return Err(Failure::cluster(format!(
                "{label}: the time limit (--timeout) runs out before the next attempt:\n{}",
                indented(&bounded(&heals))
            )));
        }
        progress.line(&format!(
            "{label}: attempt {attempt}/{attempts}: failed ({}); retrying in {} s",
            bounded(&heals).join("; "),
            wait.as_secs()
        ))?;
        std::thread::sleep(wait);
        attempt += 1;
    }
}

/// An aggregated API that is down (a broken metrics-server) makes discovery partial; the kinds a
/// KFP render uses are still listed.
fn accept_partial_discovery(ran: &mut Ran) {
    if !ran.success()
        && !ran.stdout.trim().is_empty()
        && ran
            .stderr
            .contains("unable to retrieve the complete list of server APIs")
    {
        ran.code = Some(0);
    }
}

/// Reads discovery and namespaces: the three calls at once, then again one by one, with
/// retries, for those that failed (a cluster not answering yet).
fn discover(
    kubectl: &Kubectl,
    info: &ClusterInfo,
    options: &ApplyOptions,
    progress: &mut Progress<'_>,
) -> Result<Discovery> {
    let none = RenderFacts::default();
    let label = format!("discovery of {}", info.server);
    let calls = DISCOVERY_CALLS;
    process::prepare();
    let at_once = crate::parallel::each(
        &calls,
        |(args, _), tick| kubectl.run(args, None, options.deadline, tick),
        &mut || progress.tick(),
    );
    let read = |(args, what): (&[&str], &str),
                first: Result<Ran>,
                progress: &mut Progress<'_>|
     -> Result<String> {
        let mut first = first?;
        accept_partial_discovery(&mut first);
        if first.success() {
            return Ok(first.stdout);
        }
        let ran = retrying(
            &label,
            options.attempts,
            options.deadline,
            &none,
            progress,
            &mut |p| {
                let mut ran = kubectl.run(args, None, options.deadline, &mut || p.tick())?;
                accept_partial_discovery(&mut ran);
                Ok(ran)
            },
        )
        .map_err(|f| Failure::cluster(format!("cannot read {what}: {}", f.message)))?;
        Ok(ran.stdout)
    };
    let mut texts = Vec::new();
    for (call, first) in calls.into_iter().zip(at_once) {
        texts.push(read(call, first, progress)?);
    }
    Ok(parse_discovery(&texts))
}

/// What discovery reads, and what the error names when a read fails.
const DISCOVERY_CALLS: [(&[&str], &str); 3] = [
    (
        &["api-resources", "--no-headers"],
        "what the cluster serves",
    ),
    (&["api-versions"], "what the cluster serves"),
    (&["get", "namespaces", "-o", "name"], "namespaces"),
];

/// The answers to [`DISCOVERY_CALLS`], in order.
fn parse_discovery(texts: &[String]) -> Discovery {
    let kinds = parse_api_resources(&texts[0]);
    let versions = texts[1]
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let namespaces = texts[2]
        .lines()
        .filter_map(|l| l.trim().strip_prefix("namespace/"))
        .map(str::to_string)
        .collect();
    Discovery {
        kinds,
        versions,
        namespaces,
    }
}

/// The cluster as read before the prompt: which one, and what it serves.
#[derive(Debug, Clone)]
pub struct Connection {
    pub info: ClusterInfo,
    pub discovery: Discovery,
    /// The cluster's CRDs (the API server's list), when read beside the render.
    pub crds: Option<serde_json::Value>,
}

/// Reads the cluster's discovery and its CRDs once, without retries or progress, so that it can
/// run beside the render; `info` is what the kubeconfig says. `None` when discovery failed:
/// [`apply_with_prompt`] then reads again, with retries, and says what failed. CRDs the cluster
/// does not list (RBAC) are read again after the render, where a failure is explained.
pub fn connect_quietly(
    kubectl: &Kubectl,
    info: ClusterInfo,
    deadline: Instant,
) -> Option<Connection> {
    process::prepare();
    let crds_call: (&[&str], &str) = (&["get", "--raw", crds::CRDS_PATH], "CRDs");
    let calls: Vec<(&[&str], &str)> = DISCOVERY_CALLS.into_iter().chain([crds_call]).collect();
    let mut runs = crate::parallel::each(
        &calls,
        |(args, _), tick| kubectl.run(args, None, deadline, tick),
        &mut || {},
    );
    let crds = runs
        .pop()
        .and_then(|ran| ran.ok())
        .filter(Ran::success)
        .and_then(|ran| serde_json::from_str(&ran.stdout).ok());
    let mut texts = Vec::new();
    for ran in runs {
        let mut ran = ran.ok()?;
        accept_partial_discovery(&mut ran);
        if !ran.success() {
            return None;
        }
        texts.push(ran.stdout);
    }
    Some(Connection {
        info,
        discovery: parse_discovery(&texts),
        crds,
    })
}

/// The objects a dry run cannot check, with why.
#[derive(Debug, Default)]
pub struct Checked<'a> {
    pub unchecked: Vec<(&'a Object, String)>,
}

/// Compares the render with discovery: kinds nothing serves and namespaces nothing creates stop
/// the command before anything is sent. In a dry run, objects that depend on a CRD or Namespace
/// that this very apply would create cannot be checked by the server and are set aside.
pub fn check<'a>(
    objects: &'a [Object],
    facts: &RenderFacts,
    discovery: &Discovery,
    dry_run: DryRun,
) -> Result<Checked<'a>> {
    let mut missing_kinds: BTreeMap<GroupKind, usize> = BTreeMap::new();
    let mut missing_versions: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut missing_namespaces: BTreeSet<String> = BTreeSet::new();
    let mut checked = Checked::default();
    for o in objects {
        let gk = o.group_kind();
        let served = discovery.kinds.contains_key(&gk);
        let created = facts.crd_kinds.contains(&gk);
        if !served && !created {
            *missing_kinds.entry(gk).or_insert(0) += 1;
            continue;
        }
        if served && !created && !discovery.versions.contains(&o.api_version) {
            *missing_versions
                .entry((o.kind.clone(), o.api_version.clone()))
                .or_insert(0) += 1;
            continue;
        }
        if let Some(ns) = &o.namespace
            && !o.is_namespace()
            && !discovery.namespaces.contains(ns)
        {
            if !facts.namespaces.contains(ns) {
                missing_namespaces.insert(ns.clone());
                continue;
            }
            if dry_run != DryRun::None {
                checked
                    .unchecked
                    .push((o, format!("namespace {ns} not created yet")));
                continue;
            }
        }
        if !served && dry_run != DryRun::None {
            checked
                .unchecked
                .push((o, "CRD not installed yet".to_string()));
        }
    }
    if missing_kinds.is_empty() && missing_versions.is_empty() && missing_namespaces.is_empty() {
        return Ok(checked);
    }
    let mut lines: Vec<String> = missing_kinds
        .iter()
        .map(|(gk, n)| format!("{} ({})", missing_kind_message(gk), count(*n, "object")))
        .collect();
    lines.extend(missing_versions.iter().map(|((kind, api_version), n)| {
        format!(
            "{kind} ({api_version}): the cluster serves {kind}, but not in version {api_version}; its installed CRD or API is of another release ({})",
            count(*n, "object")
        )
    }));
    lines.extend(
        missing_namespaces
            .iter()
            .map(|ns| missing_namespace_message(ns)),
    );
    Err(Failure::cluster(format!(
        "the cluster lacks what these objects need; nothing was applied:\n{}",
        indented(&lines)
    )))
}

/// Applies `objects`, one step of the order; `unchanged` more of the step were left out, as the
/// cluster has them already.
fn apply_step(
    kubectl: &Kubectl,
    label: &str,
    objects: &[&Object],
    unchanged: usize,
    facts: &RenderFacts,
    options: &ApplyOptions,
    progress: &mut Progress<'_>,
) -> Result<usize> {
    let same = match unchanged {
        0 => String::new(),
        n => format!("; {n} unchanged, not sent"),
    };
    if objects.is_empty() {
        progress.line(&format!("{label}: unchanged, nothing sent"))?;
        return Ok(0);
    }
    let mut args = vec!["apply", "-f", "-"];
    if options.server_side() {
        args.extend(["--server-side", "--force-conflicts"]);
    }
    match options.dry_run {
        // kubectl's own field validation (the default, strict) reads the API group's OpenAPI
        // document again for every object: 12 s of CPU for the 634 objects of Kubeflow 1.8.1, more
        // than the API server spends storing them. Applying, the API server still checks every
        // value against the schema; unknown fields are dropped, as `--dry-run=server` shows.
        DryRun::None => args.push("--validate=false"),
        DryRun::Client => args.push("--dry-run=client"),
        DryRun::Server => args.push("--dry-run=server"),
    }
    // A dry run that the API server checks sends each object once anyway; one process keeps
    // kubectl's output in render order.
    let mut pending = streams::phases(objects, options.dry_run == DryRun::None);
    let mut tries = 0;
    retrying(
        label,
        options.attempts,
        options.deadline,
        facts,
        progress,
        &mut |p| {
            tries += 1;
            streams::apply_pending(kubectl, &args, &mut pending, options.deadline, p)
        },
    )?;
    let attempts = options.attempts.max(1);
    progress.line(&format!(
        "{label}: attempt {tries}/{attempts}: ok, {}{same}",
        count(objects.len(), "object")
    ))?;
    Ok(objects.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkout::model::objects::{SAMPLE_RENDER as RENDER, split};
    use crate::error::EXIT_CLUSTER;
    #[test]
    fn check_stops_on_kinds_and_namespaces_nothing_creates() {
        let objects = split(RENDER).unwrap();
        let facts = RenderFacts::of(&objects);
        let mut discovery = Discovery::default();
        for v in [
            "v1",
            "apps/v1",
            "apiextensions.k8s.io/v1",
            "security.istio.io/v1beta1",
        ] {
            discovery.versions.insert(v.to_string());
        }
        discovery
            .kinds
            .insert(GroupKind::new("apps", "Deployment"), true);
        discovery
            .kinds
            .insert(GroupKind::new("", "Namespace"), false);
        discovery.kinds.insert(
            GroupKind::new("apiextensions.k8s.io", "CustomResourceDefinition"),
            false,
        );
        let err = check(&objects, &facts, &discovery, DryRun::None).unwrap_err();
        assert_eq!(err.code, EXIT_CLUSTER);
        assert_eq!(
            err.message,
            "the cluster lacks what these objects need; nothing was applied:\n  AuthorizationPolicy (security.istio.io): Istio is not installed (1 object)"
        );
        discovery.kinds.insert(
            GroupKind::new("security.istio.io", "AuthorizationPolicy"),
            true,
        );
        let checked = check(&objects, &facts, &discovery, DryRun::None).unwrap();
        assert!(checked.unchecked.is_empty());
        let checked = check(&objects, &facts, &discovery, DryRun::Server).unwrap();
        let unchecked: Vec<String> = checked
            .unchecked
            .iter()
            .map(|(o, why)| format!("{}: {why}", o.shown()))
            .collect();
        assert_eq!(
            unchecked,
            [
                "AuthorizationPolicy/ml-pipeline (namespace kubeflow): namespace kubeflow not created yet",
                "Deployment/ml-pipeline (namespace kubeflow): namespace kubeflow not created yet",
            ]
        );
        discovery.versions.remove("security.istio.io/v1beta1");
        let err = check(&objects, &facts, &discovery, DryRun::None).unwrap_err();
        assert_eq!(
            err.message,
            "the cluster lacks what these objects need; nothing was applied:\n  AuthorizationPolicy (security.istio.io/v1beta1): the cluster serves AuthorizationPolicy, but not in version security.istio.io/v1beta1; its installed CRD or API is of another release (1 object)"
        );
    }

    #[test]
    fn backoff_doubles_up_to_sixteen_seconds() {
        let secs: Vec<u64> = (2..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 16, 16]);
    }
}
