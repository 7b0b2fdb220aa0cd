//! What comes from outside kfpatch reaches the terminal and the CI log only escaped, and kubectl
//! around the checkout: its caches never land in the checkout, a missing `--kubeconfig` is named,
//! and `reinstall` checks kubeconfig and context before it renders.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{I, fixture};

/// A checkout whose tree sits in a folder named with a newline and a GitHub workflow command,
/// and whose `params.env` has a comment carrying an OSC title sequence, a BEL, a CR, DEL and
/// the C1 CSI.
fn hostile_checkout() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().join("checkout");
    let tree = root.join("evil\n::add-mask::secret");
    crate::support::copy_tree(&fixture("manifests-v1.8-apps"), &tree);
    let params = tree.join(I).join("api-service/params.env");
    let text = fs::read_to_string(&params).expect("read");
    fs::write(&params, format!("{HOSTILE_LINE}\n{text}")).expect("write");
    (temp, root)
}

const HOSTILE_LINE: &str = "# \x1b]0;pwned\x07 note\rX \x7f\u{9b}2J";
/// The line in a diff: `similar` ends a line at the lone CR too, so the rest is a context line of
/// its own (` X ...`) right after the escaped CR.
const HOSTILE_SHOWN: &str = "# \\033]0;pwned\\a note\\r X \\177\\302\\2332J";
const INSTALL_SHOWN: &str =
    "\"evil\\n::add-mask::secret/apps/pipeline/upstream/base/installs/multi-user\"";

/// Runs kfpatch and returns its exit code and everything it printed, stdout then stderr.
fn run(root: &Path, args: &[&str]) -> (i32, String) {
    let output = crate::support::kfpatch()
        .arg("-C")
        .arg(root)
        .args(["--color", "never"])
        .args(args)
        .env("KUBECONFIG", root.join("no-such-kubeconfig"))
        .output()
        .expect("run kfpatch");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

/// No control character but the line break, and no line that starts a workflow command.
fn assert_inert(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: control characters {bad:?} in:\n{text}"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("::")),
        "{what}: a line starts a workflow command:\n{text}"
    );
}

#[test]
fn control_characters_reach_no_text_output_raw() {
    let (_temp, root) = hostile_checkout();
    let cases: &[(&[&str], i32, &[&str])] = &[
        (&["status"], 0, &[&format!("install:  {INSTALL_SHOWN}\n")]),
        (
            &["audit"],
            0,
            &[&format!("audit {INSTALL_SHOWN} (KFP 2.0.5, mode on)\n")],
        ),
        (
            &["multiuser", "off", "--dry-run"],
            0,
            &[
                &format!("multiuser off: {INSTALL_SHOWN} (KFP 2.0.5)\n"),
                "--- \"a/evil\\n::add-mask::secret/apps/pipeline/upstream/base/installs/multi-user/api-service/params.env\"\n",
                &format!(" {HOSTILE_SHOWN}\n"),
            ],
        ),
        (&["multiuser", "off"], 0, &[&format!(" {HOSTILE_SHOWN}\n")]),
        (&["status"], 0, &["mode:     off"]),
        (
            &["set", "VISUALIZATIONSERVICE_PORT=8080"],
            0,
            &[
                "set: \"evil\\n::add-mask::secret/apps/pipeline/upstream/base/installs/multi-user/api-service/params.env\"\n",
            ],
        ),
        (
            &["multiuser", "on", "--check"],
            1,
            &[&format!(" {HOSTILE_SHOWN}\n")],
        ),
        (
            &["doctor"],
            2,
            &["error: kubectl cannot use this kubeconfig/context"],
        ),
        (&["status", "--cluster"], 2, &["error: "]),
    ];
    for (args, code, has) in cases {
        let (got, text) = run(&root, args);
        assert_eq!(got, *code, "{args:?}:\n{text}");
        assert_inert(&format!("{args:?}"), &text);
        for part in *has {
            assert!(text.contains(part), "{args:?}: no {part:?} in:\n{text}");
        }
    }
}

#[test]
fn git_paths_reach_status_quoted() {
    let (_temp, root) = hostile_checkout();
    crate::support::git_commit_all(&root, "upstream", None);
    for (args, code) in [
        (&["multiuser", "off"][..], 0),
        (&["status"], 0),
        (&["audit"], 0),
    ] {
        let (got, text) = run(&root, args);
        assert_eq!(got, code, "{args:?}:\n{text}");
        assert_inert(&format!("{args:?}"), &text);
        if args == ["status"] {
            assert!(
                text.contains("uncommitted changes in \"evil\\n::add-mask::secret/"),
                "{text}"
            );
        }
    }
}

#[test]
fn a_bad_value_is_quoted_in_errors_and_findings() {
    // A YAML value that holds a line break and an escape, in a managed setting.
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().join("checkout");
    crate::support::copy_tree(&fixture("manifests-v1.8-apps"), &root);
    let ui = root.join(I).join("pipelines-ui/deployment-patch.yaml");
    let text = fs::read_to_string(&ui).expect("read");
    let hostile = text.replacen("value: 'true'", "value: \"tr\\nue\\e]0;x\\a\"", 1);
    assert_ne!(hostile, text);
    fs::write(&ui, &hostile).expect("write");
    for args in [&["status"][..], &["audit"], &["multiuser", "off"]] {
        let (_, text) = run(&root, args);
        assert_inert(&format!("{args:?}"), &text);
        assert!(
            args == ["audit"] || text.contains("\"tr\\nue\\033]0;x\\a\""),
            "{args:?}: the value is not quoted:\n{text}"
        );
    }
}

#[test]
fn a_missing_kubeconfig_is_named_before_anything_runs() {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().join("checkout");
    crate::support::copy_tree(&fixture("manifests-v1.8-apps"), &root);
    let missing = temp.path().join("gone.yaml");
    let message = format!(
        "error: kubeconfig {} does not exist; pass an existing file with --kubeconfig (or leave it out to use KUBECONFIG or ~/.kube/config)\n",
        missing.display()
    );
    for args in [
        &["status", "--cluster"][..],
        &["doctor"],
        // reinstall says it before the render (which would fail on this fixture, whose KFP
        // bases are cut down): nothing on stdout.
        &["reinstall", "--yes", "--target", I],
        &["access", "--namespace", "team-a", "--apply", "--yes"],
    ] {
        let output = crate::support::kfpatch()
            .arg("-C")
            .arg(&root)
            .args(["--color", "never", "--kubeconfig"])
            .arg(&missing)
            .args(args)
            .output()
            .expect("run");
        assert_eq!(
            (
                output.status.code(),
                String::from_utf8_lossy(&output.stdout).as_ref(),
                String::from_utf8_lossy(&output.stderr).as_ref()
            ),
            (Some(2), "", message.as_str()),
            "{args:?}"
        );
    }
}

#[test]
#[ignore = "needs ../shared (test API server); run by .ci/run"]
fn kubectl_caches_never_land_in_the_checkout_without_home() {
    let cluster = crate::support::cluster::TestCluster::start(16700, false);
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().join("checkout");
    crate::support::copy_tree(&fixture("manifests-v1.8-apps"), &root);
    let cache = temp.path().join("xdg-cache");
    for xdg in [true, false] {
        let mut command = crate::support::kfpatch();
        command
            .current_dir(&root)
            .args(["--color", "never", "--kubeconfig"])
            .arg(&cluster.kubeconfig)
            .args(["status", "--cluster"])
            .env_remove("HOME")
            .env_remove("KUBECACHEDIR");
        if xdg {
            command.env("XDG_CACHE_HOME", &cache);
        } else {
            command.env_remove("XDG_CACHE_HOME");
        }
        let output = command.output().expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The cluster holds no KFP: status says so (exit 3), after kubectl ran discovery.
        assert_eq!(output.status.code(), Some(3), "xdg: {xdg}: {stderr}");
        assert!(
            !root.join(".kube").exists(),
            "xdg: {xdg}: kubectl wrote .kube/ into the checkout"
        );
    }
    assert!(
        cache.join("kubectl").is_dir(),
        "kubectl's cache is not under XDG_CACHE_HOME"
    );
    let status = Command::new("git")
        .args(["status", "--porcelain", "--ignored", ".kube"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git status");
    assert_eq!(
        String::from_utf8_lossy(&status.stdout),
        "",
        "the test suite left .kube/ in the project"
    );
}

#[test]
#[ignore = "needs ../shared (test API server and release trees); run by .ci/run"]
fn a_live_configmap_value_reaches_status_cluster_escaped() {
    let (_temp, _name, root) =
        crate::support::temp_copy(&crate::support::shared().join("kubeflow/manifests-v1.8.1"));
    let cluster = crate::support::cluster::TestCluster::start(16703, true);
    let yaml = crate::support::kustomize(
        &root.join("apps/pipeline/upstream/env/cert-manager/platform-agnostic-multi-user"),
    );
    cluster.apply(&yaml);
    let name = cluster
        .kubectl(&["get", "configmap", "-n", "kubeflow", "-o", "name"])
        .lines()
        .find(|l| l.starts_with("configmap/pipeline-api-server-config"))
        .expect("the API server's ConfigMap")
        .to_string();
    let patch =
        serde_json::json!({"data": {"MULTIUSER": "true\u{1b}]0;pwned\u{7}\n::add-mask::x"}});
    cluster.kubectl(&[
        "patch",
        "-n",
        "kubeflow",
        &name,
        "--type",
        "merge",
        "-p",
        &patch.to_string(),
    ]);
    let output = crate::support::kfpatch()
        .arg("-C")
        .arg(&root)
        .args(["--color", "never", "--kubeconfig"])
        .arg(&cluster.kubeconfig)
        .args(["status", "--cluster"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert_inert("status --cluster", &text);
    assert!(
        text.contains("\"true\\033]0;pwned\\a\\n::add-mask::x\""),
        "the live value is not quoted:\n{text}"
    );
}

/// A generated copy beside the install (the scan reads every YAML file of the checkout) whose
/// file name carries a line break and a workflow command: every command that names the copy
/// quotes it.
#[test]
fn a_generated_copy_named_with_a_line_break_is_quoted() {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().join("checkout");
    crate::support::copy_tree(&fixture("prerendered-copies"), &root);
    fs::rename(
        root.join("terraform/pipeline.yaml"),
        root.join("terraform/a\n::add-mask::secret.yaml"),
    )
    .expect("rename");
    let shown = "\"terraform/a\\n::add-mask::secret.yaml\":10";
    for args in [
        &["status"][..],
        &["audit"],
        &["multiuser", "off", "--dry-run"],
    ] {
        let (code, text) = run(&root, args);
        assert_eq!(code, 0, "{args:?}:\n{text}");
        assert_inert(&format!("{args:?}"), &text);
        assert!(text.contains(shown), "{args:?}: no {shown:?} in:\n{text}");
    }
}
