//! `render` of the real release trees (no cluster needed).

use super::*;

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

    // After the switch, the render carries the new ConfigMap (MULTIUSER=false plus
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
    assert!(
        run.stdout
            .ends_with("\nmode off (the install's files say off): the render agrees\n"),
        "{}",
        run.stdout
    );
    let run = kfpatch(&root, &["render", "--expect", "on"]);
    assert_code(&run, 1);
    assert!(
        run.stdout
            .contains("\nmode on (--expect on): the render DIFFERS in 5 settings:\n  MULTIUSER: rendered false, the single-user value, where on wants true; it is ConfigMap kubeflow/pipeline-api-server-config-589h5mkcgk data.MULTIUSER, set by apps/pipeline/upstream/base/installs/multi-user/api-service/params.env:1\n"),
        "{}",
        run.stdout
    );

    // A kustomization that pins MULTIUSER above the install: kfpatch traces it offline, so the
    // agreement table agrees with it and says that it overrides the file; the render disagrees
    // with the files' mode (off), which is exit 1.
    fs::create_dir_all(root.join("pinned")).unwrap();
    fs::write(
        root.join("pinned/kustomization.yaml"),
        "resources:\n- ../apps/pipeline/upstream/env/cert-manager/platform-agnostic-multi-user\nconfigMapGenerator:\n- name: pipeline-api-server-config\n  namespace: kubeflow\n  behavior: merge\n  literals:\n  - MULTIUSER=true\n",
    )
    .unwrap();
    let run = kfpatch(&root, &["render", "--target", "pinned"]);
    assert_code(&run, 1);
    assert!(
        run.stdout.contains(
            "  ok       1 api-service/params.env:1  MULTIUSER: file false, pinned/kustomization.yaml:8 makes it true (through pinned/kustomization.yaml:4, configMapGenerator pipeline-api-server-config, behavior merge), rendered true\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with(
            "\nmode off (the install's files say off): the render DIFFERS in 1 setting:\n  MULTIUSER: rendered true, the multi-user value, where off wants false; it is ConfigMap kubeflow/pipeline-api-server-config-gt978cd6ff data.MULTIUSER, set by pinned/kustomization.yaml:8 through pinned/kustomization.yaml:4 (configMapGenerator pipeline-api-server-config, behavior merge)\n"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr,
        "warning: pinned/kustomization.yaml:8 overrides MULTIUSER: the install says false, the cluster gets true (through pinned/kustomization.yaml:4, configMapGenerator pipeline-api-server-config, behavior merge)\n"
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
        "warning: kubectl kustomize runs kustomize v5.5.0, older than the 5.7.1 that the README of kubeflow/manifests v1.11 and later asks for; the render may differ from upstream's\n"
    );
    assert!(run.stdout.starts_with("render:    applications/pipeline/overlays (--target kfp: the pipeline line of example/kustomization.yaml:68)\n"), "{}", run.stdout);

    // The real 26.03 references Argo Workflows as a remote base.
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
            "warning: kubectl kustomize runs kustomize v5.5.0, older than the 5.7.1 that the README of kubeflow/manifests v1.11 and later asks for; the render may differ from upstream's\nerror: rendering remote needs the network: it references remote bases\n  remote/kustomization.yaml:3: https://github.com/argoproj/argo-workflows/manifests/base/crds/minimal?ref=v3.7.3\nvendor them: copy the files at that ref into the checkout and point the entries at the copies (relative paths), then render again.\n"
        ),
        "{}",
        run.stderr
    );
}
