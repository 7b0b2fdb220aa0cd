//! One step's objects as kubectl streams applied at once: shared out by size over a bounded
//! number of kubectl processes, webhook configurations after the rest, and only the streams that
//! failed kept for the next attempt. The caller ([`crate::cluster::apply`]) decides what to retry
//! and prints one line per step, whatever order the processes finish in.

use std::time::{Duration, Instant};

use crate::checkout::model::objects::Object;
use crate::cluster::apply::steps::stream;
use crate::cluster::programs::kubectl::Kubectl;
use crate::cluster::programs::process::{self, Ran};
use crate::error::Result;
use crate::output::progress::Progress;

/// At most this many kubectl processes apply one step at once. The API server and etcd overlap
/// their writes while each kubectl waits for its own; more processes than this only add start-up
/// and discovery work on small machines.
const APPLY_PROCESSES: usize = 4;

/// A process is worth starting for this many objects or more.
const OBJECTS_PER_PROCESS: usize = 16;

/// What one object costs beside its bytes (its requests), in bytes, when a step's objects are
/// shared out. Measured on Kubeflow 1.8.1's 77 CRDs (1 kB to 675 kB each): a process took about
/// as long per object as per 256 kB of CRD; equal counts left the process with the largest
/// schemas 0.6 s behind the others, equal bytes the one with many small objects 3.8 s.
const PER_OBJECT_BYTES: usize = 256 * 1024;

/// The objects of one step as kubectl streams, in phases applied one after the other, each phase
/// shared out into at most [`APPLY_PROCESSES`] streams applied at once, by size and count
/// ([`PER_OBJECT_BYTES`]), so that the processes end at about the same time. Webhook
/// configurations make up the last phase: on a real cluster, a webhook configuration whose
/// service is not running yet makes the API server refuse the objects it matches, so they go in
/// only after everything else (kustomize orders them last in a render for the same reason).
/// Without `at_once`, one stream per phase.
pub fn phases(objects: &[&Object], at_once: bool) -> Vec<Vec<String>> {
    let is_webhook = |o: &&&Object| {
        o.group() == "admissionregistration.k8s.io" && o.kind.ends_with("WebhookConfiguration")
    };
    let (last, first): (Vec<&Object>, Vec<&Object>) = objects.iter().partition(is_webhook);
    let split = |part: &[&Object]| -> Vec<String> {
        let processes = if at_once {
            part.len()
                .div_ceil(OBJECTS_PER_PROCESS)
                .clamp(1, APPLY_PROCESSES)
        } else {
            1
        };
        // The costliest first, each to the process with the least so far; each process then
        // sends its share in the step's order.
        let cost = |o: &Object| o.text.len() + PER_OBJECT_BYTES;
        let mut costliest: Vec<usize> = (0..part.len()).collect();
        costliest.sort_by_key(|i| std::cmp::Reverse(cost(part[*i])));
        let mut loads = vec![0; processes];
        let mut owner = vec![0; part.len()];
        for i in costliest {
            let least = (0..processes).min_by_key(|p| loads[*p]).unwrap_or(0);
            loads[least] += cost(part[i]);
            owner[i] = least;
        }
        (0..processes)
            .map(|p| {
                let mine: Vec<&Object> = part
                    .iter()
                    .zip(&owner)
                    .filter(|(_, o)| **o == p)
                    .map(|(object, _)| *object)
                    .collect();
                stream(&mine)
            })
            .collect()
    };
    [first, last]
        .iter()
        .filter(|part| !part.is_empty())
        .map(|part| split(part))
        .collect()
}

/// Applies the streams of each phase in turn, those of one phase at once, and keeps only the
/// streams that failed (and the phases not reached) for the next attempt. The result is one run:
/// a success when nothing is left, else the first failure's exit code and every failure's stderr
/// in stream order.
pub fn apply_pending(
    kubectl: &Kubectl,
    args: &[&str],
    pending: &mut Vec<Vec<String>>,
    deadline: Instant,
    progress: &mut Progress<'_>,
) -> Result<Ran> {
    let started = Instant::now();
    let mut failed = Ran {
        code: Some(0),
        stdout: String::new(),
        stderr: String::new(),
        timed_out: false,
        took: Duration::ZERO,
    };
    process::prepare();
    while let Some(streams) = pending.first_mut() {
        let runs = crate::parallel::each(
            streams,
            |input, tick| kubectl.run(args, Some(input), deadline, tick),
            &mut || progress.tick(),
        );
        let mut left = Vec::new();
        for (input, ran) in std::mem::take(streams).into_iter().zip(runs) {
            let ran = ran?;
            if ran.success() {
                continue;
            }
            if failed.success() {
                failed.code = ran.code;
            }
            failed.stdout.push_str(&ran.stdout);
            failed.stderr.push_str(&ran.stderr);
            left.push(input);
        }
        if !left.is_empty() {
            *streams = left;
            break;
        }
        pending.remove(0);
    }
    failed.took = started.elapsed();
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkout::model::objects::split;

    fn config_map(name: &str, bytes: usize) -> String {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: {}\n",
            "x".repeat(bytes)
        )
    }

    fn names(stream: &str) -> Vec<&str> {
        stream
            .lines()
            .filter_map(|l| l.strip_prefix("  name: "))
            .collect()
    }

    #[test]
    fn shares_by_size_and_count_in_order_with_webhooks_last() {
        let mut docs: Vec<String> = (0..30)
            .map(|i| config_map(&format!("c{i:02}"), 10))
            .collect();
        docs.insert(3, config_map("big1", 600 * 1024));
        docs.insert(7, config_map("big2", 600 * 1024));
        docs.push("apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: hook\n".to_string());
        let objects = split(&docs.join("---\n")).unwrap();
        let all: Vec<&Object> = objects.iter().collect();
        let phases = phases(&all, true);
        assert_eq!(phases.len(), 2);
        assert_eq!(phases[1].len(), 1);
        assert_eq!(names(&phases[1][0]), ["hook"]);
        let shares: Vec<Vec<&str>> = phases[0].iter().map(|s| names(s)).collect();
        // 32 objects: 2 processes, a big one each, the small ones shared so that both carry
        // about as much, each in the render's order.
        assert_eq!(shares.len(), 2);
        assert_eq!(shares[0].iter().filter(|n| n.starts_with("big")).count(), 1);
        assert_eq!(shares[1].iter().filter(|n| n.starts_with("big")).count(), 1);
        assert_eq!(shares[0].len(), 16);
        for share in &shares {
            let mut sorted = share.clone();
            sorted.sort_by_key(|n| {
                docs.iter()
                    .position(|d| d.contains(&format!("name: {n}\n")))
            });
            assert_eq!(*share, sorted);
        }
        // One stream per phase without `at_once`.
        assert_eq!(phases_of_one(&all), [1, 1]);
    }

    fn phases_of_one(objects: &[&Object]) -> Vec<usize> {
        phases(objects, false).iter().map(Vec::len).collect()
    }
}
