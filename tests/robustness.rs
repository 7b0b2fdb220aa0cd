//! The bad-input catalogue: every way a checkout can be broken that we could think of, each run
//! through the real binary. Each case asserts the exit code, the exact message on stderr, and
//! that no byte of the tree changed (the commands are the writing ones where that matters).
//!
//! Cases that need privileges the test may not have are made to work for root and non-root:
//! an unreadable file is read as user `nobody` (permission bits do not stop root), and the
//! read-only checkout is a read-only bind mount inside a private mount namespace
//! (`unshare --map-root-user --mount`), which leaves nothing mounted behind.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The install folder of the v1.8 fixture, as kfpatch shows it.
const I: &str = "apps/pipeline/upstream/base/installs/multi-user";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// What a tree holds: file bytes, symlink targets, folders.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.expect("walk");
        let rel = entry
            .path()
            .strip_prefix(root)
            .expect("prefix")
            .display()
            .to_string();
        let kind = entry.file_type();
        let what = if kind.is_symlink() {
            format!(
                "link {}",
                fs::read_link(entry.path()).expect("link").display()
            )
        } else if kind.is_dir() {
            "dir".to_string()
        } else if kind.is_file() {
            let Ok(bytes) = fs::read(entry.path()) else {
                let meta = entry.metadata().expect("meta");
                out.insert(rel, format!("unreadable file of {} bytes", meta.len()));
                continue;
            };
            // Hash-free, exact: the bytes themselves (the huge file is compared by length and
            // a sample, so the map stays small).
            if bytes.len() > 1 << 20 {
                format!(
                    "file {} bytes, head {:?}, tail {:?}",
                    bytes.len(),
                    &bytes[..64],
                    &bytes[bytes.len() - 64..]
                )
            } else {
                format!("file {:?}", String::from_utf8_lossy(&bytes))
            }
        } else {
            "other".to_string()
        };
        out.insert(rel, what);
    }
    out
}

/// How to run the binary.
enum As {
    /// The current user.
    Me,
    /// User `nobody`, so that permission bits apply even when the tests run as root.
    Nobody,
    /// In a private mount namespace where `root` is a read-only bind mount of itself.
    ReadOnlyMount,
}

struct Case {
    name: &'static str,
    fixture: &'static str,
    /// Breaks the copied tree (`root`, the install folder).
    setup: fn(&Path, &Path),
    args: &'static [&'static str],
    code: i32,
    /// The exact stderr; `[ROOT]` is the tree's root and `{I}` the v1.8 install folder.
    stderr: &'static str,
    /// A line stdout must contain (empty: no check).
    stdout_has: &'static str,
    run_as: As,
}

fn install_dir(root: &Path, fixture: &str) -> PathBuf {
    kfpatch::checkout::install::find(root, None)
        .map(|i| i.dir)
        .unwrap_or_else(|_| panic!("{fixture}: the unbroken fixture has an install"))
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    fs::write(path, bytes).expect("write");
}

fn replace_in(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).expect("read");
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    write(path, text.replacen(from, to, 1));
}

fn params(dir: &Path) -> PathBuf {
    dir.join("api-service/params.env")
}

fn ui(dir: &Path) -> PathBuf {
    dir.join("pipelines-ui/deployment-patch.yaml")
}

fn configmap(dir: &Path) -> PathBuf {
    dir.join("pipelines-ui/configmap-patch.yaml")
}

const UPSTREAM_PARAMS: &str = "MULTIUSER=true\nDEFAULTPIPELINERUNNERSERVICEACCOUNT=default-editor\nVISUALIZATIONSERVICE_NAME=ml-pipeline-visualizationserver\nVISUALIZATIONSERVICE_PORT=8888\n";

fn run_case(case: &Case) {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().join("checkout");
    fs::create_dir(&root).expect("mkdir");
    support::copy_tree(&fixture(case.fixture), &root);
    let root = fs::canonicalize(&root).expect("canonical");
    let dir = install_dir(&root, case.fixture);
    (case.setup)(&root, &dir);
    let before = snapshot(&root);

    let binary = env!("CARGO_BIN_EXE_kfpatch");
    let mut command = match case.run_as {
        As::Me => Command::new(binary),
        As::Nobody if !running_as_root() => Command::new(binary),
        As::Nobody => {
            // The user must be able to reach the tree; the broken file keeps its mode 000.
            let mut at = root.clone();
            while at != temp.path().parent().expect("parent") {
                let mode = fs::metadata(&at).expect("meta").permissions().mode();
                fs::set_permissions(&at, fs::Permissions::from_mode(mode | 0o755)).expect("chmod");
                at.pop();
            }
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
            ])
            .arg(binary);
            c
        }
        As::ReadOnlyMount => {
            let mut c = Command::new("unshare");
            c.args(["--map-root-user", "--mount", "sh", "-c"]).arg(format!(
                "mount --bind '{0}' '{0}' && mount -o remount,bind,ro '{0}' && exec '{binary}' \"$@\"",
                root.display()
            ));
            c.arg("kfpatch");
            c
        }
    };
    let output = command
        .args(["-C", &root.display().to_string(), "--color", "never"])
        .args(case.args)
        .env_remove("NO_COLOR")
        .env_remove("KFPATCH_TEST_PAUSE_BEFORE_RENAME")
        .output()
        .expect("run kfpatch");
    let tmp = fs::canonicalize(temp.path()).expect("canonical temp");
    let shown = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .replace(&root.display().to_string(), "[ROOT]")
            .replace(&tmp.display().to_string(), "[TMP]")
    };
    let (stderr, stdout) = (shown(&output.stderr), shown(&output.stdout));
    let expected = case.stderr.replace("{I}", I);
    assert_eq!(
        (output.status.code(), stderr.as_str()),
        (Some(case.code), expected.as_str()),
        "case {}: exit code and stderr (stdout was {stdout:?})",
        case.name
    );
    assert!(
        stdout.contains(case.stdout_has),
        "case {}: stdout lacks {:?}:\n{stdout}",
        case.name,
        case.stdout_has
    );
    // A leftover temporary file would show here as a new entry.
    assert_eq!(
        before,
        snapshot(&root),
        "case {}: the tree changed",
        case.name
    );
}

fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .expect("/proc/self/status")
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// A case on the v1.8 fixture that runs `multiuser off` (a write) and expects exit 2.
fn c(name: &'static str, setup: fn(&Path, &Path)) -> Case {
    Case {
        name,
        fixture: "manifests-v1.8-apps",
        setup,
        args: &["multiuser", "off"],
        code: 2,
        stderr: "?",
        stdout_has: "",
        run_as: As::Me,
    }
}

impl Case {
    fn status(mut self, args: &'static str, code: i32) -> Case {
        self.args = Box::leak(args.split(' ').collect::<Vec<_>>().into_boxed_slice());
        self.code = code;
        self
    }
    fn err(mut self, stderr: &'static str) -> Case {
        self.stderr = stderr;
        self
    }
    /// A line (or part of one) stdout must hold.
    fn out(mut self, line: &'static str) -> Case {
        self.stdout_has = line;
        self
    }
    fn with_args(mut self, args: &'static [&'static str]) -> Case {
        self.args = args;
        self
    }
    fn run_as(mut self, run_as: As) -> Case {
        self.run_as = run_as;
        self
    }
}

#[test]
fn bad_input_catalogue() {
    let cases: Vec<Case> = vec![
        // ---- .env lines that kustomize reads differently from what was meant
        c("env: spaces around =", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("MULTIUSER=true", "MULTIUSER = true")))
        .err("kfpatch: error: {I}/api-service/params.env:1: kustomize keeps the spaces, so this sets a key \"MULTIUSER \" and MULTIUSER itself is never set\n  fix: write MULTIUSER=value with no spaces around '='\nnothing was written\n"),
        c("env: export prefix", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("MULTIUSER=true", "export MULTIUSER=true")))
        .err("kfpatch: error: {I}/api-service/params.env:1: kustomize reads the key as \"export MULTIUSER\", so MULTIUSER itself is never set\n  fix: remove the 'export ' prefix: .env files for kustomize are not shell scripts\nnothing was written\n"),
        c("env: no =", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("MULTIUSER=true", "MULTIUSER")))
        .err("kfpatch: error: {I}/api-service/params.env:1: a line without '=' takes MULTIUSER's value from the environment of whoever runs kustomize\n  fix: write MULTIUSER=value\nnothing was written\n"),
        c("env: double quotes", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("MULTIUSER=true", "MULTIUSER=\"true\"")))
        .err("kfpatch: error: {I}/api-service/params.env:1: kustomize keeps the quotes as part of the value\n  fix: remove the quotes: kustomize .env values are never unquoted\nnothing was written\n"),
        c("env: single quotes on the runner", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("=default-editor", "='default-editor'")))
        .err("kfpatch: error: {I}/api-service/params.env:2: kustomize keeps the quotes as part of the value\n  fix: remove the quotes: kustomize .env values are never unquoted\nnothing was written\n"),
        c("env: inline comment", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("MULTIUSER=true", "MULTIUSER=true # on")))
        .err("kfpatch: error: {I}/api-service/params.env:1: kustomize keeps an inline '# comment' as part of the value\n  fix: move the comment to a line of its own, starting with '#'\nnothing was written\n"),
        c("env: trailing space", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("MULTIUSER=true", "MULTIUSER=true ")))
        .err("kfpatch: error: {I}/api-service/params.env:1: kustomize keeps spaces after '=' and at the end of the line as part of the value\n  fix: remove the spaces around the value\nnothing was written\n"),
        c("env: repeated key", |_, d| write(&params(d), format!("{UPSTREAM_PARAMS}MULTIUSER=false\n")))
        .err("kfpatch: error: {I}/api-service/params.env:5: MULTIUSER is set on lines 1 and 5; kustomize refuses to build: \"illegally repeats the key `MULTIUSER`\"\n  fix: keep one MULTIUSER= line and delete the others\nnothing was written\n"),
        c("env: not a Go bool", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("MULTIUSER=true", "MULTIUSER=yes")))
        .err("kfpatch: error: {I}/api-service/params.env:1: MULTIUSER=yes is not a value Go's strconv.ParseBool accepts; the API server exits at start-up (crash loop)\n  fix: write MULTIUSER=true or MULTIUSER=false\nnothing was written\n"),
        c("env: NUL byte in the value", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("MULTIUSER=true", "MULTIUSER=true\0")))
        .err("kfpatch: error: {I}/api-service/params.env:1: MULTIUSER=true\0 is not a value Go's strconv.ParseBool accepts; the API server exits at start-up (crash loop)\n  fix: write MULTIUSER=true or MULTIUSER=false\nnothing was written\n"),
        c("env: binary data", |_, d| write(&params(d), (0u8..=255).cycle().take(4096).collect::<Vec<u8>>()))
        .err("kfpatch: error: {I}/api-service/params.env:2: not valid UTF-8 (byte 128); kustomize refuses such files too. Re-save it as UTF-8\n"),
        c("env: Latin-1 byte on line 3", |_, d| write(&params(d), b"MULTIUSER=true\nDEFAULTPIPELINERUNNERSERVICEACCOUNT=default-editor\n# caf\xe9\n"))
        .err("kfpatch: error: {I}/api-service/params.env:3: not valid UTF-8 (byte 71); kustomize refuses such files too. Re-save it as UTF-8\n"),
        c("env: empty file", |_, d| write(&params(d), ""))
        .err("").out("  1 api-service/params.env                       MULTIUSER                                              (absent) [single-user]\n").status("status", 0),
        c("env: a folder instead of the file", |_, d| {
            fs::remove_file(params(d)).expect("rm");
            fs::create_dir(params(d)).expect("mkdir");
        })
        .err("kfpatch: error: no KFP multi-user install under [ROOT]: looked for */installs/multi-user/api-service/params.env (skipping .git, node_modules, target and kfp-tekton copies).\nkfpatch knows these layouts:\n  applications/pipeline/upstream/base/installs/multi-user/api-service/params.env\n  {I}/api-service/params.env\n  manifests/kustomize/base/installs/multi-user/api-service/params.env\n  pipeline/installs/multi-user/api-service/params.env\nrun it in a kubeflow/manifests or kubeflow/pipelines checkout (-C DIR), or name the install with --install PATH\n"),
        c("env: 24 MB of comments before the keys", |_, d| {
            let mut big = "# padding line of a huge params.env file\n".repeat(600_000);
            big.push_str(UPSTREAM_PARAMS);
            write(&params(d), big);
        })
        .err("").out("  api-service/params.env:600001: MULTIUSER true -> false (the switch itself)\n").status("multiuser off --dry-run", 0),
        c("env: unreadable (mode 000, read as nobody when root)", |_, d| {
            fs::set_permissions(params(d), fs::Permissions::from_mode(0o000)).expect("chmod");
        })
        .err("kfpatch: error: cannot read {I}/api-service/params.env: permission denied\n").run_as(As::Nobody),
        // ---- links
        c("link: params.env loops to itself", |_, d| {
            fs::remove_file(params(d)).expect("rm");
            symlink("params.env", params(d)).expect("ln");
        })
        .err("kfpatch: error: no KFP multi-user install under [ROOT]: looked for */installs/multi-user/api-service/params.env (skipping .git, node_modules, target and kfp-tekton copies).\nkfpatch knows these layouts:\n  applications/pipeline/upstream/base/installs/multi-user/api-service/params.env\n  {I}/api-service/params.env\n  manifests/kustomize/base/installs/multi-user/api-service/params.env\n  pipeline/installs/multi-user/api-service/params.env\nrun it in a kubeflow/manifests or kubeflow/pipelines checkout (-C DIR), or name the install with --install PATH\n"),
        c("link: UI patch in a two-link loop", |_, d| {
            fs::remove_file(ui(d)).expect("rm");
            symlink("b.yaml", ui(d)).expect("ln");
            symlink("deployment-patch.yaml", d.join("pipelines-ui/b.yaml")).expect("ln");
        })
        .err("kfpatch: error: {I}/pipelines-ui/deployment-patch.yaml is a symlink that cannot be followed (Too many levels of symbolic links (os error 40)); fix or remove the link\n"),
        c("link: UI patch leaves the checkout", |r, d| {
            let outside = r.parent().expect("parent").join("outside.yaml");
            fs::copy(ui(d), &outside).expect("copy");
            fs::remove_file(ui(d)).expect("rm");
            symlink(&outside, ui(d)).expect("ln");
        })
        .err("kfpatch: error: {I}/pipelines-ui/deployment-patch.yaml resolves to [TMP]/outside.yaml, outside the checkout [ROOT]; kfpatch does not read or write through symlinks that leave the checkout\n"),
        c("link: dangling UI patch", |_, d| {
            fs::remove_file(ui(d)).expect("rm");
            symlink("gone.yaml", ui(d)).expect("ln");
        })
        .err("kfpatch: error: {I}/pipelines-ui/deployment-patch.yaml is a symlink that cannot be followed (No such file or directory (os error 2)); fix or remove the link\n"),
        c("link: a folder loop elsewhere in the tree", |r, _| {
            symlink("..", r.join("example/loop")).expect("ln");
        })
        .err("").out("mode:     on (multi-user: every managed setting at its multi-user value)\n").status("status", 0),
        // ---- YAML patches in shapes kfpatch does not know
        c("yaml: env as a mapping", |_, d| {
            let text = fs::read_to_string(ui(d)).expect("read");
            let start = text.find("        env:\n").expect("env");
            let end = text.find("        volumeMounts:").expect("mounts");
            write(&ui(d), format!("{}        env:\n          ENABLE_AUTHZ: 'true'\n          ARTIFACTS_SERVICE_PROXY_ENABLED: 'true'\n{}", &text[..start], &text[end..]));
        })
        .err("kfpatch: error: {I}/pipelines-ui/deployment-patch.yaml:1: container ml-pipeline-ui of Deployment ml-pipeline-ui is not in this file, which is not in the shape kfpatch knows\n  fix: compare the file with upstream (kfpatch audit --against REF), or edit it by hand\nnothing was written\n"),
        c("yaml: env in flow style", |_, d| {
            let text = fs::read_to_string(ui(d)).expect("read");
            let start = text.find("        env:\n").expect("env");
            let end = text.find("        volumeMounts:").expect("mounts");
            write(&ui(d), format!("{}        env: [{{name: ENABLE_AUTHZ, value: 'true'}}, {{name: ARTIFACTS_SERVICE_PROXY_ENABLED, value: 'true'}}]\n{}", &text[..start], &text[end..]));
        })
        .err("").out("+        env: [{name: ENABLE_AUTHZ, value: 'false'}, {name: ARTIFACTS_SERVICE_PROXY_ENABLED, value: 'false'}]\n").status("multiuser off --dry-run", 0),
        c("yaml: value through an anchor", |_, d| {
            replace_in(&ui(d), "- name: ARTIFACTS_SERVICE_PROXY_ENABLED\n          value: 'true'", "- name: ARTIFACTS_SERVICE_PROXY_ENABLED\n          value: &on 'true'");
            replace_in(&ui(d), "- name: ENABLE_AUTHZ\n          value: 'true'", "- name: ENABLE_AUTHZ\n          value: *on");
        })
        .err("kfpatch: error: {I}/pipelines-ui/deployment-patch.yaml:1: kfpatch refused its own edit: the edit would change doc0.spec.template.spec.containers[name=ml-pipeline-ui].env[name=ARTIFACTS_SERVICE_PROXY_ENABLED].value (\"true\" -> \"false\"), doc0.spec.template.spec.containers[name=ml-pipeline-ui].env[name=ENABLE_AUTHZ].value (\"true\" -> \"false\") instead of exactly doc0.spec.template.spec.containers[name=ml-pipeline-ui].env[name=ARTIFACTS_SERVICE_PROXY_ENABLED].value (\"true\" -> \"false\")\n  fix: please report this with the file; edit the file by hand meanwhile\nnothing was written\n"),
        c("yaml: a second document patching the same Deployment", |_, d| {
            let text = fs::read_to_string(ui(d)).expect("read");
            write(&ui(d), format!("{text}---\n{text}"));
        })
        .err("kfpatch: error: {I}/pipelines-ui/deployment-patch.yaml:1: 2 documents of this file patch Deployment ml-pipeline-ui; kustomize applies all of them, so kfpatch cannot tell which value the cluster gets\n  fix: merge them into one Deployment document\nnothing was written\n"),
        c("yaml: tab indentation", |_, d| replace_in(&ui(d), "        - name: ENABLE_AUTHZ", "\t- name: ENABLE_AUTHZ"))
        .err("kfpatch: error: {I}/pipelines-ui/deployment-patch.yaml:25: not valid YAML: Content after the document could not be parsed: \"-\"\n  fix: repair the YAML (kustomize would refuse it too)\nnothing was written\n"),
        c("yaml: a key with two colons", |_, d| replace_in(&ui(d), "apiVersion: apps/v1", "apiVersion: apps/v1: oops"))
        .err("kfpatch: error: {I}/pipelines-ui/deployment-patch.yaml:1: not valid YAML: mapping values are not allowed in this context\n  fix: repair the YAML (kustomize would refuse it too)\nnothing was written\n"),
        c("yaml: duplicate value key", |_, d| replace_in(&ui(d), "value: 'true'\n        - name: ENABLE_AUTHZ", "value: 'true'\n          value: 'false'\n        - name: ENABLE_AUTHZ"))
        .err("kfpatch: error: {I}/pipelines-ui/deployment-patch.yaml:23: not valid YAML: spec.template.spec.containers[0].env[4]: duplicate entry with key \"value\"\n  fix: repair the YAML (kustomize would refuse it too)\nnothing was written\n"),
        c("yaml: empty UI patch", |_, d| write(&ui(d), ""))
        .err("kfpatch: error: {I}/pipelines-ui/deployment-patch.yaml:1: container ml-pipeline-ui of Deployment ml-pipeline-ui is not in this file, which is not in the shape kfpatch knows\n  fix: compare the file with upstream (kfpatch audit --against REF), or edit it by hand\nnothing was written\n"),
        c("yaml: a list at the top", |_, d| write(&ui(d), "- name: ml-pipeline-ui\n- kind: Deployment\n"))
        .err("kfpatch: error: {I}/pipelines-ui/deployment-patch.yaml:1: container ml-pipeline-ui of Deployment ml-pipeline-ui is not in this file, which is not in the shape kfpatch knows\n  fix: compare the file with upstream (kfpatch audit --against REF), or edit it by hand\nnothing was written\n"),
        c("yaml: UI patch is binary", |_, d| write(&ui(d), (0u8..=255).rev().cycle().take(2048).collect::<Vec<u8>>()))
        .err("kfpatch: error: {I}/pipelines-ui/deployment-patch.yaml:1: not valid UTF-8 (byte 0); kustomize refuses such files too. Re-save it as UTF-8\n"),
        c("yaml: viewer JSON cut short", |_, d| replace_in(&configmap(d), "        }\n    }", ""))
        .err("kfpatch: error: {I}/pipelines-ui/configmap-patch.yaml:1: spec.serviceAccountName in data.viewer-pod-template.json of ConfigMap ml-pipeline-ui-configmap is not in this file, which is not in the shape kfpatch knows\n  fix: compare the file with upstream (kfpatch audit --against REF), or edit it by hand\nnothing was written\n"),
        c("yaml: viewer JSON names two accounts", |_, d| replace_in(&configmap(d), "\"serviceAccountName\": \"default-editor\"", "\"serviceAccountName\": \"default-editor\", \"x\": {\"serviceAccountName\": \"default-editor\"}"))
        .err("kfpatch: error: {I}/pipelines-ui/configmap-patch.yaml:1: spec.serviceAccountName in data.viewer-pod-template.json of ConfigMap ml-pipeline-ui-configmap is not in this file, which is not in the shape kfpatch knows\n  fix: compare the file with upstream (kfpatch audit --against REF), or edit it by hand\nnothing was written\n"),
        c("yaml: appVersion is not a version", |r, _| {
            replace_in(&r.join("apps/pipeline/upstream/base/installs/generic/pipeline-install-config.yaml"), "appVersion: 2.0.5", "appVersion: latest");
        })
        .err("").out("KFP:      unknown (apps/pipeline/upstream/base/installs/generic/pipeline-install-config.yaml: appVersion \"latest\" is not a version)\n").status("status", 0),
        c("yaml: CRLF and LF mixed", |_, d| replace_in(&ui(d), "kind: Deployment\n", "kind: Deployment\r\n"))
        .err("").out("dry run: 3 files would change, nothing written\n").status("multiuser off --dry-run", 0),
        // ---- the checkout itself
        c("tree: two installs", |r, _| {
            support::copy_tree(&fixture("manifests-v1.8-apps/apps"), &r.join("vendor/copy/apps"));
            fs::rename(r.join("apps"), r.join("mine")).expect("mv");
        })
        .err("kfpatch: error: found 2 KFP multi-user installs under [ROOT]:\n  mine/pipeline/upstream/base/installs/multi-user\n  vendor/copy/{I}\npick one with --install PATH (the multi-user folder or its api-service/params.env)\n"),
        c("tree: no install at all", |r, _| {
            fs::remove_dir_all(r.join("apps")).expect("rm");
        })
        .err("kfpatch: error: no KFP multi-user install under [ROOT]: looked for */installs/multi-user/api-service/params.env (skipping .git, node_modules, target and kfp-tekton copies).\nkfpatch knows these layouts:\n  applications/pipeline/upstream/base/installs/multi-user/api-service/params.env\n  {I}/api-service/params.env\n  manifests/kustomize/base/installs/multi-user/api-service/params.env\n  pipeline/installs/multi-user/api-service/params.env\nrun it in a kubeflow/manifests or kubeflow/pipelines checkout (-C DIR), or name the install with --install PATH\n"),
        c("tree: --install outside the checkout", |r, _| {
            let outside = r.parent().expect("parent").join("elsewhere");
            support::copy_tree(&fixture("manifests-v1.8-apps"), &outside);
            symlink(outside.join(I), r.join("linked-install")).expect("ln");
        })
        .err("kfpatch: error: linked-install resolves to [TMP]/elsewhere/{I}, outside the checkout [ROOT]; kfpatch does not read or write through symlinks that leave the checkout\n").with_args(&["--install", "linked-install", "multiuser", "off"]),
        c("tree: a read-only mount", |_, _| {})
        .err("kfpatch: error: cannot write {I}/api-service/params.env: Read-only file system (os error 30); the files written before it were put back, so nothing changed\n").run_as(As::ReadOnlyMount),
    ];
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_case(case))) {
            failures.push(format!(
                "{}: {}",
                case.name,
                e.downcast_ref::<String>().cloned().unwrap_or_default()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
