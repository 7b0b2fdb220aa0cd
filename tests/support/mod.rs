//! Shared by the integration tests: where `../shared` is, and a real API server to apply to.
#![allow(dead_code)]

pub mod cluster;

use std::path::PathBuf;

/// `../shared` beside the project (or `KFPATCH_SHARED`). Tests that need it are `#[ignore]`d so
/// that `cargo test` passes on a fresh clone; `.ci/run` runs them with `--ignored`, and then a
/// missing `shared/` is a failure, never a skip.
pub fn shared() -> PathBuf {
    let dir = std::env::var_os("KFPATCH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        dir.join("kubeflow").is_dir(),
        "{} has no kubeflow/ folder: these tests need the shared release trees (set KFPATCH_SHARED)",
        dir.display()
    );
    dir
}

/// The real upstream release trees, by folder name.
pub fn real_trees() -> Vec<PathBuf> {
    let root = shared().join("kubeflow");
    let mut trees: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("read shared/kubeflow")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    trees.sort();
    assert_eq!(
        trees.len(),
        5,
        "expected the five release trees in {}",
        root.display()
    );
    trees
}

/// Sends `signal` to process `pid` (libc's kill: no `kill` program needed on the machine).
pub fn send_signal(pid: u32, signal: i32) {
    // SAFETY: kill has no memory preconditions; `pid` is a child the test started and has not
    // reaped yet.
    let sent = unsafe { libc::kill(pid as i32, signal) };
    assert_eq!(sent, 0, "kill {pid} with signal {signal}");
}

/// The kfpatch binary under test.
pub fn kfpatch() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kfpatch"));
    cmd.env_remove("NO_COLOR")
        .env_remove("KFPATCH_TEST_PAUSE_BEFORE_RENAME")
        .env_remove("SOURCE_DATE_EPOCH");
    cmd
}

/// `kfpatch -C root ARGS`: the exit code, and stdout followed by stderr.
pub fn run_in(root: &std::path::Path, args: &[&str]) -> (i32, String) {
    let output = kfpatch()
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .expect("run kfpatch");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

/// What a run of kfpatch printed, and its exit code.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Run {
    pub fn of(output: std::process::Output) -> Run {
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code().unwrap_or(-1),
        }
    }
}

/// `kfpatch -C dir ARGS` with nothing on stdin.
pub fn kfpatch_in(dir: &std::path::Path, args: &[&str]) -> Run {
    let output = kfpatch()
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run kfpatch");
    Run::of(output)
}

/// `kubectl kustomize DIR`, as text; panics with kustomize's message when it fails.
pub fn kustomize(dir: &std::path::Path) -> String {
    let output = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("run kubectl kustomize");
    assert!(
        output.status.success(),
        "kubectl kustomize {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 render")
}

/// Extracts `paths` (everything when empty) of a whole-repository tarball in
/// `../shared/kubeflow` into `into`.
pub fn extract(tarball: &str, paths: &[&str], into: &std::path::Path) {
    let archive = shared().join("kubeflow").join(tarball);
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(into)
        .args(paths)
        .status()
        .expect("run tar");
    assert!(status.success(), "tar -xzf {} failed", archive.display());
}

/// `kubectl kustomize DIR`, as documents; panics with kustomize's message when it fails.
pub fn render(dir: &std::path::Path) -> Vec<yaml_serde::Value> {
    let text = kustomize(dir);
    yaml_serde::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("rendered YAML"))
        .collect()
}

/// A writable copy of `tree` in a temporary folder, under the tree's own name: the guard, the
/// name and the copy's root.
pub fn temp_copy(tree: &std::path::Path) -> (tempfile::TempDir, String, PathBuf) {
    let name = tree
        .file_name()
        .expect("tree name")
        .to_string_lossy()
        .into_owned();
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().join(&name);
    copy_tree(tree, &root);
    (temp, name, root)
}

/// Copies a tree (files and folders; symlinks as links) and makes it writable.
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(from).expect("prefix");
        let dest = to.join(rel);
        let kind = entry.file_type();
        if kind.is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else if kind.is_symlink() {
            let target = std::fs::read_link(entry.path()).expect("readlink");
            std::os::unix::fs::symlink(target, &dest).expect("symlink");
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
            let mut perms = std::fs::metadata(&dest).expect("meta").permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            std::fs::set_permissions(&dest, perms).expect("chmod");
        }
    }
}

/// Makes `dir` a git repository with one commit of everything in it, and an optional tag.
pub fn git_commit_all(dir: &std::path::Path, message: &str, tag: Option<&str>) -> git2::Oid {
    let oid = commit(dir, message, None, None);
    if let Some(tag) = tag {
        let repo = git2::Repository::open(dir).expect("open");
        let obj = repo.find_object(oid, None).expect("obj");
        repo.tag_lightweight(tag, &obj, false).expect("tag");
    }
    oid
}

/// Commits everything in `dir` but the folder `left_out` (relative, `/` separators), which stays
/// untracked; or, with `gitlink`, is recorded as a submodule at that commit, as `git submodule
/// add` records it.
pub fn git_commit_except(
    dir: &std::path::Path,
    message: &str,
    left_out: &str,
    gitlink: Option<git2::Oid>,
) -> git2::Oid {
    commit(dir, message, Some(left_out), gitlink)
}

fn commit(
    dir: &std::path::Path,
    message: &str,
    left_out: Option<&str>,
    gitlink: Option<git2::Oid>,
) -> git2::Oid {
    let repo = git2::Repository::open(dir)
        .or_else(|_| git2::Repository::init(dir))
        .expect("git init");
    let mut index = repo.index().expect("index");
    let skip = |path: &std::path::Path, _: &[u8]| -> i32 {
        let path = path.to_string_lossy();
        let path = path.trim_end_matches('/');
        match left_out {
            Some(out) if path == out || path.starts_with(&format!("{out}/")) => 1,
            _ => 0,
        }
    };
    let mut add = skip;
    index
        .add_all(
            ["*"].iter(),
            git2::IndexAddOption::DEFAULT,
            Some(&mut add as &mut git2::IndexMatchedPath),
        )
        .expect("add");
    let mut update = skip;
    index
        .update_all(
            ["*"].iter(),
            Some(&mut update as &mut git2::IndexMatchedPath),
        )
        .expect("update");
    if let (Some(path), Some(id)) = (left_out, gitlink) {
        let entry = git2::IndexEntry {
            ctime: git2::IndexTime::new(0, 0),
            mtime: git2::IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: 0o160000,
            uid: 0,
            gid: 0,
            file_size: 0,
            id,
            flags: 0,
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        };
        index.add(&entry).expect("add gitlink");
    }
    index.write().expect("write index");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("find tree");
    // A fixed time makes commit ids, and so the outputs that show them, the same on every run.
    let time = git2::Time::new(1_700_000_000, 0);
    let sig = git2::Signature::new("kfpatch tests", "tests@kfpatch.invalid", &time).expect("sig");
    let parents: Vec<git2::Commit> = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .into_iter()
        .collect();
    let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parent_refs)
        .expect("commit")
}

/// Every file below `root` and its bytes, to compare a tree before and after byte for byte.
pub fn files(root: &std::path::Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().to_path_buf(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect()
}

/// A whole number from the environment variable `name`, if set (a test's size or seed).
pub fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a whole number")),
    )
}

/// The seed of a randomised test: `name`'s value, else one drawn from the clock and the pid
/// (printed by the test, so any run can be replayed).
pub fn seed(name: &str) -> u64 {
    env_number(name).unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time after 1970");
        now.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)
    })
}
