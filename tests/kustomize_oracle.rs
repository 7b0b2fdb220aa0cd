//! kfpatch's offline kustomize model against the oracle, `kubectl kustomize`: random fork trees
//! built from every release tree in `../shared/kubeflow` (overlays, patches of every form,
//! generators, components, replacements, vars, stacked and broken kustomizations), and for each
//! kustomization that deploys the install, kfpatch's effective value of every managed setting
//! (`status --format json`, `deploying`) must equal the one decoded from kustomize's render, or
//! kfpatch must say it cannot trace it where kustomize cannot build or a plugin decides.
//!
//! `KFPATCH_ORACLE_TREES` trees (default 500), from `KFPATCH_ORACLE_SEED` (default: random,
//! printed). The run stops after 3 failing trees, each shrunk; `KFPATCH_ORACLE_KEEP_GOING=1`
//! lists every failing tree with its disagreements instead (a soak). Tree 0 uses the seed itself, so a failing tree is replayed alone with
//! `KFPATCH_ORACLE_SEED=<its seed> KFPATCH_ORACLE_TREES=1`. docs/fuzzing.md tells more.

mod oracle;
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use oracle::draw;
use oracle::plan::MECHANISMS;
use oracle::rng::Rng;
use oracle::run::Oracle;

/// Failing trees reported (each shrunk) before the run stops.
const MAX_FAILING_TREES: usize = 3;
/// Time spent shrinking one failing tree.
const SHRINK_BUDGET: Duration = Duration::from_secs(90);

fn replay(seed: u64) -> String {
    format!(
        "KFPATCH_ORACLE_SEED={seed} KFPATCH_ORACLE_TREES=1 cargo test --test kustomize_oracle -- --ignored --nocapture"
    )
}

#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn kfpatch_traces_what_kustomize_builds() {
    let kubectl = std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output();
    assert!(
        kubectl.is_ok_and(|o| o.status.success()),
        "kubectl is not installed: the oracle is `kubectl kustomize`"
    );
    let trees = support::env_number("KFPATCH_ORACLE_TREES").unwrap_or(500) as usize;
    // A soak lists every failing tree (unshrunk) instead of stopping at the first few.
    let keep_going = support::env_number("KFPATCH_ORACLE_KEEP_GOING").unwrap_or(0) != 0;
    let seed = support::seed("KFPATCH_ORACLE_SEED");
    println!(
        "kustomize oracle: seed {seed}, {trees} trees; replay this run: KFPATCH_ORACLE_SEED={seed} KFPATCH_ORACLE_TREES={trees} cargo test --test kustomize_oracle -- --ignored --nocapture"
    );
    let oracle = Oracle::new();
    for layout in &oracle.layouts {
        println!(
            "  {}: install {}, upstream kustomizations deploying it: {}; edited: {}",
            layout.name,
            layout.install,
            layout.deploying.join(", "),
            layout.leaf_env.join(", ")
        );
    }
    let started = Instant::now();
    let mut seeds = Rng::new(seed);
    let mut counts: BTreeMap<&str, usize> = MECHANISMS.iter().map(|m| (*m, 0)).collect();
    let (mut kustomizations, mut settings, mut unbuildable, mut allowed) = (0, 0, 0, 0);
    let mut needless: Vec<String> = Vec::new();
    let mut failures = Vec::new();
    let mut done = 0;
    for i in 0..trees {
        let tree_seed = if i == 0 { seed } else { seeds.next() };
        let plan = draw::draw(tree_seed, &oracle.layouts);
        for name in plan.mechanisms() {
            *counts
                .get_mut(name)
                .unwrap_or_else(|| panic!("{name} is not in MECHANISMS")) += 1;
        }
        let outcome = oracle.evaluate(&plan);
        done += 1;
        kustomizations += outcome.kustomizations;
        settings += outcome.tally.settings;
        unbuildable += outcome.tally.unbuildable;
        allowed += outcome.tally.cannot_trace_allowed;
        if let Some(first) = outcome.tally.needless_cannot_trace.first() {
            needless.push(format!(
                "tree {i}, seed {tree_seed}: {} settings, e.g. {first}; replay: {}",
                outcome.tally.needless_cannot_trace.len(),
                replay(tree_seed)
            ));
        }
        if keep_going && !outcome.problems.is_empty() {
            println!(
                "FAILING tree {i}, seed {tree_seed} ({}): {} disagreements, replay: {}",
                oracle.layouts[plan.layout].name,
                outcome.problems.len(),
                replay(tree_seed)
            );
            for problem in &outcome.problems {
                println!("    {problem}");
            }
            failures.push(format!("tree {i}, seed {tree_seed}"));
        } else if !outcome.problems.is_empty() {
            let (small, shrunk) = oracle.shrink(&plan, SHRINK_BUDGET);
            let small_problems = if shrunk.problems.is_empty() {
                "(the shrunk tree passed: see the whole tree)".to_string()
            } else {
                shrunk.problems.join("\n")
            };
            failures.push(format!(
                "tree {i}, seed {tree_seed}: kfpatch disagrees with kustomize\nreplay: {}\n\n{}\n\nthe tree:\n{}\nshrunk to {} mechanisms ({:?}):\n{small_problems}\n\n{}",
                replay(tree_seed),
                outcome.problems.join("\n"),
                outcome.shown,
                small.mechanisms().len(),
                small.mechanisms(),
                shrunk.shown,
            ));
            if failures.len() >= MAX_FAILING_TREES {
                break;
            }
        }
        if done % 50 == 0 {
            println!(
                "  {done}/{trees} trees, {:.0} s, {} failing",
                started.elapsed().as_secs_f64(),
                failures.len()
            );
        }
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "kustomize oracle: {done} trees, {kustomizations} deploying kustomizations ({unbuildable} that kustomize cannot build), {settings} settings compared, {allowed} cannot-trace behind a plugin or a repeated YAML key, {} renders reused; {took:.1} s ({:.2} s a tree)",
        *oracle.cache_hits.lock().expect("lock"),
        took / done.max(1) as f64
    );
    println!(
        "{} trees with a needless cannot-trace (kfpatch gave up where kustomize builds: imprecise, never a false all-clear)",
        needless.len()
    );
    for tree in &needless {
        println!("  {tree}");
    }
    println!("mechanisms generated (trees using each):");
    for (name, count) in &counts {
        println!("  {count:>7}  {name}");
    }
    println!("seed {seed}");
    assert!(
        failures.is_empty(),
        "{} failing trees of {done} (seed {seed}):\n\n{}",
        failures.len(),
        failures.join("\n\n==========\n\n")
    );
    if done >= 100 {
        let never: Vec<&str> = counts
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(m, _)| *m)
            .collect();
        assert!(
            never.is_empty(),
            "the generator never produced {never:?} in {done} trees (seed {seed})"
        );
    }
}
