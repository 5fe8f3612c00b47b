//! [`WriteTurn`]: writers of one process that take turns on a store, so that a writer whose
//! every write must be quick (a service's committer) never waits behind the whole of a long
//! save by another (its grouper).
//!
//! SQLite lets one writer in at a time. A grouping's save writes thousands of memberships
//! and incidents; in one transaction it holds the lock for hundreds of milliseconds, and
//! every detection the committer stores meanwhile waits as long. A store set to
//! [`SqliteStore::save_in_slices`](crate::SqliteStore::save_in_slices) cuts such a save
//! into slices of a bounded size, each its own transaction taken through the turn, and
//! before each slice lets any writer waiting with [`WriteTurn::urgent`] go first. The
//! in-process lock hands the store over at once, where SQLite's busy handler would poll.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The turn writers of one process take on a store (see the module documentation).
#[derive(Debug, Default)]
pub struct WriteTurn {
    lock: Mutex<()>,
    /// Urgent writers waiting for the lock.
    waiting: AtomicUsize,
}

/// How long a slice waits between two looks at whether urgent writers are still waiting.
const YIELD: Duration = Duration::from_micros(200);

impl WriteTurn {
    /// Runs `write` with the turn, ahead of the next slice of any long save.
    pub fn urgent<T>(&self, write: impl FnOnce() -> T) -> T {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let written = write();
        drop(guard);
        written
    }

    /// Runs one slice of a long save with the turn, once no urgent writer waits.
    pub fn slice<T>(&self, write: impl FnOnce() -> T) -> T {
        loop {
            while self.waiting.load(Ordering::SeqCst) > 0 {
                std::thread::sleep(YIELD);
            }
            let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            // An urgent writer that came while this one waited for the lock goes first.
            if self.waiting.load(Ordering::SeqCst) > 0 {
                drop(guard);
                continue;
            }
            let written = write();
            drop(guard);
            return written;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;

    #[test]
    fn an_urgent_writer_goes_before_the_next_slice() {
        let turn = Arc::new(WriteTurn::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let in_slice = Arc::new(AtomicBool::new(false));
        let slicer = {
            let (turn, order, in_slice) = (turn.clone(), order.clone(), in_slice.clone());
            std::thread::spawn(move || {
                for slice in 0..3 {
                    turn.slice(|| {
                        in_slice.store(true, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(30));
                        order.lock().unwrap().push(format!("slice {slice}"));
                    });
                }
            })
        };
        while !in_slice.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let started = Instant::now();
        turn.urgent(|| order.lock().unwrap().push("urgent".to_string()));
        let waited = started.elapsed();
        slicer.join().unwrap();
        let order = order.lock().unwrap().clone();
        assert_eq!(order, ["slice 0", "urgent", "slice 1", "slice 2"]);
        assert!(waited < Duration::from_millis(200), "{waited:?}");
    }
}
