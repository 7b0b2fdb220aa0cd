//! The scenario on each real release against a cluster: dry run, switch off and
//! reinstall, switch on and reinstall with pruning.

use super::*;

fn api_server_configs(cluster: &TestCluster) -> Vec<String> {
    cluster
        .kubectl(&["get", "configmaps", "-n", "kubeflow", "-o", "name"])
        .lines()
        .filter(|l| l.starts_with("configmap/pipeline-api-server-config-"))
        .map(str::to_string)
        .collect()
}

/// The scenario on one release: dry run first (the render's own CRDs are not there yet),
/// then off + reinstall, on + reinstall with pruning. `crds`: the render's CRDs; `plain`: its
/// objects that need none of them.
fn switch_and_reinstall(
    tree: &str,
    port: u16,
    controller_kind: &str,
    how: &str,
    (crds, plain): (usize, usize),
) {
    let cluster = TestCluster::start(port, true);
    let kubeconfig = cluster.kubeconfig.to_string_lossy().into_owned();
    let (_temp, root) = copy(&release(tree));

    let before = stored(&cluster);
    let run = kfpatch(
        &root,
        &[
            "reinstall",
            "--dry-run",
            "server",
            "--kubeconfig",
            &kubeconfig,
        ],
    );
    assert_code(&run, 0);
    assert_eq!(
        stored(&cluster),
        before,
        "a server dry run stored something"
    );
    assert!(
        run.stdout.contains(&format!(
            "  not checked: {controller_kind}/kubeflow-pipelines-profile-controller (namespace kubeflow): CRD not installed yet\n"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("apply:   the render of "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            ", {how}, server dry run (checked by the API server, nothing stored)\n"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("check: attempt 1/5: ok, "),
        "{}",
        run.stdout
    );

    assert_code(&kfpatch(&root, &["multiuser", "off"]), 0);
    let run = kfpatch(
        &root,
        &[
            "reinstall",
            "--yes",
            "--no-wait",
            "--kubeconfig",
            &kubeconfig,
        ],
    );
    assert_code(&run, 0);
    assert!(
        run.stdout
            .contains("context: local\nserver:  https://127.0.0.1:"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("step 1/3 ("), "{}", run.stdout);
    // Only the custom resources of the render's CRDs wait, and only for the CRD they use.
    assert!(
        run.stdout.contains(&format!(
            " objects that need no CRD of this render): attempt 1/5: ok, {plain} objects\nstep 3/3: the CRD it uses is Established (not waiting for the {} others)\nstep 3/3 (1 custom resource): attempt 1/5: ok, 1 object\n",
            crds - 1
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .ends_with("not waiting for the rollout (--no-wait)\n"),
        "{}",
        run.stdout
    );
    assert_eq!(multiuser_on_cluster(&cluster), "false");

    assert_code(&kfpatch(&root, &["multiuser", "on"]), 0);
    let run = kfpatch(
        &root,
        &[
            "reinstall",
            "--yes",
            "--no-wait",
            "--prune-stale-config",
            "--kubeconfig",
            &kubeconfig,
        ],
    );
    assert_code(&run, 0);
    assert_eq!(multiuser_on_cluster(&cluster), "true");
    assert_eq!(
        api_server_configs(&cluster),
        ["configmap/pipeline-api-server-config-dc9hkg52h6"]
    );
    assert!(
        run.stdout.contains(
            "prune: deleted ConfigMap pipeline-api-server-config-589h5mkcgk in kubeflow (no Deployment references them)\n"
        ),
        "{}",
        run.stdout
    );
}

#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn reinstall_v1_8_1() {
    switch_and_reinstall(
        "manifests-v1.8.1",
        16500,
        "CompositeController",
        "client-side apply",
        (12, 113),
    );
}

#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn reinstall_26_03() {
    switch_and_reinstall(
        "manifests-26.03-vendored",
        16503,
        "DecoratorController",
        "server-side apply (--force-conflicts)",
        (13, 119),
    );
}
