//! Running kubectl: always with an argument vector (never a shell), the user's `--kubeconfig` and
//! `--context`, its caches kept out of the working folder, and the YAML on stdin; which cluster that is; and what it serves (discovery).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use yaml_serde::Value;

use crate::checkout::model::objects::GroupKind;
use crate::cluster::programs::diagnose::brief;
use crate::cluster::programs::process::{self, Ran};
use crate::error::{Failure, Result};

/// kubectl with the user's `--kubeconfig` and `--context`.
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// The time limit the calls' deadlines come from, as messages name it (`--timeout 10m`).
    pub limit: String,
}

/// The cluster a kubeconfig and context point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    pub context: String,
    pub server: String,
}

impl Kubectl {
    /// kubectl with `--kubeconfig` and `--context` when given (else kubectl's own defaults);
    /// `limit` names the time limit its deadlines come from.
    pub fn new(kubeconfig: Option<PathBuf>, context: Option<String>, limit: String) -> Kubectl {
        Kubectl {
            kubeconfig,
            context,
            limit,
        }
    }

    fn args(&self, rest: &[&str]) -> Vec<OsString> {
        let mut args = Vec::new();
        if let Some(dir) = cache_dir() {
            args.push(OsString::from("--cache-dir"));
            args.push(dir.into_os_string());
        }
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

    /// Runs `kubectl ARGS` with `stdin`. At `deadline` kubectl and everything it started are
    /// killed, and the call fails with exit 3, naming the command and how long it ran.
    pub fn run(
        &self,
        rest: &[&str],
        stdin: Option<&str>,
        deadline: Instant,
        tick: &mut dyn FnMut(),
    ) -> Result<Ran> {
        self.check_kubeconfig()?;
        let ran = process::run(
            "kubectl",
            &self.args(rest),
            stdin.map(str::as_bytes),
            Some(deadline),
            tick,
        )
        .map_err(|e| {
            Failure::new(process::cannot_run(
                "kubectl",
                &e,
                "install kubectl (v1.26 or later) and put it on PATH",
            ))
        })?;
        if ran.timed_out {
            let command = format!("kubectl {}", rest.join(" "));
            return Err(Failure::cluster(
                ran.timed_out_message(&command, &self.limit),
            ));
        }
        Ok(ran)
    }

    /// Refuses a `--kubeconfig` file that does not exist, which kubectl would only report as a
    /// context it cannot find.
    pub fn check_kubeconfig(&self) -> Result<()> {
        match &self.kubeconfig {
            Some(file) if fs::metadata(file).is_err() => Err(Failure::new(format!(
                "kubeconfig {} does not exist; pass an existing file with --kubeconfig (or leave it out to use KUBECONFIG or ~/.kube/config)",
                file.display()
            ))),
            _ => Ok(()),
        }
    }

    /// The context and server URL kubectl would use (read from the kubeconfig; no network).
    pub fn info(&self, deadline: Instant) -> Result<ClusterInfo> {
        let ran = self.run(
            &["config", "view", "--minify", "-o", "json"],
            None,
            deadline,
            &mut || {},
        )?;
        if !ran.success() {
            return Err(Failure::new(format!(
                "kubectl cannot use this kubeconfig/context: {}; check --kubeconfig and --context (or KUBECONFIG)",
                brief(&ran.stderr).trim_start_matches("error: ")
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

/// Where kubectl keeps its discovery and HTTP caches when it would otherwise put them in the
/// working folder: with `HOME` unset, kubectl's default `$HOME/.kube/cache` becomes
/// `.kube/cache` in the folder kubectl runs in, which is usually the user's checkout. `None`
/// (kubectl's default) when `HOME` is set or `KUBECACHEDIR` says where; otherwise
/// `$XDG_CACHE_HOME/kubectl`, or a folder of this user's in the temporary folder.
fn cache_dir() -> Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if set("HOME").is_some() || set("KUBECACHEDIR").is_some() {
            return None;
        }
        if let Some(xdg) = set("XDG_CACHE_HOME").map(PathBuf::from)
            && xdg.is_absolute()
        {
            return Some(xdg.join("kubectl"));
        }
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        let dir = std::env::temp_dir().join(format!("kfpatch-kubectl-cache-{uid}"));
        let _ = fs::DirBuilder::new().mode(0o700).create(&dir);
        // Somebody else's folder (or a link) under that name is not used; a fresh private one
        // is made for this run instead.
        let ours = fs::symlink_metadata(&dir)
            .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o077 == 0);
        if ours {
            return Some(dir);
        }
        let own = std::env::temp_dir().join(format!(
            "kfpatch-kubectl-cache-{uid}-{}",
            std::process::id()
        ));
        fs::DirBuilder::new().mode(0o700).create(&own).ok()?;
        Some(own)
    })
    .clone()
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
        kinds.insert(GroupKind::of(api_version, kind), namespaced == "true");
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn api_resources_with_and_without_short_names() {
        let kinds = parse_api_resources(
            "configmaps                          cm                   v1                                true    ConfigMap\nnamespaces ns v1 false Namespace\nauthorizationpolicies      security.istio.io/v1     true    AuthorizationPolicy\n",
        );
        assert_eq!(kinds.get(&GroupKind::new("", "ConfigMap")), Some(&true));
        assert_eq!(kinds.get(&GroupKind::new("", "Namespace")), Some(&false));
        assert_eq!(
            kinds.get(&GroupKind::new("security.istio.io", "AuthorizationPolicy")),
            Some(&true)
        );
    }
}
