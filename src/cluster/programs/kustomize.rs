//! Choosing and running kustomize, once per command.
//!
//! Upstream's install loop re-renders on every try; kfpatch renders once and re-uses
//! the objects. It says which kustomize runs, warns when that is older than the release's README
//! asks for, and turns the failure of a render that needs the network (a remote base)
//! into the URL and the advice to vendor it, instead of kustomize's raw git error alone; one that
//! kustomize refuses for a file outside the kustomization's folder, into how to build it with the
//! load restrictor off. `message` shortens kustomize's error, its cause kept.

mod message;

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
use crate::cluster::programs::process;
use crate::error::{Failure, Result};
use message::error_lines;

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
        // Paths under the checkout shown relative to it, as kfpatch shows every path: kustomize
        // names them absolute, which makes its chained errors long.
        let detail = error_lines(&ran.stderr.replace(&format!("{}/", root.display()), ""));
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
            "{} failed to render {shown}: {detail}{}",
            self.describe(),
            self.load_restrictor_advice(&detail)
                .map_or(String::new(), |advice| format!("\n{advice}"))
        )))
    }

    /// kustomize refuses a file outside the folder of the kustomization that names it unless its
    /// load restrictor is off; the kfctl-era trees (kubeflow/manifests v1.1, v1.2) were built so.
    /// The advice names this kustomize with the flag added.
    fn load_restrictor_advice(&self, detail: &str) -> Option<String> {
        if !detail.contains(" is not in or below ")
            || self.args.iter().any(|a| a.starts_with("--load-restrictor"))
        {
            return None;
        }
        let mut words = vec![self.program.as_str()];
        words.extend(self.args.iter().map(String::as_str));
        words.extend(["--load-restrictor", "LoadRestrictionsNone"]);
        Some(format!(
            "kustomize refuses a file outside the folder of the kustomization that names it unless its load restrictor is off, as kfctl built the trees of kubeflow/manifests v1.1 and v1.2; to build this tree that way, pass --kustomize '{}'",
            words.join(" ")
        ))
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

    /// The advice names the kustomize in use with the flag added, and is not given when the flag
    /// is already there or the error is another.
    #[test]
    fn the_load_restrictor_advice_names_the_kustomize_in_use() {
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let refused = "accumulating resources: [119 characters left out]: loading KV pairs: env source files: [../../upstream/base/params.env]: security; file 'pipeline/upstream/base/params.env' is not in or below 'pipeline/installs/generic'";
        let standalone = Kustomize::choose(Some("kustomize  build"), deadline, "10s").unwrap();
        assert_eq!(
            standalone.load_restrictor_advice(refused).as_deref(),
            Some(
                "kustomize refuses a file outside the folder of the kustomization that names it unless its load restrictor is off, as kfctl built the trees of kubeflow/manifests v1.1 and v1.2; to build this tree that way, pass --kustomize 'kustomize build --load-restrictor LoadRestrictionsNone'"
            )
        );
        assert_eq!(
            standalone.load_restrictor_advice(
                "accumulating resources: lstat base: no such file or directory"
            ),
            None
        );
        let unrestricted = Kustomize::choose(
            Some("kubectl kustomize --load-restrictor LoadRestrictionsNone"),
            deadline,
            "10s",
        )
        .unwrap();
        assert_eq!(
            (unrestricted.program.as_str(), unrestricted.args.clone()),
            (
                "kubectl",
                vec![
                    "kustomize".to_string(),
                    "--load-restrictor".to_string(),
                    "LoadRestrictionsNone".to_string()
                ]
            )
        );
        assert_eq!(unrestricted.load_restrictor_advice(refused), None);
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
