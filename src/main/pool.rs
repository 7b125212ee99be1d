//! A pool of threads for runs that share nothing: `nemesis`, `sweep` and `advise` give it their
//! seeds. Each item runs wholly on one thread; results come back to the calling thread in the
//! order they finish, each with its item's index, so a caller that must not depend on the
//! number of threads puts them in item order.

use std::sync::mpsc;
use std::sync::Mutex;

/// The threads to use: `jobs` if given, else one per CPU; never more than there are items.
pub fn workers(jobs: Option<u16>, items: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    jobs.map_or(cpus, usize::from).clamp(1, items.max(1))
}

/// Runs `work` on every item of `items` on `workers` threads and calls `done(index, result)` on
/// this thread as each finishes. Returns when every item is done.
pub fn run_all<T: Send, R: Send>(
    items: impl Iterator<Item = T> + Send,
    workers: usize,
    work: &(dyn Fn(T) -> R + Sync),
    done: &mut dyn FnMut(usize, R),
) {
    let queue = Mutex::new(items.enumerate());
    let (tx, rx) = mpsc::channel::<(usize, R)>();
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            let (queue, tx) = (&queue, tx.clone());
            s.spawn(move || loop {
                let Some((k, item)) = queue.lock().expect("no worker panics holding it").next()
                else {
                    break;
                };
                if tx.send((k, work(item))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (k, r) in rx {
            done(k, r);
        }
    });
}

/// A panic's message, from the payload `catch_unwind` returns.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}
