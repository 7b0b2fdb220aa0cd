//! The overlay over a remote base (a kustomization whose only KFP is
//! `https://github.com/kubeflow/manifests/...?ref=TAG`) is written offline from what kfpatch knows
//! of the release; it must equal, byte for byte, the overlay written over a local copy of the same
//! release with the reference rewritten to the local path. Needs the real release trees.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Per release tree: the repository URL, the ref, and the install folder inside the tree.
fn release_of(tree: &str) -> (&'static str, &'static str, &'static str) {
    match tree {
        "manifests-v1.5.1" => (
            "https://github.com/kubeflow/manifests",
            "v1.5.1",
            "apps/pipeline/upstream/base/installs/multi-user",
        ),
        "manifests-v1.7.0" => (
            "https://github.com/kubeflow/manifests",
            "v1.7.0",
            "apps/pipeline/upstream/base/installs/multi-user",
        ),
        "manifests-v1.8.1" => (
            "https://github.com/kubeflow/manifests",
            "v1.8.1",
            "apps/pipeline/upstream/base/installs/multi-user",
        ),
        "manifests-26.03-vendored" => (
            "https://github.com/kubeflow/manifests",
            "26.03",
            "applications/pipeline/upstream/base/installs/multi-user",
        ),
        "pipelines-2.0.1" => (
            "https://github.com/kubeflow/pipelines",
            "2.0.1",
            "manifests/kustomize/base/installs/multi-user",
        ),
        other => panic!("no release known for {other}"),
    }
}

fn kustomization(resource: &str) -> String {
    format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- {resource}\n"
    )
}

fn overlay_of(root: &Path, extra: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let mut args = vec![
        "multiuser",
        "off",
        "--overlay",
        "overlays/kfp-single-user",
        "--target",
        "clusters/prod/kfp",
    ];
    args.extend_from_slice(extra);
    let (code, output) = support::run_in(root, &args);
    assert_eq!(code, 0, "{}: {output}", root.display());
    let dir = root.join("overlays/kfp-single-user");
    fs::read_dir(&dir)
        .expect("overlay folder")
        .map(|e| e.expect("entry"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).expect("read"),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs ../shared; run by .ci/run"]
fn remote_base_overlay_equals_the_local_one_on_every_release() {
    for tree in support::real_trees() {
        let name = tree
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let (repository, reference, install) = release_of(&name);
        for extra in [&[][..], &["--params-only"][..]] {
            let local = tempfile::tempdir().expect("tempdir");
            support::copy_tree(&tree, &local.path().join("upstream"));
            let kfp = local.path().join("clusters/prod/kfp");
            fs::create_dir_all(&kfp).expect("mkdir");
            fs::write(
                kfp.join("kustomization.yaml"),
                kustomization(&format!("../../../upstream/{install}")),
            )
            .expect("write");
            let remote = tempfile::tempdir().expect("tempdir");
            let kfp = remote.path().join("clusters/prod/kfp");
            fs::create_dir_all(&kfp).expect("mkdir");
            fs::write(
                kfp.join("kustomization.yaml"),
                kustomization(&format!("{repository}/{install}?ref={reference}")),
            )
            .expect("write");
            let want = overlay_of(local.path(), extra);
            let got = overlay_of(remote.path(), extra);
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                want.keys().collect::<Vec<_>>(),
                "{name} {extra:?}: overlay files"
            );
            for (file, bytes) in &want {
                assert_eq!(
                    String::from_utf8_lossy(&got[file]),
                    String::from_utf8_lossy(bytes),
                    "{name} {extra:?}: {file}"
                );
            }
        }
    }
}
