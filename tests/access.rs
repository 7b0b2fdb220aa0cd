//! `kfpatch access` against a real API server (`../shared/test-cluster` with the PodDefault CRD):
//! every generated object is accepted, `--apply --yes` stores them, a refused object stops the
//! apply before anything is stored, and without `--yes` and a terminal nothing is applied.
//! Output for bad input and the YAML itself are CLI cases (`tests/cases/access-*`).

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use support::cluster::TestCluster;

fn kfpatch(args: &[&str]) -> std::process::Output {
    support::kfpatch().args(args).output().expect("run kfpatch")
}

/// `kubectl --kubeconfig K ARGS` with `input` on stdin; returns (success, stdout + stderr).
fn kubectl_with_input(cluster: &TestCluster, args: &[&str], input: &str) -> (bool, String) {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn the_cluster_accepts_and_stores_every_object() {
    let cluster = TestCluster::start(16600, true);
    let kubeconfig = cluster.kubeconfig.to_string_lossy().into_owned();
    cluster.kubectl(&["create", "namespace", "team-a"]);
    cluster.kubectl(&["create", "namespace", "team-b"]);

    // The YAML on stdout, checked by the API server (schema of the PodDefault CRD).
    let printed = kfpatch(&["access", "--namespace", "team-a", "--namespace", "team-b"]);
    assert_eq!(printed.status.code(), Some(0));
    let yaml = String::from_utf8(printed.stdout).unwrap();
    let (ok, report) = kubectl_with_input(
        &cluster,
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        &yaml,
    );
    assert!(ok, "{report}");
    assert_eq!(
        report,
        "poddefault.kubeflow.org/access-ml-pipeline serverside-applied (server dry run)\n"
            .repeat(2)
    );

    // The --output folder, as a GitOps tool would apply it.
    let temp = tempfile::tempdir().unwrap();
    let folder = temp.path().join("access");
    let written = kfpatch(&[
        "access",
        "--namespace",
        "team-a",
        "--namespace",
        "team-b",
        "--output-dir",
        folder.to_str().unwrap(),
    ]);
    assert_eq!(written.status.code(), Some(0));
    let (ok, report) = kubectl_with_input(
        &cluster,
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            "-k",
            folder.to_str().unwrap(),
        ],
        "",
    );
    assert!(ok, "{report}");
    assert_eq!(
        report
            .matches("serverside-applied (server dry run)")
            .count(),
        2
    );

    // --apply --yes stores them.
    let applied = kfpatch(&[
        "access",
        "--namespace",
        "team-a",
        "--namespace",
        "team-b",
        "--expiration-seconds",
        "3600",
        "--apply",
        "--yes",
        "--kubeconfig",
        &kubeconfig,
    ]);
    let stdout = String::from_utf8_lossy(&applied.stdout);
    assert_eq!(
        applied.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let header = "context: local\nserver:  https://127.0.0.1:16600\napply:   the access-ml-pipeline PodDefault of team-a, team-b (token lifetime 3600 s), server-side apply (--force-conflicts)\nobjects: 2\n     2 PodDefault\n";
    assert!(stdout.starts_with(header), "{stdout}");
    assert!(
        stdout.contains("applied 2 objects in ")
            && stdout.contains("How a notebook in team-a, team-b uses it:\n"),
        "{stdout}"
    );
    for namespace in ["team-a", "team-b"] {
        let stored = cluster.kubectl(&[
            "get",
            "poddefault",
            "access-ml-pipeline",
            "-n",
            namespace,
            "-o",
            "jsonpath={.spec.selector.matchLabels.access-ml-pipeline} {.spec.env[0].value} {.spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds} {.spec.volumes[0].projected.sources[0].serviceAccountToken.audience} {.spec.volumeMounts[0].mountPath} {.metadata.managedFields[0].manager}",
        ]);
        assert_eq!(
            stored,
            "true /var/run/secrets/kubeflow/pipelines/token 3600 pipelines.kubeflow.org /var/run/secrets/kubeflow/pipelines kubectl"
        );
    }

    // A namespace that does not exist: refused before anything is sent, so nothing is stored.
    cluster.kubectl(&["create", "namespace", "team-c"]);
    let refused = kfpatch(&[
        "access",
        "--namespace",
        "team-c",
        "--namespace",
        "no-such-team",
        "--apply",
        "--yes",
        "--kubeconfig",
        &kubeconfig,
    ]);
    assert_eq!(refused.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        "error: the cluster lacks what these objects need; nothing was applied:\n  namespace no-such-team does not exist and these objects do not create it: create it (kubectl create namespace no-such-team), or apply Kubeflow's common/kubeflow-namespace first\n"
    );
    assert_eq!(
        cluster.kubectl(&["get", "poddefault", "-n", "team-c", "-o", "name"]),
        ""
    );

    // Without --yes and without a terminal: the summary is shown, nothing is applied.
    let output = support::kfpatch()
        .args([
            "access",
            "--namespace",
            "team-c",
            "--apply",
            "--kubeconfig",
            &kubeconfig,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "context: local\nserver:  https://127.0.0.1:16600\napply:   the access-ml-pipeline PodDefault of team-c (token lifetime 7200 s), server-side apply (--force-conflicts)\nobjects: 1\n     1 PodDefault\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: refusing to apply: standard input is not a terminal to ask on; pass --yes to apply without asking\n"
    );
    assert_eq!(
        cluster.kubectl(&["get", "poddefault", "-n", "team-c", "-o", "name"]),
        ""
    );

    // kubectl's conventions: KUBECONFIG when there is no --kubeconfig, --context before the
    // command (a global flag), -n for --namespace.
    let output = support::kfpatch()
        .args([
            "--context",
            "local",
            "access",
            "-n",
            "team-c",
            "--apply",
            "--yes",
        ])
        .env("KUBECONFIG", &cluster.kubeconfig)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("context: local\nserver:  https://127.0.0.1:16600\n"),
        "{stdout}"
    );
    assert_eq!(
        cluster.kubectl(&["get", "poddefault", "-n", "team-c", "-o", "name"]),
        "poddefault.kubeflow.org/access-ml-pipeline\n"
    );
    // A context the kubeconfig does not have: kubectl's refusal, nothing applied.
    let output = support::kfpatch()
        .args([
            "access",
            "-n",
            "team-b",
            "--apply",
            "--yes",
            "--context",
            "nowhere",
        ])
        .env("KUBECONFIG", &cluster.kubeconfig)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .starts_with("error: kubectl cannot use this kubeconfig/context: "),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
