//! Work that runs beside the caller's on a second thread ([`beside`]), or on one thread per item
//! ([`each`]), when the system grants them.
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

/// Runs `work` on every item at once: the first here, with `tick` (the spinner), the others on
/// scoped threads. Results come back in the order of `items`, whatever order the work finishes
/// in. An item whose thread cannot start runs here after the first. The caller bounds how many
/// items there are.
pub fn each<T: Sync, R: Send>(
    items: &[T],
    work: impl Fn(&T, &mut dyn FnMut()) -> R + Sync,
    tick: &mut dyn FnMut(),
) -> Vec<R> {
    let Some((first, others)) = items.split_first() else {
        return Vec::new();
    };
    let work = &work;
    thread::scope(|scope| {
        let handles: Vec<_> = others
            .iter()
            .map(|item| {
                thread::Builder::new()
                    .spawn_scoped(scope, move || work(item, &mut || {}))
                    .ok()
            })
            .collect();
        let mut results = vec![work(first, tick)];
        for (item, handle) in others.iter().zip(handles) {
            results.push(match handle {
                Some(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                None => work(item, tick),
            });
        }
        results
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

    #[test]
    fn each_keeps_the_order_of_the_items() {
        let mut ticks = 0;
        let results = each(
            &[30u64, 0, 10],
            |ms, tick| {
                tick();
                thread::sleep(std::time::Duration::from_millis(*ms));
                ms * 2
            },
            &mut || ticks += 1,
        );
        assert_eq!(results, [60, 0, 20]);
        assert_eq!(ticks, 1, "only the first item runs here");
        assert!(each(&[] as &[u8], |_, _| 0, &mut || {}).is_empty());
    }
}
