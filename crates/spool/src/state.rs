//! What the writer thread, the readers and retention share: the list of segments, the
//! written and durable ends, with a condition variable for consumers waiting for new
//! records or for records they read early to become durable.

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
    /// How far records are written and durable, and whether they can still become so.
    ends: Mutex<Ends>,
    /// Signalled when either end moves, and when the writer stops.
    advanced: Condvar,
}

/// The ends of a spool's records, as the writer publishes them.
#[derive(Debug, Clone)]
struct Ends {
    /// What is written to the segment files (in the page cache, maybe not on disk yet):
    /// what early readers may read up to. Never behind `durable`.
    written: Position,
    /// What is durable: what readers of acknowledged records may read up to.
    durable: Position,
    /// Why nothing written will become durable any more (the writer stopped after a failed
    /// write or fsync, or its thread ended), once that is so.
    halted: Option<Error>,
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
            ends: Mutex::new(Ends {
                written: end,
                durable: end,
                halted: None,
            }),
            advanced: Condvar::new(),
        }
    }

    /// The durable end.
    pub(crate) fn durable_end(&self) -> Position {
        lock(&self.ends).durable
    }

    /// The written end (at or past the durable end).
    pub(crate) fn written_end(&self) -> Position {
        lock(&self.ends).written
    }

    /// Moves the durable end (and the written end with it) to `end`, unless it is already
    /// past it (a segment's roll and the fsync stage publish independently), and wakes
    /// waiting consumers.
    pub(crate) fn publish(&self, end: Position) {
        let mut ends = lock(&self.ends);
        ends.durable = ends.durable.max(end);
        ends.written = ends.written.max(end);
        drop(ends);
        self.advanced.notify_all();
    }

    /// Moves the written end to `end` (written to the file, not yet durable) and wakes
    /// waiting consumers.
    pub(crate) fn publish_written(&self, end: Position) {
        let mut ends = lock(&self.ends);
        ends.written = ends.written.max(end);
        drop(ends);
        self.advanced.notify_all();
    }

    /// Records that nothing more will become durable, and why; wakes every waiter. The
    /// first cause is kept.
    pub(crate) fn halt(&self, cause: Error) {
        let mut ends = lock(&self.ends);
        ends.halted.get_or_insert(cause);
        drop(ends);
        self.advanced.notify_all();
    }

    /// Why nothing more will become durable, once that is so.
    pub(crate) fn halted(&self) -> Option<Error> {
        lock(&self.ends).halted.clone()
    }

    /// Waits until the durable end is beyond `after` or `timeout` passes; returns it.
    pub(crate) fn wait_past(&self, after: Position, timeout: Duration) -> Position {
        self.wait_until(timeout, |ends| ends.durable > after)
            .durable
    }

    /// Waits until the written end is beyond `after` or `timeout` passes; returns it.
    pub(crate) fn wait_written_past(&self, after: Position, timeout: Duration) -> Position {
        self.wait_until(timeout, |ends| ends.written > after)
            .written
    }

    /// Waits until everything up to `through` is durable (`Ok(true)`) or `timeout` passes
    /// (`Ok(false)`).
    ///
    /// # Errors
    ///
    /// The writer stopped or ended before `through` became durable: it never will.
    pub(crate) fn wait_durable(&self, through: Position, timeout: Duration) -> Result<bool, Error> {
        let ends = self.wait_until(timeout, |ends| {
            ends.durable >= through || ends.halted.is_some()
        });
        match ends.halted {
            _ if ends.durable >= through => Ok(true),
            Some(cause) => Err(Error::Stopped {
                cause: Box::new(cause),
            }),
            None => Ok(false),
        }
    }

    /// The ends once `done` holds of them, or when `timeout` passes.
    fn wait_until(&self, timeout: Duration, done: impl Fn(&Ends) -> bool) -> Ends {
        let deadline = Instant::now().checked_add(timeout);
        let mut ends = lock(&self.ends);
        while !done(&ends) {
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                break;
            }
            ends = self
                .advanced
                .wait_timeout(ends, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        ends.clone()
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

    #[test]
    fn written_records_are_seen_early_and_waited_for_until_durable() {
        let state = std::sync::Arc::new(shared(&[0]));
        let (durable, written) = (Position::new(1000), Position::new(1500));
        state.publish_written(written);
        assert_eq!(state.durable_end(), durable);
        assert_eq!(state.written_end(), written);
        assert_eq!(state.wait_past(durable, Duration::from_millis(5)), durable);
        assert_eq!(state.wait_written_past(durable, Duration::MAX), written);
        assert!(state.wait_durable(durable, Duration::ZERO).unwrap());
        assert!(!state
            .wait_durable(written, Duration::from_millis(5))
            .unwrap());
        let publisher = std::sync::Arc::clone(&state);
        let thread = std::thread::spawn(move || publisher.publish(Position::new(1500)));
        assert!(state.wait_durable(written, Duration::MAX).unwrap());
        thread.join().unwrap();
        // A durable end never moves the written end back.
        state.publish_written(Position::new(3000));
        state.publish(Position::new(2000));
        assert_eq!(state.written_end(), Position::new(3000));
    }

    #[test]
    fn a_halted_writer_ends_the_wait_for_what_it_will_never_make_durable() {
        let state = std::sync::Arc::new(shared(&[0]));
        state.publish_written(Position::new(1500));
        let halter = std::sync::Arc::clone(&state);
        let thread = std::thread::spawn(move || halter.halt(Error::WriterGone));
        let waited = state.wait_durable(Position::new(1500), Duration::MAX);
        thread.join().unwrap();
        assert!(matches!(waited, Err(Error::Stopped { .. })), "{waited:?}");
        // What was durable before stays durable.
        assert!(state
            .wait_durable(Position::new(1000), Duration::MAX)
            .unwrap());
    }
}
