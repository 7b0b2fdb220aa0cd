//! Small renders on a fresh cluster: the order of the steps, the prompt, the wait for the
//! rollout; and an overlay applied as a target.

use super::*;

const DEPLOYMENTS: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ml-pipeline\n  namespace: waiting\nspec:\n  selector: {matchLabels: {app: ml-pipeline}}\n  template:\n    metadata: {labels: {app: ml-pipeline}}\n    spec:\n      containers: [{name: api, image: example.invalid/api}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ml-pipeline-ui\n  namespace: waiting\nspec:\n  selector: {matchLabels: {app: ml-pipeline-ui}}\n  template:\n    metadata: {labels: {app: ml-pipeline-ui}}\n    spec:\n      containers: [{name: ui, image: example.invalid/ui}]\n";

#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn fresh_cluster_ordering_prompt_and_wait() {
    let cluster = TestCluster::start(16506, false);
    let kubeconfig = cluster.kubeconfig.to_string_lossy().into_owned();
    let (_temp, root) = copy(&release("manifests-v1.8.1"));

    // Without Istio, cert-manager and the kubeflow namespace: stop before applying anything,
    // naming what is missing.
    let before = stored(&cluster);
    let run = kfpatch(
        &root,
        &[
            "reinstall",
            "--yes",
            "--attempts",
            "2",
            "--kubeconfig",
            &kubeconfig,
        ],
    );
    assert_code(&run, 3);
    assert_eq!(
        run.stderr,
        "error: the cluster lacks what these objects need; nothing was applied:\n  Certificate (cert-manager.io): cert-manager is not installed (1 object)\n  Issuer (cert-manager.io): cert-manager is not installed (1 object)\n  DestinationRule (networking.istio.io): Istio is not installed (6 objects)\n  VirtualService (networking.istio.io): Istio is not installed (2 objects)\n  AuthorizationPolicy (security.istio.io): Istio is not installed (7 objects)\n  namespace kubeflow does not exist and these objects do not create it: create it (kubectl create namespace kubeflow), or apply Kubeflow's common/kubeflow-namespace first\n"
    );
    assert_eq!(stored(&cluster), before);

    // Custom resources before their CRD and namespace (fifo keeps the render order): one command.
    target(
        &root,
        "ordering",
        &[
            (
                "kustomization.yaml",
                "sortOptions:\n  order: fifo\nresources:\n- widget.yaml\n- crd.yaml\n- namespace.yaml\n",
            ),
            (
                "widget.yaml",
                "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: first\n  namespace: shop\nspec:\n  size: 3\n",
            ),
            ("crd.yaml", WIDGET_CRD),
            (
                "namespace.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
            ),
        ],
    );
    // Without a terminal and without --yes: refused, nothing applied.
    let run = kfpatch(
        &root,
        &[
            "reinstall",
            "--target",
            "ordering",
            "--kubeconfig",
            &kubeconfig,
        ],
    );
    assert_code(&run, 2);
    assert_eq!(
        run.stderr,
        "error: refusing to apply: standard input is not a terminal to ask on; pass --yes to apply without asking\n"
    );
    assert!(
        run.stdout.contains("context: local\nserver:  https://127.0.0.1:16506\napply:   the render of ordering, client-side apply\nobjects: 3\n     1 CustomResourceDefinition\n     1 Namespace\n     1 Widget\n"),
        "{}",
        run.stdout
    );
    assert_eq!(stored(&cluster), before);

    let run = kfpatch(
        &root,
        &[
            "reinstall",
            "--target",
            "ordering",
            "--yes",
            "--kubeconfig",
            &kubeconfig,
        ],
    );
    assert_code(&run, 0);
    assert!(
        run.stdout.contains("step 1/2 (1 CustomResourceDefinition, 1 Namespace): attempt 1/5: ok, 2 objects\nstep 2/2: the CRD it uses is Established\nstep 2/2 (1 custom resource): attempt 1/5: ok, 1 object\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .ends_with("not waiting: the render has no ml-pipeline or ml-pipeline-ui Deployment\n"),
        "{}",
        run.stdout
    );
    assert_eq!(
        cluster.kubectl(&[
            "get",
            "widget",
            "first",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.size}"
        ]),
        "3"
    );

    // No controllers here: the rollout never happens, and the bounded wait says what is missing.
    target(
        &root,
        "waiting",
        &[
            (
                "kustomization.yaml",
                "resources:\n- namespace.yaml\n- deployments.yaml\n",
            ),
            (
                "namespace.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: waiting\n",
            ),
            ("deployments.yaml", DEPLOYMENTS),
        ],
    );
    let run = kfpatch(
        &root,
        &[
            "reinstall",
            "--target",
            "waiting",
            "--yes",
            "--timeout",
            "20s",
            "--kubeconfig",
            &kubeconfig,
        ],
    );
    assert_code(&run, 3);
    assert!(
        run.stdout.contains("wait: deployment/ml-pipeline (namespace waiting), deployment/ml-pipeline-ui (namespace waiting) (--timeout 20s)\n"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr,
        "error: not ready when the time limit ran out (--timeout 20s):\n  deployment/ml-pipeline (namespace waiting): no controller has reported on it yet (no status)\n  deployment/ml-pipeline-ui (namespace waiting): no controller has reported on it yet (no status)\n"
    );
}

/// Issue 5's GitOps path: `multiuser off --overlay DIR`, then `reinstall --target DIR` applies the
/// overlay; the API server's ConfigMap says single-user while the upstream files stay untouched.
/// Then `multiuser on --overlay DIR` removes it and `reinstall` (kfp) brings multi-user back.
#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn reinstall_applies_an_overlay() {
    let cluster = TestCluster::start(16509, true);
    let kubeconfig = cluster.kubeconfig.to_string_lossy().into_owned();
    let (_temp, root) = copy(&release("manifests-v1.8.1"));
    let params =
        root.join("apps/pipeline/upstream/base/installs/multi-user/api-service/params.env");
    let upstream = fs::read(&params).unwrap();

    let run = kfpatch(
        &root,
        &["multiuser", "off", "--overlay", "overlays/kfp-single-user"],
    );
    assert_code(&run, 0);
    let apply = |target: &str| {
        kfpatch(
            &root,
            &[
                "reinstall",
                "--target",
                target,
                "--yes",
                "--no-wait",
                "--kubeconfig",
                &kubeconfig,
            ],
        )
    };
    let run = kfpatch(&root, &["render", "--target", "overlays/kfp-single-user"]);
    assert_code(&run, 0);
    assert!(
        run.stdout.contains(
            "  ok       1 api-service/params.env:1  MULTIUSER: file true, the overlay makes it false, rendered false\n"
        ),
        "{}",
        run.stdout
    );
    let run = apply("overlays/kfp-single-user");
    assert_code(&run, 0);
    assert!(!run.stderr.contains("differs"), "{}", run.stderr);
    assert!(
        run.stdout.contains("render:    overlays/kfp-single-user"),
        "{}",
        run.stdout
    );
    assert_eq!(multiuser_on_cluster(&cluster), "false");
    assert_eq!(
        fs::read(&params).unwrap(),
        upstream,
        "upstream params.env changed"
    );

    let run = kfpatch(
        &root,
        &["multiuser", "on", "--overlay", "overlays/kfp-single-user"],
    );
    assert_code(&run, 0);
    assert!(
        !root.join("overlays").exists(),
        "overlay folder left behind"
    );
    assert_code(&apply("kfp"), 0);
    assert_eq!(multiuser_on_cluster(&cluster), "true");
}
