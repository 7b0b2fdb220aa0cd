//! The switch on every real upstream release tree in `../shared/kubeflow`, each in a temporary git
//! copy: `--check` before and after, the rendered ConfigMap and UI settings that kustomize builds
//! from the edited files, and `on` leaving `git status` clean.

mod support;

use std::path::Path;

use yaml_serde::Value;

fn object<'a>(docs: &'a [Value], kind: &str, name_prefix: &str) -> &'a Value {
    docs.iter()
        .find(|d| {
            d["kind"].as_str() == Some(kind)
                && d["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(name_prefix))
        })
        .unwrap_or_else(|| panic!("no {kind} {name_prefix}* in the render"))
}

fn ui_env(docs: &[Value], var: &str) -> Option<Value> {
    let ui = object(docs, "Deployment", "ml-pipeline-ui");
    let containers = ui["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .expect("containers");
    let container = containers
        .iter()
        .find(|c| c["name"].as_str() == Some("ml-pipeline-ui"))
        .expect("ml-pipeline-ui container");
    container["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .find(|e| e["name"].as_str() == Some(var))
        .cloned()
}

fn git_is_clean(root: &Path) -> Vec<String> {
    let repo = git2::Repository::open(root).expect("open repo");
    let statuses = repo.statuses(None).expect("statuses");
    statuses
        .iter()
        .map(|s| s.path().unwrap_or("?").to_string())
        .collect()
}

#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn switch_every_real_release_tree() {
    for tree in support::real_trees() {
        let (_temp, name, root) = support::temp_copy(&tree);
        support::git_commit_all(&root, "upstream", Some("upstream"));

        assert_eq!(
            support::run_in(&root, &["multiuser", "off", "--check"]).0,
            1,
            "{name}"
        );
        let (code, out) = support::run_in(&root, &["multiuser", "off"]);
        assert_eq!(code, 0, "{name}: {out}");
        let (code, status) = support::run_in(&root, &["status"]);
        assert_eq!(code, 0, "{name}: {status}");
        assert!(
            status.contains("mode:     off (single-user"),
            "{name}: not every applicable row switched:\n{status}"
        );

        let multi_user = status
            .lines()
            .find_map(|l| l.strip_prefix("install:  "))
            .expect("install line");
        let docs = support::render(&root.join(multi_user));
        let config = object(&docs, "ConfigMap", "pipeline-api-server-config-");
        assert_eq!(
            config["data"]["MULTIUSER"].as_str(),
            Some("false"),
            "{name}"
        );
        assert_eq!(
            config["data"]["DEFAULTPIPELINERUNNERSERVICEACCOUNT"].as_str(),
            Some("pipeline-runner"),
            "{name}"
        );
        assert_eq!(
            ui_env(&docs, "ENABLE_AUTHZ").and_then(|e| e["value"].as_str().map(str::to_string)),
            Some("false".to_string()),
            "{name}"
        );
        let viewer = object(&docs, "ConfigMap", "ml-pipeline-ui-configmap");
        let template: Value = yaml_serde::from_str(
            viewer["data"]["viewer-pod-template.json"]
                .as_str()
                .expect("viewer template"),
        )
        .expect("viewer template JSON");
        assert_eq!(
            template["spec"]["serviceAccountName"].as_str(),
            Some("kubeflow-pipelines-viewer"),
            "{name}"
        );
        match name.as_str() {
            "manifests-v1.5.1" => {
                assert!(
                    ui_env(&docs, "DEPLOYMENT").is_none(),
                    "{name}: DEPLOYMENT left"
                )
            }
            "manifests-v1.7.0" | "pipelines-2.0.1" => {
                let agent = object(&docs, "ConfigMap", "persistenceagent-config-");
                assert_eq!(agent["data"]["MULTIUSER"].as_str(), Some("false"), "{name}");
            }
            _ => {}
        }
        if name == "manifests-26.03-vendored" {
            let proxy = ui_env(&docs, "ARTIFACTS_SERVICE_PROXY_ENABLED").expect("proxy env");
            assert!(proxy["valueFrom"].is_mapping(), "{name}: valueFrom kept");
        } else {
            assert_eq!(
                ui_env(&docs, "ARTIFACTS_SERVICE_PROXY_ENABLED")
                    .and_then(|e| e["value"].as_str().map(str::to_string)),
                Some("false".to_string()),
                "{name}"
            );
        }

        assert_eq!(
            support::run_in(&root, &["multiuser", "off", "--check"]).0,
            0,
            "{name}"
        );
        let (code, out) = support::run_in(&root, &["multiuser", "on"]);
        assert_eq!(code, 0, "{name}: {out}");
        assert_eq!(
            git_is_clean(&root),
            Vec::<String>::new(),
            "{name}: git status after on"
        );

        let (code, out) = support::run_in(&root, &["multiuser", "off", "--parity"]);
        assert_eq!(code, 0, "{name}: {out}");
        // Row 8 removed: the scheduled workflow watches its own namespace again, through the base's
        // fieldRef, and its other env entries survive.
        let docs = support::render(&root.join(multi_user));
        let swf = object(&docs, "Deployment", "ml-pipeline-scheduledworkflow");
        let env = swf["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_sequence()
            .expect("scheduled workflow env");
        let namespace = env
            .iter()
            .find(|e| e["name"].as_str() == Some("NAMESPACE"))
            .expect("NAMESPACE env");
        assert_eq!(
            namespace["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
            Some("metadata.namespace"),
            "{name}: {namespace:?}"
        );
        assert!(
            env.len() > 1,
            "{name}: base env of the scheduled workflow lost"
        );
        let (code, out) = support::run_in(&root, &["multiuser", "on", "--parity"]);
        assert_eq!(code, 0, "{name}: {out}");
        assert_eq!(
            git_is_clean(&root),
            Vec::<String>::new(),
            "{name}: git status after --parity"
        );
    }
}

#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn real_trees_never_pick_kfp_tekton() {
    // v1.5.1 to v1.9.1 ship kfp-tekton copies of params.env; the shared v1.5.1 and v1.7.0 trees hold
    // only the pipeline part, so build the layout: a vendored copy plus a kfp-tekton copy.
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path();
    let tree = support::shared().join("kubeflow/manifests-v1.7.0");
    support::copy_tree(&tree, &root.join("vendor/manifests"));
    let tekton = root.join("vendor/manifests/apps/kfp-tekton/upstream/base/installs/multi-user");
    support::copy_tree(
        &tree.join("apps/pipeline/upstream/base/installs/multi-user"),
        &tekton,
    );
    let (code, out) = support::run_in(root, &["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with(
            "install:  vendor/manifests/apps/pipeline/upstream/base/installs/multi-user\n"
        ),
        "{out}"
    );
}
