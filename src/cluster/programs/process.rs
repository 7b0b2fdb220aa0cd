//! Running kustomize and kubectl. kfpatch never runs a shell: a program and its argument vector,
//! input on stdin. Every run can be given a deadline, because a cluster that stops answering (or a
//! kustomize that fetches a remote base) must not hang the command; a killed run says so.
//!
//! Each child leads its own process group, so that at the deadline (or when kfpatch is
//! interrupted) the child and everything it started are killed together. A thread waits on the
//! child and reports its exit on a channel: kfpatch wakes the moment the child exits, and
//! otherwise only to draw the spinner.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Failure, Result};
use crate::interrupt;

/// How a child process ended, with everything it printed.
#[derive(Debug, Clone)]
pub struct Ran {
    /// The exit code; `None` when it was killed (deadline) or ended by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The deadline passed and the child was killed.
    pub timed_out: bool,
    /// How long it ran.
    pub took: Duration,
}

impl Ran {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Why a run killed at the deadline failed: `command` (as the user would type it), how long
    /// it ran, and which limit it hit (`--timeout 5m`).
    pub fn timed_out_message(&self, command: &str, limit: &str) -> String {
        format!(
            "{command} ran for {:.1} s and did not finish within the time limit ({limit}); kfpatch stopped it and every process it started",
            self.took.as_secs_f64()
        )
    }
}

/// How often `tick` (the spinner) is called while a child runs. The wait itself ends as soon as
/// the child exits, whatever this is.
const TICK: Duration = Duration::from_millis(100);

/// The process groups of the children running now, for the interrupt hook.
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn groups() -> MutexGuard<'static, Vec<i32>> {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The interrupt hook: kills every running child's process group. The list stays locked until
/// the process exits, so no child starts after it.
fn kill_on_interrupt() -> Option<String> {
    let groups = groups();
    for group in groups.iter() {
        kill_group(*group);
    }
    std::mem::forget(groups);
    None
}

fn kill_group(group: i32) {
    // SAFETY: kill has no memory preconditions; a negative id names the process group, which
    // the child leads and which still exists (the child is not reaped before this returns).
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

/// Registers the interrupt hook that kills running children. [`run`] does it too; a caller that
/// runs children on threads of its own calls it before starting them, so that they inherit the
/// blocked signals.
pub fn prepare() {
    interrupt::on_interrupt(kill_on_interrupt);
}

/// Runs `program args`, writes `stdin` to it, and collects its output. Past `deadline` the child
/// and its process group are killed and `timed_out` set. `tick` is called while waiting. `Err`
/// only when the program cannot be started (not installed, not executable).
pub fn run<S: AsRef<OsStr>>(
    program: &str,
    args: &[S],
    stdin: Option<&[u8]>,
    deadline: Option<Instant>,
    tick: &mut dyn FnMut(),
) -> std::io::Result<Ran> {
    prepare();
    let started = Instant::now();
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = {
        // Started and recorded under one lock: an interrupt either sees the child or stops it
        // from starting.
        let mut running = groups();
        let child = command.spawn()?;
        running.push(child.id() as i32);
        child
    };
    let group = child.id() as i32;
    let (exited, exit) = mpsc::channel();
    let plumbing = plumb(&mut child, stdin).and_then(|pipes| {
        let waiter = thread::Builder::new().spawn(move || {
            let _ = exited.send(child.wait());
        });
        waiter.map(|_| pipes)
    });
    let (stdout, stderr) = match plumbing {
        Ok(pipes) => pipes,
        Err(e) => {
            // A process limit let the child start but not the threads that feed and read it.
            kill_group(group);
            groups().retain(|g| *g != group);
            return Err(e);
        }
    };
    let mut timed_out = false;
    let status = loop {
        let wait = deadline.map_or(TICK, |d| {
            d.saturating_duration_since(Instant::now()).min(TICK)
        });
        match exit.recv_timeout(wait) {
            Ok(status) => break status.ok(),
            Err(RecvTimeoutError::Timeout) if deadline.is_some_and(|d| Instant::now() >= d) => {
                kill_group(group);
                timed_out = true;
                let _ = exit.recv();
                break None;
            }
            Err(RecvTimeoutError::Timeout) => tick(),
            Err(RecvTimeoutError::Disconnected) => break None,
        }
    };
    let took = started.elapsed();
    groups().retain(|g| *g != group);
    // A grandchild that left the process group may still hold the pipes of a killed child: do
    // not wait for it for long.
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
        took,
    })
}

/// Why `program` could not be run, and what to do: `fix` when it is missing or not executable,
/// or the process limit when the system refused the process or one of its threads (`EAGAIN`),
/// where installing anything would not help.
pub fn cannot_run(program: &str, e: &std::io::Error, fix: &str) -> String {
    if e.kind() == std::io::ErrorKind::WouldBlock {
        format!(
            "cannot run {program}: the system refused a new process or thread ({e}), so a process limit is reached (ulimit -u, or a container's pids limit); raise it, or run fewer programs at once"
        )
    } else {
        format!("cannot run {program}: {e}; {fix}")
    }
}

/// What a reader thread hands over when the pipe closes.
type Collected = Option<mpsc::Receiver<Vec<u8>>>;

/// Writing and reading happen on threads: a child that fills one pipe while kfpatch writes the
/// other would otherwise deadlock. The error is a thread that could not start.
fn plumb(child: &mut Child, stdin: Option<&[u8]>) -> std::io::Result<(Collected, Collected)> {
    if let (Some(mut pipe), Some(input)) = (child.stdin.take(), stdin) {
        let input = input.to_vec();
        thread::Builder::new().spawn(move || {
            // A child that exits early closes the pipe; its exit code tells what happened.
            let _ = pipe.write_all(&input);
        })?;
    }
    let stdout = child.stdout.take().map(reader).transpose()?;
    let stderr = child.stderr.take().map(reader).transpose()?;
    Ok((stdout, stderr))
}

fn reader(mut pipe: impl Read + Send + 'static) -> std::io::Result<mpsc::Receiver<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new().spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = tx.send(bytes);
    })?;
    Ok(rx)
}

/// `--timeout DURATION` as a duration.
pub fn parse_timeout(text: &str) -> Result<Duration> {
    parse_duration(text).ok_or_else(|| {
        Failure::new(format!(
            "--timeout {text}: expected a duration such as 90s, 5m or 1h30m"
        ))
    })
}

/// A `--timeout` a command was given: when it runs out, and its text, which messages name.
#[derive(Debug, Clone, Copy)]
pub struct Timeout<'a> {
    pub deadline: Instant,
    pub text: &'a str,
}

impl<'a> Timeout<'a> {
    /// `--timeout TEXT`, counted from now.
    pub fn from_now(text: &'a str) -> Result<Timeout<'a>> {
        Ok(Timeout {
            deadline: Instant::now() + parse_timeout(text)?,
            text,
        })
    }
}

/// Reads `90s`, `5m`, `1h30m`, `500ms` or a number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60)?),
            "h" => Duration::from_secs(n.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(unit)?;
        rest = &rest[unit_len..];
    }
    Some(total)
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
    fn kills_the_whole_process_group_at_the_deadline() {
        let dir = std::env::temp_dir().join(format!("kfpatch-group-{}", std::process::id()));
        let _ = std::fs::create_dir(&dir);
        let pid_file = dir.join("pid");
        let script = format!("sleep 30 & echo $! > '{}'; wait", pid_file.display());
        let ran = run(
            "sh",
            &["-c", &script],
            None,
            Some(Instant::now() + Duration::from_millis(300)),
            &mut || {},
        )
        .unwrap();
        assert!(ran.timed_out);
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        // Killed: gone, or a zombie until init reaps it. SIGKILL is delivered asynchronously,
        // so give it a moment.
        let runs = || {
            std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
                .is_ok_and(|s| !s.contains(") Z "))
        };
        let until = Instant::now() + Duration::from_secs(5);
        while runs() && Instant::now() < until {
            thread::sleep(Duration::from_millis(10));
        }
        assert!(!runs(), "the grandchild still runs");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn waiting_costs_no_idle_time_after_the_child_exits() {
        // A sleep loop of 50 ms made each of these take 50 ms or more: 20 runs took at least 1 s.
        let start = Instant::now();
        for _ in 0..20 {
            assert!(
                run("true", &[] as &[&str], None, None, &mut || {})
                    .unwrap()
                    .success()
            );
        }
        let took = start.elapsed();
        assert!(
            took < Duration::from_millis(600),
            "20 runs of true took {took:?}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("42"), Some(Duration::from_secs(42)));
        for bad in ["", "5x", "m", "1.5s", "-1s", "s5"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_missing_program_is_an_error() {
        let err = run("kfpatch-no-such-program", &["x"], None, None, &mut || {}).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
