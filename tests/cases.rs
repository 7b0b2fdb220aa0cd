//! CLI cases in the style of cargo-edit: each folder under `tests/cases/` is one run of kfpatch.
//!
//! - `fixture` (a folder name under `fixtures/`) or `in/`: the tree the command runs in (its cwd)
//! - `setup` (optional), one step a line: `git` commits the tree; `git DIR` makes DIR a
//!   repository of its own and commits it (a nested clone); `git-without DIR` commits all but DIR
//!   (left untracked); `submodule DIR` commits all but DIR and records DIR's HEAD as a submodule;
//!   `worktree NAME DIR` adds a linked worktree of HEAD at DIR;
//!   `ignore PATTERN` adds a line to `.git/info/exclude`; `tag NAME [DIR]` tags HEAD (of DIR);
//!   `symlink PATH TARGET` makes PATH a symbolic link to TARGET (kept here, not in `in/`: `cargo
//!   package` stores a link as a copy of its target); then `dirty/` (optional) is copied over it as
//!   uncommitted changes
//! - `args`: the arguments, one per line, exactly (no shell)
//! - `env` (optional): environment variables for the run, `NAME=VALUE` one a line
//! - `out/` (optional): the whole tree afterwards, compared byte for byte; without it the tree must
//!   be unchanged
//! - `stdout`, `stderr`, `status`: the exact output (the run's root shown as `[ROOT]`, and the
//!   seconds a render took, `objects:   5 in 0.3 s`, as `N.N`) and exit code
//!
//! `UPDATE_CASES=1 cargo test --test cases` rewrites the expectations, for review in `git diff`.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `root` (not `.git`) with its bytes, by relative path.
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
    {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(root)
                .expect("prefix")
                .to_string_lossy()
                .into_owned();
            files.insert(rel, fs::read(entry.path()).expect("read"));
        }
    }
    files
}

fn read_opt(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

struct Outcome {
    stdout: String,
    stderr: String,
    status: i32,
    tree: BTreeMap<String, Vec<u8>>,
    input: BTreeMap<String, Vec<u8>>,
}

fn run_case(case: &Path) -> Outcome {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().join("root");
    fs::create_dir_all(&root).expect("mkdir");
    if let Some(name) = read_opt(&case.join("fixture")) {
        support::copy_tree(&manifest_dir().join("fixtures").join(name.trim()), &root);
    } else {
        support::copy_tree(&case.join("in"), &root);
    }
    let setup = read_opt(&case.join("setup")).unwrap_or_default();
    for line in setup.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["symlink", path, target] => {
                std::os::unix::fs::symlink(target, root.join(path)).expect("symlink");
            }
            ["git"] => {
                support::git_commit_all(&root, "upstream", None);
            }
            ["git", dir] => {
                support::git_commit_all(&root.join(dir), "upstream", None);
            }
            ["git-without", dir] => {
                support::git_commit_except(&root, "distribution", dir, None);
            }
            ["submodule", dir] => {
                let head = git2::Repository::open(root.join(dir))
                    .expect("open submodule")
                    .head()
                    .expect("head")
                    .target()
                    .expect("commit");
                fs::write(
                    root.join(".gitmodules"),
                    format!(
                        "[submodule \"{dir}\"]\n\tpath = {dir}\n\turl = https://github.com/kubeflow/manifests\n"
                    ),
                )
                .expect("write .gitmodules");
                support::git_commit_except(&root, "gitops", dir, Some(head));
            }
            ["worktree", name, dir] => {
                let repo = git2::Repository::open(&root).expect("open repo");
                repo.worktree(name, &root.join(dir), None)
                    .expect("add worktree");
            }
            ["ignore", pattern] => {
                // `.git/info/exclude` rather than `.gitignore`: git reads both alike, and an
                // expected `out/` tree holding a `.gitignore` would hide its own files from the
                // project's repository.
                let repo = git2::Repository::open(&root)
                    .or_else(|_| git2::Repository::init(&root))
                    .expect("git init");
                let path = repo.path().join("info/exclude");
                let mut text = read_opt(&path).unwrap_or_default();
                text.push_str(&format!("{pattern}\n"));
                fs::create_dir_all(path.parent().expect("info")).expect("mkdir info");
                fs::write(path, text).expect("write info/exclude");
            }
            ["tag", tag] | ["tag", tag, _] => {
                let dir = words.get(2).map_or(root.clone(), |d| root.join(d));
                let repo = git2::Repository::open(&dir).expect("open repo");
                let head = repo.head().expect("head").peel_to_commit().expect("commit");
                repo.tag_lightweight(tag, head.as_object(), false)
                    .expect("tag");
            }
            [] => {}
            other => panic!("{}: unknown setup line {other:?}", case.display()),
        }
    }
    if case.join("dirty").is_dir() {
        support::copy_tree(&case.join("dirty"), &root);
    }
    let input = snapshot(&root);
    let args: Vec<String> = read_opt(&case.join("args"))
        .unwrap_or_else(|| panic!("{}: no args file", case.display()))
        .lines()
        .map(str::to_string)
        .collect();
    let env: Vec<(String, String)> = read_opt(&case.join("env"))
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let (name, value) = line.split_once('=').unwrap_or_else(|| {
                panic!("{}: env line {line:?} is not NAME=VALUE", case.display())
            });
            (name.to_string(), value.to_string())
        })
        .collect();
    let output = support::kfpatch()
        .args(&args)
        .envs(env)
        .current_dir(&root)
        .output()
        .expect("run kfpatch");
    let shown_root = root.to_string_lossy().into_owned();
    let real_root = fs::canonicalize(&root)
        .expect("canonicalize")
        .to_string_lossy()
        .into_owned();
    let clean = |bytes: &[u8]| {
        mask_render_seconds(
            &String::from_utf8_lossy(bytes)
                .replace(&real_root, "[ROOT]")
                .replace(&shown_root, "[ROOT]"),
        )
    };
    Outcome {
        stdout: clean(&output.stdout),
        stderr: clean(&output.stderr),
        status: output.status.code().unwrap_or(-1),
        tree: snapshot(&root),
        input,
    }
}

/// `objects:   5 in 0.3 s` (the render header) as `objects:   5 in N.N s`: how long kustomize
/// took is the one part of a render's report that is not the same on every run.
fn mask_render_seconds(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let timed = line.strip_prefix("objects:   ").and_then(|rest| {
                let (count, seconds) = rest.split_once(" in ")?;
                let seconds = seconds.strip_suffix(" s\n")?;
                seconds
                    .split_once('.')
                    .filter(|(a, b)| {
                        [a, b].iter().all(|part| {
                            !part.is_empty() && part.bytes().all(|c| c.is_ascii_digit())
                        })
                    })
                    .map(|_| format!("objects:   {count} in N.N s\n"))
            });
            timed.unwrap_or_else(|| line.to_string())
        })
        .collect()
}

fn write_tree(dir: &Path, tree: &BTreeMap<String, Vec<u8>>) {
    let _ = fs::remove_dir_all(dir);
    for (rel, bytes) in tree {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, bytes).expect("write");
    }
}

/// Describes how two trees differ, file by file, with a line diff for text.
fn tree_difference(
    expected: &BTreeMap<String, Vec<u8>>,
    actual: &BTreeMap<String, Vec<u8>>,
) -> Option<String> {
    let mut out = String::new();
    for (path, want) in expected {
        match actual.get(path) {
            None => out.push_str(&format!("  missing: {path}\n")),
            Some(got) if got != want => {
                out.push_str(&format!("  differs: {path}\n"));
                let (want, got) = (String::from_utf8_lossy(want), String::from_utf8_lossy(got));
                let diff = similar::TextDiff::from_lines(&*want, &*got);
                out.push_str(&format!(
                    "{}",
                    diff.unified_diff().header("expected", "actual")
                ));
                if want == got {
                    out.push_str("    (same text, different bytes)\n");
                }
            }
            Some(_) => {}
        }
    }
    for path in actual.keys() {
        if !expected.contains_key(path) {
            out.push_str(&format!("  unexpected: {path}\n"));
        }
    }
    (!out.is_empty()).then_some(out)
}

fn text_difference(what: &str, expected: &str, actual: &str) -> Option<String> {
    (expected != actual).then(|| {
        format!(
            "  {what} differs:\n{}",
            similar::TextDiff::from_lines(expected, actual)
                .unified_diff()
                .header("expected", "actual")
        )
    })
}

#[test]
fn cli_cases() {
    let cases_dir = manifest_dir().join("tests/cases");
    let mut cases: Vec<PathBuf> = fs::read_dir(&cases_dir)
        .expect("tests/cases")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", cases_dir.display());
    let update = std::env::var_os("UPDATE_CASES").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let outcome = run_case(case);
        let name = case.file_name().expect("name").to_string_lossy();
        if update {
            fs::write(case.join("stdout"), &outcome.stdout).expect("write stdout");
            fs::write(case.join("stderr"), &outcome.stderr).expect("write stderr");
            fs::write(case.join("status"), format!("{}\n", outcome.status)).expect("write status");
            if outcome.tree == outcome.input {
                let _ = fs::remove_dir_all(case.join("out"));
            } else {
                write_tree(&case.join("out"), &outcome.tree);
            }
            continue;
        }
        let mut problems = Vec::new();
        let expected_status: i32 = read_opt(&case.join("status"))
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name}: no status file"));
        if expected_status != outcome.status {
            problems.push(format!(
                "  exit status: expected {expected_status}, got {}\n",
                outcome.status
            ));
        }
        problems.extend(text_difference(
            "stdout",
            &read_opt(&case.join("stdout")).unwrap_or_default(),
            &outcome.stdout,
        ));
        problems.extend(text_difference(
            "stderr",
            &read_opt(&case.join("stderr")).unwrap_or_default(),
            &outcome.stderr,
        ));
        let expected_tree = if case.join("out").is_dir() {
            snapshot(&case.join("out"))
        } else {
            outcome.input.clone()
        };
        problems.extend(tree_difference(&expected_tree, &outcome.tree));
        if !problems.is_empty() {
            failures.push(format!("case {name}:\n{}", problems.concat()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
