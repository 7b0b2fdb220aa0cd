//! Re-install: only what changed is sent.

use super::*;

/// The last lines of a reinstall of the `again` target: the steps and the total.
fn steps_of(run: &Run) -> String {
    let text = scrub_seconds(&run.stdout);
    let from = text.find("step 1/").expect("no step line");
    text[from..].to_string()
}

/// A ConfigMap's data on the cluster, as JSON.
fn config_data(cluster: &TestCluster) -> String {
    cluster.kubectl(&[
        "get",
        "configmap",
        "settings",
        "-n",
        "shop",
        "-o",
        "jsonpath={.data}",
    ])
}

/// Issue 20: a re-install sends only the objects the cluster does not have as the apply would
/// leave them: drift is put back, a field the render dropped is removed, with client-side and
/// server-side apply alike; the first server-side apply over client-side applied objects sends
/// them all (kubectl's field manager owns nothing of them yet).
#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn reinstall_sends_only_what_changed() {
    let cluster = TestCluster::start(16521, false);
    let kubeconfig = cluster.kubeconfig.to_string_lossy().into_owned();
    let (_temp, root) = copy(&release("manifests-v1.8.1"));
    let files = |data: &str| {
        target(
            &root,
            "again",
            &[
                (
                    "kustomization.yaml",
                    "resources:\n- namespace.yaml\n- crd.yaml\n- settings.yaml\n- widget.yaml\n",
                ),
                (
                    "namespace.yaml",
                    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
                ),
                ("crd.yaml", WIDGET_CRD),
                (
                    "settings.yaml",
                    &format!(
                        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\ndata:\n{data}"
                    ),
                ),
                (
                    "widget.yaml",
                    "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: first\n  namespace: shop\nspec:\n  size: 3\n",
                ),
            ],
        )
    };
    let reinstall = |server_side: &str| {
        let run = kfpatch(
            &root,
            &[
                "reinstall",
                "--target",
                "again",
                "--yes",
                "--server-side",
                server_side,
                "--kubeconfig",
                &kubeconfig,
            ],
        );
        assert_code(&run, 0);
        assert_eq!(run.stderr, "");
        steps_of(&run)
    };
    let unchanged = "step 1/3 (1 CustomResourceDefinition, 1 Namespace): unchanged, nothing sent\nstep 2/3 (1 object that needs no CRD of this render): unchanged, nothing sent\nstep 3/3 (1 custom resource): unchanged, nothing sent\napplied 0 objects in N s (4 unchanged, not sent)\nnot waiting: the render has no ml-pipeline or ml-pipeline-ui Deployment\n";
    let one_config_map = "step 1/3 (1 CustomResourceDefinition, 1 Namespace): unchanged, nothing sent\nstep 2/3 (1 object that needs no CRD of this render): attempt 1/5: ok, 1 object\nstep 3/3 (1 custom resource): unchanged, nothing sent\napplied 1 object in N s (3 unchanged, not sent)\nnot waiting: the render has no ml-pipeline or ml-pipeline-ui Deployment\n";
    let all = "step 1/3 (1 CustomResourceDefinition, 1 Namespace): attempt 1/5: ok, 2 objects\nstep 2/3 (1 object that needs no CRD of this render): attempt 1/5: ok, 1 object\nstep 3/3: the CRD it uses is Established\nstep 3/3 (1 custom resource): attempt 1/5: ok, 1 object\napplied 4 objects in N s\nnot waiting: the render has no ml-pipeline or ml-pipeline-ui Deployment\n";

    for server_side in ["never", "always"] {
        files("  a: one\n  b: two\n  c: three\n");
        // The first apply of each kind sends everything.
        assert_eq!(reinstall(server_side), all, "--server-side {server_side}");
        assert_eq!(
            reinstall(server_side),
            unchanged,
            "--server-side {server_side}"
        );

        // Drift on the cluster is put back.
        cluster.kubectl(&[
            "patch",
            "configmap",
            "settings",
            "-n",
            "shop",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"a":"drifted"}}"#,
        ]);
        assert_eq!(
            reinstall(server_side),
            one_config_map,
            "--server-side {server_side}"
        );
        assert_eq!(
            config_data(&cluster),
            r#"{"a":"one","b":"two","c":"three"}"#
        );

        // A key the render no longer has is removed.
        files("  a: one\n  b: two\n");
        assert_eq!(
            reinstall(server_side),
            one_config_map,
            "--server-side {server_side}"
        );
        assert_eq!(config_data(&cluster), r#"{"a":"one","b":"two"}"#);
        assert_eq!(
            reinstall(server_side),
            unchanged,
            "--server-side {server_side}"
        );
    }
}
