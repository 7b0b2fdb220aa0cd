//! `render` and `reinstall`: bad input (fixtures), and the real release trees applied to a real
//! API server (`../shared/test-cluster`, `#[ignore]`d: `.ci/run` runs them).
//!
//! Ports: 16500, 16503, 16506, 16509, 16512, 16515, 16518 and 16521 (etcd takes the port minus 4000 and
//! the two after it, so the clusters of this binary are three apart).
//!
//! By concern, in `tests/reinstall/`: `bad_input` (exit 2, no cluster), `render` (real trees, no
//! cluster), `switch` (each release switched and reinstalled), `ordering` (small renders on a
//! fresh cluster, an overlay as a target), `full` (`--target all` of v1.8.1), `crds` (CRDs the
//! cluster cannot take) and `unchanged` (a re-install sends only what changed). Helpers shared by
//! several of them are here.

mod support;

#[path = "reinstall/bad_input.rs"]
mod bad_input;
#[path = "reinstall/crds.rs"]
mod crds;
#[path = "reinstall/full.rs"]
mod full;
#[path = "reinstall/ordering.rs"]
mod ordering;
#[path = "reinstall/render.rs"]
mod render;
#[path = "reinstall/switch.rs"]
mod switch;
#[path = "reinstall/unchanged.rs"]
mod unchanged;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use support::cluster::TestCluster;
use support::{Run, kfpatch_in as kfpatch};

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

// Shared by the modules that run against a cluster.

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

/// A kustomization folder in `root` with these files.
fn target(root: &Path, name: &str, files: &[(&str, &str)]) {
    let dir = root.join(name);
    fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        fs::write(dir.join(file), text).unwrap();
    }
}

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names:\n    kind: Widget\n    plural: widgets\n    singular: widget\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n";

/// Durations (`15.0 s`) vary from run to run: written as `N s`.
fn scrub_seconds(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let words: Vec<&str> = line.split(' ').collect();
        let mut kept: Vec<&str> = Vec::new();
        for (i, word) in words.iter().enumerate() {
            let is_seconds = words.get(i + 1).is_some_and(|next| next.starts_with('s'))
                && word.contains('.')
                && word.chars().all(|c| c.is_ascii_digit() || c == '.');
            kept.push(if is_seconds { "N" } else { word });
        }
        out.push_str(&kept.join(" "));
    }
    out
}
