//! [`Reorder`]: the correlation inputs and watched events of a live stream, held until no
//! straggler can still come before them, so that correlations and behavioural detectors
//! see each input's events in time order even when inputs interleave.
//!
//! Events from two senders (two appliances, a shipper that retries) reach the spool a
//! little out of time order. Sigma rules judge one event alone and run at once; the
//! correlator and the behavioural baselines need time order, so what they consume is held
//! here until the *watermark* (the latest event time seen) has passed it by the
//! tolerance, and then released to them sorted. When no record arrives for the idle
//! period, everything held is released, so the last events before a quiet spell are not
//! kept waiting for a next event. Past `max_held` items, the oldest are released early
//! (counted), so memory stays bounded.
//!
//! What is held is not yet judged, so the consumer commits as its position the start of
//! the oldest record still held ([`Reorder::replay_from`]): after a crash, those records
//! are read again, their rule matches are found again (and stored once, by their keys),
//! and what they hand to the correlator is held again.

use std::time::{Duration, Instant};

use tocsin_event::Event;
use tocsin_pipeline::{KeptMatch, ReplayBuffer};
use tocsin_spool::Position;

/// One item held, with the position its record is read from.
struct Held<T> {
    from: Position,
    at: Option<i64>,
    item: T,
}

/// What is held for order (see the module documentation).
pub struct Reorder {
    tolerance_micros: i64,
    idle: Duration,
    max_held: usize,
    kept: Vec<Held<KeptMatch>>,
    watched: Vec<Held<Event>>,
    watermark: Option<i64>,
    last_arrival: Instant,
    released_early: u64,
}

/// What [`Reorder::settled`] released.
pub struct Released {
    /// The items, for [`tocsin_pipeline::Detectors::replay`].
    pub buffer: ReplayBuffer,
    /// How many items.
    pub count: usize,
    /// The event time up to which everything held has been released (`None` before any
    /// event time), so that a correlation window that ended before it may close. An item
    /// that arrives later than the tolerance allows (or after a release of everything, when
    /// the stream went quiet) may still be older: the correlator counts it as late.
    pub horizon: Option<i64>,
}

impl Reorder {
    /// Holds items up to `tolerance` of event time behind the latest event, releases all
    /// after `idle` without a new record, and at most `max_held` items.
    pub fn new(tolerance: Duration, idle: Duration, max_held: usize) -> Self {
        Reorder {
            tolerance_micros: i64::try_from(tolerance.as_micros()).unwrap_or(i64::MAX),
            idle,
            max_held: max_held.max(1),
            kept: Vec::new(),
            watched: Vec::new(),
            watermark: None,
            last_arrival: Instant::now(),
            released_early: 0,
        }
    }

    /// Notes an event of a record read now: it moves the watermark.
    pub fn saw(&mut self, at: Option<i64>) {
        self.last_arrival = Instant::now();
        if let Some(at) = at {
            self.watermark = Some(self.watermark.map_or(at, |mark| mark.max(at)));
        }
    }

    /// Holds a match a correlation references, from the record read after `from`.
    pub fn hold_kept(&mut self, from: Position, kept: KeptMatch) {
        let at = kept.event.timestamp_micros;
        self.kept.push(Held {
            from,
            at,
            item: kept,
        });
    }

    /// Holds an event a behavioural detector watches, from the record read after `from`.
    pub fn hold_watched(&mut self, from: Position, event: Event) {
        let at = event.timestamp_micros;
        self.watched.push(Held {
            from,
            at,
            item: event,
        });
    }

    /// How many items are held.
    pub fn held(&self) -> usize {
        self.kept.len() + self.watched.len()
    }

    /// Items released before their time because too many were held.
    pub fn released_early(&self) -> u64 {
        self.released_early
    }

    /// Whether everything held should go because no record arrived for the idle period.
    pub fn idle(&self) -> bool {
        self.held() > 0 && self.last_arrival.elapsed() >= self.idle
    }

    /// The position to resume from so that every held item is read again: the start of
    /// the oldest record still held; `None` when nothing is held.
    pub fn replay_from(&self) -> Option<Position> {
        let kept = self.kept.iter().map(|h| h.from);
        let watched = self.watched.iter().map(|h| h.from);
        kept.chain(watched).min()
    }

    /// Releases what is settled (at or before the watermark less the tolerance, or
    /// without a time), everything when `all`, and the oldest beyond `max_held`.
    ///
    /// # Errors
    ///
    /// The replay buffer cannot spill to its temporary folder.
    pub fn settled(&mut self, all: bool) -> std::io::Result<Released> {
        let line = match (all, self.watermark) {
            (true, _) => i64::MAX,
            (false, Some(mark)) => mark.saturating_sub(self.tolerance_micros),
            (false, None) => i64::MIN,
        };
        let line = self.line_within_cap(line);
        let mut buffer = ReplayBuffer::default();
        let mut count = 0;
        for held in take_settled(&mut self.kept, line) {
            buffer.keep(held.item)?;
            count += 1;
        }
        for held in take_settled(&mut self.watched, line) {
            buffer.watch(held.item)?;
            count += 1;
        }
        let horizon = match line {
            i64::MAX => self.watermark,
            i64::MIN => None,
            line => Some(line),
        };
        Ok(Released {
            buffer,
            count,
            horizon,
        })
    }

    /// `line`, moved later when more than `max_held` items would stay held: then the
    /// oldest are released early, and counted.
    fn line_within_cap(&mut self, line: i64) -> i64 {
        let mut times: Vec<i64> = self
            .kept
            .iter()
            .map(|h| h.at)
            .chain(self.watched.iter().map(|h| h.at))
            .map(|at| at.unwrap_or(i64::MIN))
            .filter(|&at| at > line)
            .collect();
        if times.len() <= self.max_held {
            return line;
        }
        let excess = times.len() - self.max_held;
        times.sort_unstable();
        self.released_early += excess as u64;
        times[excess - 1]
    }
}

/// Removes and returns the items at or before `line` (untimed ones too).
fn take_settled<T>(held: &mut Vec<Held<T>>, line: i64) -> Vec<Held<T>> {
    let (settled, kept): (Vec<_>, Vec<_>) = std::mem::take(held)
        .into_iter()
        .partition(|h| h.at.is_none_or(|at| at <= line));
    *held = kept;
    settled
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at: i64) -> Event {
        Event {
            timestamp_micros: Some(at),
            ..Event::default()
        }
    }

    const SECOND: i64 = 1_000_000;

    #[test]
    fn items_wait_until_the_watermark_passes_them_by_the_tolerance() {
        let mut reorder = Reorder::new(Duration::from_secs(10), Duration::from_secs(3600), 100);
        for (from, at) in [(0, 100), (5, 95), (9, 104)] {
            reorder.saw(Some(at * SECOND));
            reorder.hold_watched(Position::new(from), event(at * SECOND));
        }
        assert_eq!(reorder.settled(false).unwrap().count, 0);
        assert_eq!(reorder.replay_from(), Some(Position::new(0)));
        reorder.saw(Some(110 * SECOND)); // the line is now 100 s
        let released = reorder.settled(false).unwrap();
        assert_eq!((released.count, released.horizon), (2, Some(100 * SECOND)));
        assert_eq!(reorder.replay_from(), Some(Position::new(9)));
        let released = reorder.settled(true).unwrap();
        assert_eq!((released.count, released.horizon), (1, Some(110 * SECOND)));
        assert_eq!((reorder.held(), reorder.replay_from()), (0, None));
    }

    #[test]
    fn past_the_cap_the_oldest_go_early_and_are_counted() {
        let mut reorder = Reorder::new(Duration::from_secs(3600), Duration::from_secs(3600), 2);
        for at in [5, 3, 4, 1] {
            reorder.saw(Some(at * SECOND));
            reorder.hold_watched(Position::new(at as u64), event(at * SECOND));
        }
        assert_eq!(reorder.settled(false).unwrap().count, 2);
        assert_eq!(reorder.released_early(), 2);
        assert_eq!(reorder.replay_from(), Some(Position::new(4)));
    }

    #[test]
    fn a_quiet_stream_releases_everything_after_the_idle_period() {
        let mut reorder = Reorder::new(Duration::from_secs(3600), Duration::ZERO, 100);
        assert!(!reorder.idle());
        reorder.saw(Some(SECOND));
        reorder.hold_watched(Position::START, event(SECOND));
        assert!(reorder.idle());
    }
}
