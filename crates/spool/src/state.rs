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

    /// The starts of the segments held, in order.
    pub(crate) fn starts(&self) -> Vec<Position> {
        lock(&self.starts).clone()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Shared state with segments starting at these positions.
    fn shared(starts: &[u64]) -> Shared {
        let starts = starts.iter().copied().map(Position::new).collect();
        Shared::new(PathBuf::new(), starts, Position::new(1000))
    }

    #[test]
    fn a_position_is_located_in_the_segment_its_record_starts_in() {
        let state = shared(&[100, 200, 300]);
        let at = |p| state.locate(Position::new(p)).map_err(|e| e.to_string());
        let segment =
            |start, next: Option<u64>| Ok((Position::new(start), next.map(Position::new)));
        assert_eq!(at(100), segment(100, Some(200)));
        assert_eq!(at(199), segment(100, Some(200)));
        assert_eq!(at(200), segment(200, Some(300)));
        assert_eq!(at(999), segment(300, None));
        assert!(at(99).unwrap_err().contains("released"));
    }

    #[test]
    fn release_forgets_whole_segments_only_and_never_the_last() {
        let starts = |state: &Shared| state.starts().iter().map(|p| p.get()).collect::<Vec<_>>();
        let state = shared(&[0, 100, 200, 300]);
        assert!(state.release(Position::new(99)).is_empty());
        assert_eq!(state.release(Position::new(100)), [Position::new(0)]);
        assert_eq!(state.release(Position::new(250)), [Position::new(100)]);
        assert_eq!(state.release(Position::new(5000)), [Position::new(200)]);
        assert_eq!(starts(&state), [300]);
        assert!(state.release(Position::new(u64::MAX)).is_empty());
    }

    #[test]
    fn waiting_ends_when_the_end_moves_past_or_the_time_is_up() {
        let state = std::sync::Arc::new(shared(&[0]));
        let end = Position::new(1000);
        assert_eq!(state.wait_past(end, Duration::from_millis(5)), end);
        assert_eq!(state.wait_past(Position::new(10), Duration::MAX), end);
        let publisher = std::sync::Arc::clone(&state);
        let thread = std::thread::spawn(move || publisher.publish(Position::new(2000)));
        assert_eq!(state.wait_past(end, Duration::MAX), Position::new(2000));
        thread.join().unwrap();
    }
}
