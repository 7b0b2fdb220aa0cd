//! Choosing and running kustomize, once per command.
//!
//! Upstream's install loop re-renders on every try; kfpatch renders once and re-uses
//! the objects. It says which kustomize runs, warns when that is older than the release's README
//! asks for, and turns the failure of a render that needs the network (a remote base)
//! into the URL and the advice to vendor it, instead of kustomize's raw git error alone.

use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::Instant;

use crate::checkout::install::{Install, Layout};
use crate::checkout::model::CannotTrace;
use crate::checkout::model::entries::{self, Kind};
use crate::checkout::version::Version;
use crate::cluster::process;
use crate::error::{Failure, Result};

/// The kustomize that renders: a program and the arguments before the folder.
#[derive(Debug)]
pub struct Kustomize {
    pub program: String,
    pub args: Vec<String>,
    /// The kustomize version it reports, asked for while the render runs.
    version: VersionQuery,
}

type VersionAnswer = std::result::Result<Version, String>;

/// The answer, and the failure of a query that ran past the deadline.
type VersionOutcome = (VersionAnswer, Option<Failure>);

/// `kustomize version` (or `kubectl version --client`) runs on its own thread beside the render:
/// kubectl takes tens of milliseconds to start, which would otherwise add to every render. It
/// has the render's deadline; one that runs past it is an error (`Err`), not an unknown version.
#[derive(Debug)]
struct VersionQuery {
    running: RefCell<Option<thread::JoinHandle<VersionOutcome>>>,
    answer: OnceCell<VersionOutcome>,
}

impl VersionQuery {
    fn start(program: &str, deadline: Instant, limit: &str) -> VersionQuery {
        let (owned_program, owned_limit) = (program.to_string(), limit.to_string());
        // Before the thread starts, so that it inherits the blocked signals.
        process::prepare();
        let query = VersionQuery {
            running: RefCell::new(None),
            answer: OnceCell::new(),
        };
        match thread::Builder::new()
            .spawn(move || known_version(&owned_program, deadline, &owned_limit))
        {
            Ok(running) => *query.running.borrow_mut() = Some(running),
            // No thread (a process limit): the question is asked here, before the render.
            Err(_) => {
                let _ = query.answer.set(known_version(program, deadline, limit));
            }
        }
        query
    }

    fn get(&self) -> &VersionOutcome {
        self.answer.get_or_init(|| {
            self.running
                .borrow_mut()
                .take()
                .and_then(|query| query.join().ok())
                .unwrap_or_else(|| (Err("the version query failed".to_string()), None))
        })
    }
}

impl Kustomize {
    /// `--kustomize CMD` split into words (no shell, no quoting), or the default: `kustomize
    /// build` when kustomize is on PATH, else `kubectl kustomize`. Its version query stops at
    /// `deadline` (`--timeout LIMIT`), like the render.
    pub fn choose(flag: Option<&str>, deadline: Instant, limit: &str) -> Result<Kustomize> {
        let words: Vec<String> = match flag {
            Some(cmd) => cmd.split_whitespace().map(str::to_string).collect(),
            None if process::on_path("kustomize") => vec!["kustomize".into(), "build".into()],
            None => vec!["kubectl".into(), "kustomize".into()],
        };
        let Some((program, args)) = words.split_first() else {
            return Err(Failure::new(
                "--kustomize is empty: give a command such as \"kustomize build\" or \"kubectl kustomize\"",
            ));
        };
        Ok(Kustomize {
            program: program.clone(),
            args: args.to_vec(),
            version: VersionQuery::start(program, deadline, limit),
        })
    }

    /// The kustomize version it reports, or why it is unknown (waits for the query, which ends
    /// by the deadline at the latest).
    pub fn version(&self) -> &VersionAnswer {
        &self.version.get().0
    }

    /// `kubectl kustomize (kustomize v5.5.0)`.
    pub fn describe(&self) -> String {
        let mut words = vec![self.program.clone()];
        words.extend(self.args.iter().cloned());
        let version = match self.version() {
            Ok(v) => format!("kustomize {v}"),
            Err(why) => format!("version unknown: {why}"),
        };
        format!("{} ({version})", words.join(" "))
    }

    /// A warning when this kustomize is older than the release's README asks for.
    pub fn version_warning(&self, install: &Install) -> Option<String> {
        let (wanted, release) = required_version(install)?;
        let have = self.version().as_ref().ok()?;
        let mut words = vec![self.program.clone()];
        words.extend(self.args.iter().cloned());
        (*have < wanted).then(|| {
            format!(
                "{} runs kustomize {have}, older than the {wanted} that the README of {release} asks for; the render may differ from upstream's",
                words.join(" ")
            )
        })
    }

    /// Renders the kustomization in `dir` (shown to the user as `shown`). At `deadline`
    /// (`--timeout LIMIT`) the render, or the version query beside it, is killed with everything
    /// it started, and the render fails naming the command and how long it ran.
    pub fn render(
        &self,
        dir: &Path,
        root: &Path,
        shown: &str,
        deadline: Instant,
        limit: &str,
        tick: &mut dyn FnMut(),
    ) -> Result<Rendered> {
        let (remote, unreadable) = remote_bases(dir, root);
        // kustomize would wait on a FIFO, or fail on the file later with less to go on.
        if !unreadable.is_empty() {
            return Err(Failure::new(format!(
                "cannot render {shown}: kustomizations it builds on cannot be read:\n{}\n  fix: make each a readable kustomization file",
                unreadable
                    .iter()
                    .map(|c| format!("  {}", c.shown()))
                    .collect::<Vec<_>>()
                    .join("\n")
            )));
        }
        let mut args: Vec<String> = self.args.clone();
        args.push(dir.display().to_string());
        let ran = process::run(&self.program, &args, None, Some(deadline), tick).map_err(|e| {
            Failure::new(process::cannot_run(
                &self.program,
                &e,
                "install kustomize or kubectl, or name another with --kustomize CMD",
            ))
        })?;
        if ran.timed_out {
            let mut words = vec![self.program.clone()];
            words.extend(args);
            return Err(Failure::new(ran.timed_out_message(
                &words.join(" "),
                &format!("--timeout {limit}"),
            )));
        }
        if let Some(failure) = &self.version.get().1 {
            return Err(failure.clone());
        }
        if ran.success() {
            return Ok(Rendered {
                yaml: ran.stdout,
                remote,
            });
        }
        let detail = error_lines(&ran.stderr);
        if !remote.is_empty() {
            let urls: Vec<String> = remote
                .iter()
                .map(|r| format!("  {}:{}: {}", r.file, r.line, r.url))
                .collect();
            return Err(Failure::new(format!(
                "rendering {shown} needs the network: it references remote bases\n{}\nvendor them: copy the files at that ref into the checkout and point the entries at the copies (relative paths), then render again.{}",
                urls.join("\n"),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!("\n{} said: {detail}", self.program)
                }
            )));
        }
        Err(Failure::new(format!(
            "{} failed to render {shown}: {detail}",
            self.describe()
        )))
    }
}

/// A successful render: its YAML stream, and the remote bases it fetched.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub yaml: String,
    pub remote: Vec<RemoteBase>,
}

/// The kustomize a release's README asks for, by the KFP version it ships; `None`
/// outside kubeflow/manifests (kubeflow/pipelines states no version). The KFP version stands in
/// for the manifests release, which the trees do not record.
pub fn required_version(install: &Install) -> Option<(Version, &'static str)> {
    if !matches!(
        install.layout,
        Layout::ManifestsApps | Layout::ManifestsApplications
    ) {
        return None;
    }
    let kfp = install.version.as_ref().ok()?;
    let at_least = |v: &str| Version::parse(v).is_some_and(|v| *kfp >= v);
    let (wanted, release) = if at_least("2.6.0") {
        ("5.7.1", "kubeflow/manifests v1.11 and later")
    } else if at_least("2.4.0") {
        ("5.4.3", "kubeflow/manifests v1.10")
    } else if at_least("2.2.0") {
        ("5.2.1", "kubeflow/manifests v1.9")
    } else if at_least("2.0.3") {
        ("5.0.3", "kubeflow/manifests v1.8")
    } else if at_least("2.0.0-alpha.7") {
        ("5.0.0", "kubeflow/manifests v1.7")
    } else {
        ("3.2.0", "kubeflow/manifests v1.3 to v1.6")
    };
    Some((Version::parse(wanted)?, release))
}

/// Whether the release's README applies server-side with `--force-conflicts` (v1.10 on),
/// judged by the KFP version like [`required_version`].
pub fn readme_uses_server_side(install: &Install) -> bool {
    required_version(install)
        .is_some_and(|(wanted, _)| Version::parse("5.4.3").is_some_and(|v| wanted >= v))
}

/// [`detect_version`] once per program and process: every render of a run (several targets,
/// several clusters) would otherwise ask again (43 ms for `kubectl version`). A query that ran
/// out of time is not kept.
fn known_version(program: &str, deadline: Instant, limit: &str) -> VersionOutcome {
    static KNOWN: OnceLock<Mutex<BTreeMap<String, VersionAnswer>>> = OnceLock::new();
    let known = KNOWN.get_or_init(Mutex::default);
    if let Some(version) = known.lock().ok().and_then(|k| k.get(program).cloned()) {
        return (version, None);
    }
    let outcome = detect_version(program, deadline, limit);
    if outcome.1.is_none()
        && let Ok(mut k) = known.lock()
    {
        k.insert(program.to_string(), outcome.0.clone());
    }
    outcome
}

/// What `kustomize version` (or `kubectl version --client`) reports, or why it is unknown; a
/// query still running at `deadline` is killed and is an error.
fn detect_version(program: &str, deadline: Instant, limit: &str) -> VersionOutcome {
    let is_kubectl = Path::new(program)
        .file_name()
        .is_some_and(|n| n == "kubectl");
    let args: &[&str] = if is_kubectl {
        &["version", "--client", "-o", "json"]
    } else {
        &["version"]
    };
    let ran = match process::run(program, args, None, Some(deadline), &mut || {}) {
        Ok(ran) => ran,
        Err(e) => return (Err(format!("cannot run {program}: {e}")), None),
    };
    if ran.timed_out {
        let command = format!("{program} {}", args.join(" "));
        let failure = Failure::new(ran.timed_out_message(&command, &format!("--timeout {limit}")));
        return (
            Err(format!("{command} did not answer in time")),
            Some(failure),
        );
    }
    let text = if is_kubectl {
        ran.stdout
            .lines()
            .find(|l| l.contains("kustomizeVersion"))
            .unwrap_or_default()
            .to_string()
    } else {
        ran.stdout.clone()
    };
    let answer = first_version(&text).ok_or_else(|| format!("{program} did not report one"));
    (answer, None)
}

/// The first `v1.2.3`-like word in `text` (`{Version:kustomize/v4.5.7 ...}`, `v5.5.0`).
fn first_version(text: &str) -> Option<Version> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .filter(|w| w.starts_with('v') || w.starts_with(|c: char| c.is_ascii_digit()))
        .find_map(Version::parse)
}

/// The longest line of kustomize's message kfpatch passes on; beyond it is an echo of a patch or
/// an object nobody reads on one line.
const LONGEST_LINE: usize = 240;

/// kustomize's error as a person needs it: no deprecation warnings, no kubectl log prefix
/// (`E1129 02:51:18.163477 23577 run.go:72] "command failed" err="..."`, or its multi-line `err=<`
/// form), Go value dumps (`&{0xc00155e5b0 <nil>}`, `resid.ResId{...}`) replaced by the object they
/// name, the configuration a transformer echoes cut to its first line, and the middle of any line
/// longer than [`LONGEST_LINE`] left out.
pub fn error_lines(stderr: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut input = stderr.lines();
    while let Some(line) = input.next() {
        if line.starts_with("# Warning") || line.trim().is_empty() {
            continue;
        }
        match line.split_once("\"command failed\" err=") {
            Some((_, "<")) => {
                for inner in input.by_ref() {
                    if inner.trim() == ">" {
                        break;
                    }
                    lines.push(inner.strip_prefix('\t').unwrap_or(inner).to_string());
                }
            }
            Some((_, quoted)) => lines.push(unquote(quoted)),
            None => lines.push(line.to_string()),
        }
    }
    let text = without_config_echo(&without_go_dumps(&lines.join("\n")));
    text.lines().map(cut).collect::<Vec<_>>().join("\n")
}

/// A klog-quoted value: surrounding quotes dropped, `\"`, `\\`, `\n` and `\t` read back.
fn unquote(quoted: &str) -> String {
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(quoted);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// `&{0xc00155e5b0 <nil>}` goes; `resid.ResId{Gvk:resid.Gvk{...Kind:"ConfigMap"...}, Name:"x",
/// Namespace:""}` becomes `ConfigMap x`.
fn without_go_dumps(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let pointer = rest.find("&{0x");
        let resid = rest.find("resid.ResId{");
        let at = match (pointer, resid) {
            (Some(p), Some(r)) => p.min(r),
            (Some(p), None) => p,
            (None, Some(r)) => r,
            (None, None) => break,
        };
        out.push_str(rest[..at].trim_end_matches(' '));
        let Some(len) = balanced(&rest[at..]) else {
            out.push_str(&rest[at..]);
            return out;
        };
        let dump = &rest[at..at + len];
        if dump.starts_with("resid.ResId{") {
            let field = |name: &str| {
                let key = format!("{name}:\"");
                dump.find(&key).and_then(|i| {
                    let value = &dump[i + key.len()..];
                    value.find('"').map(|end| value[..end].to_string())
                })
            };
            let kind = field("Kind").unwrap_or_default();
            let name = field("Name").unwrap_or_default();
            out.push(' ');
            out.push_str(&format!("{kind} {name}"));
            if let Some(ns) = field("Namespace").filter(|n| !n.is_empty()) {
                out.push_str(&format!(" (namespace {ns})"));
            }
        }
        rest = &rest[at + len..];
    }
    out.push_str(rest);
    out
}

/// The length of `text` up to and including the brace that closes its first `{`.
fn balanced(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// `with config: `...`: ` (a transformer echoing its whole configuration) cut to the config's
/// first line.
fn without_config_echo(text: &str) -> String {
    const START: &str = "with config: `";
    let Some(at) = text.find(START) else {
        return text.to_string();
    };
    let body = &text[at + START.len()..];
    let Some(end) = body.find("`: ") else {
        return text.to_string();
    };
    let first = body[..end]
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    format!(
        "{}with config `{} ...`: {}",
        &text[..at],
        cut_to(first, 60),
        &body[end + 3..]
    )
}

fn cut(line: &str) -> String {
    let count = line.chars().count();
    if count <= LONGEST_LINE {
        return line.to_string();
    }
    // kustomize puts the cause last ("... lstat upstream/common: no such file or directory"), so
    // both ends are kept.
    let (head, tail) = (LONGEST_LINE * 2 / 3, LONGEST_LINE / 3);
    format!(
        "{} [{} characters left out] {}",
        line.chars().take(head).collect::<String>(),
        count - head - tail,
        line.chars().skip(count - tail).collect::<String>()
    )
}

fn cut_to(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_string()
    } else {
        format!("{}...", text.chars().take(n).collect::<String>())
    }
}

/// A `resources:`/`bases:`/`components:` entry that kustomize fetches over the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteBase {
    /// The kustomization file, as shown to the user.
    pub file: String,
    pub line: usize,
    pub url: String,
}

/// Every remote base reachable from the kustomization in `dir`, following local entries
/// (`resources`, `bases`, `components`), each kustomization read by the model's one reader; files
/// are shown relative to `root` (canonical). Second: the kustomizations met that cannot be read
/// or parsed (what they would fetch cannot be told).
pub fn remote_bases(dir: &Path, root: &Path) -> (Vec<RemoteBase>, Vec<CannotTrace>) {
    let mut found = Vec::new();
    let mut unreadable = Vec::new();
    let mut seen = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(real) = dir.canonicalize() else {
            continue;
        };
        if !seen.insert(real.clone()) {
            continue;
        }
        let k = match entries::load_folder(root, &real) {
            Ok(Some(k)) => k,
            Ok(None) => continue,
            Err(c) => {
                unreadable.push(c);
                continue;
            }
        };
        let mut local = Vec::new();
        for entry in entries::entries(&k) {
            if entry.is_remote() {
                found.push(RemoteBase {
                    file: k.shown.clone(),
                    line: entry.line,
                    url: entry.text.to_string(),
                });
            } else if matches!(entry.kind, Kind::Resource | Kind::Component) {
                local.push(real.join(entry.text));
            }
        }
        // Depth first, in the order the entries are written.
        pending.extend(local.into_iter().rev());
    }
    (found, unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_both_output_styles() {
        assert_eq!(
            first_version("v5.5.0\n").map(|v| v.to_string()),
            Some("v5.5.0".to_string())
        );
        assert_eq!(
            first_version("{Version:kustomize/v4.5.7 GitCommit:56d82a8 BuildDate:2022-08-02}")
                .map(|v| v.to_string()),
            Some("v4.5.7".to_string())
        );
        assert_eq!(
            first_version("  \"kustomizeVersion\": \"v5.5.0\",").map(|v| v.to_string()),
            Some("v5.5.0".to_string())
        );
        assert!(first_version("no version here").is_none());
    }

    #[test]
    fn go_value_dumps_name_the_object() {
        let stderr = "E1130 09:11:32.788375 25632 run.go:72] \"command failed\" err=\"merging from generator &{0xc00155e5b0 <nil>}: id resid.ResId{Gvk:resid.Gvk{Group:\\\"\\\", Version:\\\"v1\\\", Kind:\\\"ConfigMap\\\", isClusterScoped:false}, Name:\\\"no-such-config\\\", Namespace:\\\"\\\"} does not exist; cannot merge or replace\"\n";
        assert_eq!(
            error_lines(stderr),
            "merging from generator: id ConfigMap no-such-config does not exist; cannot merge or replace"
        );
    }

    #[test]
    fn echoed_patches_are_cut() {
        let patch = "\\n        value: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'".repeat(40);
        let stderr = format!(
            "# Warning: 'bases' is deprecated.\nE1130 09:15:11.674788 2772 run.go:72] \"command failed\" err=<\n\ttrouble configuring builtin PatchTransformer with config: `\n\tpatch: \"spec:\\n  template:{patch}\"\n\ttarget:\n\t  kind: Deployment\n\t`: unable to parse SM or JSON patch from [patch: \"spec:\\n  template:{patch}\"]\n >\n"
        );
        let short = error_lines(&stderr);
        assert!(
            short.starts_with("trouble configuring builtin PatchTransformer with config `patch: \"spec:\\n  template:\\n        value: 'xxxxxxxxxxxxxxxx... ...`: unable to parse SM or JSON patch [1915 characters left out] "),
            "{short}"
        );
        assert!(
            short.ends_with("        value: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'\"]"),
            "{short}"
        );
        assert_eq!(short.lines().count(), 1, "{short}");
    }

    #[test]
    fn kubectl_log_prefix_is_dropped() {
        assert_eq!(
            error_lines(
                "# Warning: 'bases' is deprecated.\nE1129 02:51:18.163477   23577 run.go:72] \"command failed\" err=\"accumulating resources: no such file\"\n"
            ),
            "accumulating resources: no such file"
        );
    }

    #[test]
    fn finds_remote_bases_through_local_ones() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().canonicalize().unwrap();
        let top = root.join("overlay");
        let base = root.join("base");
        std::fs::create_dir_all(&top).unwrap();
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(
            top.join("kustomization.yaml"),
            "resources:\n- ../base\n- cm.yaml\n",
        )
        .unwrap();
        std::fs::write(
            base.join("kustomization.yaml"),
            "resources:\n- a.yaml\n- https://github.com/argoproj/argo-workflows/manifests/base?ref=v3.7.3\n",
        )
        .unwrap();
        assert_eq!(
            remote_bases(&top, &root).0,
            vec![RemoteBase {
                file: "base/kustomization.yaml".to_string(),
                line: 3,
                url: "https://github.com/argoproj/argo-workflows/manifests/base?ref=v3.7.3"
                    .to_string(),
            }]
        );
    }
}
