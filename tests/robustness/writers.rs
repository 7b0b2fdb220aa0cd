//! Two writers on one checkout, and writers that meet links: the lock, the compare before each
//! rename, the one symlink rule, stale temporary files.
//!
//! The lost-update tests make a real race deterministic: kfpatch's debug build honours
//! `KFPATCH_TEST_PAUSE_BEFORE_RENAME` (the crash-safety tests' pause between the synced temporary
//! file and its rename), and the test writes the file as "another program" once kfpatch's
//! temporary file for it is there, that is while kfpatch waits to rename. No code path exists
//! only for the test: the write, the compare and the put-back are the ones every run takes.
//! A FIFO cannot stand in (kfpatch refuses to read one), and a timing race without the pause
//! would pass or fail by luck.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{I, ISOLATION_NOTE, checkout, kfpatch, snapshot};

/// `.NAME.kfpatch-PID.tmp` beside `file`.
fn temp_of(file: &Path, pid: u32) -> PathBuf {
    let name = file.file_name().expect("name").to_string_lossy();
    file.with_file_name(format!(".{name}.kfpatch-{pid}.tmp"))
}

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < until, "{what} never happened");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `kfpatch -C root --color never ARGS` started with the pause before each rename.
fn paused(root: &Path, args: &[&str], pause_ms: u64) -> Child {
    support_command(root, args)
        .env("KFPATCH_TEST_PAUSE_BEFORE_RENAME", pause_ms.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn support_command(root: &Path, args: &[&str]) -> Command {
    let mut command = crate::support::kfpatch();
    command
        .arg("-C")
        .arg(root)
        .args(["--color", "never"])
        .args(args);
    command
}

fn finish(child: Child, root: &Path) -> (i32, String) {
    let output = child.wait_with_output().expect("wait");
    (
        output.status.code().unwrap_or(-1),
        super::shown(root, &String::from_utf8_lossy(&output.stderr)),
    )
}

const OTHER_WRITER: &str = "MULTIUSER=true\nDEFAULTPIPELINERUNNERSERVICEACCOUNT=default-editor\nVISUALIZATIONSERVICE_NAME=ml-pipeline-visualizationserver\nVISUALIZATIONSERVICE_PORT=9999\n";

#[test]
fn a_file_changed_between_the_read_and_the_rename_is_left_to_its_writer() {
    let (_temp, root, dir) = checkout();
    let before = snapshot(&root);
    let params = dir.join("api-service/params.env");
    let child = paused(&root, &["multiuser", "off"], 1500);
    let temp = temp_of(&params, child.id());
    wait_for("kfpatch's temporary params.env", || temp.exists());
    fs::write(&params, OTHER_WRITER).expect("the other writer");
    let (code, stderr) = finish(child, &root);
    assert_eq!(
        (code, stderr.as_str()),
        (
            2,
            "error: cannot write {I}/api-service/params.env: another program changed it after kfpatch read it; its bytes were left as they are. Run kfpatch again to plan from them; nothing was written\n"
        )
    );
    let mut expected = before;
    expected.insert(
        format!("{I}/api-service/params.env"),
        format!("file {OTHER_WRITER:?}"),
    );
    assert_eq!(snapshot(&root), expected);
}

#[test]
fn a_later_file_changed_before_its_rename_puts_back_the_files_already_written() {
    let (_temp, root, dir) = checkout();
    let before = snapshot(&root);
    // The plan writes params.env, then the UI's ConfigMap patch, then its Deployment patch.
    let deployment = dir.join("pipelines-ui/deployment-patch.yaml");
    let child = paused(&root, &["multiuser", "off"], 1500);
    let temp = temp_of(&deployment, child.id());
    wait_for("kfpatch's temporary deployment-patch.yaml", || {
        temp.exists()
    });
    let theirs = fs::read_to_string(&deployment).expect("read") + "# another writer\n";
    // Replaced by rename, as an editor saves: a new file where kfpatch read the old one.
    let beside = dir.join("pipelines-ui/their-save");
    fs::write(&beside, &theirs).expect("write");
    fs::rename(&beside, &deployment).expect("rename");
    let (code, stderr) = finish(child, &root);
    assert_eq!(
        (code, stderr.as_str()),
        (
            2,
            "error: cannot write {I}/pipelines-ui/deployment-patch.yaml: another program changed it after kfpatch read it; its bytes were left as they are. Run kfpatch again to plan from them; the files written before it were put back, so nothing changed\n"
        )
    );
    let mut expected = before;
    expected.insert(
        format!("{I}/pipelines-ui/deployment-patch.yaml"),
        format!("file {theirs:?}"),
    );
    assert_eq!(snapshot(&root), expected);
}

/// The lock: in a git repository it is `.git/kfpatch.lock`, holding the holder's pid.
fn git_checkout() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (temp, root, dir) = checkout();
    crate::support::git_commit_all(&root, "upstream", None);
    (temp, root, dir)
}

#[test]
fn a_second_writer_waits_bounded_and_names_the_holder() {
    for git in [false, true] {
        let (_temp, root, _) = if git { git_checkout() } else { checkout() };
        let first = paused(&root, &["multiuser", "off"], 3000);
        let pid = first.id();
        // The first run holds the lock once it writes its first temporary file.
        wait_for("the first run's write", || {
            walkdir::WalkDir::new(&root).into_iter().flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(&format!("-{pid}.tmp"))
            })
        });
        let second = kfpatch(&root, &["multiuser", "on"], &[("KFPATCH_LOCK_WAIT", "1")]);
        let lock = if git {
            "[ROOT]/.git/kfpatch.lock"
        } else {
            "[ROOT]"
        };
        assert_eq!(
            (second.code, second.stderr.as_str()),
            (
                2,
                format!(
                    "kfpatch: another kfpatch, pid {pid}, is changing this checkout; waiting for it (up to 1 s)\nerror: another kfpatch, pid {pid}, is changing this checkout and still holds its lock ({lock}) after 1 s; nothing was written. Run again once it has finished (KFPATCH_LOCK_WAIT sets the wait in seconds)\n"
                )
                .as_str()
            ),
            "git: {git}"
        );
        // It stopped before it planned: nothing shown, so nothing written (the files themselves
        // are the first run's to change meanwhile).
        assert_eq!(second.stdout, "", "git: {git}");
        // --check and --dry-run write nothing and take no lock: no wait, no message (what
        // --check finds depends on how far the paused first run got, so it may be 0 or 1).
        for args in [
            ["multiuser", "on", "--dry-run"],
            ["multiuser", "on", "--check"],
        ] {
            let ran = kfpatch(&root, &args, &[("KFPATCH_LOCK_WAIT", "1")]);
            assert!(
                ran.code == 0 || ran.code == 1,
                "git: {git}: {args:?}: {}",
                ran.stderr
            );
            assert_eq!(ran.stderr, "", "git: {git}: {args:?}");
        }
        // A second run with the default wait goes on once the first has finished.
        let waiting = support_command(&root, &["multiuser", "on"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        assert_eq!(finish(first, &root).0, 0);
        let (code, stderr) = finish(waiting, &root);
        assert_eq!(code, 0, "git: {git}: {stderr}");
        assert!(
            stderr.is_empty()
                || stderr
                    == format!(
                        "kfpatch: another kfpatch, pid {pid}, is changing this checkout; waiting for it (up to 60 s)\n"
                    ),
            "git: {git}: {stderr}"
        );
        let params = fs::read_to_string(root.join(I).join("api-service/params.env")).expect("read");
        assert!(
            params.starts_with("MULTIUSER=true\n"),
            "git: {git}: {params}"
        );
        if git {
            assert!(!root.join(".git/kfpatch.lock").exists());
            let status = Command::new("git")
                .arg("-C")
                .arg(&root)
                .args(["status", "--porcelain"])
                .output()
                .expect("git status");
            assert_eq!(String::from_utf8_lossy(&status.stdout), "");
        }
    }
}

#[test]
fn a_lock_whose_process_is_gone_is_taken_over() {
    // A lock file a killed run left: its pid names no process.
    let (_temp, root, _) = git_checkout();
    fs::write(root.join(".git/kfpatch.lock"), "4194303\n").expect("write");
    let ran = kfpatch(&root, &["multiuser", "off"], &[]);
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (
            0,
            format!(
                "kfpatch: took over the lock of kfpatch process 4194303, which no longer runs\n{ISOLATION_NOTE}"
            )
            .as_str()
        )
    );
    assert!(!root.join(".git/kfpatch.lock").exists());
    // A run killed while it holds the lock (SIGKILL: nothing of it runs on) blocks nobody.
    for git in [false, true] {
        let (_temp, root, _) = if git { git_checkout() } else { checkout() };
        let mut first = paused(&root, &["multiuser", "off"], 5000);
        let pid = first.id();
        wait_for("the first run's write", || {
            walkdir::WalkDir::new(&root).into_iter().flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(&format!("-{pid}.tmp"))
            })
        });
        first.kill().expect("kill");
        first.wait().expect("wait");
        let ran = kfpatch(&root, &["multiuser", "off"], &[("KFPATCH_LOCK_WAIT", "0")]);
        let took_over = if git {
            format!("kfpatch: took over the lock of kfpatch process {pid}, which no longer runs\n")
        } else {
            String::new()
        };
        assert_eq!(ran.code, 0, "git: {git}: {}", ran.stderr);
        assert!(
            ran.stderr.starts_with(&took_over) && ran.stderr.contains("which no longer runs"),
            "git: {git}: {}",
            ran.stderr
        );
    }
}

/// Bytes of the managed files that differ between the modes, with the port `set` writes
/// blanked, so that a tree can be compared with "all on" and "all off".
fn managed(root: &Path) -> (Vec<(String, String)>, String) {
    let mut files = Vec::new();
    let mut port = String::new();
    for entry in walkdir::WalkDir::new(root.join(I)) {
        let entry = entry.expect("walk");
        if !entry.file_type().is_file() {
            continue;
        }
        let name = entry.path().display().to_string();
        let mut text = fs::read_to_string(entry.path()).expect("read");
        if name.ends_with("api-service/params.env") {
            let line = text
                .lines()
                .find(|l| l.starts_with("VISUALIZATIONSERVICE_PORT="))
                .expect("port line")
                .to_string();
            port = line["VISUALIZATIONSERVICE_PORT=".len()..].to_string();
            text = text.replace(&line, "VISUALIZATIONSERVICE_PORT=");
        }
        files.push((name, text));
    }
    files.sort();
    (files, port)
}

/// The binary the stress runs: kfpatch's own, or `KFPATCH_STRESS_BINARY` (to show that an older
/// build fails it).
fn stress_binary() -> PathBuf {
    std::env::var_os("KFPATCH_STRESS_BINARY").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_kfpatch")),
        PathBuf::from,
    )
}

#[test]
fn concurrent_off_on_and_set_always_end_in_one_whole_mode_with_no_write_lost() {
    for git in [false, true] {
        let (_temp, root, _) = if git { git_checkout() } else { checkout() };
        let (on, _) = managed(&root);
        let off_tree = tempfile::tempdir().expect("tempdir");
        crate::support::copy_tree(&root, off_tree.path());
        assert_eq!(kfpatch(off_tree.path(), &["multiuser", "off"], &[]).code, 0);
        let (off, _) = managed(off_tree.path());
        let relocate = |files: Vec<(String, String)>, from: &Path| -> Vec<(String, String)> {
            files
                .into_iter()
                .map(|(n, t)| (n.replace(&from.display().to_string(), "[ROOT]"), t))
                .collect()
        };
        let on = relocate(on, &root);
        let off = relocate(off, off_tree.path());
        let rounds = if git { 60 } else { 200 };
        for round in 0..rounds {
            let port = (10000 + round).to_string();
            let set = format!("VISUALIZATIONSERVICE_PORT={port}");
            // The dirty guard compares with the commit: --allow-dirty, as the writers here are
            // each other's uncommitted changes.
            let runs: Vec<Vec<&str>> = vec![
                vec!["multiuser", "off", "--allow-dirty"],
                vec!["multiuser", "on", "--allow-dirty"],
                vec!["set", &set, "--allow-dirty"],
            ];
            let children: Vec<Child> = runs
                .iter()
                .map(|args| {
                    Command::new(stress_binary())
                        .arg("-C")
                        .arg(&root)
                        .args(args)
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()
                        .expect("spawn")
                })
                .collect();
            for (child, args) in children.into_iter().zip(&runs) {
                let output = child.wait_with_output().expect("wait");
                let stderr = String::from_utf8_lossy(&output.stderr);
                let waited = stderr.lines().all(|l| {
                    l.contains("is changing this checkout; waiting for it")
                        || format!("{l}\n") == ISOLATION_NOTE
                });
                assert!(
                    output.status.success() && waited,
                    "git: {git}, round {round}: {args:?} exited {:?}: {stderr}",
                    output.status.code()
                );
            }
            let (now, written_port) = managed(&root);
            let now = relocate(now, &root);
            assert!(
                now == on || now == off,
                "git: {git}, round {round}: the managed files are in neither whole mode"
            );
            assert_eq!(
                written_port, port,
                "git: {git}, round {round}: the set was lost"
            );
        }
    }
}

#[test]
fn every_writer_follows_one_symlink_rule() {
    // An overlay folder that is a link leaving the checkout: refused, nothing written outside.
    let (temp, root, _) = checkout();
    let outside = temp.path().join("outside");
    fs::create_dir(&outside).expect("mkdir");
    symlink(&outside, root.join("overlay")).expect("symlink");
    let before = snapshot(&root);
    let ran = kfpatch(
        &root,
        &["multiuser", "off", "--overlay", "overlay", "--target", I],
        &[],
    );
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (
            2,
            "error: overlay resolves to [TMP]/outside, outside the checkout [ROOT]; kfpatch does not read or write through symlinks that leave the checkout\n"
        )
    );
    assert_eq!(snapshot(&root), before);
    assert_eq!(fs::read_dir(&outside).expect("read").count(), 0);

    // access --output-dir: a file that is a link inside the checkout is written through (the
    // link stays a link); one that leaves the checkout is refused.
    let (temp, root, _) = checkout();
    let out = root.join("gitops");
    fs::create_dir_all(root.join("shared")).expect("mkdir");
    fs::create_dir(&out).expect("mkdir");
    fs::write(root.join("shared/team-a.yaml"), "old\n").expect("write");
    symlink(
        "../shared/team-a.yaml",
        out.join("access-ml-pipeline-team-a.yaml"),
    )
    .expect("link");
    let ran = kfpatch(
        &root,
        &["access", "--namespace", "team-a", "--output-dir", "gitops"],
        &[],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        fs::symlink_metadata(out.join("access-ml-pipeline-team-a.yaml"))
            .expect("meta")
            .file_type()
            .is_symlink()
    );
    let written = fs::read_to_string(root.join("shared/team-a.yaml")).expect("read");
    assert!(written.contains("kind: PodDefault"), "{written}");
    let outside = temp.path().join("outside.yaml");
    fs::write(&outside, "theirs\n").expect("write");
    symlink(&outside, out.join("access-ml-pipeline-team-b.yaml")).expect("link");
    let ran = kfpatch(
        &root,
        &[
            "access",
            "--namespace",
            "team-a",
            "--namespace",
            "team-b",
            "--output-dir",
            "gitops",
        ],
        &[],
    );
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (
            2,
            "error: gitops/access-ml-pipeline-team-b.yaml resolves to [TMP]/outside.yaml, outside the checkout [ROOT]; kfpatch does not read or write through symlinks that leave the checkout\n"
        )
    );
    assert_eq!(fs::read_to_string(&outside).expect("read"), "theirs\n");
}

#[test]
fn stale_temporary_files_are_removed_in_every_folder_kfpatch_writes() {
    let (_temp, root, _) = checkout();
    let overlay = root.join("overlay");
    fs::create_dir(&overlay).expect("mkdir");
    fs::write(
        overlay.join(".kustomization.yaml.kfpatch-4194303.tmp"),
        "half",
    )
    .expect("write");
    let ran = kfpatch(
        &root,
        &["multiuser", "off", "--overlay", "overlay", "--target", I],
        &[],
    );
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (
            0,
            format!(
                "kfpatch: removed overlay/.kustomization.yaml.kfpatch-4194303.tmp, left behind by kfpatch process 4194303, which no longer runs\n{ISOLATION_NOTE}"
            )
            .as_str()
        )
    );
    let out = root.join("gitops");
    fs::create_dir(&out).expect("mkdir");
    fs::write(out.join(".kustomization.yaml.kfpatch-4194303.tmp"), "half").expect("write");
    let ran = kfpatch(
        &root,
        &["access", "--namespace", "team-a", "--output-dir", "gitops"],
        &[],
    );
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (
            0,
            "kfpatch: removed gitops/.kustomization.yaml.kfpatch-4194303.tmp, left behind by kfpatch process 4194303, which no longer runs\n"
        )
    );
}

#[test]
fn a_running_kubectl_plugin_is_recognised_as_kfpatch() {
    // kfpatch run as the kubectl plugin `kubectl-kfpatch`, paused in its write of another tree.
    let (temp, root, dir) = checkout();
    let plugin = temp.path().join("kubectl-kfpatch");
    symlink(env!("CARGO_BIN_EXE_kfpatch"), &plugin).expect("link");
    let (_other_temp, other, _) = checkout();
    let mut running = Command::new(&plugin)
        .arg("-C")
        .arg(&other)
        .args(["multiuser", "off"])
        .env("KFPATCH_TEST_PAUSE_BEFORE_RENAME", "3000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = running.id();
    // The name is the plugin's once the child has executed it.
    wait_for("the plugin's start", || {
        fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c == "kubectl-kfpatch\n")
    });
    let its_temp = temp_of(&dir.join("api-service/params.env"), pid);
    fs::write(&its_temp, "in progress").expect("write");
    let ran = kfpatch(&root, &["multiuser", "off"], &[]);
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ISOLATION_NOTE));
    assert!(
        its_temp.exists(),
        "the running plugin's temporary file was removed"
    );
    running.kill().expect("kill");
    running.wait().expect("wait");
}

#[test]
fn a_temporary_file_has_its_final_mode_from_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let (_temp, root, dir) = checkout();
    let params = dir.join("api-service/params.env");
    fs::set_permissions(&params, fs::Permissions::from_mode(0o664)).expect("chmod");
    // umask 077 would give a new file 0600; the temporary file must be 0664 all the same.
    let child = Command::new("sh")
        .arg("-c")
        .arg("umask 077; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_kfpatch"))
        .arg("-C")
        .arg(&root)
        .args(["multiuser", "off"])
        .env("KFPATCH_TEST_PAUSE_BEFORE_RENAME", "800")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let temp = temp_of(&params, child.id());
    wait_for("the temporary params.env", || temp.exists());
    let mode = fs::metadata(&temp).expect("meta").permissions().mode() & 0o7777;
    let output = child.wait_with_output().expect("wait");
    assert_eq!(mode, 0o664);
    assert!(output.status.success());
    let mode = fs::metadata(&params).expect("meta").permissions().mode() & 0o7777;
    assert_eq!(mode, 0o664);
}
