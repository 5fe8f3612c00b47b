//! Windows events that a hunt reads twice, from inputs that overlap without being the same
//! file: a host's logs collected by two triage runs, a sample cut from a log beside the
//! log itself, a channel exported twice a week apart. Each copy is a detection of its own
//! file, as a per-file hunter reports it, and the store keys both as one alert (by the
//! event's identity). A correlation must count the event once, though, or one set of failed
//! logons fires "Successful Logon After Repeated Failures" by itself.
//!
//! The replays see events in time order, so the copies of one event come together: they
//! share its time. [`Repeats`] remembers the identities met at the current time only, so
//! its memory stays as small as the events of one instant, and the first copy in replay
//! order (the lowest source path) is the one counted, whatever the thread timing.
//!
//! An event's identity is the one Windows gives it ([`EventIdentity::Windows`]: computer,
//! channel, record number), with its time to the microsecond, so that a log cleared and
//! refilled, whose record numbers start again, is not mistaken for its earlier export.
//! (Copies whose times were written at different precisions, such as an export rounded to
//! milliseconds, are not recognised, and count twice as before.) Events without that
//! identity (syslog lines, plain JSON) are never dropped: two equal lines may be two acts.
//!
//! The identities of one instant are held as 128-bit digests, at most [`MAX_AT_ONE_TIME`]
//! of them: past that (a hostile log putting millions of events at one microsecond), the
//! copies are counted as distinct events, as before this check existed.

use std::hash::BuildHasher;

use tocsin_event::Event;
use tocsin_incident::EventIdentity;

/// The most identities held for one instant (16 bytes each).
pub(crate) const MAX_AT_ONE_TIME: usize = 1 << 20;

/// The fields a kept event needs for [`Repeats`] to know it: `Computer` is kept anyway.
pub(crate) const IDENTITY_FIELDS: [&str; 2] = ["Channel", "EventRecordID"];

/// The Windows events already met, at the time of the replay's latest event.
#[derive(Debug, Default)]
pub(crate) struct Repeats {
    /// The time these identities were met at.
    at: Option<i64>,
    /// The digests of the identities met at `at`, each with what met them (a rule, or
    /// nothing for a watched event).
    seen: foldhash::HashSet<u128>,
    /// Two independently seeded hashers, whose outputs make a digest; seeded at random,
    /// so that no log can be written to collide with another event.
    hashers: (
        foldhash::quality::RandomState,
        foldhash::quality::RandomState,
    ),
    /// How many repeats were found.
    found: usize,
}

impl Repeats {
    /// Whether `event`, met at `at` by `rule` (`None` for an event the behavioural
    /// detectors watch), is a copy of an event already met; counts it if so. Calls must
    /// come in time order.
    pub(crate) fn is_repeat(&mut self, at: i64, rule: Option<u32>, event: &Event) -> bool {
        let identity = EventIdentity::of(event);
        if !matches!(identity, EventIdentity::Windows { .. }) {
            return false;
        }
        if self.at != Some(at) {
            self.at = Some(at);
            self.seen.clear();
        }
        let digest = |state: &foldhash::quality::RandomState| state.hash_one((rule, &identity));
        let key = (u128::from(digest(&self.hashers.0)) << 64) | u128::from(digest(&self.hashers.1));
        if self.seen.contains(&key) {
            self.found += 1;
            return true;
        }
        if self.seen.len() < MAX_AT_ONE_TIME {
            self.seen.insert(key);
        }
        false
    }

    /// How many copies were found.
    pub(crate) fn found(&self) -> usize {
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_event::Value;

    /// A Security event of `computer` with record number `record`, read from `source`.
    fn windows(computer: &str, record: i64, source: &str) -> Event {
        let mut event = Event::default();
        event.push("Event.System.Computer", "Computer", Value::from(computer));
        event.push("Event.System.Channel", "Channel", Value::from("Security"));
        event.push(
            "Event.System.EventRecordID",
            "EventRecordID",
            Value::Int(record),
        );
        event.origin.source = source.into();
        event
    }

    #[test]
    fn a_windows_event_counts_once_whatever_input_brings_it() {
        let mut repeats = Repeats::default();
        assert!(!repeats.is_repeat(10, Some(1), &windows("WS01", 7, "a.evtx")));
        assert!(repeats.is_repeat(10, Some(1), &windows("ws01", 7, "b.evtx")));
        // Another rule's match of it, another record, another computer: not repeats.
        assert!(!repeats.is_repeat(10, Some(2), &windows("WS01", 7, "b.evtx")));
        assert!(!repeats.is_repeat(10, Some(1), &windows("WS01", 8, "b.evtx")));
        assert!(!repeats.is_repeat(10, Some(1), &windows("WS02", 7, "b.evtx")));
        // The log cleared and refilled: record 7 again, at another time, is another event.
        assert!(!repeats.is_repeat(20, Some(1), &windows("WS01", 7, "c.evtx")));
        assert!(repeats.is_repeat(20, Some(1), &windows("WS01", 7, "d.evtx")));
        assert_eq!(repeats.found(), 2);
    }

    #[test]
    fn events_without_a_windows_identity_are_never_repeats() {
        let mut repeats = Repeats::default();
        let mut line = Event::default();
        line.push("message", "message", Value::from("Accepted password for a"));
        assert!(!repeats.is_repeat(10, None, &line));
        assert!(!repeats.is_repeat(10, None, &line));
        assert_eq!(repeats.found(), 0);
    }
}
