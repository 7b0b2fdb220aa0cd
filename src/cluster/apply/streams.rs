//! One step's objects as kubectl streams applied at once: split round-robin over a bounded
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

/// The objects of one step as kubectl streams, in phases applied one after the other, each phase
/// split round-robin into at most [`APPLY_PROCESSES`] streams applied at once. Webhook
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
        (0..processes)
            .map(|i| {
                let mine: Vec<&Object> = part.iter().skip(i).step_by(processes).copied().collect();
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
