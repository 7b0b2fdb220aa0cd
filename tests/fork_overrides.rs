//! A plain kubeflow/manifests fork (no distribution) that pins the multi-user values above the
//! install, in the env overlay `example/` deploys (a `configMapGenerator` merge with an
//! `override.env`, and a patch of the UI): `multiuser off` switches those overrides with the
//! install's files, and then `kubectl kustomize` of every deploying kustomization renders the
//! single-user values, `status` says off with no deploying kustomization disagreeing, and
//! `audit --expect off` exits 0; `multiuser on` brings every byte back.

mod support;

use std::path::Path;

use kfpatch::checkout::model::decode;
use kfpatch::checkout::model::objects::{self, Rendered};

/// The managed settings `kubectl kustomize` of `dir` gives, by catalogue row and setting name.
fn rendered(dir: &Path) -> Vec<(u8, String, Rendered)> {
    let render = support::kustomize(dir);
    let objects = objects::split(&render).expect("split the render");
    decode::decode(&objects)
        .into_iter()
        .map(|d| (d.setting.row, d.setting.name(), d.value))
        .collect()
}

fn literal(rows: &[(u8, String, Rendered)], row: u8, name: &str) -> Rendered {
    rows.iter()
        .find(|(r, n, _)| *r == row && n == name)
        .map(|(_, _, v)| v.clone())
        .unwrap_or_else(|| panic!("no row {row} {name} in the render"))
}

#[test]
fn multiuser_off_switches_the_overrides_of_a_plain_fork_as_kustomize_renders_them() {
    let (_temp, _, root) = support::temp_copy(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fork-pinned-multiuser"),
    );
    let before = support::files(&root);
    let deploying = [
        "example",
        "applications/pipeline/upstream/env/platform-agnostic-multi-user",
    ];
    for dir in deploying {
        let rows = rendered(&root.join(dir));
        assert_eq!(
            literal(&rows, 1, "MULTIUSER"),
            Rendered::Literal("true".to_string()),
            "{dir}: the fixture pins MULTIUSER=true above the install"
        );
    }
    let audit = support::kfpatch_in(&root, &["audit", "--expect", "off"]);
    assert_eq!(audit.code, 1, "{}", audit.stdout);

    let off = support::kfpatch_in(&root, &["multiuser", "off"]);
    assert_eq!(off.code, 0, "{}{}", off.stdout, off.stderr);
    assert!(off.stdout.ends_with("wrote 5 files\n"), "{}", off.stdout);

    let status = support::kfpatch_in(&root, &["status", "-o", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).expect("status JSON");
    assert_eq!(json["mode"], "off");
    let found: Vec<&str> = json["deploying"]
        .as_array()
        .expect("deploying")
        .iter()
        .map(|d| d["kustomization"].as_str().expect("kustomization"))
        .collect();
    assert_eq!(
        found,
        [
            "applications/pipeline/upstream/env/platform-agnostic-multi-user",
            "example"
        ]
    );
    for entry in json["deploying"].as_array().expect("deploying") {
        let dir = entry["kustomization"].as_str().expect("kustomization");
        assert_eq!(entry["cannot_trace"], serde_json::json!([]), "{dir}");
        let rows = rendered(&root.join(dir));
        assert_eq!(
            literal(&rows, 1, "MULTIUSER"),
            Rendered::Literal("false".to_string()),
            "{dir}"
        );
        assert_eq!(
            literal(&rows, 6, "env ENABLE_AUTHZ of ml-pipeline-ui"),
            Rendered::Literal("false".to_string()),
            "{dir}"
        );
        // What status says each kustomization gives is what kustomize renders.
        let effective = entry["effective"].as_array().expect("effective");
        assert_eq!(effective.len(), rows.len(), "{dir}");
        for (e, (row, name, value)) in effective.iter().zip(&rows) {
            assert_eq!(
                (e["row"].as_u64(), e["setting"].as_str()),
                (Some(u64::from(*row)), Some(name.as_str()))
            );
            match value {
                Rendered::Literal(v) => {
                    assert_eq!(
                        (e["state"].as_str(), e["value"].as_str()),
                        (Some("literal"), Some(v.as_str())),
                        "{dir} row {row} {name}"
                    )
                }
                other => assert_ne!(
                    e["state"], "literal",
                    "{dir} row {row} {name}: kustomize gives {other:?}"
                ),
            }
        }
    }
    let text = support::kfpatch_in(&root, &["status"]);
    assert!(text.stdout.contains("\nmode:     off "), "{}", text.stdout);
    assert!(
        !text.stdout.contains("deploying kustomizations"),
        "{}",
        text.stdout
    );
    let audit = support::kfpatch_in(&root, &["audit", "--expect", "off"]);
    assert_eq!(audit.code, 0, "{}", audit.stdout);
    assert!(
        audit.stdout.ends_with("no findings (exit 0)\n"),
        "{}",
        audit.stdout
    );

    let on = support::kfpatch_in(&root, &["multiuser", "on"]);
    assert_eq!(on.code, 0, "{}{}", on.stdout, on.stderr);
    assert_eq!(support::files(&root), before, "off then on is the identity");
}
