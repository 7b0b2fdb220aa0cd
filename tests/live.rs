//! The cluster side, read-only: `status --cluster`, `audit --cluster` and `doctor` against a real
//! API server (`../shared/test-cluster`, `#[ignore]`d: `.ci/run` runs them) holding real renders
//! of kubeflow/manifests v1.8.1 and 26.03, changed the way a person changes a cluster: `kubectl
//! edit` of the live ConfigMap, a deleted service account or ConfigMap, a PodDefault missing or
//! edited, oauth2-proxy with and without the m2m overlay.
//!
//! Ports: 16710, 16713, 16716 (etcd takes the port minus 4000 and the two after it); a fake API
//! server that refuses everything listens on 16719.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::cluster::TestCluster;
use support::{Run, extract, kfpatch_in as kfpatch, kustomize};

/// The KFP folder of v1.8.1 that the tests apply (upstream's `example/` line for KFP).
const V1_8_1_KFP: &str = "apps/pipeline/upstream/env/cert-manager/platform-agnostic-multi-user";

/// A writable copy of the release tree `name` and a test API server on `port` (with the kit's
/// CRDs) holding the render of the copy's `kfp` folder: the copy's guard and root, and the cluster.
fn applied(name: &str, port: u16, kfp: &str) -> (tempfile::TempDir, PathBuf, TestCluster) {
    let (temp, _name, root) = support::temp_copy(&release(name));
    let cluster = TestCluster::start(port, true);
    cluster.apply(&kustomize(&root.join(kfp)));
    (temp, root, cluster)
}

/// `kubectl edit` with an editor that runs `sed SCRIPT` on the object, as a person's edit.
fn kubectl_edit(cluster: &TestCluster, args: &[&str], sed_script: &str) {
    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .arg("edit")
        .args(args)
        .env("KUBE_EDITOR", format!("sed -i -e '{sed_script}'"))
        .output()
        .expect("run kubectl edit");
    assert!(
        output.status.success(),
        "kubectl edit {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn release(name: &str) -> PathBuf {
    support::shared().join("kubeflow").join(name)
}

/// A kubeconfig with the cluster's context `local` and a context `gone` whose server does not
/// answer (port 16799 is not used by any test).
fn kubeconfig_with_gone(cluster: &TestCluster, dir: &Path) -> PathBuf {
    let path = dir.join("kubeconfig-two");
    std::fs::copy(&cluster.kubeconfig, &path).unwrap();
    let kc = path.to_str().unwrap();
    for args in [
        vec![
            "config",
            "--kubeconfig",
            kc,
            "set-cluster",
            "gone",
            "--server=https://127.0.0.1:16799",
            "--insecure-skip-tls-verify=true",
        ],
        vec![
            "config",
            "--kubeconfig",
            kc,
            "set-context",
            "gone",
            "--cluster=gone",
            "--user=admin",
        ],
    ] {
        let status = Command::new("kubectl")
            .args(&args)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
    path
}

/// Compares a run with `tests/live/<name>.txt` (exit code, stdout, stderr, with the checkout
/// root shown as `[ROOT]` and the kubeconfig as `[KUBECONFIG]`). `UPDATE_CASES=1` rewrites the
/// file, for review in `git diff`, as for `tests/cases`.
fn expect(name: &str, run: &Run, replace: &[(&Path, &str)]) {
    let mut actual = format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        run.code, run.stdout, run.stderr
    );
    for (path, shown) in replace {
        actual = actual.replace(path.to_str().unwrap(), shown);
    }
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/live")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_CASES").is_some() {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_CASES=1 writes it)", file.display()));
    assert_eq!(
        actual,
        expected,
        "{name}: output differs from {}",
        file.display()
    );
}

/// A v1.8.1 checkout applied to a cluster, then changed as a person would: `status --cluster`
/// and `audit --cluster` follow every change.
#[test]
#[ignore = "needs ../shared (test API server and release trees); run by .ci/run"]
fn status_and_audit_follow_a_live_v1_8_1() {
    let (_temp, root, cluster) = applied("manifests-v1.8.1", 16710, V1_8_1_KFP);
    let kc = cluster.kubeconfig.clone();
    let kc_arg = kc.to_str().unwrap();
    let shown: [(&Path, &str); 2] = [(&root, "[ROOT]"), (&kc, "[KUBECONFIG]")];

    // As applied: the live settings are the checkout's, nothing to report.
    expect(
        "v1.8.1/status",
        &kfpatch(&root, &["status", "--cluster", "--kubeconfig", kc_arg]),
        &shown,
    );
    expect(
        "v1.8.1/audit-clean",
        &kfpatch(&root, &["audit", "--cluster", "--kubeconfig", kc_arg]),
        &shown,
    );

    // `kubectl edit` of the live ConfigMap: MULTIUSER=false in place, the pods never restart.
    kubectl_edit(
        &cluster,
        &[
            "configmap",
            "-n",
            "kubeflow",
            "pipeline-api-server-config-dc9hkg52h6",
        ],
        "s/MULTIUSER: \"true\"/MULTIUSER: \"false\"/",
    );
    expect(
        "v1.8.1/status-edited",
        &kfpatch(&root, &["status", "--cluster", "--kubeconfig", kc_arg]),
        &shown,
    );
    for format in ["text", "json", "github", "sarif"] {
        expect(
            &format!("v1.8.1/audit-edited-{format}"),
            &kfpatch(
                &root,
                &[
                    "audit",
                    "--cluster",
                    "--kubeconfig",
                    kc_arg,
                    "--format",
                    format,
                ],
            ),
            &shown,
        );
    }

    // The proper way: switch the checkout and apply it again. The old ConfigMap stays behind.
    let switched = kfpatch(&root, &["multiuser", "off"]);
    assert_eq!(switched.code, 0, "{}{}", switched.stdout, switched.stderr);
    cluster.apply(&kustomize(&root.join(V1_8_1_KFP)));
    expect(
        "v1.8.1/audit-switched",
        &kfpatch(&root, &["audit", "--cluster", "--kubeconfig", kc_arg]),
        &shown,
    );

    // A person deletes the runner service account, then the API server's ConfigMap.
    cluster.kubectl(&[
        "delete",
        "serviceaccount",
        "-n",
        "kubeflow",
        "pipeline-runner",
    ]);
    expect(
        "v1.8.1/audit-no-runner",
        &kfpatch(&root, &["audit", "--cluster", "--kubeconfig", kc_arg]),
        &shown,
    );
    cluster.kubectl(&[
        "delete",
        "configmap",
        "-n",
        "kubeflow",
        "pipeline-api-server-config-589h5mkcgk",
    ]);
    expect(
        "v1.8.1/audit-configmap-deleted",
        &kfpatch(&root, &["audit", "--cluster", "--kubeconfig", kc_arg]),
        &shown,
    );

    // A fleet: this cluster and one that does not answer, one section each, exit 3.
    let two = kubeconfig_with_gone(&cluster, _temp.path());
    let shown_two: [(&Path, &str); 2] = [(&root, "[ROOT]"), (&two, "[KUBECONFIG]")];
    let two_arg = two.to_str().unwrap();
    expect(
        "v1.8.1/audit-two-contexts",
        &kfpatch(
            &root,
            &[
                "audit",
                "--cluster",
                "--kubeconfig",
                two_arg,
                "--context",
                "local",
                "--context",
                "gone",
            ],
        ),
        &shown_two,
    );
    expect(
        "v1.8.1/status-two-contexts",
        &kfpatch(
            &root,
            &[
                "status",
                "--cluster",
                "--kubeconfig",
                two_arg,
                "--context",
                "local",
                "--context",
                "gone",
                "--format",
                "json",
            ],
        ),
        &shown_two,
    );
}

/// `doctor` on a v1.8.1 cluster (oidc-authservice, no m2m): the cookie route, and a notebook's.
#[test]
#[ignore = "needs ../shared (test API server and release trees); run by .ci/run"]
fn doctor_on_v1_8_1_with_authservice() {
    let (temp, root, cluster) = applied("manifests-v1.8.1", 16713, V1_8_1_KFP);
    let kc = cluster.kubeconfig.clone();
    let kc_arg = kc.to_str().unwrap();
    let shown: [(&Path, &str); 2] = [(&root, "[ROOT]"), (&kc, "[KUBECONFIG]")];
    extract(
        "full-manifests-v1.8.1.tar.gz",
        &["manifests-v1.8.1/common/oidc-client/oidc-authservice"],
        temp.path(),
    );
    cluster.kubectl(&["create", "namespace", "istio-system"]);
    cluster.apply(&kustomize(
        &temp
            .path()
            .join("manifests-v1.8.1/common/oidc-client/oidc-authservice/base"),
    ));

    expect(
        "v1.8.1/doctor-outside",
        &kfpatch(&root, &["doctor", "--kubeconfig", kc_arg]),
        &shown,
    );
    expect(
        "v1.8.1/doctor-no-namespace",
        &kfpatch(
            &root,
            &["doctor", "--kubeconfig", kc_arg, "--namespace", "team-a"],
        ),
        &shown,
    );
    // What a profile creates: the namespace and its default-editor service account.
    cluster.kubectl(&["create", "namespace", "team-a"]);
    cluster.kubectl(&["create", "serviceaccount", "-n", "team-a", "default-editor"]);
    expect(
        "v1.8.1/doctor-no-poddefault",
        &kfpatch(
            &root,
            &["doctor", "--kubeconfig", kc_arg, "--namespace", "team-a"],
        ),
        &shown,
    );
    let access = kfpatch(
        &root,
        &[
            "access",
            "--namespace",
            "team-a",
            "--apply",
            "--yes",
            "--kubeconfig",
            kc_arg,
        ],
    );
    assert_eq!(access.code, 0, "{}{}", access.stdout, access.stderr);
    expect(
        "v1.8.1/doctor-poddefault",
        &kfpatch(
            &root,
            &["doctor", "--kubeconfig", kc_arg, "--namespace", "team-a"],
        ),
        &shown,
    );
    // Somebody edits the PodDefault's audience by hand.
    kubectl_edit(
        &cluster,
        &["poddefault", "-n", "team-a", "access-ml-pipeline"],
        "s/audience: pipelines.kubeflow.org/audience: kubeflow/",
    );
    expect(
        "v1.8.1/doctor-poddefault-edited-json",
        &kfpatch(
            &root,
            &[
                "doctor",
                "--kubeconfig",
                kc_arg,
                "--namespace",
                "team-a",
                "--format",
                "json",
            ],
        ),
        &shown,
    );
}

/// `status --cluster` and `doctor` on 26.03 with oauth2-proxy, first without the m2m
/// RequestAuthentication (upstream's example/ default, m2m-dex-only), then with it.
#[test]
#[ignore = "needs ../shared (test API server and release trees); run by .ci/run"]
fn doctor_on_26_03_with_oauth2_proxy() {
    let (temp, root, cluster) = applied(
        "manifests-26.03-vendored",
        16716,
        "applications/pipeline/overlays",
    );
    let kc = cluster.kubeconfig.clone();
    let kc_arg = kc.to_str().unwrap();
    let shown: [(&Path, &str); 2] = [(&root, "[ROOT]"), (&kc, "[KUBECONFIG]")];
    extract(
        "full-manifests-26.03.tar.gz",
        &[
            "manifests-26.03/common/oauth2-proxy",
            "manifests-26.03/common/istio/istio-namespace",
        ],
        temp.path(),
    );
    let common = temp.path().join("manifests-26.03/common");
    cluster.apply(&kustomize(&common.join("istio/istio-namespace/base")));
    cluster.apply(&kustomize(
        &common.join("oauth2-proxy/overlays/m2m-dex-only"),
    ));

    expect(
        "26.03/status",
        &kfpatch(&root, &["status", "--cluster", "--kubeconfig", kc_arg]),
        &shown,
    );
    expect(
        "26.03/doctor-outside-no-m2m",
        &kfpatch(&root, &["doctor", "--kubeconfig", kc_arg]),
        &shown,
    );
    cluster.apply(&kustomize(
        &common.join("oauth2-proxy/overlays/m2m-dex-and-kind"),
    ));
    expect(
        "26.03/doctor-outside-m2m",
        &kfpatch(&root, &["doctor", "--kubeconfig", kc_arg]),
        &shown,
    );
    expect(
        "26.03/doctor-outside-m2m-json",
        &kfpatch(
            &root,
            &["doctor", "--kubeconfig", kc_arg, "--format", "json"],
        ),
        &shown,
    );
    // The checkout's KFP target is what runs; then a person changes the UI's env in place.
    expect(
        "26.03/audit-clean",
        &kfpatch(&root, &["audit", "--cluster", "--kubeconfig", kc_arg]),
        &shown,
    );
    cluster.kubectl(&[
        "set",
        "env",
        "deployment/ml-pipeline-ui",
        "-n",
        "kubeflow",
        "-c",
        "ml-pipeline-ui",
        "ENABLE_AUTHZ=false",
    ]);
    expect(
        "26.03/audit-ui-env-github",
        &kfpatch(
            &root,
            &[
                "audit",
                "--cluster",
                "--kubeconfig",
                kc_arg,
                "--format",
                "github",
            ],
        ),
        &shown,
    );
    // Without Kubeflow Pipelines in the cluster.
    cluster.kubectl(&["delete", "deployment", "-n", "kubeflow", "ml-pipeline"]);
    expect(
        "26.03/doctor-no-kfp",
        &kfpatch(&root, &["doctor", "--kubeconfig", kc_arg]),
        &shown,
    );
    expect(
        "26.03/status-no-kfp",
        &kfpatch(&root, &["status", "--cluster", "--kubeconfig", kc_arg]),
        &shown,
    );
}

/// A fake API server on loopback that refuses every request with 403, as a real one refuses a
/// user without RBAC: every command exits 3 naming the verb, resource and namespace.
#[test]
#[ignore = "needs kubectl; run by .ci/run"]
fn a_forbidden_read_is_exit_3_naming_verb_resource_and_namespace() {
    let listener = TcpListener::bind("127.0.0.1:16719").expect("bind 16719");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 8192];
            let n = stream.read(&mut request).unwrap_or(0);
            let head = String::from_utf8_lossy(&request[..n]);
            let path = head
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .split('?')
                .next()
                .unwrap_or("/")
                .to_string();
            // The message a real API server gives a user without RBAC for a namespaced list.
            let resource = path.rsplit('/').next().unwrap_or_default().to_string();
            let namespace = path
                .split("/namespaces/")
                .nth(1)
                .and_then(|r| r.split('/').next())
                .unwrap_or_default()
                .to_string();
            let body = format!(
                "{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\"status\":\"Failure\",\"message\":\"{resource} is forbidden: User \\\"jane\\\" cannot list resource \\\"{resource}\\\" in API group \\\"apps\\\" in the namespace \\\"{namespace}\\\"\",\"reason\":\"Forbidden\",\"details\":{{\"kind\":\"{resource}\"}},\"code\":403}}"
            );
            let _ = write!(
                stream,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let temp = tempfile::tempdir().unwrap();
    let kc = temp.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters: [{name: fake, cluster: {server: \"http://127.0.0.1:16719\"}}]\nusers: [{name: jane, user: {token: not-a-real-token}}]\ncontexts: [{name: jane, context: {cluster: fake, user: jane}}]\ncurrent-context: jane\n",
    )
    .unwrap();
    let kc_arg = kc.to_str().unwrap();
    let shown: [(&Path, &str); 1] = [(&kc, "[KUBECONFIG]")];
    let dir = temp.path();
    expect(
        "forbidden/status",
        &kfpatch(dir, &["status", "--cluster", "--kubeconfig", kc_arg]),
        &shown,
    );
    expect(
        "forbidden/doctor",
        &kfpatch(
            dir,
            &["doctor", "--kubeconfig", kc_arg, "--namespace", "team-a"],
        ),
        &shown,
    );
}
