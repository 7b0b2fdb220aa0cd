//! The switch on every bundled fixture: `off` then `on` is the identity, a second run changes
//! nothing, and `--check` tells the two apart. (The real release trees get the same treatment in
//! `tests/real_trees.rs`.)

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FIXTURES: &[&str] = &[
    "manifests-v1.5-apps",
    "manifests-v1.7-apps",
    "manifests-v1.8-apps",
    "manifests-26.03-applications",
    "pipelines-2.0.1",
    "kfp-tekton",
    "monorepo",
];

#[test]
fn off_then_on_is_the_identity_in_every_scope() {
    for fixture in FIXTURES {
        for scope in [&[][..], &["--params-only"][..], &["--parity"][..]] {
            let temp = tempfile::tempdir().expect("tempdir");
            let root = temp.path();
            support::copy_tree(
                &Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("fixtures")
                    .join(fixture),
                root,
            );
            let before = support::files(root);
            let with = |verb: &str, extra: &[&str]| {
                let mut args = vec!["multiuser", verb];
                args.extend_from_slice(scope);
                args.extend_from_slice(extra);
                support::run_in(root, &args)
            };
            let label = format!("{fixture} {scope:?}");
            assert_eq!(
                with("off", &["--check"]).0,
                1,
                "{label}: off --check before"
            );
            let (code, out) = with("off", &[]);
            assert_eq!(code, 0, "{label}: off: {out}");
            let switched = support::files(root);
            assert_ne!(switched, before, "{label}: off changed nothing");
            let (code, out) = with("off", &[]);
            assert_eq!(
                (code, out.contains("nothing to change")),
                (0, true),
                "{label}: {out}"
            );
            assert_eq!(
                support::files(root),
                switched,
                "{label}: second off changed files"
            );
            assert_eq!(with("off", &["--check"]).0, 0, "{label}: off --check after");
            assert_eq!(with("on", &["--check"]).0, 1, "{label}: on --check");
            let (code, out) = with("on", &[]);
            assert_eq!(code, 0, "{label}: on: {out}");
            assert_eq!(
                support::files(root),
                before,
                "{label}: on did not restore every byte"
            );
        }
    }
}

/// `kfpatch multiuser off --dry-run > x.diff` is a patch `git apply` takes, and applying it gives
/// the files `multiuser off` writes: the notes (generated copies, the template generator, the
/// isolation warning) go to standard error.
#[test]
fn dry_run_output_redirected_to_a_file_is_a_patch_git_applies() {
    for fixture in [
        "manifests-26.03-applications",
        "prerendered-copies",
        "template-generator",
    ] {
        let temp = tempfile::tempdir().expect("tempdir");
        let previewed = temp.path().join("previewed");
        let switched = temp.path().join("switched");
        for root in [&previewed, &switched] {
            support::copy_tree(
                &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("fixtures")
                    .join(fixture),
                root,
            );
            support::git_commit_all(root, "upstream", None);
        }
        let preview = support::kfpatch_in(&previewed, &["multiuser", "off", "--dry-run"]);
        assert_eq!(preview.code, 0, "{fixture}: {}", preview.stderr);
        assert!(
            preview.stderr.contains("note: with multi-user mode off"),
            "{fixture}: {}",
            preview.stderr
        );
        assert!(
            !preview.stdout.contains("note:"),
            "{fixture}: {}",
            preview.stdout
        );
        let patch = temp.path().join("x.diff");
        std::fs::write(&patch, &preview.stdout).expect("write the patch");
        for check in [&["--check"][..], &[][..]] {
            let applied = std::process::Command::new("git")
                .arg("apply")
                .args(check)
                .arg(&patch)
                .current_dir(&previewed)
                .output()
                .expect("run git apply");
            assert!(
                applied.status.success(),
                "{fixture}: git apply {check:?}: {}\n{}",
                String::from_utf8_lossy(&applied.stderr),
                preview.stdout
            );
        }
        let switch = support::kfpatch_in(&switched, &["multiuser", "off"]);
        assert_eq!(switch.code, 0, "{fixture}: {}", switch.stderr);
        let strip = |root: &Path| -> BTreeMap<PathBuf, Vec<u8>> {
            support::files(root)
                .into_iter()
                .filter(|(path, _)| !path.starts_with(root.join(".git")))
                .map(|(path, bytes)| {
                    (
                        path.strip_prefix(root).expect("prefix").to_path_buf(),
                        bytes,
                    )
                })
                .collect()
        };
        assert!(
            strip(&previewed) == strip(&switched),
            "{fixture}: git apply of the preview differs from the switch"
        );
    }
}

/// A customised value leaves `status` at mixed, and `multiuser on` changes nothing; the command
/// `status` names instead (`kfpatch set KEY=VALUE`) brings the install to a mode.
#[test]
fn the_way_out_of_mixed_that_status_names_works() {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path();
    support::copy_tree(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cases/status-customised-runner/in"),
        root,
    );
    let mode = |root: &Path| {
        let run = support::kfpatch_in(root, &["status"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with("mode:"))
            .expect("mode line");
        line.to_string()
    };
    let before = mode(root);
    assert!(before.starts_with("mode:     mixed: "), "{before}");
    let on = support::kfpatch_in(root, &["multiuser", "on"]);
    assert_eq!(on.code, 0, "{}", on.stderr);
    assert_eq!(mode(root), before, "multiuser on changed the mode");
    let named = before
        .split("run kfpatch set ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .expect("a kfpatch set command in the mode line");
    let set = support::kfpatch_in(root, &["set", named]);
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert_eq!(
        mode(root),
        "mode:     on (multi-user: every managed setting at its multi-user value)"
    );
}
