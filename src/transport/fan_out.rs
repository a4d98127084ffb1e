//! Runs one job per item on a bounded number of threads, keeping results in
//! item order; a failing item never stops or hides the others. I/O-agnostic.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// At most this many nodes are contacted at once: enough that a 20-node
/// cluster is gathered in one wave, few enough to bound the threads and
/// sockets of the machine running mirrorset.
pub const DEFAULT_CONCURRENCY: usize = 32;

pub fn fan_out<T: Sync, R: Send>(
    items: &[T],
    limit: usize,
    job: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let workers = limit.clamp(1, items.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(index) else { break };
                    let result = job(item);
                    results
                        .lock()
                        .expect("no job panics while holding the lock")[index] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("no job panicked")
        .into_iter()
        .map(|result| result.expect("every item ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_runs_everything() {
        let items: Vec<u32> = (0..50).collect();
        let results = fan_out(&items, 7, |n| n * 2);
        assert_eq!(results, items.iter().map(|n| n * 2).collect::<Vec<_>>());
        assert!(fan_out(&[] as &[u32], 4, |n| *n).is_empty());
    }
}
