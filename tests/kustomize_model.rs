//! The offline kustomize model against `kubectl kustomize`: for every kustomization that deploys
//! the install in every real release tree, each managed setting the model traces equals what
//! the render gives, decoded by the same code; and the model's cost stays linear in the length of
//! a chain of kustomizations.

mod support;

use std::fs;
use std::path::Path;

use kfpatch::checkout::discover;
use kfpatch::checkout::model::decode;
use kfpatch::checkout::model::deploying::deploying;
use kfpatch::checkout::model::objects;
use kfpatch::checkout::model::objects::Rendered;

/// Compares the model with kustomize for every deploying kustomization of `root`; returns how
/// many were compared with every row traced.
fn compare(root: &Path) -> usize {
    let root = root.canonicalize().expect("canonical");
    let install = discover::find_optional(&root, None)
        .expect("discover")
        .expect("an install");
    let found = deploying(&install);
    assert!(
        !found.is_empty(),
        "{}: nothing deploys the install",
        root.display()
    );
    let mut traced = 0;
    for d in &found {
        let output = std::process::Command::new("kubectl")
            .arg("kustomize")
            .arg(&d.dir)
            .output()
            .expect("run kubectl kustomize");
        if !output.status.success() {
            assert!(
                !d.cannot_trace.is_empty(),
                "{}: kustomize fails ({}) but the model traced it",
                d.shown,
                String::from_utf8_lossy(&output.stderr)
            );
            continue;
        }
        let render = String::from_utf8(output.stdout).expect("utf-8");
        let objects = objects::split(&render).expect("split");
        let rows = decode::decode(&objects);
        for (row, e) in rows.iter().zip(d.effective.iter()) {
            if let Some(value) = &e.value {
                assert_eq!(
                    value,
                    &row.value,
                    "{} row {} {}: model {:?}, kustomize {:?}",
                    d.shown,
                    e.setting.row,
                    e.setting.name(),
                    value,
                    row.value
                );
            }
        }
        if d.cannot_trace.is_empty() {
            traced += 1;
        }
    }
    traced
}

#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn the_model_agrees_with_kustomize_on_every_real_tree() {
    for tree in support::real_trees() {
        let traced = compare(&tree);
        eprintln!(
            "{}: {traced} deploying kustomizations traced",
            tree.display()
        );
    }
}

/// A chain of 100,000 kustomizations, each building on the next, the last on the install: every
/// one of them deploys it, with the value the outermost override gives.
#[test]
fn a_chain_of_100000_kustomizations_is_built_once_per_folder() {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().canonicalize().expect("canonical");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/fork-pinned-multiuser-audit/in");
    support::copy_tree(&fixture, &root);
    fs::remove_dir_all(root.join("example")).expect("rm example");
    let chain = root.join("chain");
    const LEVELS: usize = 100_000;
    for i in 0..LEVELS {
        let dir = chain.join(format!("l{i}"));
        fs::create_dir_all(&dir).expect("mkdir");
        let base = if i + 1 == LEVELS {
            "../../applications/pipeline/upstream/base/installs/multi-user".to_string()
        } else {
            format!("../l{}", i + 1)
        };
        let mut text = format!("resources:\n- {base}\n");
        if i == 0 {
            text.push_str("configMapGenerator:\n- name: pipeline-api-server-config\n  behavior: merge\n  literals:\n  - MULTIUSER=true\n");
        }
        fs::write(dir.join("kustomization.yaml"), text).expect("write");
    }
    let install = discover::find_optional(&root, None)
        .expect("discover")
        .expect("an install");
    let found = deploying(&install);
    // The chain, and the env overlay with its own override.
    assert_eq!(found.len(), LEVELS + 1);
    let top = found.iter().find(|d| d.shown == "chain/l0").expect("l0");
    assert!(top.cannot_trace.is_empty(), "{:?}", top.cannot_trace);
    assert_eq!(
        top.effective[0].value,
        Some(Rendered::Literal("true".to_string()))
    );
    assert_eq!(
        top.effective[0].from.as_deref(),
        Some("chain/l0/kustomization.yaml:4")
    );
    let next = found.iter().find(|d| d.shown == "chain/l1").expect("l1");
    assert_eq!(
        next.effective[0].value,
        Some(Rendered::Literal("false".to_string()))
    );
    let env = found
        .iter()
        .find(|d| d.shown.ends_with("platform-agnostic-multi-user"))
        .expect("env");
    assert_eq!(
        env.effective[0].value,
        Some(Rendered::Literal("true".to_string()))
    );
}

/// A FIFO named kustomization.yaml above the install neither hangs `status` nor goes unsaid.
#[test]
fn a_fifo_named_kustomization_yaml_is_named_not_read() {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().canonicalize().expect("canonical");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/fork-pinned-multiuser-audit/in");
    support::copy_tree(&fixture, &root);
    let dir = root.join("applications/pipeline/upstream/env/fifo");
    fs::create_dir_all(&dir).expect("mkdir");
    let fifo = std::ffi::CString::new(dir.join("kustomization.yaml").to_str().expect("utf-8"))
        .expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
    let mut child = support::kfpatch()
        .arg("-C")
        .arg(&root)
        .arg("status")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run kfpatch");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().expect("kill");
            panic!("status hangs on a FIFO named kustomization.yaml");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut stdout)
        .expect("read");
    assert_eq!(status.code(), Some(0));
    assert!(
        stdout.contains("  applications/pipeline/upstream/env/fifo/kustomization.yaml  cannot be read (applications/pipeline/upstream/env/fifo/kustomization.yaml is a FIFO, not a regular file; kfpatch reads and writes regular files only): whether it deploys the install cannot be told\n"),
        "{stdout}"
    );
}

/// An overlay of the install and of a folder of its own, with a JSON patch selecting every
/// Deployment (no name): kustomize applies it to the other folder's Deployment too, and refuses
/// the build when it does not apply there. `other` holds that folder's Deployment.
fn unnamed_json_patch_over(other: &str) -> kfpatch::checkout::model::deploying::Deploying {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().canonicalize().expect("canonical");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/fork-pinned-multiuser-audit/in");
    support::copy_tree(&fixture, &root);
    fs::create_dir_all(root.join("other")).expect("mkdir");
    fs::write(
        root.join("other/kustomization.yaml"),
        "resources:\n- deployment.yaml\n",
    )
    .expect("write");
    fs::write(root.join("other/deployment.yaml"), other).expect("write");
    fs::create_dir_all(root.join("fork")).expect("mkdir");
    fs::write(
        root.join("fork/kustomization.yaml"),
        "resources:\n- ../applications/pipeline/upstream/base/installs/multi-user\n- ../other\npatches:\n- target:\n    kind: Deployment\n  patch: |\n    - op: add\n      path: /spec/template/spec/containers/0/env\n      value: [{name: MULTIUSER, value: \"true\"}]\n",
    )
    .expect("write");
    let install = discover::find_optional(&root, None)
        .expect("discover")
        .expect("an install");
    deploying(&install)
        .into_iter()
        .find(|d| d.shown == "fork")
        .expect("fork deploys the install")
}

#[test]
fn a_json_patch_selecting_without_a_name_is_traced_through_every_folder_it_reaches() {
    let applies = unnamed_json_patch_over(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: other\nspec:\n  template:\n    spec:\n      containers:\n      - name: main\n        image: busybox\n",
    );
    assert!(
        applies.cannot_trace.is_empty(),
        "{:?}",
        applies.cannot_trace
    );
    assert_eq!(
        applies.effective[0].value,
        Some(Rendered::Literal("true".to_string()))
    );
    assert_eq!(
        applies.effective[0].from.as_deref(),
        Some("fork/kustomization.yaml:8")
    );
    let refused = unnamed_json_patch_over(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: other\nspec:\n  replicas: 1\n",
    );
    assert!(refused.effective.iter().all(|e| e.value.is_none()));
    let shown: Vec<String> = refused.cannot_trace.iter().map(|c| c.shown()).collect();
    assert_eq!(
        shown,
        vec![
            "fork/kustomization.yaml:8: JSON patch path /spec/template/spec/containers/0/env does not exist"
                .to_string()
        ]
    );
}

/// A JSON patch selecting without a name makes its own build read every folder, and only its
/// own: an overlay it builds on still skips the folder that cannot touch the install (here one
/// with a generator plugin, which the model does not evaluate and kustomize reads).
#[test]
fn only_the_build_with_an_unnamed_json_patch_reads_every_folder() {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().canonicalize().expect("canonical");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/fork-pinned-multiuser-audit/in");
    support::copy_tree(&fixture, &root);
    fs::create_dir_all(root.join("other")).expect("mkdir");
    fs::write(
        root.join("other/kustomization.yaml"),
        "generators:\n- plugin.yaml\n",
    )
    .expect("write");
    fs::write(
        root.join("other/plugin.yaml"),
        "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: other\nliterals:\n- A=b\n",
    )
    .expect("write");
    fs::create_dir_all(root.join("plain")).expect("mkdir");
    fs::write(
        root.join("plain/kustomization.yaml"),
        "resources:\n- ../applications/pipeline/upstream/base/installs/multi-user\n- ../other\n",
    )
    .expect("write");
    fs::create_dir_all(root.join("wide")).expect("mkdir");
    fs::write(
        root.join("wide/kustomization.yaml"),
        "resources:\n- ../plain\npatches:\n- target:\n    kind: Deployment\n    labelSelector: app=ml-pipeline\n  patch: |\n    - op: add\n      path: /spec/template/spec/containers/0/env\n      value: [{name: MULTIUSER, value: \"true\"}]\n",
    )
    .expect("write");
    let install = discover::find_optional(&root, None)
        .expect("discover")
        .expect("an install");
    let found = deploying(&install);
    let plain = found.iter().find(|d| d.shown == "plain").expect("plain");
    assert!(plain.cannot_trace.is_empty(), "{:?}", plain.cannot_trace);
    assert_eq!(
        plain.effective[0].value,
        Some(Rendered::Literal("false".to_string()))
    );
    let wide = found.iter().find(|d| d.shown == "wide").expect("wide");
    let shown: Vec<String> = wide.cannot_trace.iter().map(|c| c.shown()).collect();
    assert_eq!(
        shown,
        vec![
            "other/kustomization.yaml:1: generators (plugins) are not evaluated offline"
                .to_string()
        ]
    );
}

/// kustomize puts a strategic merge patch's items first in the merged list: a JSON patch after
/// it that addresses an env entry by index reaches the entry kustomize moved there (here
/// `MULTIUSER`, moved from index 1 to 0), and the model must read the same value as the render.
#[test]
fn a_json_patch_after_a_strategic_merge_addresses_the_items_in_kustomizes_order() {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().canonicalize().expect("canonical");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/fork-pinned-multiuser-audit/in");
    support::copy_tree(&fixture, &root);
    fs::create_dir_all(root.join("fork")).expect("mkdir");
    let env = "/spec/template/spec/containers/0/env";
    fs::write(
        root.join("fork/kustomization.yaml"),
        format!(
            "resources:\n- ../applications/pipeline/upstream/base/installs/multi-user\npatches:\n- target:\n    kind: Deployment\n    name: ml-pipeline\n  patch: |\n    - op: add\n      path: {env}\n      value: [{{name: LOG_LEVEL, value: info}}, {{name: MULTIUSER, value: \"false\"}}]\n- patch: |\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata: {{name: ml-pipeline, namespace: kubeflow}}\n    spec:\n      template:\n        spec:\n          containers:\n          - name: ml-pipeline-api-server\n            env: [{{name: MULTIUSER, value: \"false\"}}]\n- target:\n    kind: Deployment\n    name: ml-pipeline\n  patch: |\n    - op: replace\n      path: {env}/0/value\n      value: \"true\"\n"
        ),
    )
    .expect("write");
    let render = support::kustomize(&root.join("fork"));
    assert!(
        render.contains("- name: MULTIUSER\n          value: \"true\"\n        - name: LOG_LEVEL\n          value: info\n"),
        "{render}"
    );
    let install = discover::find_optional(&root, None)
        .expect("discover")
        .expect("an install");
    let fork = deploying(&install)
        .into_iter()
        .find(|d| d.shown == "fork")
        .expect("fork deploys the install");
    assert!(fork.cannot_trace.is_empty(), "{:?}", fork.cannot_trace);
    let rows = decode::decode(&objects::split(&render).expect("split"));
    assert_eq!(rows[0].value, Rendered::Literal("true".to_string()));
    assert_eq!(fork.effective[0].value.as_ref(), Some(&rows[0].value));
}
