//! `render` and `reinstall`: bad input (fixtures), and the real release trees applied to a real
//! API server (`../shared/test-cluster`, `#[ignore]`d: `.ci/run` runs them).
//!
//! Ports: 16500, 16503, 16506 and 16509 (etcd takes the port minus 4000 and the two after it, so the
//! clusters of this binary are three apart).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use support::cluster::TestCluster;

struct Run {
    stdout: String,
    stderr: String,
    code: i32,
}

fn kfpatch(dir: &Path, args: &[&str]) -> Run {
    let output: Output = support::kfpatch()
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kfpatch");
    Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        code: output.status.code().unwrap_or(-1),
    }
}

/// A writable copy of a fixture or release tree in a temp dir (canonical path).
fn copy(from: &Path) -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().canonicalize().expect("canonical").join("tree");
    support::copy_tree(from, &root);
    (temp, root)
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn release(name: &str) -> PathBuf {
    support::shared().join("kubeflow").join(name)
}

fn assert_code(run: &Run, code: i32) {
    assert_eq!(
        run.code, code,
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        run.stdout, run.stderr
    );
}

// ---------------------------------------------------------------- bad input: exit 2, no cluster

#[test]
fn kfp_target_needs_example() {
    let (_temp, root) = copy(&fixture("manifests-v1.8-apps"));
    fs::remove_dir_all(root.join("example")).unwrap();
    for command in ["render", "reinstall"] {
        let run = kfpatch(&root, &[command]);
        assert_code(&run, 2);
        assert_eq!(run.stdout, "");
        assert_eq!(
            run.stderr,
            format!(
                "kfpatch: error: --target kfp reads the pipeline line of example/kustomization.yaml, and {} has none; run in the kubeflow/manifests checkout root (-C DIR), or pass --target PATH (the KFP overlay to apply)\n",
                root.display()
            )
        );
    }
}

#[test]
fn kfp_target_needs_the_pipeline_line() {
    let (_temp, root) = copy(&fixture("manifests-v1.8-apps"));
    let example = root.join("example/kustomization.yaml");
    let text = fs::read_to_string(&example).unwrap();
    fs::write(
        &example,
        text.replace("- ../apps/pipeline", "# - ../apps/pipeline"),
    )
    .unwrap();
    let run = kfpatch(&root, &["reinstall", "--yes"]);
    assert_code(&run, 2);
    assert_eq!(
        run.stderr,
        "kfpatch: error: example/kustomization.yaml has no Kubeflow Pipelines line (a resources entry under .../pipeline/...); if it is commented out, uncomment it, or pass --target PATH\n"
    );
}

#[test]
fn kfp_target_line_must_exist() {
    // The fixture's example/ names the cert-manager overlay, which the small fixture lacks.
    let (_temp, root) = copy(&fixture("manifests-v1.8-apps"));
    let run = kfpatch(&root, &["render"]);
    assert_code(&run, 2);
    assert_eq!(
        run.stderr,
        "kfpatch: error: example/kustomization.yaml:5: ../apps/pipeline/upstream/env/cert-manager/platform-agnostic-multi-user is not a kustomization folder in this checkout; fix the line, or pass --target PATH\n"
    );
}

#[test]
fn bad_flags_are_refused_before_anything_runs() {
    let (_temp, root) = copy(&fixture("manifests-v1.8-apps"));
    let run = kfpatch(&root, &["reinstall", "--timeout", "5x"]);
    assert_code(&run, 2);
    assert_eq!(
        run.stderr,
        "kfpatch: error: --timeout 5x: expected a duration such as 90s, 5m or 1h30m\n"
    );
    let run = kfpatch(&root, &["reinstall", "--attempts", "0"]);
    assert_code(&run, 2);
    assert_eq!(
        run.stderr,
        "kfpatch: error: --attempts 0: give at least 1\n"
    );
    let run = kfpatch(&root, &["render", "--target", "no/such/dir"]);
    assert_code(&run, 2);
    assert_eq!(
        run.stderr,
        format!(
            "kfpatch: error: --target no/such/dir: no kustomization.yaml in {}/no/such/dir; name a kustomization folder (relative to -C), kfp or all\n",
            root.display()
        )
    );
    let run = kfpatch(
        &root,
        &[
            "render",
            "--target",
            "apps/pipeline/upstream/base/installs/multi-user",
            "--kustomize",
            "kfpatch-no-such-kustomize build",
        ],
    );
    assert_code(&run, 2);
    assert!(
        run.stderr.starts_with(
            "kfpatch: error: cannot run kfpatch-no-such-kustomize: No such file or directory"
        ),
        "{}",
        run.stderr
    );
}

// ------------------------------------------------------- real trees: render (no cluster needed)

#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn render_shows_what_the_cluster_gets() {
    let (_temp, root) = copy(&release("manifests-v1.8.1"));
    let run = kfpatch(&root, &["render"]);
    assert_code(&run, 0);
    assert_eq!(run.stderr, "");
    let expected_start = "render:    apps/pipeline/upstream/env/cert-manager/platform-agnostic-multi-user (--target kfp: the pipeline line of example/kustomization.yaml:59)\nkustomize: kubectl kustomize (kustomize v5.5.0)\nobjects:   126 in ";
    assert!(run.stdout.starts_with(expected_start), "{}", run.stdout);
    for line in [
        "ConfigMap pipeline-api-server-config-dc9hkg52h6 (namespace kubeflow), from apps/pipeline/upstream/base/installs/multi-user/api-service/params.env:\n  DEFAULTPIPELINERUNNERSERVICEACCOUNT=default-editor\n  MULTIUSER=true\n  VISUALIZATIONSERVICE_NAME=ml-pipeline-visualizationserver\n  VISUALIZATIONSERVICE_PORT=8888\n",
        "Deployment ml-pipeline (namespace kubeflow), container ml-pipeline-api-server:\n  envFrom: ConfigMap pipeline-api-server-config-dc9hkg52h6\n  env: KUBEFLOW_USERID_HEADER=kubeflow-userid\n",
        "Deployment ml-pipeline-ui (namespace kubeflow), container ml-pipeline-ui (the env kfpatch manages):\n  ENABLE_AUTHZ: true\n  DEPLOYMENT: KUBEFLOW\n  ARTIFACTS_SERVICE_PROXY_ENABLED: true\n",
        "ConfigMap ml-pipeline-ui-configmap: viewer-pod-template.json spec.serviceAccountName: default-editor\n",
        "  ok       envFrom of Deployment ml-pipeline names pipeline-api-server-config-dc9hkg52h6\n  ok       1 api-service/params.env:1  MULTIUSER: true\n",
    ] {
        assert!(
            run.stdout.contains(line),
            "missing {line:?} in\n{}",
            run.stdout
        );
    }
    assert!(!run.stdout.contains("DIFFERS"), "{}", run.stdout);

    // After the switch, the render carries the new ConfigMap (facts §3: MULTIUSER=false plus
    // pipeline-runner hashes to 589h5mkcgk) and still agrees with the files.
    assert_code(&kfpatch(&root, &["multiuser", "off"]), 0);
    let run = kfpatch(&root, &["render"]);
    assert_code(&run, 0);
    assert!(
        run.stdout
            .contains("ConfigMap pipeline-api-server-config-589h5mkcgk (namespace kubeflow)")
    );
    assert!(
        run.stdout
            .contains("  ok       1 api-service/params.env:1  MULTIUSER: false\n")
    );
    assert!(run.stdout.contains("  ok       6 pipelines-ui/deployment-patch.yaml:25  env ENABLE_AUTHZ of ml-pipeline-ui: false\n"));

    // A kustomization that pins MULTIUSER above the install: kfpatch traces it offline, so the
    // render agrees with it, and says that it overrides the file.
    fs::create_dir_all(root.join("pinned")).unwrap();
    fs::write(
        root.join("pinned/kustomization.yaml"),
        "resources:\n- ../apps/pipeline/upstream/env/cert-manager/platform-agnostic-multi-user\nconfigMapGenerator:\n- name: pipeline-api-server-config\n  namespace: kubeflow\n  behavior: merge\n  literals:\n  - MULTIUSER=true\n",
    )
    .unwrap();
    let run = kfpatch(&root, &["render", "--target", "pinned"]);
    assert_code(&run, 0);
    assert!(
        run.stdout.contains(
            "  ok       1 api-service/params.env:1  MULTIUSER: file false, pinned/kustomization.yaml:8 makes it true (through pinned/kustomization.yaml:4, configMapGenerator pipeline-api-server-config, behavior merge), rendered true\n"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr,
        "kfpatch: warning: pinned/kustomization.yaml:8 overrides MULTIUSER: the install says false, the cluster gets true (through pinned/kustomization.yaml:4, configMapGenerator pipeline-api-server-config, behavior merge)\n"
    );
}

/// `render -o json` on the real v1.8.1 tree prints exactly docs/render.schema-example.json (the
/// kustomize line, which names the kustomize found on this machine, aside);
/// `UPDATE_EXAMPLES=1` rewrites the example.
#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn render_json_matches_the_documented_example() {
    let (_temp, root) = copy(&release("manifests-v1.8.1"));
    let run = kfpatch(&root, &["render", "-o", "json"]);
    assert_code(&run, 0);
    assert_eq!(run.stderr, "");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/render.schema-example.json");
    if std::env::var_os("UPDATE_EXAMPLES").is_some() {
        fs::write(&path, &run.stdout).expect("write example");
        return;
    }
    let mut actual: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let expected: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).expect("read example")).expect("parse");
    assert!(
        actual["kustomize"]
            .as_str()
            .is_some_and(|k| k.contains("kustomize v")),
        "{}",
        actual["kustomize"]
    );
    actual["kustomize"] = expected["kustomize"].clone();
    assert_eq!(
        actual, expected,
        "docs/render.schema-example.json differs from the output; if the change is meant, run UPDATE_EXAMPLES=1 cargo test --test reinstall -- --ignored render_json and review the diff"
    );
    let yaml = kfpatch(&root, &["render", "--output", "yaml"]);
    assert_code(&yaml, 0);
    let from_yaml: serde_json::Value = yaml_serde::from_str(&yaml.stdout).expect("YAML");
    assert_eq!(from_yaml["agreement"], expected["agreement"]);
}

#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn render_warns_about_old_kustomize_and_remote_bases() {
    let (_temp, root) = copy(&release("manifests-26.03-vendored"));
    let run = kfpatch(&root, &["render"]);
    assert_code(&run, 0);
    assert_eq!(
        run.stderr,
        "kfpatch: warning: kubectl kustomize runs kustomize v5.5.0, older than the 5.7.1 that the README of kubeflow/manifests v1.11 and later asks for; the render may differ from upstream's\n"
    );
    assert!(run.stdout.starts_with("render:    applications/pipeline/overlays (--target kfp: the pipeline line of example/kustomization.yaml:68)\n"), "{}", run.stdout);

    // The real 26.03 references Argo Workflows as a remote base (facts §5).
    fs::create_dir_all(root.join("remote")).unwrap();
    fs::write(
        root.join("remote/kustomization.yaml"),
        "resources:\n- ../applications/pipeline/upstream/base/installs/multi-user\n- https://github.com/argoproj/argo-workflows/manifests/base/crds/minimal?ref=v3.7.3\n",
    )
    .unwrap();
    let run = kfpatch(&root, &["render", "--target", "remote"]);
    assert_code(&run, 2);
    assert!(
        run.stderr.starts_with(
            "kfpatch: warning: kubectl kustomize runs kustomize v5.5.0, older than the 5.7.1 that the README of kubeflow/manifests v1.11 and later asks for; the render may differ from upstream's\nkfpatch: error: rendering remote needs the network: it references remote bases\n  remote/kustomization.yaml:3: https://github.com/argoproj/argo-workflows/manifests/base/crds/minimal?ref=v3.7.3\nvendor them: copy the files at that ref into the checkout and point the entries at the copies (relative paths), then render again.\n"
        ),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------- against a cluster

/// Objects that an apply would store: a count to compare before and after a dry run.
fn stored(cluster: &TestCluster) -> usize {
    cluster
        .kubectl(&[
            "get",
            "namespaces,configmaps,deployments,serviceaccounts,services,crd",
            "-A",
            "--no-headers",
        ])
        .lines()
        .count()
}

/// MULTIUSER of the ConfigMap that ml-pipeline's envFrom names.
fn multiuser_on_cluster(cluster: &TestCluster) -> String {
    let name = cluster.kubectl(&[
        "get",
        "deployment",
        "ml-pipeline",
        "-n",
        "kubeflow",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].envFrom[0].configMapRef.name}",
    ]);
    assert!(name.starts_with("pipeline-api-server-config-"), "{name}");
    cluster.kubectl(&[
        "get",
        "configmap",
        &name,
        "-n",
        "kubeflow",
        "-o",
        "jsonpath={.data.MULTIUSER}",
    ])
}

fn api_server_configs(cluster: &TestCluster) -> Vec<String> {
    cluster
        .kubectl(&["get", "configmaps", "-n", "kubeflow", "-o", "name"])
        .lines()
        .filter(|l| l.starts_with("configmap/pipeline-api-server-config-"))
        .map(str::to_string)
        .collect()
}

/// The scenario on one release: dry run first (the render's own CRDs are not there yet),
/// then off + reinstall, on + reinstall with pruning.
fn switch_and_reinstall(tree: &str, port: u16, controller_kind: &str, how: &str) {
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
    assert!(run.stdout.contains("step 1/2 ("), "{}", run.stdout);
    assert!(
        run.stdout.contains(" CRDs Established\nstep 2/2 ("),
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
    );
}

/// A kustomization folder in `root` with these files.
fn target(root: &Path, name: &str, files: &[(&str, &str)]) {
    let dir = root.join(name);
    fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        fs::write(dir.join(file), text).unwrap();
    }
}

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names:\n    kind: Widget\n    plural: widgets\n    singular: widget\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n";

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
        "kfpatch: error: the cluster lacks what these objects need; nothing was applied:\n  Certificate (cert-manager.io): cert-manager is not installed (1 object)\n  Issuer (cert-manager.io): cert-manager is not installed (1 object)\n  DestinationRule (networking.istio.io): Istio is not installed (6 objects)\n  VirtualService (networking.istio.io): Istio is not installed (2 objects)\n  AuthorizationPolicy (security.istio.io): Istio is not installed (7 objects)\n  namespace kubeflow does not exist and these objects do not create it: create it (kubectl create namespace kubeflow), or apply Kubeflow's common/kubeflow-namespace first\n"
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
        "kfpatch: error: refusing to apply: standard input is not a terminal to ask on; pass --yes to apply without asking\n"
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
        run.stdout.contains("step 1/2 (1 CustomResourceDefinition, 1 Namespace): attempt 1/5: ok, 2 objects\nstep 1/2: 1 CRD Established\nstep 2/2 (1 object): attempt 1/5: ok, 1 object\n"),
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
        "kfpatch: error: not ready when the time limit ran out (--timeout 20s):\n  deployment/ml-pipeline (namespace waiting): no controller has reported on it yet (no status)\n  deployment/ml-pipeline-ui (namespace waiting): no controller has reported on it yet (no status)\n"
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
