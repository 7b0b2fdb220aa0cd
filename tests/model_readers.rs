//! Every reader of kustomization files reads through the model's one reader: a kustomization
//! that is a FIFO is named with its file and line by whichever command meets it, at once (a
//! FIFO cannot be committed, so these are not cases under tests/cases/).

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The fixtures: a plain fork (no distribution around the install), a distribution with its own
/// overlays, and a checkout whose KFP comes only from remote bases.
const FORK: &str = "tests/cases/fork-pinned-multiuser-audit/in";
const DISTRIBUTION: &str = "fixtures/dist-overrides";
const REMOTE_ONLY: &str = "fixtures/gitops-remote-base";

/// A copy of `tree` with a FIFO named `at` (relative, created with its folders).
fn with_fifo(tree: &str, at: &str) -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path();
    support::copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join(tree), root);
    let path = root.join(at);
    let _ = std::fs::remove_file(&path);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let c = std::ffi::CString::new(path.to_str().expect("utf-8")).expect("path");
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    temp
}

/// `kfpatch -C root ARGS`: exit code, stdout, stderr; a run that waits on the FIFO is killed and
/// fails the test.
fn run(root: &Path, args: &[&str]) -> (i32, String, String) {
    let mut child = support::kfpatch()
        .arg("-C")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kfpatch");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            child.kill().expect("kill");
            panic!("kfpatch {args:?} waits on a FIFO");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const FIFO_WHY: &str = "is a FIFO, not a regular file; kfpatch reads and writes regular files only";

#[test]
fn render_of_a_target_whose_kustomization_is_a_fifo() {
    let temp = with_fifo(FORK, "overlay/kustomization.yaml");
    assert_eq!(
        run(temp.path(), &["render", "--target", "overlay"]),
        (
            2,
            String::new(),
            format!(
                "error: --target overlay: overlay/kustomization.yaml:1: cannot be read: overlay/kustomization.yaml {FIFO_WHY}\n  fix: make it a readable kustomization file, or pass --target PATH\n"
            )
        )
    );
}

#[test]
fn render_kfp_when_example_is_a_fifo() {
    let temp = with_fifo(FORK, "example/kustomization.yaml");
    assert_eq!(
        run(temp.path(), &["render", "--target", "kfp"]),
        (
            2,
            String::new(),
            format!(
                "error: --target kfp: example/kustomization.yaml:1: cannot be read: example/kustomization.yaml {FIFO_WHY}\n  fix: make it a readable kustomization file, or pass --target PATH\n"
            )
        )
    );
}

#[test]
fn render_of_a_target_that_builds_on_a_fifo() {
    let temp = with_fifo(FORK, "broken/kustomization.yaml");
    std::fs::create_dir_all(temp.path().join("top")).expect("mkdir");
    std::fs::write(
        temp.path().join("top/kustomization.yaml"),
        "resources:\n- ../applications/pipeline/upstream/env/platform-agnostic-multi-user\ncomponents:\n- ../broken\n",
    )
    .expect("write");
    assert_eq!(
        // A kustomize that would fail if it ran (and reports no version to warn about).
        run(
            temp.path(),
            &["render", "--target", "top", "--kustomize", "false"]
        ),
        (
            2,
            String::new(),
            format!(
                "error: cannot render top: kustomizations it builds on cannot be read:\n  broken/kustomization.yaml:1: cannot be read: broken/kustomization.yaml {FIFO_WHY}\n  fix: make each a readable kustomization file\n"
            )
        )
    );
}

#[test]
fn render_kfp_in_a_distribution_whose_search_meets_a_fifo() {
    let temp = with_fifo(DISTRIBUTION, "overlays/kfp-dev/kustomization.yaml");
    assert_eq!(
        run(temp.path(), &["render", "--target", "kfp"]),
        (
            2,
            String::new(),
            format!(
                "error: --target kfp: cannot tell which kustomization deploys the install:\n  overlays/kfp-dev/kustomization.yaml:1: cannot be read: overlays/kfp-dev/kustomization.yaml {FIFO_WHY}\n  fix: make each a readable kustomization file, or pass --target PATH\n"
            )
        )
    );
}

#[test]
fn status_without_kfp_files_names_a_fifo_kustomization() {
    let temp = with_fifo(REMOTE_ONLY, "clusters/qa/kustomization.yaml");
    assert_eq!(
        run(temp.path(), &["status"]),
        (
            2,
            String::new(),
            format!(
                "error: no KFP files in this checkout, and where its KFP comes from cannot be told: kustomization files cannot be read:\n  clusters/qa/kustomization.yaml:1: cannot be read (clusters/qa/kustomization.yaml {FIFO_WHY}): whether it fetches KFP cannot be told\n  fix: make each a readable kustomization file (or remove it), then run again\n"
            )
        )
    );
}

#[test]
fn audit_without_kfp_files_names_a_fifo_kustomization() {
    let temp = with_fifo(REMOTE_ONLY, "clusters/qa/kustomization.yaml");
    let (code, stdout, stderr) = run(temp.path(), &["audit"]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert_eq!(
        stderr,
        format!(
            "error: no KFP files in this checkout, and where its KFP comes from cannot be told: kustomization files cannot be read:\n  clusters/qa/kustomization.yaml:1: cannot be read (clusters/qa/kustomization.yaml {FIFO_WHY}): whether it fetches KFP cannot be told\n  fix: make each a readable kustomization file (or remove it), then run again\n"
        )
    );
}

#[test]
fn status_in_a_distribution_names_a_fifo_among_its_overlays() {
    let temp = with_fifo(DISTRIBUTION, "overlays/kfp-dev/kustomization.yaml");
    let (code, stdout, stderr) = run(temp.path(), &["status"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(
        stdout.contains(&format!(
            "deploying kustomizations (what kubectl kustomize of each gives the cluster):\n  overlays/kfp-dev/kustomization.yaml  cannot be read (overlays/kfp-dev/kustomization.yaml {FIFO_WHY}): whether it deploys the install cannot be told\n"
        )),
        "{stdout}"
    );
}

#[test]
fn multiuser_refuses_when_a_kustomization_is_a_fifo() {
    let temp = with_fifo(
        FORK,
        "applications/pipeline/upstream/env/fifo/kustomization.yaml",
    );
    let before = std::fs::read(
        temp.path()
            .join("applications/pipeline/upstream/env/platform-agnostic-multi-user/override.env"),
    )
    .expect("read");
    assert_eq!(
        run(temp.path(), &["multiuser", "off"]),
        (
            2,
            String::new(),
            format!(
                "error: kustomizations of the checkout cannot be read, so kfpatch cannot tell whether they override the install:\n  applications/pipeline/upstream/env/fifo/kustomization.yaml:1: cannot be read (applications/pipeline/upstream/env/fifo/kustomization.yaml {FIFO_WHY}): whether it deploys the install cannot be told\n  fix: make each a readable kustomization file (or remove it), then switch again; nothing was written\n"
            )
        )
    );
    let after = std::fs::read(
        temp.path()
            .join("applications/pipeline/upstream/env/platform-agnostic-multi-user/override.env"),
    )
    .expect("read");
    assert_eq!(before, after);
}
