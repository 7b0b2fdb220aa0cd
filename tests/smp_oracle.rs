//! The model's strategic merge (`checkout::model::patch::strategic`) against the oracle,
//! `kubectl kustomize`: random workloads (Deployments, StatefulSets, Jobs, CronJobs, Pods, and
//! Deployments of a retired API version kustomize has no schema for) whose keyed lists
//! (containers, env, volumeMounts, ports, volumes, imagePullSecrets) repeat keys, lack them or
//! lack a list, and Services whose ports do, each under one random
//! strategic merge patch (merges, new items, `$patch: delete`/`replace` on items and on lists,
//! null values, repeated keys in the patch, patches naming no list at all). The model's object
//! must equal kustomize's exactly: every list's items and their order. And the edit the model
//! carries out in place (`strategic_edit`) must say it changes the object exactly when the
//! merged object differs from it: the model leaves the others as they are.
//!
//! `KFPATCH_SMP_ORACLE_CASES` cases (default 2000) from `KFPATCH_SMP_ORACLE_SEED` (default:
//! random, printed), built by kustomize in batches (one kustomization holding many objects, one
//! patch each). Case 0 uses the seed itself: a failing case is replayed alone with
//! `KFPATCH_SMP_ORACLE_SEED=<its seed> KFPATCH_SMP_ORACLE_CASES=1`.

#[path = "oracle/rng.rs"]
mod rng;
mod support;

use std::collections::BTreeMap;

use kfpatch::checkout::model::patch::{strategic, strategic_edit};
use rng::Rng;
use yaml_serde::{Mapping, Value};

/// Deployments per kustomize run.
const BATCH: usize = 250;
/// Disagreements printed in full.
const SHOWN: usize = 5;

fn map(pairs: Vec<(&str, Value)>) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(Value::from(k), v);
    }
    Value::Mapping(m)
}

fn s(text: &str) -> Value {
    Value::from(text)
}

fn one(r: &mut Rng, items: &[&str]) -> Value {
    let picked: &&str = r.pick(items);
    s(picked)
}

/// A few items of a keyed list, drawn by `item`; none at all now and then.
fn some(r: &mut Rng, most: usize, item: &mut dyn FnMut(&mut Rng) -> Value) -> Value {
    let n = r.below(most + 1);
    Value::Sequence((0..n).map(|_| item(r)).collect())
}

fn value_of(r: &mut Rng) -> Value {
    one(r, &["a", "b", "p", "q", "1", ""])
}

/// An env item of the object: usually a value, sometimes a reference, rarely without a name.
fn env_item(r: &mut Rng) -> Value {
    let name = one(r, &["A", "B", "C", "D"]);
    match r.below(100) {
        0..=2 => map(vec![("value", s("nokey"))]),
        3..=17 => map(vec![
            ("name", name),
            (
                "valueFrom",
                map(vec![(
                    "fieldRef",
                    map(vec![("fieldPath", s("metadata.name"))]),
                )]),
            ),
        ]),
        _ => map(vec![("name", name), ("value", value_of(r))]),
    }
}

/// An env item of a patch: a merge, a new item, a delete, an item's replace, a null value, and
/// rarely the list's own `$patch: replace` or an item without a name.
fn env_patch_item(r: &mut Rng) -> Value {
    let name = one(r, &["A", "B", "C", "D", "E"]);
    match r.below(100) {
        0..=3 => map(vec![("$patch", s("replace"))]),
        4..=5 => map(vec![("value", s("nokey"))]),
        6..=20 => map(vec![("name", name), ("$patch", s("delete"))]),
        21..=30 => map(vec![
            ("name", name),
            ("value", value_of(r)),
            ("$patch", s("replace")),
        ]),
        31..=38 => map(vec![("name", name), ("value", Value::Null)]),
        39..=45 => map(vec![
            ("name", name),
            (
                "valueFrom",
                map(vec![(
                    "secretKeyRef",
                    map(vec![("name", s("s")), ("key", s("k"))]),
                )]),
            ),
        ]),
        _ => map(vec![("name", name), ("value", value_of(r))]),
    }
}

fn mount(r: &mut Rng) -> Value {
    map(vec![
        ("mountPath", one(r, &["/a", "/b", "/c"])),
        ("name", one(r, &["v1", "v2", "v3"])),
    ])
}

fn port(r: &mut Rng) -> Value {
    let mut pairs = vec![
        ("containerPort", Value::from(*r.pick(&[80u64, 81, 82]))),
        ("name", one(r, &["p1", "p2", "p3"])),
    ];
    if r.chance(40) {
        pairs.push(("protocol", one(r, &["TCP", "UDP"])));
    }
    map(pairs)
}

fn named(r: &mut Rng, names: &[&str], field: &str) -> Value {
    let name = one(r, names);
    let value = one(r, &["x", "y"]);
    map(vec![("name", name), (field, value)])
}

/// A container of the object; its lists are missing now and then.
fn container(r: &mut Rng) -> Value {
    let mut pairs = vec![
        ("name", one(r, &["main", "main", "side"])),
        ("image", one(r, &["one", "two"])),
    ];
    if r.chance(85) {
        pairs.push(("env", some(r, 5, &mut env_item)));
    }
    if r.chance(40) {
        pairs.push(("volumeMounts", some(r, 3, &mut mount)));
    }
    if r.chance(40) {
        pairs.push(("ports", some(r, 3, &mut port)));
    }
    map(pairs)
}

/// A container of the patch: an image, env items, sometimes mounts, ports, `env: null` or the
/// container's own delete.
fn container_patch(r: &mut Rng) -> Value {
    let mut pairs = vec![("name", one(r, &["main", "main", "side", "new"]))];
    if r.chance(30) {
        pairs.push(("image", s("patched")));
    }
    match r.below(100) {
        0..=3 => pairs.push(("env", Value::Null)),
        4..=6 => pairs.push(("$patch", s("delete"))),
        7..=15 => {}
        _ => pairs.push(("env", some(r, 4, &mut env_patch_item))),
    }
    if r.chance(15) {
        pairs.push(("volumeMounts", some(r, 2, &mut mount)));
    }
    if r.chance(15) {
        pairs.push(("ports", some(r, 2, &mut port)));
    }
    map(pairs)
}

/// The kinds drawn, with where their pod spec sits: kustomize's schema knows all but the
/// retired `apps/v1beta1`, whose lists it replaces whole.
const KINDS: &[(&str, &str, &[&str])] = &[
    ("apps/v1", "Deployment", &["spec", "template", "spec"]),
    ("apps/v1", "Deployment", &["spec", "template", "spec"]),
    ("apps/v1", "Deployment", &["spec", "template", "spec"]),
    ("apps/v1", "StatefulSet", &["spec", "template", "spec"]),
    ("batch/v1", "Job", &["spec", "template", "spec"]),
    (
        "batch/v1",
        "CronJob",
        &["spec", "jobTemplate", "spec", "template", "spec"],
    ),
    ("v1", "Pod", &["spec"]),
    ("apps/v1beta1", "Deployment", &["spec", "template", "spec"]),
];

fn object_of(kind: usize, name: &str, pod: Value) -> Value {
    let (api, k, path) = KINDS[kind];
    let body = path
        .iter()
        .rev()
        .fold(pod, |v, field| map(vec![(field, v)]));
    let mut pairs = vec![
        ("apiVersion", s(api)),
        ("kind", s(k)),
        ("metadata", map(vec![("name", s(name))])),
    ];
    pairs.push(("spec", body["spec"].clone()));
    map(pairs)
}

fn service_port(r: &mut Rng) -> Value {
    let mut pairs = vec![
        ("port", Value::from(*r.pick(&[80u64, 81]))),
        ("name", one(r, &["a", "b", "c"])),
    ];
    if r.chance(40) {
        pairs.push(("protocol", one(r, &["TCP", "UDP"])));
    }
    if r.chance(15) {
        pairs.push(("$patch", s("delete")));
    }
    map(pairs)
}

/// A Service, whose ports kustomize keys by `port` and `protocol`, and its patch.
fn service_case(r: &mut Rng, name: &str) -> (Value, Value) {
    let service = |ports: Value| {
        map(vec![
            ("apiVersion", s("v1")),
            ("kind", s("Service")),
            ("metadata", map(vec![("name", s(name))])),
            ("spec", map(vec![("ports", ports)])),
        ])
    };
    let mut object_port = |r: &mut Rng| {
        let mut p = service_port(r);
        p.as_mapping_mut().unwrap().remove("$patch");
        p
    };
    let object = service(some(r, 4, &mut object_port));
    (object, service(some(r, 3, &mut service_port)))
}

/// One case: the object and its patch.
fn case(r: &mut Rng, name: &str) -> (Value, Value) {
    if r.chance(10) {
        return service_case(r, name);
    }
    let kind = r.below(KINDS.len());
    let mut pod = vec![("containers", some(r, 3, &mut container))];
    if r.chance(40) {
        pod.push((
            "volumes",
            some(r, 3, &mut |r| named(r, &["v", "w", "x"], "emptyDirName")),
        ));
    }
    if r.chance(30) {
        pod.push((
            "imagePullSecrets",
            some(r, 3, &mut |r| map(vec![("name", one(r, &["s", "t"]))])),
        ));
    }
    let object = object_of(kind, name, map(pod));
    let (api, k, _) = KINDS[kind];
    let patch = if r.chance(2) {
        map(vec![
            ("apiVersion", s(api)),
            ("kind", s(k)),
            ("metadata", map(vec![("name", s(name))])),
            ("$patch", s("delete")),
        ])
    } else if r.chance(15) {
        // A patch naming no list: kustomize still rewrites every keyed list.
        map(vec![
            ("apiVersion", s(api)),
            ("kind", s(k)),
            (
                "metadata",
                map(vec![
                    ("name", s(name)),
                    ("labels", map(vec![("x", s("y"))])),
                ]),
            ),
        ])
    } else {
        let mut pod = vec![("containers", some(r, 2, &mut container_patch))];
        if r.chance(20) {
            pod.push((
                "volumes",
                some(r, 2, &mut |r| named(r, &["v", "w", "z"], "emptyDirName")),
            ));
        }
        object_of(kind, name, map(pod))
    };
    (object, patch)
}

fn yaml(v: &Value) -> String {
    yaml_serde::to_string(v).expect("YAML")
}

#[test]
#[ignore = "needs kubectl; run by .ci/run"]
fn strategic_merge_lists_match_kubectl_kustomize() {
    let cases = support::env_number("KFPATCH_SMP_ORACLE_CASES").unwrap_or(2000) as usize;
    let seed = support::seed("KFPATCH_SMP_ORACLE_SEED");
    println!(
        "strategic merge oracle: seed {seed}, {cases} cases; replay this run: KFPATCH_SMP_ORACLE_SEED={seed} KFPATCH_SMP_ORACLE_CASES={cases} cargo test --test smp_oracle -- --ignored --nocapture"
    );
    let mut seeds = Rng::new(seed);
    let case_seeds: Vec<u64> = (0..cases)
        .map(|i| if i == 0 { seed } else { seeds.next() })
        .collect();
    let (mut failed, mut deleted, mut same) = (0, 0, 0);
    for (batch, chunk) in case_seeds.chunks(BATCH).enumerate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut base = String::new();
        let mut kustomization = String::from("resources:\n- base.yaml\npatches:\n");
        let mut drawn = Vec::new();
        for (i, case_seed) in chunk.iter().enumerate() {
            let name = format!("d{i}");
            let (object, patch) = case(&mut Rng::new(*case_seed), &name);
            base.push_str("---\n");
            base.push_str(&yaml(&object));
            let file = format!("p{i}.yaml");
            std::fs::write(dir.path().join(&file), yaml(&patch)).expect("write patch");
            kustomization.push_str(&format!("- path: {file}\n"));
            drawn.push((name, *case_seed, object, patch));
        }
        std::fs::write(dir.path().join("base.yaml"), base).expect("write base");
        std::fs::write(dir.path().join("kustomization.yaml"), kustomization)
            .expect("write kustomization");
        let mut built: BTreeMap<String, Value> = support::render(dir.path())
            .into_iter()
            .map(|doc| (doc["metadata"]["name"].as_str().unwrap().to_string(), doc))
            .collect();
        for (name, case_seed, object, patch) in drawn {
            let theirs = built.remove(&name);
            let ours = strategic(&object, &patch);
            if theirs.is_none() {
                deleted += 1;
            }
            let edit_agrees = match (strategic_edit(&object, &patch), &ours) {
                (Ok(e), Ok(Some(v))) => !e.deletes() && e.changes() == (*v != object),
                (Ok(e), Ok(None)) => e.deletes(),
                (Err(a), Err(b)) => a == *b,
                _ => false,
            };
            if edit_agrees && ours.as_ref().is_ok_and(|o| *o == theirs) {
                same += 1;
                continue;
            }
            failed += 1;
            if failed <= SHOWN {
                println!(
                    "\ncase {name} of batch {batch} disagrees{}; replay it alone: KFPATCH_SMP_ORACLE_SEED={case_seed} KFPATCH_SMP_ORACLE_CASES=1 cargo test --test smp_oracle -- --ignored --nocapture\n--- object\n{}--- patch\n{}--- kubectl kustomize\n{}--- kfpatch\n{}",
                    if edit_agrees {
                        ""
                    } else {
                        " (the edit misstates whether it changes the object)"
                    },
                    yaml(&object),
                    yaml(&patch),
                    theirs.as_ref().map_or("(deleted)\n".to_string(), yaml),
                    match &ours {
                        Ok(Some(v)) => yaml(v),
                        Ok(None) => "(deleted)\n".to_string(),
                        Err(e) => format!("refused: {e}\n"),
                    }
                );
            }
        }
    }
    println!(
        "strategic merge oracle: {same} of {cases} cases equal to kustomize's ({deleted} deleted objects), {failed} disagree"
    );
    assert_eq!(
        failed, 0,
        "seed {seed}: {failed} cases disagree (the first {SHOWN} are above)"
    );
}
