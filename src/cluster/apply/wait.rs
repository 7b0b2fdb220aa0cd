//! Bounded waits for Deployments until rolled out (CRDs: [`crate::cluster::apply::crds`]). Nothing here
//! retries forever; every wait ends at a deadline with what is still missing, named.

use std::time::{Duration, Instant};

use yaml_serde::Value;

use crate::cluster::programs::diagnose::brief;
use crate::cluster::programs::kubectl::Kubectl;
use crate::error::{Failure, Result};
use crate::output::indented;
use crate::output::progress::Progress;

/// Between two polls of the Deployments being waited for.
const READY_POLL: Duration = Duration::from_secs(2);

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
                deadline.max(Instant::now() + Duration::from_secs(10)),
                &mut || progress.tick(),
            )?;
            let why = if ran.success() {
                match yaml_serde::from_str::<Value>(&ran.stdout) {
                    Ok(value) => not_ready(&value),
                    Err(e) => Some(format!("unreadable answer from kubectl: {e}")),
                }
            } else {
                Some(brief(&ran.stderr))
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
            return Err(Failure::cluster(format!(
                "not ready when the time limit ran out (--timeout {timeout_text}):\n{}",
                indented(&pending)
            )));
        }
        let until = Instant::now() + READY_POLL;
        while Instant::now() < until {
            progress.tick();
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
