//! What the writer thread, the readers and retention share: the list of segments and the
//! durable end, with a condition variable for consumers waiting for new records.

use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::{Error, Position};

/// The state shared by a spool's threads.
pub(crate) struct Shared {
    /// The spool's folder.
    pub(crate) dir: PathBuf,
    /// The starts of the segments held, in order; never empty.
    starts: Mutex<Vec<Position>>,
    /// The durable end: what readers may read up to.
    durable: Mutex<Position>,
    /// Signalled when the durable end moves.
    advanced: Condvar,
}

/// Locks a mutex, also after a panic elsewhere: every critical section here leaves its
/// data whole.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// The state of a spool just opened.
    pub(crate) fn new(dir: PathBuf, starts: Vec<Position>, end: Position) -> Shared {
        Shared {
            dir,
            starts: Mutex::new(starts),
            durable: Mutex::new(end),
            advanced: Condvar::new(),
        }
    }

    /// The durable end.
    pub(crate) fn durable_end(&self) -> Position {
        *lock(&self.durable)
    }

    /// Moves the durable end to `end` and wakes waiting consumers.
    pub(crate) fn publish(&self, end: Position) {
        *lock(&self.durable) = end;
        self.advanced.notify_all();
    }

    /// Waits until the durable end is beyond `after` or `timeout` passes; returns it.
    pub(crate) fn wait_past(&self, after: Position, timeout: Duration) -> Position {
        let deadline = Instant::now().checked_add(timeout);
        let mut durable = lock(&self.durable);
        while *durable <= after {
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                break;
            }
            durable = self
                .advanced
                .wait_timeout(durable, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *durable
    }

    /// Records a new last segment.
    pub(crate) fn add_segment(&self, start: Position) {
        lock(&self.starts).push(start);
    }

    /// The segment holding the record that starts at `at`: its start, and the next
    /// segment's start if there is one.
    pub(crate) fn locate(&self, at: Position) -> Result<(Position, Option<Position>), Error> {
        let starts = lock(&self.starts);
        let index = starts.partition_point(|&start| start <= at);
        match index.checked_sub(1).and_then(|i| starts.get(i)) {
            Some(&start) => Ok((start, starts.get(index).copied())),
            None => Err(Error::Released {
                position: at,
                first: starts.first().copied().unwrap_or(at),
            }),
        }
    }

    /// The first position still held.
    pub(crate) fn first(&self) -> Position {
        lock(&self.starts)
            .first()
            .copied()
            .unwrap_or(Position::START)
    }

    /// Forgets the segments that end at or before `up_to` (never the last one) and returns
    /// their starts, in order, for deletion.
    pub(crate) fn release(&self, up_to: Position) -> Vec<Position> {
        let mut starts = lock(&self.starts);
        let holding = starts.partition_point(|&start| start <= up_to);
        let whole = holding
            .saturating_sub(1)
            .min(starts.len().saturating_sub(1));
        starts.drain(..whole).collect()
    }
}
