//! Running kustomize and kubectl. kfpatch never runs a shell: a program and its argument vector,
//! input on stdin. Every run can be given a deadline, because a cluster that stops answering (or a
//! kustomize that fetches a remote base) must not hang the command; a killed run says so.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How a child process ended, with everything it printed.
#[derive(Debug, Clone)]
pub struct Ran {
    /// The exit code; `None` when it was killed (deadline) or ended by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The deadline passed and the child was killed.
    pub timed_out: bool,
}

impl Ran {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// How often a waiting run looks at the child (and calls `tick`, which draws the spinner).
const POLL: Duration = Duration::from_millis(50);

/// Runs `program args`, writes `stdin` to it, and collects its output. Past `deadline` the child
/// is killed and `timed_out` set. `tick` is called while waiting. `Err` only when the program
/// cannot be started (not installed, not executable).
pub fn run<S: AsRef<OsStr>>(
    program: &str,
    args: &[S],
    stdin: Option<&[u8]>,
    deadline: Option<Instant>,
    tick: &mut dyn FnMut(),
) -> std::io::Result<Ran> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Writing and reading happen on threads: a child that fills one pipe while kfpatch writes
    // the other would otherwise deadlock.
    if let (Some(mut pipe), Some(input)) = (child.stdin.take(), stdin) {
        let input = input.to_vec();
        thread::spawn(move || {
            // A child that exits early closes the pipe; its exit code tells what happened.
            let _ = pipe.write_all(&input);
        });
    }
    let stdout = child.stdout.take().map(reader);
    let stderr = child.stderr.take().map(reader);
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            timed_out = true;
            break None;
        }
        tick();
        thread::sleep(POLL);
    };
    // A grandchild (git under kustomize) may still hold the pipes of a killed child: do not wait
    // for it for long.
    let grace = if timed_out {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(3600)
    };
    let collect = |rx: Option<mpsc::Receiver<Vec<u8>>>| {
        rx.and_then(|rx| rx.recv_timeout(grace).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    };
    Ok(Ran {
        code: status.and_then(|s| s.code()),
        stdout: collect(stdout),
        stderr: collect(stderr),
        timed_out,
    })
}

fn reader(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = tx.send(bytes);
    });
    rx
}

/// Whether `program` is an executable file in a folder of `PATH`.
pub fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_stdin_and_collects_both_streams() {
        let ran = run(
            "sed",
            &["-e", "s/a/b/", "-e", "w /dev/stderr"],
            Some(b"abc\n"),
            None,
            &mut || {},
        )
        .unwrap();
        assert!(ran.success());
        assert_eq!(ran.stdout, "bbc\n");
        assert_eq!(ran.stderr, "bbc\n");
        assert!(!ran.timed_out);
    }

    #[test]
    fn kills_at_the_deadline() {
        let start = Instant::now();
        let ran = run(
            "sleep",
            &["30"],
            None,
            Some(start + Duration::from_millis(200)),
            &mut || {},
        )
        .unwrap();
        assert!(ran.timed_out);
        assert_eq!(ran.code, None);
    }

    #[test]
    fn a_missing_program_is_an_error() {
        let err = run("kfpatch-no-such-program", &["x"], None, None, &mut || {}).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
