//! Trees built, given to kfpatch and to kustomize, and compared; a failing tree shrunk to the
//! smallest plan that still fails.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kfpatch::checkout::catalogue::CATALOGUE;
use kfpatch::checkout::model::{decode, objects};
use serde_json::Value;

use super::check::{self, Built, Tally};
use super::plan::{Base, Flip, Layout, Plan};
use super::walk;
use super::write;
use crate::support;

/// The release trees, their copies in each files' mode, and the renders already made.
pub struct Oracle {
    pub layouts: Vec<Layout>,
    sources: Vec<PathBuf>,
    work: tempfile::TempDir,
    bases: Mutex<HashMap<(usize, Flip), PathBuf>>,
    renders: Mutex<HashMap<u64, Built>>,
    pub cache_hits: Mutex<usize>,
}

/// What one tree gave.
pub struct Outcome {
    pub problems: Vec<String>,
    pub tally: Tally,
    pub kustomizations: usize,
    /// The tree's files and each kustomization's values, for a failure report.
    pub shown: String,
}

/// `a/b/base/installs/multi-user`, found by its `api-service/params.env`.
fn find_install(tree: &Path) -> String {
    walkdir::WalkDir::new(tree)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .find(|p| {
            p.ends_with("base/installs/multi-user") && p.join("api-service/params.env").is_file()
        })
        .and_then(|p| {
            p.strip_prefix(tree)
                .ok()
                .map(|r| r.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| panic!("{} has no base/installs/multi-user", tree.display()))
}

impl Oracle {
    pub fn new() -> Oracle {
        let sources = support::real_trees();
        let layouts = sources
            .iter()
            .map(|tree| {
                let install = find_install(tree);
                let pipeline_root = install
                    .strip_suffix("/base/installs/multi-user")
                    .expect("an install under base/")
                    .to_string();
                let deploying = walk::deploying(tree, &install);
                let env = format!("{pipeline_root}/env/");
                let mut graph = walk::Graph::new(tree);
                let leaf_env = deploying
                    .iter()
                    .filter(|d| d.starts_with(&env))
                    .filter(|d| {
                        !deploying.iter().any(|other| {
                            other != *d
                                && other.starts_with(&env)
                                && graph.reachable(other).contains(*d)
                        })
                    })
                    .cloned()
                    .collect();
                Layout {
                    leaf_env,
                    name: tree
                        .file_name()
                        .expect("name")
                        .to_string_lossy()
                        .into_owned(),
                    agent_params: tree
                        .join(&install)
                        .join("persistence-agent/params.env")
                        .is_file(),
                    deploying,
                    install,
                    pipeline_root,
                }
            })
            .collect();
        Oracle {
            layouts,
            sources,
            work: tempfile::tempdir().expect("tempdir"),
            bases: Mutex::new(HashMap::new()),
            renders: Mutex::new(HashMap::new()),
            cache_hits: Mutex::new(0),
        }
    }

    /// The release tree of `layout` with its files in `flip`'s mode (switched by kfpatch once).
    fn base(&self, layout: usize, flip: Flip) -> PathBuf {
        let mut bases = self.bases.lock().expect("lock");
        if let Some(path) = bases.get(&(layout, flip)) {
            return path.clone();
        }
        let path = self
            .work
            .path()
            .join(format!("base-{layout}-{flip:?}"))
            .join(&self.layouts[layout].name);
        support::copy_tree(&self.sources[layout], &path);
        if let Some(args) = flip.args() {
            let run = support::kfpatch_in(&path, args);
            assert_eq!(
                run.code, 0,
                "kfpatch {args:?} on {}: {}{}",
                self.layouts[layout].name, run.stdout, run.stderr
            );
        }
        bases.insert((layout, flip), path.clone());
        path
    }

    /// `kubectl kustomize dir`, decoded; reused when the files its build reads are those of an
    /// earlier tree.
    fn render(&self, root: &Path, plan: &Plan, dir: &str, writes: &[(String, String)]) -> Built {
        let reads = walk::Graph::new(root).reachable(dir);
        let mut hasher = DefaultHasher::new();
        (plan.layout, plan.flip, dir).hash(&mut hasher);
        for (path, text) in writes {
            if reads.iter().any(|d| walk::under(path, d)) {
                (path, text).hash(&mut hasher);
            }
        }
        let key = hasher.finish();
        if let Some(built) = self.renders.lock().expect("lock").get(&key) {
            *self.cache_hits.lock().expect("lock") += 1;
            return built.clone();
        }
        let built = kustomize(root, dir);
        self.renders
            .lock()
            .expect("lock")
            .insert(key, built.clone());
        built
    }

    /// Builds `plan`'s tree, runs kfpatch and kustomize on it, and compares them.
    pub fn evaluate(&self, plan: &Plan) -> Outcome {
        let layout = &self.layouts[plan.layout];
        let base = self.base(plan.layout, plan.flip);
        let temp = tempfile::tempdir().expect("tempdir");
        let root = temp.path().join(&layout.name);
        link_tree(&base, &root);
        let files = write::files(plan, &root, &layout.install);
        for (path, text) in &files.writes {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            // The file may be a link to the base tree, which other trees share.
            let _ = std::fs::remove_file(&file);
            std::fs::write(&file, text).expect("write");
        }
        let expected = walk::deploying(&root, &layout.install);
        let queue = Mutex::new(expected.clone());
        let built = Mutex::new(BTreeMap::new());
        let worker = || {
            loop {
                let Some(dir) = queue.lock().expect("lock").pop() else {
                    break;
                };
                let result = self.render(&root, plan, &dir, &files.writes);
                built.lock().expect("lock").insert(dir, result);
            }
        };
        // kfpatch and at most two renders at a time.
        let status = std::thread::scope(|scope| {
            scope.spawn(worker);
            scope.spawn(worker);
            support::kfpatch_in(&root, &["status", "--format", "json"])
        });
        let mut built = built.into_inner().expect("lock");
        let mut problems = Vec::new();
        let mut tally = Tally::default();
        let mut shown = format!(
            "layout {} ({}), files' mode {:?}\n",
            layout.name, layout.install, plan.flip
        );
        for (path, text) in &files.writes {
            shown.push_str(&format!("--- {path}\n{text}"));
            if !text.ends_with('\n') {
                shown.push_str("\n(no final newline)\n");
            }
        }
        let json: Value = match serde_json::from_str(&status.stdout) {
            Ok(json) => json,
            Err(e) => {
                problems.push(format!(
                    "kfpatch status --format json exited {} without JSON ({e}): {}",
                    status.code,
                    status.stderr.trim()
                ));
                return Outcome {
                    problems,
                    tally,
                    kustomizations: 0,
                    shown,
                };
            }
        };
        let Some(deploying) = json.get("deploying").and_then(Value::as_array) else {
            panic!(
                "status JSON has no 'deploying': kfpatch {} does not give the effective values per deploying kustomization (the contract this test checks)",
                env!("CARGO_BIN_EXE_kfpatch")
            );
        };
        let mut listed: BTreeMap<String, &Value> = BTreeMap::new();
        let mut previous: Option<&str> = None;
        for entry in deploying {
            let Some(dir) = entry.get("kustomization").and_then(Value::as_str) else {
                problems.push(format!(
                    "a 'deploying' entry has no 'kustomization': {entry}"
                ));
                continue;
            };
            if previous.is_some_and(|p| p >= dir) {
                problems.push(format!(
                    "'deploying' is not sorted by kustomization: {dir} after {}",
                    previous.unwrap_or_default()
                ));
            }
            previous = Some(dir);
            listed.insert(dir.to_string(), entry);
        }
        let expected: BTreeSet<String> = expected.into_iter().collect();
        for dir in &expected {
            if !listed.contains_key(dir) {
                problems.push(format!(
                    "{dir}: kfpatch does not list it in 'deploying', and its build reads the install"
                ));
                if let Some(result) = built.get(dir) {
                    shown.push_str(&describe(dir, &Value::Null, result));
                }
            }
        }
        for (dir, entry) in &listed {
            if !expected.contains(dir) {
                problems.push(format!(
                    "{dir}: kfpatch lists it in 'deploying', but its build does not read the install"
                ));
                continue;
            }
            let result = built.remove(dir).expect("rendered");
            let reads = walk::Graph::new(&root).reachable(dir);
            let untraceable = files.untraceable_dirs.iter().any(|p| reads.contains(p));
            let found = check::compare(dir, entry, &result, untraceable, &mut tally);
            // Only the kustomizations that disagree: the others would bury them.
            if !found.is_empty() {
                shown.push_str(&describe(dir, entry, &result));
            }
            problems.extend(found);
        }
        Outcome {
            problems,
            tally,
            kustomizations: listed.len(),
            shown,
        }
    }

    /// The smallest plan, by dropping mechanisms, edits and overlays one at a time, on which
    /// kfpatch still disagrees with kustomize (at most `budget` long).
    pub fn shrink(&self, plan: &Plan, budget: Duration) -> (Plan, Outcome) {
        let started = Instant::now();
        let mut best = plan.clone();
        let mut outcome = self.evaluate(&best);
        let mut improved = true;
        while improved && started.elapsed() < budget {
            improved = false;
            for candidate in smaller(&best) {
                if started.elapsed() >= budget {
                    break;
                }
                let tried = self.evaluate(&candidate);
                if !tried.problems.is_empty() {
                    best = candidate;
                    outcome = tried;
                    improved = true;
                    break;
                }
            }
        }
        (best, outcome)
    }
}

/// `from`'s folders made again under `to`, its files hard links: a tree costs no copying, and
/// files the tree changes are removed before they are written.
fn link_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let dest = to.join(entry.path().strip_prefix(from).expect("prefix"));
        let kind = entry.file_type();
        if kind.is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else if kind.is_symlink() {
            let target = std::fs::read_link(entry.path()).expect("readlink");
            std::os::unix::fs::symlink(target, &dest).expect("symlink");
        } else {
            std::fs::hard_link(entry.path(), &dest).expect("link");
        }
    }
}

/// Every plan with one part fewer than `plan`.
fn smaller(plan: &Plan) -> Vec<Plan> {
    let mut out = Vec::new();
    for (i, overlay) in plan.overlays.iter().enumerate() {
        for m in 0..overlay.mechs.len() {
            let mut p = plan.clone();
            p.overlays[i].mechs.remove(m);
            out.push(p);
        }
        let used = plan.overlays.iter().any(|o| o.base == Base::Overlay(i));
        if !used && plan.overlays.len() > 1 {
            let mut p = plan.clone();
            p.overlays.remove(i);
            for o in &mut p.overlays {
                if let Base::Overlay(j) = &mut o.base
                    && *j > i
                {
                    *j -= 1;
                }
            }
            out.push(p);
        }
    }
    for (i, edit) in plan.edits.iter().enumerate() {
        let mut p = plan.clone();
        p.edits.remove(i);
        out.push(p);
        for m in 0..edit.mechs.len() {
            let mut p = plan.clone();
            p.edits[i].mechs.remove(m);
            out.push(p);
        }
    }
    out
}

/// `kubectl kustomize root/dir`, each catalogue row decoded from the render.
fn kustomize(root: &Path, dir: &str) -> Built {
    let output = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(root.join(dir))
        .current_dir(root)
        .output()
        .expect("run kubectl kustomize");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let text = String::from_utf8(output.stdout).expect("a UTF-8 render");
    let objects = objects::split(&text)
        .unwrap_or_else(|e| panic!("the render of {dir} does not split into objects: {e}"));
    Ok(decode::decode(&objects)
        .into_iter()
        .map(|d| d.value)
        .collect())
}

/// kfpatch's and kustomize's values of one kustomization, side by side.
fn describe(dir: &str, entry: &Value, built: &Built) -> String {
    let mut text = format!("=== {dir}\n");
    match built {
        Err(e) => text.push_str(&format!(
            "kustomize: cannot build: {}\n",
            check::first_line(e)
        )),
        Ok(_) => text.push_str("kustomize: builds\n"),
    }
    if let Some(why) = entry.get("cannot_trace").and_then(Value::as_array)
        && !why.is_empty()
    {
        for w in why {
            text.push_str(&format!("kfpatch cannot trace: {w}\n"));
        }
    }
    let rows = entry.get("effective").and_then(Value::as_array);
    for row in rows.into_iter().flatten() {
        let number = row.get("row").and_then(Value::as_u64).unwrap_or(0);
        let setting = row.get("setting").and_then(Value::as_str).unwrap_or("?");
        let index = CATALOGUE
            .iter()
            .position(|s| u64::from(s.row) == number && s.name() == setting);
        let kustomize = match built {
            Ok(values) => index
                .and_then(|i| values.get(i))
                .map_or("?".to_string(), |v| {
                    let (state, value) = check::spelled(v);
                    format!("{state} {value:?}")
                }),
            Err(_) => "-".to_string(),
        };
        text.push_str(&format!(
            "  row {number} {setting}: kfpatch {} {} from {} | kustomize {kustomize}\n",
            row.get("state").and_then(Value::as_str).unwrap_or("?"),
            row.get("value").unwrap_or(&Value::Null),
            row.get("from").unwrap_or(&Value::Null),
        ));
    }
    text
}
