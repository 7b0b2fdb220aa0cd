//! Applying rendered objects to a cluster, in an order that does not need a retry loop.
//!
//! Upstream's install is `while ! kustomize build | kubectl apply -f -; do sleep 10; done`
//! (facts §6): it re-renders every time and spins forever on an error that cannot heal. Here the
//! objects are split once; Namespaces and CRDs go first and the CRDs are waited for (bounded);
//! then the rest. Before anything is sent, the cluster's discovery is compared with the render, so
//! a kind that nothing will ever serve (Istio not installed) or a namespace that nothing creates
//! stops the command at once, named. Only errors that can heal (a CRD just applied, a webhook not
//! yet serving, a refused connection) are retried, with backoff, a bounded number of times.
//!
//! kubectl is always spawned with an argument vector and the YAML on stdin, never through a
//! shell. Other commands (`access --apply`) use [`apply_with_prompt`] for the same safety prompt.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use yaml_serde::Value;

use crate::cli::{ClusterFlags, DryRun};
use crate::error::{Failure, Result};
use crate::process::{self, Ran};

/// Exit code when the cluster rejected the objects, lacks what they need, cannot be reached, or
/// did not become ready in time.
pub const EXIT_CLUSTER: i32 = 3;

/// How long to wait for applied CRDs to be Established, at most.
const CRD_WAIT: Duration = Duration::from_secs(60);

/// Between two polls of the Deployments being waited for.
const READY_POLL: Duration = Duration::from_secs(2);

fn cluster_failure(message: impl Into<String>) -> Failure {
    Failure::with_code(EXIT_CLUSTER, message)
}

/// One rendered Kubernetes object.
#[derive(Debug, Clone)]
pub struct Object {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    /// The document as rendered; kubectl gets these bytes.
    pub text: String,
    pub value: Value,
    /// The 1-based line of the render where the document starts.
    pub line: usize,
}

/// An API group and kind: what a CRD defines and what discovery serves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

impl Object {
    /// The API group (`""` for core/v1).
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map_or("", |(g, _)| g)
    }

    pub fn group_kind(&self) -> GroupKind {
        GroupKind {
            group: self.group().to_string(),
            kind: self.kind.clone(),
        }
    }

    pub fn is_crd(&self) -> bool {
        self.kind == "CustomResourceDefinition" && self.group() == "apiextensions.k8s.io"
    }

    pub fn is_namespace(&self) -> bool {
        self.kind == "Namespace" && self.api_version == "v1"
    }

    /// For a CRD: the group and kind it defines.
    pub fn defines(&self) -> Option<GroupKind> {
        if !self.is_crd() {
            return None;
        }
        let spec = self.value.get("spec")?;
        Some(GroupKind {
            group: spec.get("group")?.as_str()?.to_string(),
            kind: spec.get("names")?.get("kind")?.as_str()?.to_string(),
        })
    }

    /// `Deployment/ml-pipeline (namespace kubeflow)`.
    pub fn shown(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{} (namespace {ns})", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }
}

/// Splits a rendered YAML stream into objects. `Err` names the line of a document that is not a
/// Kubernetes object.
pub fn split(render: &str) -> std::result::Result<Vec<Object>, String> {
    let mut objects = Vec::new();
    let mut doc = String::new();
    let mut doc_line = 1;
    for (i, line) in render.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == "---" || bare.starts_with("--- ") || bare == "..." {
            push_document(&mut objects, &doc, doc_line)?;
            doc.clear();
            doc_line = i + 2;
            if let Some(rest) = bare.strip_prefix("--- ") {
                // Content after the marker (`--- |`) belongs to the document.
                doc.push_str(rest);
                doc.push('\n');
                doc_line = i + 1;
            }
            continue;
        }
        doc.push_str(line);
    }
    push_document(&mut objects, &doc, doc_line)?;
    Ok(objects)
}

fn push_document(
    objects: &mut Vec<Object>,
    doc: &str,
    line: usize,
) -> std::result::Result<(), String> {
    if doc
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(());
    }
    let value: Value = yaml_serde::from_str(doc)
        .map_err(|e| format!("the document at line {line} is not valid YAML: {e}"))?;
    if value.is_null() {
        return Ok(());
    }
    let text_field = |path: &[&str]| -> Option<String> {
        let mut v = &value;
        for key in path {
            v = v.get(key)?;
        }
        v.as_str().map(str::to_string)
    };
    let (Some(api_version), Some(kind)) = (text_field(&["apiVersion"]), text_field(&["kind"]))
    else {
        return Err(format!(
            "the document at line {line} is not a Kubernetes object (no apiVersion or kind)"
        ));
    };
    let Some(name) = text_field(&["metadata", "name"]) else {
        return Err(format!(
            "the {kind} at line {line} has no metadata.name (kfpatch does not apply generateName objects)"
        ));
    };
    let mut text = doc.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    objects.push(Object {
        namespace: text_field(&["metadata", "namespace"]),
        api_version,
        kind,
        name,
        text,
        value,
        line,
    });
    Ok(())
}

/// The apply order: Namespaces and CRDs first, then everything else, each in render order.
pub fn order(objects: &[Object]) -> (Vec<&Object>, Vec<&Object>) {
    let namespaces = objects.iter().filter(|o| o.is_namespace());
    let crds = objects.iter().filter(|o| o.is_crd());
    let first = namespaces.chain(crds).collect();
    let rest = objects
        .iter()
        .filter(|o| !o.is_namespace() && !o.is_crd())
        .collect();
    (first, rest)
}

/// Object counts by kind, by kind name.
pub fn counts_by_kind(objects: &[&Object]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for o in objects {
        *counts.entry(o.kind.clone()).or_insert(0) += 1;
    }
    counts
}

/// What the render itself creates: the kinds its CRDs define and its Namespaces.
#[derive(Debug, Clone, Default)]
pub struct RenderFacts {
    pub crd_kinds: BTreeSet<GroupKind>,
    pub namespaces: BTreeSet<String>,
}

impl RenderFacts {
    pub fn of(objects: &[Object]) -> RenderFacts {
        RenderFacts {
            crd_kinds: objects.iter().filter_map(Object::defines).collect(),
            namespaces: objects
                .iter()
                .filter(|o| o.is_namespace())
                .map(|o| o.name.clone())
                .collect(),
        }
    }
}

/// Why an apply failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// Can heal with time: a CRD of this render not yet served, a webhook not yet serving, a
    /// refused connection.
    Heals(String),
    /// Cannot heal: a kind nothing will serve, a namespace nothing creates, an invalid object.
    Stops(String),
}

/// Substrings of kubectl errors that go away by themselves.
const HEALING: &[&str] = &[
    "failed calling webhook",
    "connection refused",
    "was refused - did you specify the right host or port",
    "no endpoints available for service",
    "the server is currently unable to handle the request",
    "i/o timeout",
    "TLS handshake timeout",
    "connection reset by peer",
    "etcdserver: request timed out",
    "the server was unable to return a response in the time allotted",
    "unexpected EOF",
];

/// Classifies the errors kubectl printed (`stderr` of a failed apply).
pub fn classify(stderr: &str, render: &RenderFacts) -> Vec<Cause> {
    let mut causes: Vec<Cause> = Vec::new();
    let mut add = |cause: Cause| {
        if !causes.contains(&cause) {
            causes.push(cause);
        }
    };
    for line in stderr.lines() {
        let line = line.trim();
        let rest = line
            .trim_start_matches('[')
            .trim_end_matches(']')
            .replace("ensure CRDs are installed first", "");
        let rest = rest.trim_matches([' ', ',', ']']);
        if rest.is_empty() || line.starts_with("Warning:") {
            continue;
        }
        let missing_kinds = no_matches(line);
        if !missing_kinds.is_empty() {
            for gk in missing_kinds {
                if render.crd_kinds.contains(&gk) {
                    add(Cause::Heals(format!(
                        "{} ({}): its CRD from this render is not served yet",
                        gk.kind, gk.group
                    )));
                } else {
                    add(Cause::Stops(missing_kind_message(&gk)));
                }
            }
            continue;
        }
        if let Some(ns) = quoted_after(line, "namespaces \"").filter(|_| line.contains("not found"))
        {
            if render.namespaces.contains(&ns) {
                add(Cause::Heals(format!("namespace {ns} is not created yet")));
            } else {
                add(Cause::Stops(missing_namespace_message(&ns)));
            }
            continue;
        }
        if HEALING.iter().any(|h| line.contains(h)) {
            add(Cause::Heals(line.to_string()));
        } else {
            add(Cause::Stops(line.to_string()));
        }
    }
    causes
}

/// Every `no matches for kind "K" in version "G/V"` in a line.
fn no_matches(line: &str) -> Vec<GroupKind> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("no matches for kind \"") {
        rest = &rest[i + "no matches for kind \"".len()..];
        let Some((kind, after)) = rest.split_once('"') else {
            break;
        };
        let version = quoted_after(after, "in version \"").unwrap_or_default();
        let group = version.rsplit_once('/').map_or("", |(g, _)| g);
        found.push(GroupKind {
            group: group.to_string(),
            kind: kind.to_string(),
        });
        rest = after;
    }
    found
}

fn quoted_after(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)? + prefix.len();
    let (value, _) = text[start..].split_once('"')?;
    Some(value.to_string())
}

/// `AuthorizationPolicy (security.istio.io): Istio is not installed`.
pub fn missing_kind_message(gk: &GroupKind) -> String {
    let why = match gk.group.as_str() {
        g if g.ends_with("istio.io") => "Istio is not installed",
        "cert-manager.io" | "acme.cert-manager.io" => "cert-manager is not installed",
        "kubeflow.org" => {
            "its Kubeflow CRD is not installed (PodDefault: admission-webhook, Profile: profile-controller)"
        }
        "argoproj.io" => "Argo Workflows is not installed",
        "metacontroller.k8s.io" => "metacontroller is not installed",
        g if g.ends_with("knative.dev") => "Knative is not installed",
        _ => "its CustomResourceDefinition is neither in the render nor on the cluster",
    };
    let group = if gk.group.is_empty() {
        "core"
    } else {
        &gk.group
    };
    format!("{} ({group}): {why}", gk.kind)
}

fn missing_namespace_message(ns: &str) -> String {
    format!(
        "namespace {ns} does not exist and these objects do not create it: create it (kubectl create namespace {ns}), or apply Kubeflow's common/kubeflow-namespace first"
    )
}

/// kubectl with the user's `--kubeconfig` and `--context`.
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// The cluster a kubeconfig and context point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    pub context: String,
    pub server: String,
}

impl Kubectl {
    pub fn new(flags: &ClusterFlags) -> Kubectl {
        Kubectl {
            kubeconfig: flags.kubeconfig.clone(),
            context: flags.context.clone(),
        }
    }

    fn args(&self, rest: &[&str]) -> Vec<OsString> {
        let mut args = Vec::new();
        if let Some(kc) = &self.kubeconfig {
            args.push(OsString::from("--kubeconfig"));
            args.push(kc.clone().into_os_string());
        }
        if let Some(ctx) = &self.context {
            args.push(OsString::from("--context"));
            args.push(OsString::from(ctx));
        }
        args.extend(rest.iter().map(OsString::from));
        args
    }

    /// Runs `kubectl ARGS` with `stdin`, killed at `deadline`.
    pub fn run(
        &self,
        rest: &[&str],
        stdin: Option<&str>,
        deadline: Option<Instant>,
        tick: &mut dyn FnMut(),
    ) -> Result<Ran> {
        process::run(
            "kubectl",
            &self.args(rest),
            stdin.map(str::as_bytes),
            deadline,
            tick,
        )
        .map_err(|e| {
            Failure::new(format!(
                "cannot run kubectl: {e}; install kubectl (v1.26 or later) and put it on PATH"
            ))
        })
    }

    /// The context and server URL kubectl would use (read from the kubeconfig; no network).
    pub fn info(&self) -> Result<ClusterInfo> {
        let ran = self.run(
            &["config", "view", "--minify", "-o", "json"],
            None,
            None,
            &mut || {},
        )?;
        if !ran.success() {
            return Err(Failure::new(format!(
                "kubectl cannot use this kubeconfig/context: {}; check --kubeconfig and --context (or KUBECONFIG)",
                ran.stderr.trim().trim_start_matches("error: ")
            )));
        }
        let value: Value = yaml_serde::from_str(&ran.stdout).map_err(|e| {
            Failure::new(format!(
                "kubectl config view printed something unreadable: {e}"
            ))
        })?;
        let context = value
            .get("current-context")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let server = value
            .get("clusters")
            .and_then(|c| c.get(0))
            .and_then(|c| c.get("cluster"))
            .and_then(|c| c.get("server"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if context.is_empty() || server.is_empty() {
            return Err(Failure::new(
                "the kubeconfig names no current context with a cluster server: pass --kubeconfig FILE and --context NAME",
            ));
        }
        Ok(ClusterInfo { context, server })
    }
}

/// What the cluster serves: kinds (with whether they are namespaced) and namespaces.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    pub kinds: BTreeMap<GroupKind, bool>,
    /// Served `group/version`s (`v1` for core), from `kubectl api-versions`.
    pub versions: BTreeSet<String>,
    pub namespaces: BTreeSet<String>,
}

/// Reads `kubectl api-resources --no-headers`: NAME [SHORTNAMES] APIVERSION NAMESPACED KIND.
pub fn parse_api_resources(text: &str) -> BTreeMap<GroupKind, bool> {
    let mut kinds = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (api_version, namespaced, kind) = match fields.as_slice() {
            [_, _, v, n, k] | [_, v, n, k] => (*v, *n, *k),
            _ => continue,
        };
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        kinds.insert(
            GroupKind {
                group: group.to_string(),
                kind: kind.to_string(),
            },
            namespaced == "true",
        );
    }
    kinds
}

/// Writes progress lines to the command's output, and a spinner on a terminal's stderr while a
/// step runs.
pub struct Progress<'a> {
    out: &'a mut dyn Write,
    spinner: bool,
    frame: usize,
    label: String,
    drawn: bool,
}

impl<'a> Progress<'a> {
    /// `spinner`: draw one on stderr (only when stderr is a terminal).
    pub fn new(out: &'a mut dyn Write, spinner: bool) -> Progress<'a> {
        Progress {
            out,
            spinner: spinner && std::io::stderr().is_terminal(),
            frame: 0,
            label: String::new(),
            drawn: false,
        }
    }

    /// One line of output.
    pub fn line(&mut self, text: &str) -> Result<()> {
        self.clear();
        writeln!(self.out, "{text}")
            .and_then(|_| self.out.flush())
            .map_err(|e| Failure::new(format!("cannot write to standard output: {e}")))
    }

    /// What the spinner says while the next step runs.
    pub fn label(&mut self, label: &str) {
        self.label = label.to_string();
    }

    /// Advances the spinner (called while a child process runs).
    pub fn tick(&mut self) {
        if !self.spinner {
            return;
        }
        const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
        self.frame = (self.frame + 1) % FRAMES.len();
        let mut err = std::io::stderr();
        let _ = write!(err, "\r{} {}\x1b[K", FRAMES[self.frame], self.label);
        let _ = err.flush();
        self.drawn = true;
    }

    fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.drawn = false;
        }
    }

    /// The output writer, for text that is not progress (the safety prompt).
    pub fn out(&mut self) -> &mut dyn Write {
        self.clear();
        self.out
    }
}

impl Drop for Progress<'_> {
    /// An error printed after the last step must not land on the spinner's line.
    fn drop(&mut self) {
        self.clear();
    }
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

/// Where the answer to the safety prompt comes from.
pub enum Consent<'a> {
    /// `--yes`.
    Given,
    /// A terminal to ask on.
    Ask(&'a mut dyn BufRead),
    /// No terminal and no `--yes`: refuse.
    NoTerminal,
}

impl<'a> Consent<'a> {
    /// `--yes`, else ask on `stdin` when it is a terminal, else refuse.
    pub fn from_flags(yes: bool, stdin: &'a mut dyn BufRead, is_terminal: bool) -> Consent<'a> {
        if yes {
            Consent::Given
        } else if is_terminal {
            Consent::Ask(stdin)
        } else {
            Consent::NoTerminal
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

/// Connects, checks the objects against the cluster's discovery, shows the safety prompt (not for
/// dry runs), and applies in order. `what` says what is applied (`the render of ...`).
pub fn apply_with_prompt(
    kubectl: &Kubectl,
    objects: &[Object],
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
    let info = kubectl.info()?;
    let facts = RenderFacts::of(objects);
    let discovery = discover(kubectl, &info, options, progress)?;
    let checked = check(objects, &facts, &discovery, options.dry_run)?;
    let all: Vec<&Object> = objects.iter().collect();
    let prompt = safety_summary(&info, what, &all, options);
    progress
        .out()
        .write_all(prompt.as_bytes())
        .map_err(|e| Failure::new(format!("cannot write to standard output: {e}")))?;
    if options.dry_run == DryRun::None {
        let question = format!(
            "Apply {} objects to context {} ({})? [y/N] ",
            objects.len(),
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
    let (first, rest) = order(objects);
    let checkable = |o: &&Object| !checked.unchecked.iter().any(|(i, _)| std::ptr::eq(*i, *o));
    let first: Vec<&Object> = first.into_iter().filter(checkable).collect();
    let rest: Vec<&Object> = rest.into_iter().filter(checkable).collect();
    let mut sent = 0;
    if options.dry_run != DryRun::None {
        let mut both = first;
        both.extend(rest);
        if !both.is_empty() {
            sent += apply_step(kubectl, "check", &both, &facts, options, progress)?;
        }
    } else {
        if !first.is_empty() {
            let label = format!("step 1/2 ({})", kinds_phrase(&first));
            sent += apply_step(kubectl, &label, &first, &facts, options, progress)?;
            let crds: Vec<&Object> = first.iter().copied().filter(|o| o.is_crd()).collect();
            wait_established(kubectl, &crds, options.deadline, progress)?;
        }
        if !rest.is_empty() {
            let label = format!("step 2/2 ({})", count(rest.len(), "object"));
            sent += apply_step(kubectl, &label, &rest, &facts, options, progress)?;
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
        "{} {} in {:.1} s",
        match options.dry_run {
            DryRun::None => "applied",
            _ => "checked",
        },
        count(sent, "object"),
        started.elapsed().as_secs_f64()
    ))?;
    Ok(Applied {
        sent,
        not_checked,
        deadline,
    })
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

/// Asks `question`; only `y` or `yes` goes on.
pub fn confirm(out: &mut dyn Write, consent: Consent<'_>, question: &str) -> Result<()> {
    let input = match consent {
        Consent::Given => return Ok(()),
        Consent::NoTerminal => {
            return Err(Failure::new(
                "refusing to apply: standard input is not a terminal to ask on; pass --yes to apply without asking",
            ));
        }
        Consent::Ask(input) => input,
    };
    let _ = write!(out, "{question}");
    let _ = out.flush();
    let mut answer = String::new();
    input
        .read_line(&mut answer)
        .map_err(|e| Failure::new(format!("cannot read the answer: {e}")))?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Failure::new("not applied: the answer was not yes")),
    }
}

/// `1 object`, `2 objects`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn kinds_phrase(objects: &[&Object]) -> String {
    counts_by_kind(objects)
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The errors of a failed step, one per line.
fn list(causes: &[String]) -> String {
    causes
        .iter()
        .map(|c| format!("  {c}"))
        .collect::<Vec<_>>()
        .join("\n")
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
        if ran.timed_out {
            return Err(cluster_failure(format!(
                "{label}: kubectl did not finish before the time limit (--timeout); nothing more was tried"
            )));
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
            return Err(cluster_failure(format!(
                "{label}: the cluster rejected it, and retrying cannot help:\n{}",
                list(&stops)
            )));
        }
        if attempt >= attempts {
            progress.line(&format!("{label}: attempt {attempt}/{attempts}: failed"))?;
            return Err(cluster_failure(format!(
                "{label}: still failing after {attempts} attempts (--attempts):\n{}",
                list(&heals)
            )));
        }
        let wait = backoff(attempt + 1);
        if Instant::now() + wait >= deadline {
            progress.line(&format!("{label}: attempt {attempt}/{attempts}: failed"))?;
            return Err(cluster_failure(format!(
                "{label}: the time limit (--timeout) runs out before the next attempt:\n{}",
                list(&heals)
            )));
        }
        progress.line(&format!(
            "{label}: attempt {attempt}/{attempts}: failed ({}); retrying in {} s",
            heals.join("; "),
            wait.as_secs()
        ))?;
        std::thread::sleep(wait);
        attempt += 1;
    }
}

/// Reads discovery and namespaces, retrying a cluster that is not answering yet.
fn discover(
    kubectl: &Kubectl,
    info: &ClusterInfo,
    options: &ApplyOptions,
    progress: &mut Progress<'_>,
) -> Result<Discovery> {
    let none = RenderFacts::default();
    let label = format!("discovery of {}", info.server);
    let read = |args: &[&str], what: &str, progress: &mut Progress<'_>| -> Result<String> {
        let ran = retrying(
            &label,
            options.attempts,
            options.deadline,
            &none,
            progress,
            &mut |p| {
                let mut ran = kubectl.run(args, None, Some(options.deadline), &mut || p.tick())?;
                // An aggregated API that is down (a broken metrics-server) makes discovery
                // partial; the kinds a KFP render uses are still listed.
                if !ran.success()
                    && !ran.stdout.trim().is_empty()
                    && ran
                        .stderr
                        .contains("unable to retrieve the complete list of server APIs")
                {
                    ran.code = Some(0);
                }
                Ok(ran)
            },
        )
        .map_err(|f| cluster_failure(format!("cannot read {what}: {}", f.message)))?;
        Ok(ran.stdout)
    };
    let kinds = parse_api_resources(&read(
        &["api-resources", "--no-headers"],
        "what the cluster serves",
        progress,
    )?);
    let versions = read(&["api-versions"], "what the cluster serves", progress)?
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let namespaces = read(&["get", "namespaces", "-o", "name"], "namespaces", progress)?
        .lines()
        .filter_map(|l| l.trim().strip_prefix("namespace/"))
        .map(str::to_string)
        .collect();
    Ok(Discovery {
        kinds,
        versions,
        namespaces,
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
    Err(cluster_failure(format!(
        "the cluster lacks what these objects need; nothing was applied:\n{}",
        list(&lines)
    )))
}

/// The YAML stream kubectl gets for `objects`.
pub fn stream(objects: &[&Object]) -> String {
    let mut text = String::new();
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            text.push_str("---\n");
        }
        text.push_str(&o.text);
    }
    text
}

fn apply_step(
    kubectl: &Kubectl,
    label: &str,
    objects: &[&Object],
    facts: &RenderFacts,
    options: &ApplyOptions,
    progress: &mut Progress<'_>,
) -> Result<usize> {
    let input = stream(objects);
    let mut args = vec!["apply", "-f", "-"];
    if options.server_side() {
        args.extend(["--server-side", "--force-conflicts"]);
    }
    match options.dry_run {
        DryRun::None => {}
        DryRun::Client => args.push("--dry-run=client"),
        DryRun::Server => args.push("--dry-run=server"),
    }
    let mut tries = 0;
    retrying(
        label,
        options.attempts,
        options.deadline,
        facts,
        progress,
        &mut |p| {
            tries += 1;
            kubectl.run(&args, Some(&input), Some(options.deadline), &mut || {
                p.tick()
            })
        },
    )?;
    let attempts = options.attempts.max(1);
    progress.line(&format!(
        "{label}: attempt {tries}/{attempts}: ok, {}",
        count(objects.len(), "object")
    ))?;
    Ok(objects.len())
}

/// Waits (bounded) until the CRDs just applied are Established.
fn wait_established(
    kubectl: &Kubectl,
    crds: &[&Object],
    deadline: Instant,
    progress: &mut Progress<'_>,
) -> Result<()> {
    if crds.is_empty() {
        return Ok(());
    }
    let limit = deadline
        .saturating_duration_since(Instant::now())
        .min(CRD_WAIT);
    let timeout = format!("--timeout={}s", limit.as_secs().max(1));
    let names: Vec<String> = crds.iter().map(|o| format!("crd/{}", o.name)).collect();
    let mut args = vec!["wait", "--for", "condition=Established", timeout.as_str()];
    args.extend(names.iter().map(String::as_str));
    progress.label(&format!(
        "waiting for {} CRDs to be Established",
        crds.len()
    ));
    let ran = kubectl.run(
        &args,
        None,
        Some(Instant::now() + limit + Duration::from_secs(5)),
        &mut || progress.tick(),
    )?;
    if !ran.success() {
        return Err(cluster_failure(format!(
            "the CRDs just applied were not Established within {} s: {}",
            limit.as_secs(),
            ran.stderr.trim()
        )));
    }
    progress.line(&format!(
        "step 1/2: {} Established",
        count(crds.len(), "CRD")
    ))
}

/// Why a Deployment (as `kubectl get -o json` shows it) has not rolled out; `None` when it has.
pub fn not_ready(deployment: &Value) -> Option<String> {
    let number = |v: Option<&Value>| v.and_then(Value::as_u64);
    let generation = number(deployment.get("metadata").and_then(|m| m.get("generation")));
    let wanted = number(deployment.get("spec").and_then(|s| s.get("replicas"))).unwrap_or(1);
    let status = deployment.get("status");
    let field = |name: &str| number(status.and_then(|s| s.get(name)));
    let Some(observed) = field("observedGeneration") else {
        return Some("no controller has reported on it yet (no status)".to_string());
    };
    if let Some(generation) = generation
        && observed < generation
    {
        return Some(format!(
            "the controller has not observed generation {generation} yet (it saw {observed})"
        ));
    }
    let updated = field("updatedReplicas").unwrap_or(0);
    let available = field("availableReplicas").unwrap_or(0);
    let total = field("replicas").unwrap_or(0);
    if updated < wanted {
        return Some(format!("{updated} of {wanted} replicas updated"));
    }
    if total > updated {
        return Some(format!("{} old replicas still running", total - updated));
    }
    if available < updated {
        return Some(format!(
            "{available} of {updated} updated replicas available"
        ));
    }
    None
}

/// Waits until every `(namespace, name)` Deployment has rolled out, or the deadline passes
/// (then says which are not ready and why: exit 3).
pub fn wait_ready(
    kubectl: &Kubectl,
    deployments: &[(String, String)],
    deadline: Instant,
    timeout_text: &str,
    progress: &mut Progress<'_>,
) -> Result<()> {
    let names: Vec<String> = deployments
        .iter()
        .map(|(ns, name)| format!("deployment/{name} (namespace {ns})"))
        .collect();
    progress.line(&format!(
        "wait: {} (--timeout {timeout_text})",
        names.join(", ")
    ))?;
    progress.label("waiting for the rollout");
    let started = Instant::now();
    loop {
        let mut pending = Vec::new();
        for (ns, name) in deployments {
            let ran = kubectl.run(
                &["get", "deployment", name, "-n", ns, "-o", "json"],
                None,
                Some(deadline.max(Instant::now() + Duration::from_secs(10))),
                &mut || progress.tick(),
            )?;
            let why = if ran.success() {
                match yaml_serde::from_str::<Value>(&ran.stdout) {
                    Ok(value) => not_ready(&value),
                    Err(e) => Some(format!("unreadable answer from kubectl: {e}")),
                }
            } else {
                Some(ran.stderr.trim().to_string())
            };
            if let Some(why) = why {
                pending.push(format!("deployment/{name} (namespace {ns}): {why}"));
            }
        }
        if pending.is_empty() {
            return progress.line(&format!(
                "ready: {} in {:.1} s",
                names.join(", "),
                started.elapsed().as_secs_f64()
            ));
        }
        if Instant::now() + READY_POLL >= deadline {
            return Err(cluster_failure(format!(
                "not ready when the time limit ran out (--timeout {timeout_text}):\n{}",
                list(&pending)
            )));
        }
        let until = Instant::now() + READY_POLL;
        while Instant::now() < until {
            progress.tick();
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The ConfigMaps a pod template refers to (envFrom, env valueFrom, volumes, projected volumes).
pub fn referenced_configmaps(deployment: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let Some(pod) = deployment
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("spec"))
    else {
        return names;
    };
    let mut add = |v: Option<&Value>| {
        if let Some(name) = v.and_then(|v| v.get("name")).and_then(Value::as_str) {
            names.insert(name.to_string());
        }
    };
    for list in ["containers", "initContainers"] {
        for container in seq(pod.get(list)) {
            for from in seq(container.get("envFrom")) {
                add(from.get("configMapRef"));
            }
            for env in seq(container.get("env")) {
                add(env.get("valueFrom").and_then(|v| v.get("configMapKeyRef")));
            }
        }
    }
    for volume in seq(pod.get("volumes")) {
        add(volume.get("configMap"));
        for source in seq(volume.get("projected").and_then(|p| p.get("sources"))) {
            add(source.get("configMap"));
        }
    }
    names
}

fn seq(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_sequence).into_iter().flatten()
}

/// The items of `kubectl get KIND -o json` (a List).
fn list_items(json: &str) -> Result<Vec<Value>> {
    let value: Value = yaml_serde::from_str(json)
        .map_err(|e| cluster_failure(format!("unreadable answer from kubectl: {e}")))?;
    Ok(seq(value.get("items")).cloned().collect())
}

/// The name prefix of the API server's generated ConfigMaps.
pub const API_SERVER_CONFIG_PREFIX: &str = "pipeline-api-server-config-";

/// Deletes the `pipeline-api-server-config-*` ConfigMaps in `namespace` that no Deployment
/// references once `render_deployments` are applied. Returns their names. In a dry run nothing
/// is deleted.
pub fn prune_stale_config(
    kubectl: &Kubectl,
    namespace: &str,
    render_deployments: &[&Object],
    dry_run: DryRun,
    deadline: Instant,
    progress: &mut Progress<'_>,
) -> Result<Vec<String>> {
    let get = |kind: &str, progress: &mut Progress<'_>| -> Result<Vec<Value>> {
        let ran = kubectl.run(
            &["get", kind, "-n", namespace, "-o", "json"],
            None,
            Some(deadline),
            &mut || progress.tick(),
        )?;
        if !ran.success() {
            return Err(cluster_failure(format!(
                "--prune-stale-config: cannot list {kind} in {namespace}: {}",
                ran.stderr.trim()
            )));
        }
        list_items(&ran.stdout)
    };
    progress.label("--prune-stale-config: listing ConfigMaps and Deployments");
    let configmaps = get("configmaps", progress)?;
    let deployments = get("deployments", progress)?;
    let rendered: BTreeSet<&str> = render_deployments.iter().map(|o| o.name.as_str()).collect();
    let mut referenced = BTreeSet::new();
    for d in &deployments {
        let name = d
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !rendered.contains(name) {
            referenced.extend(referenced_configmaps(d));
        }
    }
    for d in render_deployments {
        referenced.extend(referenced_configmaps(&d.value));
    }
    let stale: Vec<String> = configmaps
        .iter()
        .filter_map(|c| c.get("metadata")?.get("name")?.as_str())
        .filter(|n| n.starts_with(API_SERVER_CONFIG_PREFIX) && !referenced.contains(*n))
        .map(str::to_string)
        .collect();
    if stale.is_empty() {
        progress.line(&format!(
            "prune: no stale {API_SERVER_CONFIG_PREFIX}* ConfigMap in {namespace}"
        ))?;
        return Ok(stale);
    }
    if dry_run != DryRun::None {
        progress.line(&format!(
            "prune (dry run): would delete ConfigMap {} in {namespace}",
            stale.join(", ")
        ))?;
        return Ok(stale);
    }
    let mut args = vec!["delete", "configmap", "-n", namespace, "--ignore-not-found"];
    args.extend(stale.iter().map(String::as_str));
    let ran = kubectl.run(&args, None, Some(deadline), &mut || progress.tick())?;
    if !ran.success() {
        return Err(cluster_failure(format!(
            "--prune-stale-config: deleting {} failed: {}",
            stale.join(", "),
            ran.stderr.trim()
        )));
    }
    progress.line(&format!(
        "prune: deleted ConfigMap {} in {namespace} (no Deployment references them)",
        stale.join(", ")
    ))?;
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDER: &str = "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata:\n  name: ml-pipeline\n  namespace: kubeflow\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ml-pipeline\n  namespace: kubeflow\nspec:\n  template:\n    spec:\n      containers:\n      - name: api\n        envFrom:\n        - configMapRef:\n            name: pipeline-api-server-config-dc9hkg52h6\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: compositecontrollers.metacontroller.k8s.io\nspec:\n  group: metacontroller.k8s.io\n  names:\n    kind: CompositeController\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubeflow\n";

    fn gk(group: &str, kind: &str) -> GroupKind {
        GroupKind {
            group: group.to_string(),
            kind: kind.to_string(),
        }
    }

    #[test]
    fn splits_documents_keeping_their_bytes() {
        let objects = split(RENDER).unwrap();
        let names: Vec<String> = objects.iter().map(Object::shown).collect();
        assert_eq!(
            names,
            [
                "AuthorizationPolicy/ml-pipeline (namespace kubeflow)",
                "Deployment/ml-pipeline (namespace kubeflow)",
                "CustomResourceDefinition/compositecontrollers.metacontroller.k8s.io",
                "Namespace/kubeflow",
            ]
        );
        assert_eq!(
            objects[0].text,
            "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata:\n  name: ml-pipeline\n  namespace: kubeflow\n"
        );
        assert_eq!(
            objects.iter().map(|o| o.line).collect::<Vec<_>>(),
            [1, 7, 21, 30]
        );
        assert_eq!(
            objects[2].defines(),
            Some(gk("metacontroller.k8s.io", "CompositeController"))
        );
        let all: Vec<&Object> = objects.iter().collect();
        assert_eq!(stream(&all), RENDER);
    }

    #[test]
    fn split_skips_empty_documents_and_names_bad_ones() {
        let objects = split("---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n...\n").unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].line, 4);
        assert_eq!(
            split("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\nfoo: bar\n")
                .unwrap_err(),
            "the document at line 6 is not a Kubernetes object (no apiVersion or kind)"
        );
        assert_eq!(
            split("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n").unwrap_err(),
            "the ConfigMap at line 1 has no metadata.name (kfpatch does not apply generateName objects)"
        );
        assert!(
            split("kind: [\n")
                .unwrap_err()
                .starts_with("the document at line 1 is not valid YAML")
        );
    }

    #[test]
    fn namespaces_and_crds_go_first() {
        let objects = split(RENDER).unwrap();
        let (first, rest) = order(&objects);
        let kinds = |v: &[&Object]| v.iter().map(|o| o.kind.clone()).collect::<Vec<_>>();
        assert_eq!(kinds(&first), ["Namespace", "CustomResourceDefinition"]);
        assert_eq!(kinds(&rest), ["AuthorizationPolicy", "Deployment"]);
    }

    #[test]
    fn classifier_heals_only_what_time_can_fix() {
        let objects = split(RENDER).unwrap();
        let facts = RenderFacts::of(&objects);
        let stderr = "Warning: resource deployments/x is missing the annotation\n\
[resource mapping not found for name: \"p\" namespace: \"kubeflow\" from \"STDIN\": no matches for kind \"CompositeController\" in version \"metacontroller.k8s.io/v1alpha1\"\n\
ensure CRDs are installed first, resource mapping not found for name: \"ml-pipeline\" namespace: \"kubeflow\" from \"STDIN\": no matches for kind \"AuthorizationPolicy\" in version \"security.istio.io/v1beta1\"\n\
ensure CRDs are installed first]\n\
Error from server (NotFound): error when creating \"STDIN\": namespaces \"kubeflow\" not found\n\
Error from server (NotFound): error when creating \"STDIN\": namespaces \"team-a\" not found\n\
Error from server (InternalError): error when creating \"STDIN\": Internal error occurred: failed calling webhook \"webhook.cert-manager.io\": connection refused\n\
Error from server (BadRequest): error when creating \"STDIN\": ConfigMap in version \"v1\" cannot be handled as a ConfigMap\n";
        assert_eq!(
            classify(stderr, &facts),
            vec![
                Cause::Heals(
                    "CompositeController (metacontroller.k8s.io): its CRD from this render is not served yet"
                        .to_string()
                ),
                Cause::Stops(
                    "AuthorizationPolicy (security.istio.io): Istio is not installed".to_string()
                ),
                Cause::Heals("namespace kubeflow is not created yet".to_string()),
                Cause::Stops(missing_namespace_message("team-a")),
                Cause::Heals("Error from server (InternalError): error when creating \"STDIN\": Internal error occurred: failed calling webhook \"webhook.cert-manager.io\": connection refused".to_string()),
                Cause::Stops("Error from server (BadRequest): error when creating \"STDIN\": ConfigMap in version \"v1\" cannot be handled as a ConfigMap".to_string()),
            ]
        );
        assert_eq!(
            classify(
                "The connection to the server 127.0.0.1:16443 was refused - did you specify the right host or port?\n",
                &facts
            ),
            vec![Cause::Heals("The connection to the server 127.0.0.1:16443 was refused - did you specify the right host or port?".to_string())]
        );
    }

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
        discovery.kinds.insert(gk("apps", "Deployment"), true);
        discovery.kinds.insert(gk("", "Namespace"), false);
        discovery.kinds.insert(
            gk("apiextensions.k8s.io", "CustomResourceDefinition"),
            false,
        );
        let err = check(&objects, &facts, &discovery, DryRun::None).unwrap_err();
        assert_eq!(err.code, EXIT_CLUSTER);
        assert_eq!(
            err.message,
            "the cluster lacks what these objects need; nothing was applied:\n  AuthorizationPolicy (security.istio.io): Istio is not installed (1 object)"
        );
        discovery
            .kinds
            .insert(gk("security.istio.io", "AuthorizationPolicy"), true);
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
    fn api_resources_with_and_without_short_names() {
        let kinds = parse_api_resources(
            "configmaps                          cm                   v1                                true    ConfigMap\nnamespaces ns v1 false Namespace\nauthorizationpolicies      security.istio.io/v1     true    AuthorizationPolicy\n",
        );
        assert_eq!(kinds.get(&gk("", "ConfigMap")), Some(&true));
        assert_eq!(kinds.get(&gk("", "Namespace")), Some(&false));
        assert_eq!(
            kinds.get(&gk("security.istio.io", "AuthorizationPolicy")),
            Some(&true)
        );
    }

    #[test]
    fn readiness_of_deployments() {
        let d = |s: &str| yaml_serde::from_str::<Value>(s).unwrap();
        assert_eq!(
            not_ready(&d("metadata: {generation: 1}\nstatus: {}\n")).as_deref(),
            Some("no controller has reported on it yet (no status)")
        );
        assert_eq!(
            not_ready(&d(
                "metadata: {generation: 2}\nstatus: {observedGeneration: 1}\n"
            ))
            .as_deref(),
            Some("the controller has not observed generation 2 yet (it saw 1)")
        );
        assert_eq!(
            not_ready(&d("metadata: {generation: 2}\nspec: {replicas: 2}\nstatus: {observedGeneration: 2, updatedReplicas: 1, replicas: 2, availableReplicas: 1}\n")).as_deref(),
            Some("1 of 2 replicas updated")
        );
        assert_eq!(
            not_ready(&d("metadata: {generation: 2}\nstatus: {observedGeneration: 2, updatedReplicas: 1, replicas: 2, availableReplicas: 1}\n")).as_deref(),
            Some("1 old replicas still running")
        );
        assert_eq!(
            not_ready(&d("metadata: {generation: 2}\nstatus: {observedGeneration: 2, updatedReplicas: 1, replicas: 1, availableReplicas: 0}\n")).as_deref(),
            Some("0 of 1 updated replicas available")
        );
        assert_eq!(
            not_ready(&d(
                "metadata: {generation: 2}\nstatus: {observedGeneration: 2, updatedReplicas: 1, replicas: 1, availableReplicas: 1}\n"
            )),
            None
        );
    }

    #[test]
    fn configmap_references() {
        let objects = split(RENDER).unwrap();
        let mut d = objects[1].value.clone();
        assert_eq!(
            referenced_configmaps(&d).into_iter().collect::<Vec<_>>(),
            ["pipeline-api-server-config-dc9hkg52h6"]
        );
        d = yaml_serde::from_str("spec:\n  template:\n    spec:\n      initContainers:\n      - env:\n        - valueFrom: {configMapKeyRef: {name: a, key: k}}\n      volumes:\n      - configMap: {name: b}\n      - projected: {sources: [{configMap: {name: c}}]}\n").unwrap();
        assert_eq!(
            referenced_configmaps(&d).into_iter().collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn the_prompt_asks_and_refuses_without_a_terminal() {
        let mut out = Vec::new();
        let mut yes: &[u8] = b"y\n";
        confirm(&mut out, Consent::Ask(&mut yes), "Apply? [y/N] ").unwrap();
        assert_eq!(out, b"Apply? [y/N] ");
        let mut no: &[u8] = b"\n";
        let err = confirm(&mut out, Consent::Ask(&mut no), "Apply? [y/N] ").unwrap_err();
        assert_eq!(err.message, "not applied: the answer was not yes");
        let err = confirm(&mut out, Consent::NoTerminal, "Apply? [y/N] ").unwrap_err();
        assert_eq!(err.code, 2);
        assert!(err.message.contains("pass --yes"));
        confirm(&mut out, Consent::Given, "unused").unwrap();
    }

    #[test]
    fn backoff_doubles_up_to_sixteen_seconds() {
        let secs: Vec<u64> = (2..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 16, 16]);
    }
}
