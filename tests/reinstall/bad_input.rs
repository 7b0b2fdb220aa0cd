//! Bad input: exit 2, and no cluster is asked anything.

use super::*;

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
                "error: --target kfp reads the pipeline line of example/kustomization.yaml, and {} has none; run in the kubeflow/manifests checkout root (-C DIR), or pass --target PATH (the KFP overlay to apply)\n",
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
        "error: example/kustomization.yaml has no Kubeflow Pipelines line (a resources entry under .../pipeline/...); if it is commented out, uncomment it, or pass --target PATH\n"
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
        "error: example/kustomization.yaml:5: ../apps/pipeline/upstream/env/cert-manager/platform-agnostic-multi-user is not a kustomization folder in this checkout; fix the line, or pass --target PATH\n"
    );
}

#[test]
fn bad_flags_are_refused_before_anything_runs() {
    let (_temp, root) = copy(&fixture("manifests-v1.8-apps"));
    let run = kfpatch(&root, &["reinstall", "--timeout", "5x"]);
    assert_code(&run, 2);
    assert_eq!(
        run.stderr,
        "error: --timeout 5x: expected a duration such as 90s, 5m or 1h30m\n"
    );
    let run = kfpatch(&root, &["reinstall", "--attempts", "0"]);
    assert_code(&run, 2);
    assert_eq!(run.stderr, "error: --attempts 0: give at least 1\n");
    let run = kfpatch(&root, &["render", "--target", "no/such/dir"]);
    assert_code(&run, 2);
    assert_eq!(
        run.stderr,
        format!(
            "error: --target no/such/dir: no kustomization.yaml in {}/no/such/dir; name a kustomization folder (relative to -C), kfp or all\n",
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
        run.stderr
            .starts_with("error: cannot run kfpatch-no-such-kustomize: No such file or directory"),
        "{}",
        run.stderr
    );
}
