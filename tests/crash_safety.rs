//! Crash safety: kfpatch killed (SIGKILL) at any moment leaves every file either as it was or as
//! the finished run writes it, never partly written, and a later run removes what a killed run
//! left behind. SIGINT, SIGTERM and SIGHUP during a write put every file back.
//!
//! `plan::write_atomic` writes a temporary file beside the target, syncs it and renames it over
//! the target; `KFPATCH_TEST_PAUSE_BEFORE_RENAME=<ms>` makes it wait between the synced write and
//! the rename, so a test can kill it exactly there.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/manifests-v1.8-apps")
}

const INSTALL: &str = "apps/pipeline/upstream/base/installs/multi-user";
const ARGS: &[&str] = &["multiuser", "off", "--parity"];

/// Every regular file under `root`, by relative path.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(root)
                .expect("prefix")
                .display()
                .to_string();
            (rel, fs::read(e.path()).expect("read"))
        })
        .collect()
}

fn is_temp(rel: &str) -> bool {
    Path::new(rel)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') && n.contains(".kfpatch-") && n.ends_with(".tmp"))
}

fn copy_of_fixture() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().join("checkout");
    support::copy_tree(&fixture(), &root);
    (temp, root)
}

fn start(root: &Path, pause_ms: Option<u64>) -> Child {
    let mut cmd = support::kfpatch();
    cmd.arg("-C").arg(root).args(ARGS);
    if let Some(ms) = pause_ms {
        cmd.env("KFPATCH_TEST_PAUSE_BEFORE_RENAME", ms.to_string());
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kfpatch")
}

/// The tree before and after a complete run.
fn old_and_new() -> (BTreeMap<String, Vec<u8>>, BTreeMap<String, Vec<u8>>) {
    let (_temp, root) = copy_of_fixture();
    let old = files(&root);
    let status = start(&root, None).wait().expect("wait");
    assert!(status.success(), "a complete run succeeds");
    let new = files(&root);
    assert_ne!(old, new);
    (old, new)
}

/// Each file is its old or its new version; temporary files are the only extra entries.
fn check_old_or_new(
    root: &Path,
    old: &BTreeMap<String, Vec<u8>>,
    new: &BTreeMap<String, Vec<u8>>,
    context: &str,
) -> usize {
    let now = files(root);
    let mut temps = 0;
    for (rel, bytes) in &now {
        if is_temp(rel) {
            temps += 1;
            continue;
        }
        assert!(
            old.get(rel) == Some(bytes) || new.get(rel) == Some(bytes),
            "{context}: {rel} is neither the old nor the new file:\n{}",
            String::from_utf8_lossy(bytes)
        );
    }
    for rel in old.keys() {
        assert!(now.contains_key(rel), "{context}: {rel} disappeared");
    }
    temps
}

#[test]
fn killed_between_the_synced_temp_file_and_the_rename() {
    let (old, new) = old_and_new();
    let (_temp, root) = copy_of_fixture();
    let params = format!("{INSTALL}/api-service/params.env");
    let mut child = start(&root, Some(10_000));
    let api_dir = root.join(INSTALL).join("api-service");
    let wanted = &new[&params];
    // Wait until the first file's temporary copy is complete (it is synced before the pause).
    let deadline = Instant::now() + Duration::from_secs(20);
    let temp = loop {
        let found = fs::read_dir(&api_dir)
            .expect("read dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| is_temp(&p.display().to_string()));
        if let Some(path) = found
            && fs::read(&path).is_ok_and(|b| &b == wanted)
        {
            break path;
        }
        assert!(
            Instant::now() < deadline,
            "no complete temporary file appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    child.kill().expect("kill");
    child.wait().expect("reap");

    // The target is untouched; the temporary file holds the whole new content.
    assert_eq!(fs::read(root.join(&params)).expect("read"), old[&params]);
    assert_eq!(&fs::read(&temp).expect("temp"), wanted);
    assert_eq!(check_old_or_new(&root, &old, &new, "after the kill"), 1);
    for (rel, bytes) in files(&root) {
        if !is_temp(&rel) {
            assert_eq!(old.get(&rel), Some(&bytes), "{rel} was not written yet");
        }
    }

    // The next run removes the stale file of the dead process, says so, and writes every file.
    let output = support::kfpatch()
        .arg("-C")
        .arg(&root)
        .args(ARGS)
        .output()
        .expect("rerun");
    assert!(output.status.success());
    let pid = child.id();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "kfpatch: removed {INSTALL}/api-service/.params.env.kfpatch-{pid}.tmp, left behind by kfpatch process {pid}, which no longer runs\n\
             note: with multi-user mode off, every user can see every run, experiment and artifact. To keep isolation between profiles, keep it on and give notebooks token access instead (README, \"Token access\").\n"
        )
    );
    assert_eq!(files(&root), new, "no temporary file is left");
}

/// Waits until `path` holds `bytes`.
fn wait_for(path: &Path, bytes: &[u8], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while fs::read(path).ok().as_deref() != Some(bytes) {
        assert!(Instant::now() < deadline, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_signal_during_the_write_puts_everything_back() {
    let (old, new) = old_and_new();
    let params = format!("{INSTALL}/api-service/params.env");
    for (signal, number, code) in [
        ("INT", libc::SIGINT, 130),
        ("TERM", libc::SIGTERM, 143),
        ("HUP", libc::SIGHUP, 129),
    ] {
        let (_temp, root) = copy_of_fixture();
        let child = support::kfpatch()
            .arg("-C")
            .arg(&root)
            .args(ARGS)
            .env("KFPATCH_TEST_PAUSE_BEFORE_RENAME", "1500")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kfpatch");
        // The first file is renamed into place, and the second one's temporary file is written:
        // the signal comes while it waits before that rename.
        wait_for(&root.join(&params), &new[&params], "the first rename");
        let ui_dir = root.join(INSTALL).join("pipelines-ui");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !fs::read_dir(&ui_dir)
            .expect("read dir")
            .flatten()
            .any(|e| is_temp(&e.path().display().to_string()))
        {
            assert!(Instant::now() < deadline, "no second temporary file");
            std::thread::sleep(Duration::from_millis(2));
        }
        support::send_signal(child.id(), number);
        let output = child.wait_with_output().expect("wait");
        assert_eq!(output.status.code(), Some(code), "SIG{signal}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!(
                "kfpatch: interrupted by SIG{signal}; the files already written were put back and the temporary files removed, so nothing changed\n"
            ),
            "SIG{signal}"
        );
        assert_eq!(
            files(&root),
            old,
            "SIG{signal}: the tree is exactly as before"
        );
    }
}

#[test]
fn a_stale_temp_file_with_this_process_id_is_replaced() {
    // A killed run's file with the id the next run gets (common in CI containers) must not make
    // `create_new` fail: write_atomic replaces it.
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("params.env");
    fs::write(&target, "MULTIUSER=true\n").expect("write");
    let stale = dir
        .path()
        .join(format!(".params.env.kfpatch-{}.tmp", std::process::id()));
    fs::write(&stale, "MULTIUSER=fal").expect("stale");
    kfpatch::edit::write::write_atomic(&target, b"MULTIUSER=false\n").expect("write over stale");
    assert_eq!(fs::read(&target).expect("read"), b"MULTIUSER=false\n");
    assert!(!stale.exists(), "the stale file became the new file");
}

/// A small deterministic generator, seeded from the clock (printed, to replay a failure with
/// `KFPATCH_CRASH_SEED`).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn killed_at_random_moments() {
    let (old, new) = old_and_new();
    let seed = std::env::var("KFPATCH_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    println!("KFPATCH_CRASH_SEED={seed}");
    let mut dice = Dice(seed);

    // How long a whole run takes with a short pause before each rename, to aim kills inside it.
    let (_t, probe) = copy_of_fixture();
    let began = Instant::now();
    start(&probe, Some(2)).wait().expect("probe run");
    let span = began.elapsed().as_micros() as u64 + 1;

    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut runs, mut interrupted, mut partial_trees) = (0, 0, 0);
    while runs < 60 && Instant::now() < deadline {
        runs += 1;
        let (_temp, root) = copy_of_fixture();
        let pause = [None, Some(1), Some(3)][(dice.next() % 3) as usize];
        let mut child = start(&root, pause);
        std::thread::sleep(Duration::from_micros(dice.next() % span));
        let finished = child.try_wait().expect("try_wait").is_some();
        let _ = child.kill();
        child.wait().expect("reap");
        if !finished {
            interrupted += 1;
        }
        let context = format!("run {runs} (seed {seed})");
        check_old_or_new(&root, &old, &new, &context);
        let now = files(&root);
        let changed = old.iter().filter(|(k, v)| now.get(*k) != Some(v)).count();
        if changed > 0 && changed < old.iter().filter(|(k, v)| new.get(*k) != Some(v)).count() {
            partial_trees += 1;
        }
        // Whatever was left, the next run finishes the switch.
        let status = start(&root, None).wait().expect("rerun");
        assert!(status.success(), "{context}: the run after the kill failed");
        let done: BTreeMap<String, Vec<u8>> = files(&root)
            .into_iter()
            .filter(|(k, _)| !is_temp(k))
            .collect();
        assert_eq!(
            done, new,
            "{context}: the run after the kill did not finish the switch"
        );
    }
    println!(
        "{runs} runs, {interrupted} killed before they finished, {partial_trees} left with some files switched and some not"
    );
    assert!(runs >= 10, "too few runs in the time limit: {runs}");
    assert!(
        interrupted > 0,
        "no run was killed before it finished: the kills missed the writes"
    );
}
