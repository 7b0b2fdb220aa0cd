//! The AWS distribution of Kubeflow laid out as its users do: the distribution's repository with
//! upstream kubeflow/manifests v1.7.0 cloned inside it as `upstream/` (its own git repository,
//! tagged, ignored by the outer one). Needs `../shared`; run by `.ci/run`.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use support::{copy_tree, git_commit_all, render, run_in, shared};

/// The release the distribution's README clones (its api-server image is KFP 2.0.0-alpha.7).
const UPSTREAM_TAG: &str = "v1.7.0";

/// A temporary `kubeflow-manifests` checkout with its nested `upstream/` clone.
fn aws_layout() -> (tempfile::TempDir, PathBuf) {
    let shared = shared();
    let dist = shared.join("distributions/awslabs-kubeflow-manifests-main");
    assert!(dist.is_dir(), "{} is missing", dist.display());
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().join("kubeflow-manifests");
    copy_tree(&dist, &root);
    git_commit_all(&root, "the distribution", None);
    let upstream = root.join("upstream");
    copy_tree(&shared.join("kubeflow/manifests-v1.7.0"), &upstream);
    git_commit_all(&upstream, "kubeflow/manifests", Some(UPSTREAM_TAG));
    (temp, root)
}

fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            (rel, fs::read(e.path()).unwrap())
        })
        .collect()
}

fn configmap<'a>(objects: &'a [yaml_serde::Value], prefix: &str) -> &'a yaml_serde::Value {
    objects
        .iter()
        .find(|o| {
            o["kind"].as_str() == Some("ConfigMap")
                && o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(prefix))
        })
        .unwrap_or_else(|| panic!("no ConfigMap {prefix}* in the render"))
}

fn ui_env(objects: &[yaml_serde::Value], var: &str) -> Option<String> {
    let ui = objects
        .iter()
        .find(|o| {
            o["kind"].as_str() == Some("Deployment")
                && o["metadata"]["name"].as_str() == Some("ml-pipeline-ui")
        })
        .expect("ml-pipeline-ui in the render");
    ui["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|c| c["name"].as_str() == Some("ml-pipeline-ui"))
        .flat_map(|c| c["env"].as_sequence().cloned().unwrap_or_default())
        .rfind(|e| e["name"].as_str() == Some(var))
        .and_then(|e| e["value"].as_str().map(str::to_string))
}

fn viewer_template(objects: &[yaml_serde::Value]) -> serde_json::Value {
    let text = configmap(objects, "ml-pipeline-ui-configmap")["data"]["viewer-pod-template.json"]
        .as_str()
        .expect("viewer-pod-template.json")
        .to_string();
    serde_json::from_str(&text).expect("the template is JSON")
}

#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn aws_status_lists_the_deploy_kustomizations_and_the_s3_override() {
    let (_temp, root) = aws_layout();
    let (code, out) = run_in(&root, &["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("install:  upstream/apps/pipeline/upstream/base/installs/multi-user\n"),
        "{out}"
    );
    // Git facts come from the nested clone that holds the install, not the distribution's repo.
    let git = out
        .lines()
        .find(|l| l.starts_with("git:"))
        .expect("git line");
    assert!(
        git.starts_with("git:      upstream/")
            && git.ends_with(" (tag v1.7.0), managed files unmodified"),
        "{out}"
    );
    assert!(
        out.contains("\ndeployed through: awsconfigs/apps/pipeline/base (--target kfp), awsconfigs/apps/pipeline, awsconfigs/apps/pipeline/rds, awsconfigs/apps/pipeline/s3, deployments/vanilla; upstream/example (--target all)\n"),
        "{out}"
    );
    // The s3 template replaces the UI's ConfigMap in both the s3 variant and the whole.
    assert!(
        out.contains("\noverrides above the install (the outermost wins where several apply):\n  5 awsconfigs/apps/pipeline/s3/viewer-pod-template.json  viewer-pod-template.json serviceAccountName  (absent)  through awsconfigs/apps/pipeline/kustomization.yaml:17 (configMapGenerator ml-pipeline-ui-configmap, behavior replace)\n  5 awsconfigs/apps/pipeline/s3/viewer-pod-template.json  viewer-pod-template.json serviceAccountName  (absent)  through awsconfigs/apps/pipeline/s3/kustomization.yaml:14 (configMapGenerator ml-pipeline-ui-configmap, behavior replace)\n"),
        "{out}"
    );
}

#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn aws_off_renders_single_user_and_on_restores_every_byte() {
    let (_temp, root) = aws_layout();
    let before = snapshot(&root);
    // The managed files sit in the nested clone, clean there: no --allow-dirty needed.
    let (code, out) = run_in(&root, &["multiuser", "off"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("  kept awsconfigs/apps/pipeline/s3/viewer-pod-template.json: viewer-pod-template.json serviceAccountName (absent): a viewer template without one overrides the install through awsconfigs/apps/pipeline/kustomization.yaml:17 (configMapGenerator ml-pipeline-ui-configmap, behavior replace); valid in single-user mode"),
        "{out}"
    );

    let (code, out) = run_in(&root, &["render"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("render:    awsconfigs/apps/pipeline/base (--target kfp: "),
        "{out}"
    );
    let objects = render(&root.join("awsconfigs/apps/pipeline/base"));
    let api = configmap(&objects, "pipeline-api-server-config");
    assert_eq!(api["data"]["MULTIUSER"].as_str(), Some("false"));
    assert_eq!(
        api["data"]["DEFAULTPIPELINERUNNERSERVICEACCOUNT"].as_str(),
        Some("pipeline-runner")
    );
    assert_eq!(
        configmap(&objects, "persistenceagent-config")["data"]["MULTIUSER"].as_str(),
        Some("false")
    );
    assert_eq!(ui_env(&objects, "ENABLE_AUTHZ").as_deref(), Some("false"));
    assert_eq!(ui_env(&objects, "DEPLOYMENT"), None);
    assert_eq!(
        viewer_template(&objects)["spec"]["serviceAccountName"].as_str(),
        Some("kubeflow-pipelines-viewer")
    );

    // Through the distribution's s3 variant the viewer template is its own, without an account:
    // valid in single-user mode, so render notes it and exits 0.
    let (code, out) = run_in(&root, &["render", "--target", "awsconfigs/apps/pipeline"]);
    assert_eq!(code, 0, "{out}");

    let (code, out) = run_in(&root, &["multiuser", "on"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        snapshot(&root) == before,
        "multiuser on did not restore every byte"
    );
}

#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn aws_overlay_over_the_s3_variant_keeps_the_template() {
    let (_temp, root) = aws_layout();
    let s3_template: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root.join("awsconfigs/apps/pipeline/s3/viewer-pod-template.json"))
            .unwrap(),
    )
    .unwrap();
    let args = [
        "multiuser",
        "off",
        "--overlay",
        "overlays/kfp-single-user",
        "--target",
        "awsconfigs/apps/pipeline",
    ];
    let (code, out) = run_in(&root, &args);
    assert_eq!(code, 0, "{out}");
    let objects = render(&root.join("overlays/kfp-single-user"));
    assert_eq!(viewer_template(&objects), s3_template);
    let api = configmap(&objects, "pipeline-api-server-config");
    assert_eq!(api["data"]["MULTIUSER"].as_str(), Some("false"));
    assert_eq!(ui_env(&objects, "ENABLE_AUTHZ").as_deref(), Some("false"));

    // --check, audit and render agree that the overlay is up to date.
    let mut check = args.to_vec();
    check.push("--check");
    let (code, out) = run_in(&root, &check);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("is up to date; nothing to change"), "{out}");
    // deployments/vanilla names upstream components this tree does not hold (only the KFP part
    // of upstream is here): kustomize cannot build it, so audit gives no all-clear, and says why.
    let (code, out) = run_in(&root, &["audit"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "overlay overlays/kfp-single-user: multi-user mode off over this install, up to date\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("  6:1: error[cannot-trace]: ../../upstream/common/cert-manager/cert-manager/base does not exist: kustomize refuses the build: kfpatch cannot tell offline what the cluster gets from deployments/vanilla\n"),
        "{out}"
    );
    assert!(!out.contains("deployed-value-differs"), "{out}");
    let (code, out) = run_in(&root, &["render", "--target", "overlays/kfp-single-user"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("stale"), "{out}");
    assert!(!out.contains("not what kfpatch would write"), "{out}");
}

/// A distribution over the real v1.8.1 tree whose own kustomization overrides managed settings
/// (a generator merging an env file, one merging a viewer template with fields of its own, and a
/// patch of the UI): kfpatch's offline trace must match what kustomize renders.
#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn overrides_traced_offline_agree_with_kustomize() {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().join("platform");
    copy_tree(
        &shared().join("kubeflow/manifests-v1.8.1"),
        &root.join("upstream"),
    );
    let dist = root.join("dist");
    fs::create_dir_all(&dist).unwrap();
    fs::write(
        dist.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: kubeflow\nresources:\n- ../upstream/apps/pipeline/upstream/env/cert-manager/platform-agnostic-multi-user\nconfigMapGenerator:\n- name: pipeline-api-server-config\n  behavior: merge\n  envs:\n  - api.env\n- name: ml-pipeline-ui-configmap\n  behavior: merge\n  files:\n  - viewer-pod-template.json\npatches:\n- path: ui.yaml\n",
    )
    .unwrap();
    fs::write(dist.join("api.env"), "MULTIUSER=true\n").unwrap();
    let template = "{\n  \"spec\": {\n    \"serviceAccountName\": \"default-editor\",\n    \"containers\": [{\"env\": [{\"name\": \"AWS_REGION\", \"value\": \"eu-west-1\"}]}]\n  }\n}\n";
    fs::write(dist.join("viewer-pod-template.json"), template).unwrap();
    fs::write(
        dist.join("ui.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ml-pipeline-ui\nspec:\n  template:\n    spec:\n      containers:\n      - name: ml-pipeline-ui\n        env:\n        - name: ENABLE_AUTHZ\n          value: \"true\"\n",
    )
    .unwrap();
    let before = snapshot(&root);
    let (code, out) = run_in(&root, &["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("\ndeployed through: dist (--target kfp); upstream/example (--target all)\n"),
        "{out}"
    );

    let (code, out) = run_in(&root, &["multiuser", "off"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run_in(&root, &["render"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("render:    dist (--target kfp: the checkout's own kustomization that builds on the install)\n"),
        "{out}"
    );
    let objects = render(&dist);
    assert_eq!(
        configmap(&objects, "pipeline-api-server-config")["data"]["MULTIUSER"].as_str(),
        Some("false")
    );
    assert_eq!(ui_env(&objects, "ENABLE_AUTHZ").as_deref(), Some("false"));
    let mut expected: serde_json::Value = serde_json::from_str(template).unwrap();
    expected["spec"]["serviceAccountName"] = "kubeflow-pipelines-viewer".into();
    assert_eq!(viewer_template(&objects), expected);

    let (code, out) = run_in(&root, &["multiuser", "on"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        snapshot(&root) == before,
        "multiuser on did not restore every byte"
    );

    // The same switch as an overlay over the distribution's kustomization keeps the template.
    let (code, out) = run_in(
        &root,
        &["multiuser", "off", "--overlay", "overlays/single-user"],
    );
    assert_eq!(code, 0, "{out}");
    let objects = render(&root.join("overlays/single-user"));
    assert_eq!(viewer_template(&objects), expected);
    assert_eq!(
        configmap(&objects, "pipeline-api-server-config")["data"]["MULTIUSER"].as_str(),
        Some("false")
    );
    assert_eq!(ui_env(&objects, "ENABLE_AUTHZ").as_deref(), Some("false"));
    let (code, out) = run_in(&root, &["render", "--target", "overlays/single-user"]);
    assert_eq!(code, 0, "{out}");
}
