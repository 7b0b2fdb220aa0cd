//! The bad-input catalogue: every way a checkout can be broken that we could think of, each run
//! through the real binary. Each case asserts the exit code, the exact message on stderr, and
//! that no byte of the tree changed (the commands are the writing ones where that matters).
//!
//! Cases that need privileges the test may not have are made to work for root and non-root:
//! an unreadable file is read as user `nobody` (permission bits do not stop root), and the
//! read-only checkout is a read-only bind mount inside a private mount namespace
//! (`unshare --map-root-user --mount`), which leaves nothing mounted behind.

#[path = "robustness/children.rs"]
mod children;
mod support;
#[path = "robustness/untrusted.rs"]
mod untrusted;
#[path = "robustness/writers.rs"]
mod writers;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The install folder of the v1.8 fixture, as kfpatch shows it.
const I: &str = "apps/pipeline/upstream/base/installs/multi-user";
/// What `multiuser off` says on stderr after a plan it makes or previews.
const ISOLATION_NOTE: &str = "note: with multi-user mode off, every user can see every run, experiment and artifact. To keep isolation between profiles, keep it on and give notebooks token access instead (README, \"Token access\").\n";

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
    kfpatch::checkout::locate::find(root, None)
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
        .err("error: {I}/api-service/params.env:1: kustomize keeps the spaces, so this sets a key \"MULTIUSER \" and MULTIUSER itself is never set\n  fix: write MULTIUSER=value with no spaces around '='\nnothing was written\n"),
        c("env: export prefix", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("MULTIUSER=true", "export MULTIUSER=true")))
        .err("error: {I}/api-service/params.env:1: kustomize reads the key as \"export MULTIUSER\", so MULTIUSER itself is never set\n  fix: remove the 'export ' prefix: .env files for kustomize are not shell scripts\nnothing was written\n"),
        c("env: no =", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("MULTIUSER=true", "MULTIUSER")))
        .err("error: {I}/api-service/params.env:1: a line without '=' takes MULTIUSER's value from the environment of whoever runs kustomize\n  fix: write MULTIUSER=value\nnothing was written\n"),
        c("env: double quotes", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("MULTIUSER=true", "MULTIUSER=\"true\"")))
        .err("error: {I}/api-service/params.env:1: kustomize keeps the quotes as part of the value\n  fix: remove the quotes: kustomize .env values are never unquoted\nnothing was written\n"),
        c("env: single quotes on the runner", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("=default-editor", "='default-editor'")))
        .err("error: {I}/api-service/params.env:2: kustomize keeps the quotes as part of the value\n  fix: remove the quotes: kustomize .env values are never unquoted\nnothing was written\n"),
        c("env: inline comment", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("MULTIUSER=true", "MULTIUSER=true # on")))
        .err("error: {I}/api-service/params.env:1: kustomize keeps an inline '# comment' as part of the value\n  fix: move the comment to a line of its own, starting with '#'\nnothing was written\n"),
        c("env: trailing space", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("MULTIUSER=true", "MULTIUSER=true ")))
        .err("error: {I}/api-service/params.env:1: kustomize keeps spaces after '=' and at the end of the line as part of the value\n  fix: remove the spaces around the value\nnothing was written\n"),
        c("env: repeated key", |_, d| write(&params(d), format!("{UPSTREAM_PARAMS}MULTIUSER=false\n")))
        .err("error: {I}/api-service/params.env:5: MULTIUSER is set on lines 1 and 5; kustomize refuses to build: \"illegally repeats the key `MULTIUSER`\"\n  fix: keep one MULTIUSER= line and delete the others\nnothing was written\n"),
        c("env: not a Go bool", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("MULTIUSER=true", "MULTIUSER=yes")))
        .err("error: {I}/api-service/params.env:1: MULTIUSER=yes is not a value Go's strconv.ParseBool accepts; the API server exits at start-up (crash loop)\n  fix: write MULTIUSER=true or MULTIUSER=false\nnothing was written\n"),
        c("env: NUL byte in the value", |_, d| write(&params(d), UPSTREAM_PARAMS.replace("MULTIUSER=true", "MULTIUSER=true\0")))
        .err("error: {I}/api-service/params.env:1: MULTIUSER=true\\000 is not a value Go's strconv.ParseBool accepts; the API server exits at start-up (crash loop)\n  fix: write MULTIUSER=true or MULTIUSER=false\nnothing was written\n"),
        c("env: binary data", |_, d| write(&params(d), (0u8..=255).cycle().take(4096).collect::<Vec<u8>>()))
        .err("error: {I}/api-service/params.env:2: not valid UTF-8 (byte 128); kustomize refuses such files too. Re-save it as UTF-8\n"),
        c("env: Latin-1 byte on line 3", |_, d| write(&params(d), b"MULTIUSER=true\nDEFAULTPIPELINERUNNERSERVICEACCOUNT=default-editor\n# caf\xe9\n"))
        .err("error: {I}/api-service/params.env:3: not valid UTF-8 (byte 71); kustomize refuses such files too. Re-save it as UTF-8\n"),
        c("env: empty file", |_, d| write(&params(d), ""))
        .err("").out("  1 api-service/params.env                       MULTIUSER                                              (absent) [single-user]\n").status("status", 0),
        c("env: a folder instead of the file", |_, d| {
            fs::remove_file(params(d)).expect("rm");
            fs::create_dir(params(d)).expect("mkdir");
        })
        .err("error: {I}/api-service/params.env is a directory, not a regular file; kfpatch reads and writes regular files only\n  fix: put the upstream file back (git checkout -- {I}/api-service/params.env)\n"),
        c("env: 24 MB of comments before the keys", |_, d| {
            let mut big = "# padding line of a huge params.env file\n".repeat(600_000);
            big.push_str(UPSTREAM_PARAMS);
            write(&params(d), big);
        })
        .err("error: {I}/api-service/params.env is 24600155 bytes; kfpatch reads managed files of at most 1 MiB (1048576 bytes), the most a ConfigMap holds, so the cluster could never take this one\n  fix: shrink it to the settings it is meant to hold\n").status("multiuser off --dry-run", 2),
        c("env: unreadable (mode 000, read as nobody when root)", |_, d| {
            fs::set_permissions(params(d), fs::Permissions::from_mode(0o000)).expect("chmod");
        })
        .err("error: cannot read {I}/api-service/params.env: permission denied\n").run_as(As::Nobody),
        // ---- links
        c("link: params.env loops to itself", |_, d| {
            fs::remove_file(params(d)).expect("rm");
            symlink("params.env", params(d)).expect("ln");
        })
        .err("error: {I}/api-service/params.env is a symlink that cannot be followed (Too many levels of symbolic links (os error 40)); fix or remove the link\n"),
        c("link: UI patch in a two-link loop", |_, d| {
            fs::remove_file(ui(d)).expect("rm");
            symlink("b.yaml", ui(d)).expect("ln");
            symlink("deployment-patch.yaml", d.join("pipelines-ui/b.yaml")).expect("ln");
        })
        .err("error: {I}/pipelines-ui/deployment-patch.yaml is a symlink that cannot be followed (Too many levels of symbolic links (os error 40)); fix or remove the link\n"),
        c("link: UI patch leaves the checkout", |r, d| {
            let outside = r.parent().expect("parent").join("outside.yaml");
            fs::copy(ui(d), &outside).expect("copy");
            fs::remove_file(ui(d)).expect("rm");
            symlink(&outside, ui(d)).expect("ln");
        })
        .err("error: {I}/pipelines-ui/deployment-patch.yaml resolves to [TMP]/outside.yaml, outside the checkout [ROOT]; kfpatch does not read or write through symlinks that leave the checkout\n"),
        c("link: dangling UI patch", |_, d| {
            fs::remove_file(ui(d)).expect("rm");
            symlink("gone.yaml", ui(d)).expect("ln");
        })
        .err("error: {I}/pipelines-ui/deployment-patch.yaml is a symlink that cannot be followed (No such file or directory (os error 2)); fix or remove the link\n"),
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
        .err("error: {I}/pipelines-ui/deployment-patch.yaml:1: container ml-pipeline-ui of Deployment ml-pipeline-ui is not in this file, which is not in the shape kfpatch knows\n  fix: compare the file with upstream (kfpatch audit --against REF), or edit it by hand\nnothing was written\n"),
        c("yaml: env in flow style", |_, d| {
            let text = fs::read_to_string(ui(d)).expect("read");
            let start = text.find("        env:\n").expect("env");
            let end = text.find("        volumeMounts:").expect("mounts");
            write(&ui(d), format!("{}        env: [{{name: ENABLE_AUTHZ, value: 'true'}}, {{name: ARTIFACTS_SERVICE_PROXY_ENABLED, value: 'true'}}]\n{}", &text[..start], &text[end..]));
        })
        .err(ISOLATION_NOTE).out("+        env: [{name: ENABLE_AUTHZ, value: 'false'}, {name: ARTIFACTS_SERVICE_PROXY_ENABLED, value: 'false'}]\n").status("multiuser off --dry-run", 0),
        c("yaml: value through an anchor", |_, d| {
            replace_in(&ui(d), "- name: ARTIFACTS_SERVICE_PROXY_ENABLED\n          value: 'true'", "- name: ARTIFACTS_SERVICE_PROXY_ENABLED\n          value: &on 'true'");
            replace_in(&ui(d), "- name: ENABLE_AUTHZ\n          value: 'true'", "- name: ENABLE_AUTHZ\n          value: *on");
        })
        .err("error: {I}/pipelines-ui/deployment-patch.yaml:1: kfpatch refused its own edit: the edit would change doc0.spec.template.spec.containers[name=ml-pipeline-ui].env[name=ARTIFACTS_SERVICE_PROXY_ENABLED].value (\"true\" -> \"false\"), doc0.spec.template.spec.containers[name=ml-pipeline-ui].env[name=ENABLE_AUTHZ].value (\"true\" -> \"false\") instead of exactly doc0.spec.template.spec.containers[name=ml-pipeline-ui].env[name=ARTIFACTS_SERVICE_PROXY_ENABLED].value (\"true\" -> \"false\")\n  fix: please report this with the file; edit the file by hand meanwhile\nnothing was written\n"),
        c("yaml: a second document patching the same Deployment", |_, d| {
            let text = fs::read_to_string(ui(d)).expect("read");
            write(&ui(d), format!("{text}---\n{text}"));
        })
        .err("error: {I}/pipelines-ui/deployment-patch.yaml:1: 2 documents of this file patch Deployment ml-pipeline-ui; kustomize applies all of them, so kfpatch cannot tell which value the cluster gets\n  fix: merge them into one Deployment document\nnothing was written\n"),
        c("yaml: tab indentation", |_, d| replace_in(&ui(d), "        - name: ENABLE_AUTHZ", "\t- name: ENABLE_AUTHZ"))
        .err("error: {I}/pipelines-ui/deployment-patch.yaml:25: not valid YAML: Content after the document could not be parsed: \"-\"\n  fix: repair the YAML (kustomize would refuse it too)\nnothing was written\n"),
        c("yaml: a key with two colons", |_, d| replace_in(&ui(d), "apiVersion: apps/v1", "apiVersion: apps/v1: oops"))
        .err("error: {I}/pipelines-ui/deployment-patch.yaml:1: not valid YAML: mapping values are not allowed in this context\n  fix: repair the YAML (kustomize would refuse it too)\nnothing was written\n"),
        c("yaml: duplicate value key", |_, d| replace_in(&ui(d), "value: 'true'\n        - name: ENABLE_AUTHZ", "value: 'true'\n          value: 'false'\n        - name: ENABLE_AUTHZ"))
        .err("error: {I}/pipelines-ui/deployment-patch.yaml:23: not valid YAML: spec.template.spec.containers[0].env[4]: duplicate entry with key \"value\"\n  fix: repair the YAML (kustomize would refuse it too)\nnothing was written\n"),
        c("yaml: empty UI patch", |_, d| write(&ui(d), ""))
        .err("error: {I}/pipelines-ui/deployment-patch.yaml:1: container ml-pipeline-ui of Deployment ml-pipeline-ui is not in this file, which is not in the shape kfpatch knows\n  fix: compare the file with upstream (kfpatch audit --against REF), or edit it by hand\nnothing was written\n"),
        c("yaml: a list at the top", |_, d| write(&ui(d), "- name: ml-pipeline-ui\n- kind: Deployment\n"))
        .err("error: {I}/pipelines-ui/deployment-patch.yaml:1: container ml-pipeline-ui of Deployment ml-pipeline-ui is not in this file, which is not in the shape kfpatch knows\n  fix: compare the file with upstream (kfpatch audit --against REF), or edit it by hand\nnothing was written\n"),
        c("yaml: UI patch is binary", |_, d| write(&ui(d), (0u8..=255).rev().cycle().take(2048).collect::<Vec<u8>>()))
        .err("error: {I}/pipelines-ui/deployment-patch.yaml:1: not valid UTF-8 (byte 0); kustomize refuses such files too. Re-save it as UTF-8\n"),
        c("yaml: viewer JSON cut short", |_, d| replace_in(&configmap(d), "        }\n    }", ""))
        .err("error: {I}/pipelines-ui/configmap-patch.yaml:1: spec.serviceAccountName in data.viewer-pod-template.json of ConfigMap ml-pipeline-ui-configmap is not in this file, which is not in the shape kfpatch knows\n  fix: compare the file with upstream (kfpatch audit --against REF), or edit it by hand\nnothing was written\n"),
        c("yaml: viewer JSON names two accounts", |_, d| replace_in(&configmap(d), "\"serviceAccountName\": \"default-editor\"", "\"serviceAccountName\": \"default-editor\", \"x\": {\"serviceAccountName\": \"default-editor\"}"))
        .err("error: {I}/pipelines-ui/configmap-patch.yaml:1: spec.serviceAccountName in data.viewer-pod-template.json of ConfigMap ml-pipeline-ui-configmap is not in this file, which is not in the shape kfpatch knows\n  fix: compare the file with upstream (kfpatch audit --against REF), or edit it by hand\nnothing was written\n"),
        c("yaml: appVersion is not a version", |r, _| {
            replace_in(&r.join("apps/pipeline/upstream/base/installs/generic/pipeline-install-config.yaml"), "appVersion: 2.0.5", "appVersion: latest");
        })
        .err("").out("KFP:      unknown (apps/pipeline/upstream/base/installs/generic/pipeline-install-config.yaml: appVersion \"latest\" is not a version)\n").status("status", 0),
        c("yaml: CRLF and LF mixed", |_, d| replace_in(&ui(d), "kind: Deployment\n", "kind: Deployment\r\n"))
        .err(ISOLATION_NOTE).out("dry run: 3 files would change, nothing written\n").status("multiuser off --dry-run", 0),

        // ---- sizes the cluster would refuse (a ConfigMap holds at most 1 MiB)
        c("size: a 20 MB params.env is refused without reading it", |_, d| {
            fs::File::create(params(d)).expect("create").set_len(20 << 20).expect("grow");
        })
        .err("error: {I}/api-service/params.env is 20971520 bytes; kfpatch reads managed files of at most 1 MiB (1048576 bytes), the most a ConfigMap holds, so the cluster could never take this one\n  fix: shrink it to the settings it is meant to hold\n"),
        c("size: a UI patch just over 1 MiB", |_, d| {
            let mut text = fs::read_to_string(ui(d)).expect("read");
            while text.len() <= 1 << 20 {
                text.push_str("# padding of an oversized patch\n");
            }
            write(&ui(d), text);
        })
        .err("error: {I}/pipelines-ui/deployment-patch.yaml is 1048593 bytes; kfpatch reads managed files of at most 1 MiB (1048576 bytes), the most a ConfigMap holds, so the cluster could never take this one\n  fix: shrink it to the settings it is meant to hold\n"),
        // ---- ConfigMap keys the API server would refuse
        c("key: a Greek capital epsilon in a look-alike MULTIUSER", |_, d| write(&params(d), format!("{UPSTREAM_PARAMS}MULTIUS\u{395}R=false\n")))
        .err("error: {I}/api-service/params.env:5:8: the key \"MULTIUS\u{395}R\" holds '\u{395}' (U+0395), which a ConfigMap key cannot hold (only letters a-z and A-Z, digits, '-', '_' and '.'); kustomize renders it, but the API server rejects the ConfigMap\n  fix: retype the key in plain ASCII (a look-alike letter from another alphabet?)\nnothing was written\n"),
        c("key: a space inside a key, with set", |_, d| write(&params(d), format!("{UPSTREAM_PARAMS}MY KEY=1\n")))
        .err("error: {I}/api-service/params.env:5:3: the key \"MY KEY\" holds ' ' (U+0020), which a ConfigMap key cannot hold (only letters a-z and A-Z, digits, '-', '_' and '.'); kustomize renders it, but the API server rejects the ConfigMap\n  fix: retype the key in plain ASCII (a look-alike letter from another alphabet?)\nnothing was written\n")
        .with_args(&["set", "VISUALIZATIONSERVICE_PORT=8080"]),
        c("key: a look-alike key, with audit", |_, d| write(&params(d), format!("{UPSTREAM_PARAMS}\u{feff}X=1\nVISUALIZATIONSERVICE_NAM\u{415}=x\n")))
        .err("error: {I}/api-service/params.env:5:1: the key \"\u{feff}X\" holds '\u{feff}' (U+FEFF), which a ConfigMap key cannot hold (only letters a-z and A-Z, digits, '-', '_' and '.'); kustomize renders it, but the API server rejects the ConfigMap\n  fix: retype the key in plain ASCII (a look-alike letter from another alphabet?)\n{I}/api-service/params.env:6:25: the key \"VISUALIZATIONSERVICE_NAM\u{415}\" holds '\u{415}' (U+0415), which a ConfigMap key cannot hold (only letters a-z and A-Z, digits, '-', '_' and '.'); kustomize renders it, but the API server rejects the ConfigMap\n  fix: retype the key in plain ASCII (a look-alike letter from another alphabet?)\n")
        .with_args(&["audit"]),
        // ---- managed paths that are not regular files
        c("kind: params.env is a FIFO (never opened)", |_, d| {
            fs::remove_file(params(d)).expect("rm");
            let status = Command::new("mkfifo").arg(params(d)).status().expect("mkfifo");
            assert!(status.success(), "mkfifo");
        })
        .err("error: {I}/api-service/params.env is a FIFO, not a regular file; kfpatch reads and writes regular files only\n  fix: put the upstream file back (git checkout -- {I}/api-service/params.env)\n"),
        c("kind: params.env is a dangling symlink", |_, d| {
            fs::remove_file(params(d)).expect("rm");
            symlink("gone.env", params(d)).expect("ln");
        })
        .err("error: {I}/api-service/params.env is a symlink that cannot be followed (No such file or directory (os error 2)); fix or remove the link\n"),
        c("kind: params.env links to /dev/zero", |_, d| {
            fs::remove_file(params(d)).expect("rm");
            symlink("/dev/zero", params(d)).expect("ln");
        })
        .err("error: {I}/api-service/params.env resolves to /dev/zero, outside the checkout [ROOT]; kfpatch does not read or write through symlinks that leave the checkout\n"),
        c("kind: the UI patch is a FIFO, with status", |_, d| {
            fs::remove_file(ui(d)).expect("rm");
            let status = Command::new("mkfifo").arg(ui(d)).status().expect("mkfifo");
            assert!(status.success(), "mkfifo");
        })
        .err("error: {I}/pipelines-ui/deployment-patch.yaml is a FIFO, not a regular file; kfpatch reads and writes regular files only\n  fix: put the upstream file back (git checkout -- {I}/pipelines-ui/deployment-patch.yaml)\n")
        .status("status", 2),
        // ---- git state that cannot be read never turns the dirty guard off
        c("git: a .git file naming a git folder that is gone (a moved worktree)", |r, d| {
            write(&r.join(".git"), format!("gitdir: {}/gone/.git/worktrees/checkout\n", r.parent().expect("parent").display()));
            write(&params(d), format!("{UPSTREAM_PARAMS}# my uncommitted note\n"));
        })
        .err("error: cannot read the git repository of [ROOT]: [ROOT]/.git names the git folder [TMP]/gone/.git/worktrees/checkout, which does not exist (a moved or deleted worktree?), so kfpatch cannot tell whether the files hold uncommitted work\n  fix: run git worktree repair in the main checkout; or pass --allow-dirty to write without the check\nnothing was written\n"),
        c("git: a .git folder that is not a repository", |r, _| {
            fs::create_dir(r.join(".git")).expect("mkdir");
            write(&r.join(".git/HEAD"), "ref: refs/heads/main\n");
        })
        .err("error: cannot read the git repository of [ROOT]: [ROOT]/.git is not a git repository (could not find repository at '[ROOT]/{I}'), so kfpatch cannot tell whether the files hold uncommitted work\n  fix: repair or remove [ROOT]/.git; or pass --allow-dirty to write without the check\nnothing was written\n"),
        c("git: status says why it cannot read a .git that is not a repository", |r, _| {
            fs::create_dir(r.join(".git")).expect("mkdir");
            write(&r.join(".git/HEAD"), "ref: refs/heads/main\n");
        })
        .status("status", 0)
        .err("")
        .out("git:      not read: [ROOT]: [ROOT]/.git is not a git repository (could not find repository at '[ROOT]/apps/pipeline/upstream/base/installs/multi-user'); repair or remove [ROOT]/.git\n"),
        // ---- the checkout itself
        c("tree: two installs", |r, _| {
            support::copy_tree(&fixture("manifests-v1.8-apps/apps"), &r.join("vendor/copy/apps"));
            fs::rename(r.join("apps"), r.join("mine")).expect("mv");
        })
        .err("error: found 2 KFP multi-user installs under [ROOT]:\n  mine/pipeline/upstream/base/installs/multi-user\n  vendor/copy/{I}\npick one with --install PATH (the multi-user folder or its api-service/params.env)\n"),
        c("tree: no install at all", |r, _| {
            fs::remove_dir_all(r.join("apps")).expect("rm");
        })
        .err("error: no KFP multi-user install under [ROOT]: looked for */installs/multi-user/api-service/params.env (skipping .git, node_modules, target and kfp-tekton copies).\nkfpatch knows these layouts:\n  applications/pipeline/upstream/base/installs/multi-user/api-service/params.env\n  {I}/api-service/params.env\n  manifests/kustomize/base/installs/multi-user/api-service/params.env\n  pipeline/installs/multi-user/api-service/params.env\nrun it in a kubeflow/manifests or kubeflow/pipelines checkout (-C DIR), or name the install with --install PATH\n"),
        c("tree: --install outside the checkout", |r, _| {
            let outside = r.parent().expect("parent").join("elsewhere");
            support::copy_tree(&fixture("manifests-v1.8-apps"), &outside);
            symlink(outside.join(I), r.join("linked-install")).expect("ln");
        })
        .err("error: linked-install resolves to [TMP]/elsewhere/{I}, outside the checkout [ROOT]; kfpatch does not read or write through symlinks that leave the checkout\n").with_args(&["--install", "linked-install", "multiuser", "off"]),
        c("tree: a read-only mount", |_, _| {})
        .err("error: cannot write {I}/api-service/params.env: Read-only file system (os error 30); nothing was written\n").run_as(As::ReadOnlyMount),
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

// ---- Cases that need more than the catalogue gives: root, a git repository, a hung child,
// ---- a closed pipe, a terminal.

/// A copy of the v1.8 fixture: the guard, the canonical root and the install folder.
fn checkout() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().join("checkout");
    support::copy_tree(&fixture("manifests-v1.8-apps"), &root);
    let root = fs::canonicalize(&root).expect("canonical");
    let dir = root.join(I);
    (temp, root, dir)
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `kfpatch -C root --color never ARGS` with `env` set; `[ROOT]` and `[TMP]` stand for the
/// checkout and the folder holding it in stdout and stderr.
fn kfpatch(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut command = support::kfpatch();
    command
        .arg("-C")
        .arg(root)
        .args(["--color", "never"])
        .args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run kfpatch");
    let shown = |bytes: &[u8]| shown(root, &String::from_utf8_lossy(bytes));
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: shown(&output.stdout),
        stderr: shown(&output.stderr),
    }
}

fn shown(root: &Path, text: &str) -> String {
    text.replace(&root.display().to_string(), "[ROOT]")
        .replace(
            &root.parent().expect("parent").display().to_string(),
            "[TMP]",
        )
        .replace(I, "{I}")
}

/// Fails, never skips, when a test that needs root runs without it.
fn need_root() {
    assert!(
        running_as_root(),
        "this test needs root (chown to another user, device nodes); .ci/run runs it as root"
    );
}

fn chown_tree(root: &Path, uid: u32, gid: u32) {
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.expect("walk");
        std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid)).expect("chown");
    }
}

fn owner(path: &Path) -> (u32, u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::symlink_metadata(path).expect("meta");
    (meta.uid(), meta.gid(), meta.mode() & 0o7777)
}

/// Lets user `nobody` reach `path` through every folder above it.
fn open_path_for_nobody(path: &Path) {
    let mut at = path.to_path_buf();
    while at.pop() && at != Path::new("/") {
        let mode = fs::metadata(&at).expect("meta").permissions().mode();
        fs::set_permissions(&at, fs::Permissions::from_mode(mode | 0o755)).expect("chmod");
    }
}

const DIRTY_PARAMS: &str = "MULTIUSER=true\nDEFAULTPIPELINERUNNERSERVICEACCOUNT=default-editor\nVISUALIZATIONSERVICE_NAME=ml-pipeline-visualizationserver\nVISUALIZATIONSERVICE_PORT=8888\n# my uncommitted note\n";

#[test]
#[ignore = "needs root; run by .ci/run"]
fn a_repository_of_another_user_keeps_the_dirty_guard_on() {
    need_root();
    let (temp, root, dir) = checkout();
    support::git_commit_all(&root, "upstream", None);
    write(&params(&dir), DIRTY_PARAMS);
    chown_tree(&root, 65534, 65534);
    let home = temp.path().join("home");
    fs::create_dir(&home).expect("mkdir");
    let home_text = home.display().to_string();
    let env = [
        ("HOME", home_text.as_str()),
        ("XDG_CONFIG_HOME", home_text.as_str()),
        ("GIT_CONFIG_NOSYSTEM", "1"),
    ];
    let before = snapshot(&root);

    // git refuses the repository ("dubious ownership"): so does kfpatch, and says how to trust it.
    let ran = kfpatch(&root, &["multiuser", "off"], &env);
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (
            2,
            "error: cannot read the git repository of [ROOT]: it belongs to uid 65534 and kfpatch runs as uid 0; git refuses such repositories (\"detected dubious ownership\"), so kfpatch cannot tell whether the files hold uncommitted work\n  fix: if you trust it, git config --global --add safe.directory [ROOT]; or pass --allow-dirty to write without the check\nnothing was written\n"
        )
    );
    assert_eq!(before, snapshot(&root), "nothing was written");

    // status says why it shows no commit (its git: line was empty).
    let ran = kfpatch(&root, &["status"], &env);
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""));
    let git_line = ran.stdout.lines().find(|l| l.starts_with("git:"));
    assert_eq!(
        git_line,
        Some(
            "git:      not read: [ROOT]: it belongs to uid 65534 and kfpatch runs as uid 0; git refuses such repositories (\"detected dubious ownership\"); if you trust it, git config --global --add safe.directory [ROOT]"
        )
    );

    // With the repository trusted the way git is told to, the guard reads it and refuses the
    // uncommitted note, and status shows the commit.
    write(
        &home.join(".gitconfig"),
        format!("[safe]\n\tdirectory = {}\n", root.display()),
    );
    let ran = kfpatch(&root, &["status"], &env);
    let git_line = ran.stdout.lines().find(|l| l.starts_with("git:"));
    assert!(
        git_line
            .is_some_and(|l| l.ends_with(", uncommitted changes in {I}/api-service/params.env")),
        "{git_line:?}"
    );
    let ran = kfpatch(&root, &["multiuser", "off"], &env);
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (
            2,
            "error: these files have uncommitted changes beyond the settings kfpatch manages:\n  {I}/api-service/params.env\ncommit or stash them first, or pass --allow-dirty to edit them anyway; nothing was written\n"
        )
    );
    assert_eq!(before, snapshot(&root), "nothing was written");

    // --allow-dirty is the other way out, and keeps the files' owner.
    fs::remove_file(home.join(".gitconfig")).expect("rm");
    let ran = kfpatch(&root, &["multiuser", "off", "--allow-dirty"], &env);
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (0, ISOLATION_NOTE),
        "{}",
        ran.stdout
    );
    assert_eq!(owner(&params(&dir)).0, 65534);
}

#[test]
#[ignore = "needs root; run by .ci/run"]
fn owner_group_and_mode_survive_the_write() {
    need_root();
    let (_temp, root, dir) = checkout();
    std::os::unix::fs::chown(params(&dir), Some(65534), Some(65534)).expect("chown");
    fs::set_permissions(params(&dir), fs::Permissions::from_mode(0o640)).expect("chmod");
    std::os::unix::fs::chown(ui(&dir), Some(0), Some(65534)).expect("chown");
    fs::set_permissions(ui(&dir), fs::Permissions::from_mode(0o604)).expect("chmod");
    let ran = kfpatch(&root, &["multiuser", "off"], &[]);
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (0, ISOLATION_NOTE),
        "{}",
        ran.stdout
    );
    assert!(
        fs::read_to_string(params(&dir))
            .expect("read")
            .starts_with("MULTIUSER=false\n")
    );
    assert_eq!(owner(&params(&dir)), (65534, 65534, 0o640));
    assert_eq!(owner(&ui(&dir)), (0, 65534, 0o604));
}

#[test]
#[ignore = "needs root; run by .ci/run"]
fn a_file_whose_owner_cannot_be_kept_is_not_replaced() {
    need_root();
    let (_temp, root, dir) = checkout();
    // nobody owns the tree and may replace files in it, but cannot give a new file to root.
    chown_tree(&root, 65534, 65534);
    std::os::unix::fs::chown(ui(&dir), Some(0), Some(0)).expect("chown");
    fs::set_permissions(ui(&dir), fs::Permissions::from_mode(0o666)).expect("chmod");
    open_path_for_nobody(&root);
    let before = snapshot(&root);
    let owners_before: Vec<(u32, u32, u32)> = [params(&dir), ui(&dir), configmap(&dir)]
        .iter()
        .map(|p| owner(p))
        .collect();
    let output = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_kfpatch"))
        .arg("-C")
        .arg(&root)
        .args(["multiuser", "off"])
        .output()
        .expect("setpriv kfpatch");
    assert_eq!(
        (
            output.status.code(),
            shown(&root, &String::from_utf8_lossy(&output.stderr)).as_str()
        ),
        (
            Some(2),
            "error: cannot write {I}/pipelines-ui/deployment-patch.yaml: it belongs to uid 0 (group 0) and kfpatch runs as uid 65534, which cannot give the new file that owner; run kfpatch as uid 0 or as root; the files written before it were put back, so nothing changed\n"
        )
    );
    assert_eq!(before, snapshot(&root), "the tree changed");
    let owners_after: Vec<(u32, u32, u32)> = [params(&dir), ui(&dir), configmap(&dir)]
        .iter()
        .map(|p| owner(p))
        .collect();
    assert_eq!(owners_before, owners_after);
}

/// A process limit (`ulimit -u`, a container's pids limit) that refuses every new thread and
/// process: the reads and the write run in one thread with the same result, and a render says
/// which limit it hit instead of asking to install kubectl.
#[test]
#[ignore = "needs root; run by .ci/run"]
fn a_process_limit_that_refuses_threads_changes_nothing_but_the_speed() {
    need_root();
    let (_temp, root, dir) = checkout();
    let unlimited: Vec<Ran> = [["status"], ["audit"]]
        .iter()
        .map(|args| kfpatch(&root, args, &[]))
        .collect();
    chown_tree(&root, 65534, 65534);
    open_path_for_nobody(&root);
    let limited = |args: &[&str]| {
        let output = Command::new("prlimit")
            .args(["--nproc=1:1", "setpriv", "--reuid=65534", "--regid=65534"])
            .args(["--clear-groups", "--inh-caps=-all"])
            .arg(env!("CARGO_BIN_EXE_kfpatch"))
            .arg("-C")
            .arg(&root)
            .args(["--color", "never"])
            .args(args)
            .output()
            .expect("prlimit setpriv kfpatch");
        let shown = |bytes: &[u8]| shown(&root, &String::from_utf8_lossy(bytes));
        (
            output.status.code(),
            shown(&output.stdout),
            shown(&output.stderr),
        )
    };
    for (args, free) in [["status"], ["audit"]].iter().zip(&unlimited) {
        assert_eq!(
            limited(args),
            (Some(free.code), free.stdout.clone(), free.stderr.clone()),
            "{args:?}"
        );
    }
    let (code, _, stderr) = limited(&["multiuser", "off"]);
    assert_eq!((code, stderr.as_str()), (Some(0), ISOLATION_NOTE));
    assert!(
        fs::read_to_string(params(&dir))
            .expect("read")
            .starts_with("MULTIUSER=false\n")
    );
    let target = dir.display().to_string();
    assert_eq!(
        limited(&["render", "--target", &target]),
        (
            Some(2),
            String::new(),
            "error: cannot run kubectl: the system refused a new process or thread (Resource temporarily unavailable (os error 11)), so a process limit is reached (ulimit -u, or a container's pids limit); raise it, or run fewer programs at once\n".to_string()
        )
    );
}

#[test]
#[ignore = "needs root; run by .ci/run"]
fn a_device_node_is_named_and_never_opened() {
    need_root();
    for (kind, args, name) in [
        ("character device", ["c", "1", "5"], "a character device"),
        ("block device", ["b", "7", "250"], "a block device"),
    ] {
        let (_temp, root, dir) = checkout();
        fs::remove_file(params(&dir)).expect("rm");
        let status = Command::new("mknod")
            .arg(params(&dir))
            .args(args)
            .status()
            .expect("mknod");
        assert!(status.success(), "mknod {kind}");
        let ran = kfpatch(&root, &["multiuser", "off"], &[]);
        assert_eq!(
            (ran.code, ran.stderr),
            (
                2,
                format!(
                    "error: {{I}}/api-service/params.env is {name}, not a regular file; kfpatch reads and writes regular files only\n  fix: put the upstream file back (git checkout -- {{I}}/api-service/params.env)\n"
                )
            )
        );
    }
}
