//! Work that runs beside the caller's on a second thread, when the system grants one.
//!
//! A thread is a speed-up, never a new way to fail: a process limit (`ulimit -u`, a container's
//! pids limit) or a sandbox that refuses `clone` makes the work run in the caller's thread
//! instead, one part after the other, with the same result.

use std::sync::Mutex;
use std::thread;

/// Runs `side` on a scoped thread while `main` runs here, and returns both results; both run
/// here, `side` first, when no thread can be started. A panic in `side` goes on in this thread.
pub fn beside<A: Send, B>(side: impl FnOnce() -> A + Send, main: impl FnOnce() -> B) -> (A, B) {
    // The thread takes `side` out of the slot; when the thread cannot start, `side` is still in
    // it (spawning consumes only the closure that borrows the slot).
    let slot = Mutex::new(Some(side));
    let take = || slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    thread::scope(|scope| {
        let spawned = thread::Builder::new().spawn_scoped(scope, || take().map(|side| side()));
        match spawned {
            Ok(handle) => {
                let here = main();
                let there = handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (there.expect("the thread took the work"), here)
            }
            Err(_) => {
                let there = take().map(|side| side());
                (there.expect("no thread took the work"), main())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_results_come_back_in_order() {
        let (a, b) = beside(|| 2 + 2, || "here");
        assert_eq!((a, b), (4, "here"));
    }
}
