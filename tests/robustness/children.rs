//! Children and pipes: a kustomize or kubectl that never finishes is killed with its own
//! children at the deadline, a signal stops the child too, a closed standard output ends a
//! command quietly (or says what was already written), and `TERM=dumb` turns colour off.

use super::*;

/// Runs `command`, failing the test (after killing it) if it takes longer than `limit`.
fn output_within(mut command: Command, limit: std::time::Duration) -> (std::process::Output, f64) {
    let started = std::time::Instant::now();
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => (output.expect("wait"), started.elapsed().as_secs_f64()),
        Err(_) => {
            support::send_signal(pid, libc::SIGKILL);
            panic!("kfpatch still ran after {limit:?}: a hung child was not bounded");
        }
    }
}

/// `text` with the number in every "ran for N.N s" replaced by `N`.
fn mask_seconds(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("ran for ") {
        let (head, tail) = rest.split_at(at + "ran for ".len());
        out.push_str(head);
        let end = tail.find(" s").unwrap_or(0);
        out.push('N');
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// What a hanging kustomize never finishes.
#[derive(Clone, Copy, Debug)]
enum Hangs {
    /// The render (`version` answers at once).
    Render,
    /// `version` (the render answers at once, with one object).
    Version,
    /// Everything.
    All,
}

/// A kustomize that never finishes what `hangs` says; the process that hangs is a grandchild
/// (a `sleep`) that writes its process id to `NAME.pid`, so the test can check it was killed too.
fn hanging_kustomize(folder: &Path, hangs: Hangs) -> PathBuf {
    let hang = "sleep 1000 &\necho $! > \"$0.pid\"\nwait\n";
    let render = "printf 'apiVersion: v1\\nkind: Namespace\\nmetadata:\\n  name: kubeflow\\n'\n";
    let (name, body) = match hangs {
        Hangs::Render => (
            "hang",
            format!("if [ \"$1\" = version ]; then echo v5.0.3; exit 0; fi\n{hang}"),
        ),
        Hangs::Version => (
            "hang-version",
            format!("if [ \"$1\" = version ]; then\n{hang}fi\n{render}"),
        ),
        Hangs::All => ("hang-all", hang.to_string()),
    };
    let script = folder.join(name);
    write(&script, format!("#!/bin/sh\n{body}"));
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

/// Whether the process in `pid_file` still runs 5 s from now at the latest (SIGKILL is delivered
/// asynchronously; a killed process whose parent is gone may linger as a zombie until init
/// reaps it).
fn alive(pid_file: &Path) -> bool {
    let pid = fs::read_to_string(pid_file).expect("pid file");
    let runs = || {
        fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .is_ok_and(|stat| !stat.contains(") Z "))
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while runs() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    runs()
}

#[test]
fn a_render_that_never_finishes_is_killed_with_its_children() {
    let (temp, root, _) = checkout();
    // reinstall checks the kubeconfig and context before the render: one that names a cluster
    // (never reached, the render hangs first).
    let kubeconfig = temp.path().join("kubeconfig");
    fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\nusers:\n- name: u\n  user:\n    token: t\n",
    )
    .expect("write kubeconfig");
    let kubeconfig = kubeconfig.display().to_string();
    for (hangs, args, expected) in [
        (
            Hangs::Render,
            vec!["render", "--target", I, "--timeout", "1s"],
            "error: [TMP]/hang [ROOT]/{I} ran for N s and did not finish within the time limit (--timeout 1s); kfpatch stopped it and every process it started\n",
        ),
        (
            Hangs::Version,
            vec!["render", "--target", I, "--timeout", "1s"],
            "error: [TMP]/hang-version version ran for N s and did not finish within the time limit (--timeout 1s); kfpatch stopped it and every process it started\n",
        ),
        (
            Hangs::Render,
            vec![
                "reinstall",
                "--target",
                I,
                "--timeout",
                "2s",
                "--yes",
                "--kubeconfig",
                &kubeconfig,
            ],
            "error: [TMP]/hang [ROOT]/{I} ran for N s and did not finish within the time limit (--timeout 2s); kfpatch stopped it and every process it started\n",
        ),
    ] {
        let script = hanging_kustomize(temp.path(), hangs);
        let mut command = support::kfpatch();
        command
            .arg("-C")
            .arg(&root)
            .args(&args)
            .arg("--kustomize")
            .arg(&script);
        let (output, took) = output_within(command, std::time::Duration::from_secs(30));
        let stderr = mask_seconds(&shown(&root, &String::from_utf8_lossy(&output.stderr)));
        assert_eq!(
            (output.status.code(), stderr.as_str()),
            (Some(2), expected),
            "{args:?}"
        );
        assert!(took < 6.0, "{args:?} took {took} s");
        let pid_file = PathBuf::from(format!("{}.pid", script.display()));
        assert!(
            !alive(&pid_file),
            "{args:?}: the kustomize's own child still runs"
        );
        fs::remove_file(&pid_file).expect("rm pid");
    }
}

/// Runs kfpatch with a standard output whose reading end is already closed.
fn into_closed_pipe(root: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = support::kfpatch()
        .arg("-C")
        .arg(root)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Closed before kfpatch has found the install, let alone printed anything.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait");
    (
        output.status.code(),
        shown(root, &String::from_utf8_lossy(&output.stderr)),
    )
}

#[test]
fn read_only_commands_exit_quietly_into_a_closed_pipe() {
    let (_temp, root, _) = checkout();
    let before = snapshot(&root);
    for args in [
        vec!["status"],
        vec!["audit"],
        vec!["multiuser", "off", "--dry-run"],
        vec!["--help"],
    ] {
        assert_eq!(
            into_closed_pipe(&root, &args),
            (Some(0), String::new()),
            "{args:?}"
        );
    }
    assert_eq!(before, snapshot(&root));
}

#[test]
fn a_write_into_a_closed_pipe_says_what_was_written() {
    let (_temp, root, dir) = checkout();
    let (code, stderr) = into_closed_pipe(&root, &["multiuser", "off"]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            Some(0),
            "kfpatch: wrote 3 files, but standard output was closed before the diff was shown:\n  {I}/api-service/params.env\n  {I}/pipelines-ui/configmap-patch.yaml\n  {I}/pipelines-ui/deployment-patch.yaml\n"
        )
    );
    assert!(
        fs::read_to_string(params(&dir))
            .expect("read")
            .starts_with("MULTIUSER=false\n")
    );
}

#[test]
fn term_dumb_turns_colour_off_under_auto() {
    let (_temp, root, _) = checkout();
    // `script` gives kfpatch a terminal, where --color auto colours unless TERM=dumb.
    for (term, coloured) in [("xterm-256color", true), ("dumb", false)] {
        let output = Command::new("script")
            .args(["-qec"])
            .arg(format!(
                "{} -C '{}' multiuser off --dry-run",
                env!("CARGO_BIN_EXE_kfpatch"),
                root.display()
            ))
            .arg("/dev/null")
            .env("TERM", term)
            .env_remove("NO_COLOR")
            .output()
            .expect("script");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("dry run: 3 files would change"), "{text}");
        assert_eq!(text.contains("\x1b["), coloured, "TERM={term}:\n{text}");
    }
}

#[test]
fn a_kubectl_that_never_answers_is_killed_at_the_deadline() {
    let (temp, root, _) = checkout();
    // A kustomize that renders one object at once, and a kubectl (first on PATH) that hangs.
    let kustomize = temp.path().join("quick-kustomize");
    write(
        &kustomize,
        "#!/bin/sh\nif [ \"$1\" = version ]; then echo v5.0.3; exit 0; fi\nprintf 'apiVersion: v1\\nkind: Namespace\\nmetadata:\\n  name: kubeflow\\n'\n",
    );
    fs::set_permissions(&kustomize, fs::Permissions::from_mode(0o755)).expect("chmod");
    let bin = temp.path().join("bin");
    fs::create_dir(&bin).expect("mkdir");
    let kubectl = hanging_kustomize(&bin, Hangs::All);
    fs::rename(&kubectl, bin.join("kubectl")).expect("mv");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = support::kfpatch();
    command
        .arg("-C")
        .arg(&root)
        .args(["reinstall", "--target", I, "--timeout", "2s", "--yes"])
        .arg("--kustomize")
        .arg(&kustomize)
        .env("PATH", path);
    let (output, took) = output_within(command, std::time::Duration::from_secs(30));
    let stderr = mask_seconds(&shown(&root, &String::from_utf8_lossy(&output.stderr)));
    assert_eq!(
        (output.status.code(), stderr.as_str()),
        (
            Some(3),
            "error: kubectl config view --minify -o json ran for N s and did not finish within the time limit (--timeout 2s); kfpatch stopped it and every process it started\n"
        )
    );
    assert!(took < 6.0, "took {took} s");
    assert!(
        !alive(&bin.join("kubectl.pid")),
        "kubectl's own child still runs"
    );
}

#[test]
fn a_signal_while_a_child_runs_stops_the_child_too() {
    let (temp, root, _) = checkout();
    let script = hanging_kustomize(temp.path(), Hangs::Render);
    let pid_file = PathBuf::from(format!("{}.pid", script.display()));
    let child = support::kfpatch()
        .arg("-C")
        .arg(&root)
        .args(["render", "--target", I, "--kustomize"])
        .arg(&script)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // The render has started once its child wrote its process id.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !fs::read_to_string(&pid_file).is_ok_and(|p| p.ends_with('\n')) {
        assert!(
            std::time::Instant::now() < until,
            "the render never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    support::send_signal(child.id(), libc::SIGTERM);
    let output = child.wait_with_output().expect("wait");
    assert_eq!(
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).as_ref()
        ),
        (Some(143), "kfpatch: interrupted by SIGTERM\n")
    );
    assert!(!alive(&pid_file), "the render's own child still runs");
}
