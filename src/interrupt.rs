//! SIGINT, SIGTERM and SIGHUP: what an interrupted run undoes before it exits with 128 plus the
//! signal's number (130, 143, 129).
//!
//! The three signals are blocked in every thread and received by one thread that waits for them
//! (`sigwait`), so the undo work runs as ordinary code, not in a signal handler. The layers that
//! own something to undo register a hook: the atomic write puts back the files renamed in this
//! run and removes its temporary files; the child runner kills the process groups it started.
//! A hook keeps its own lock held until the process exits, so the main thread cannot start a
//! rename or a child after the hook has looked.
//!
//! The waiting thread starts with the first hook, so a run that writes nothing and starts no
//! program (`status`, `audit`, a dry run) pays nothing for it and ends on a signal as any program
//! does: it has nothing to undo.

use std::sync::{Mutex, Once};

/// Undoes what one layer did; returns what it undid, for the message (`None`: nothing to say).
pub type Hook = fn() -> Option<String>;

static HOOKS: Mutex<Vec<Hook>> = Mutex::new(Vec::new());

/// Blocks the signals and starts the thread that waits for them. The first hook is registered on
/// the main thread before it starts any other thread (the layers register before they write or
/// start a program), so every thread inherits the blocked mask; children get a clean mask, as
/// `std::process::Command` resets it after the fork.
fn install() {
    // SAFETY: `sigset_t` is plain data that `sigemptyset` initialises; the calls only read and
    // write the set given to them and this thread's signal mask.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let waiter = std::thread::Builder::new().spawn(move || {
        loop {
            let mut signal = 0;
            // SAFETY: `set` is an initialised signal set; `signal` is a valid out-pointer.
            if unsafe { libc::sigwait(&set, &mut signal) } == 0 {
                interrupted(signal);
            }
        }
    });
    if waiter.is_err() {
        // No thread to wait for the signals (a process limit): they keep their default action
        // and end the run at once, rather than being blocked for good. Without the hooks no
        // file is half written still (each is renamed into place whole), but a write of several
        // files stopped between two renames is not put back, and a temp file stays until the
        // next run removes it.
        // SAFETY: as above, on this thread's signal mask.
        unsafe {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
    }
}

/// Registers `hook` (once per hook) to run when a signal interrupts the run. Call it before
/// starting the threads of the work the hook undoes.
pub fn on_interrupt(hook: Hook) {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(install);
    let mut hooks = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
    if !hooks.contains(&hook) {
        hooks.push(hook);
    }
}

fn interrupted(signal: i32) -> ! {
    let name = match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "SIGHUP",
    };
    let hooks = HOOKS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let said: Vec<String> = hooks.iter().filter_map(|hook| hook()).collect();
    let message = if said.is_empty() {
        format!("kfpatch: interrupted by {name}\n")
    } else {
        format!("kfpatch: interrupted by {name}; {}\n", said.join("; "))
    };
    // The main thread may hold the lock of std's stderr for the whole run: write to the file
    // descriptor directly, and leave without running exit handlers that might wait on it.
    // SAFETY: the pointer and length describe `message`, which outlives the call; `_exit` ends
    // the process at once.
    unsafe {
        libc::write(2, message.as_ptr().cast(), message.len());
        libc::_exit(128 + signal)
    }
}
