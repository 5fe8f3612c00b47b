//! Correlations over a live stream, replayed in steps: a service settles a few seconds of
//! events at a time and replays them, so a correlation's window spans many replays, and
//! must outlive a restart and a rule reload.
//!
//! Three things differ from the replay of a whole run:
//! * no window is closed because a step ended (only those that ended before the event time
//!   everything has been replayed up to);
//! * the matches are numbered across steps, never twice the same, and the ones that open
//!   windows still hold are kept, so that a hit in a later step names its earlier events;
//! * those kept matches are the state saved ([`Correlations::live_state`]): a restarted
//!   service (or a new rule set) feeds them to its correlator again
//!   ([`Correlations::resume_live`]) and its windows hold what they held. After a crash the
//!   service reads again the records after its committed position, some of whose matches
//!   the saved windows already hold: those are recognised (by source, record and rule) and
//!   not counted twice. A group that raised a hit just before the save is not quiet after
//!   the restart (its window had been emptied by the hit), so a burst that goes on may
//!   raise one more hit.

use std::collections::{HashMap, HashSet};
use std::io;

use serde::{Deserialize, Serialize};
use tocsin_correlate::RuleName;

use super::{named_handles, pick, same_rule, Correlations, KeptMatch, Replay};
use crate::spill::{decode_items, encode_items, TimeSorted};

/// What a live stream's replays carry from one step to the next.
#[derive(Default)]
pub(super) struct Live {
    /// The handle the next replay's first match gets.
    next_handle: u64,
    /// The matches open windows hold, by handle.
    retained: HashMap<u64, KeptMatch>,
    /// The matches a resumed state fed to the correlator, until they are read again.
    resumed: HashSet<MatchKey>,
}

/// What names a match across a restart: its event's source and record, and its rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct MatchKey {
    source: std::sync::Arc<str>,
    record: u64,
    rule: u32,
}

impl MatchKey {
    /// The key of `kept`.
    pub(crate) fn of(kept: &KeptMatch) -> MatchKey {
        MatchKey {
            source: std::sync::Arc::clone(&kept.event.origin.source),
            record: kept.event.origin.record,
            rule: kept.rule,
        }
    }
}

/// The first line of a saved state: its version and the rules its matches name, by their
/// position here (rule ids differ between rule sets).
#[derive(Serialize, Deserialize)]
struct StateHeader {
    version: u32,
    rules: Vec<(Option<String>, Option<String>)>,
}

/// The version [`Correlations::live_state`] writes.
const STATE_VERSION: u32 = 1;

impl Correlations {
    /// Feeds the kept matches of one step of a live stream to the correlator in time order
    /// and returns the visible hits with the matches behind them, from this step or an
    /// earlier one. Windows stay open across steps; those that ended before `horizon` (the
    /// event time up to which everything has been replayed) close.
    ///
    /// # Errors
    ///
    /// `kept` spilled to disk and cannot be read back.
    pub fn replay_live(
        &mut self,
        kept: &mut TimeSorted<KeptMatch>,
        horizon: Option<i64>,
    ) -> io::Result<Replay> {
        let first = self.live.next_handle;
        let mut resumed = std::mem::take(&mut self.live.resumed);
        let observed = self.observe_sorted(kept, first, Some(&mut resumed));
        self.live.resumed = resumed;
        let mut observed = observed?;
        self.live.next_handle = first + kept.len() as u64;
        if let Some(horizon) = horizon {
            observed.hits.extend(self.correlator.flush(horizon));
        }
        self.keep_visible(&mut observed.hits);
        let named = named_handles(&observed.hits);
        let held = self.correlator.held_handles();
        let wanted = named
            .iter()
            .chain(&held)
            .copied()
            .filter(|&handle| handle >= first)
            .collect();
        let mut fresh = pick(kept, first, &wanted)?;
        let matches = named
            .iter()
            .filter_map(|handle| {
                let found = fresh.get(handle).or_else(|| self.live.retained.get(handle));
                found.map(|kept| (*handle, kept.clone()))
            })
            .collect();
        self.retain(&held, &mut fresh);
        Ok(self.replay_of(observed, matches, kept.len()))
    }

    /// Keeps the matches the open windows hold (`held`): the earlier ones still held, and
    /// those of `fresh`.
    fn retain(&mut self, held: &HashSet<u64>, fresh: &mut HashMap<u64, KeptMatch>) {
        self.live.retained.retain(|handle, _| held.contains(handle));
        for handle in held {
            if let Some(kept) = fresh.remove(handle) {
                self.live.retained.insert(*handle, kept);
            }
        }
    }

    /// How many matches the open windows hold.
    pub fn live_matches(&self) -> usize {
        self.live.retained.len()
    }

    /// The matches the open windows hold, oldest first, with the rules they matched named
    /// (not numbered), self-contained: saved by a live service, read back by
    /// [`Correlations::resume_live`].
    ///
    /// # Errors
    ///
    /// A match holds a string over 4 GiB.
    pub fn live_state(&self) -> io::Result<Vec<u8>> {
        let mut held: Vec<(&u64, &KeptMatch)> = self.live.retained.iter().collect();
        held.sort_unstable_by_key(|(handle, _)| **handle);
        let mut header = StateHeader {
            version: STATE_VERSION,
            rules: Vec::new(),
        };
        let mut positions: HashMap<u32, u32> = HashMap::new();
        let mut items = Vec::with_capacity(held.len());
        for (_, kept) in held {
            let position = *positions.entry(kept.rule).or_insert_with(|| {
                let name = self.names.get(kept.rule as usize).cloned();
                let name = name.unwrap_or_default();
                header.rules.push((name.id, name.name));
                header.rules.len() as u32 - 1
            });
            items.push(KeptMatch {
                rule: position,
                event: kept.event.clone(),
            });
        }
        let mut out = serde_json::to_vec(&header).map_err(io::Error::other)?;
        out.push(b'\n');
        out.extend(encode_items(&items)?);
        Ok(out)
    }

    /// Feeds the matches of a saved [`Correlations::live_state`] to the correlator again,
    /// discarding the hits (they were raised before the save), so that the windows hold
    /// what they held. Matches of rules this set does not have are left out. Returns how
    /// many matches the windows hold now.
    ///
    /// # Errors
    ///
    /// The state is damaged or of another version (`InvalidData`).
    pub fn resume_live(&mut self, state: &[u8]) -> io::Result<usize> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
        let end = state
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| invalid("saved correlation windows without a header".into()))?;
        let header: StateHeader = serde_json::from_slice(&state[..end])
            .map_err(|e| invalid(format!("saved correlation windows: {e}")))?;
        if header.version != STATE_VERSION {
            return Err(invalid(format!(
                "saved correlation windows of version {}, this tocsin reads {STATE_VERSION}",
                header.version
            )));
        }
        let items: Vec<KeptMatch> = decode_items(&state[end + 1..])?;
        let rules: Vec<Option<u32>> = header
            .rules
            .into_iter()
            .map(|(id, name)| self.rule_id(&RuleName { id, name }))
            .collect();
        let mut resumed = HashMap::new();
        for item in items {
            let Some(Some(rule)) = rules.get(item.rule as usize).copied() else {
                continue;
            };
            let (Some(at), Some(name)) =
                (item.event.timestamp_micros, self.names.get(rule as usize))
            else {
                continue;
            };
            let handle = self.live.next_handle;
            self.live.next_handle += 1;
            let _raised_before_the_save = self.correlator.observe(name, at, &item.event, handle);
            let item = KeptMatch { rule, ..item };
            self.live.resumed.insert(MatchKey::of(&item));
            resumed.insert(handle, item);
        }
        let held = self.correlator.held_handles();
        self.retain(&held, &mut resumed);
        Ok(self.live.retained.len())
    }

    /// This set's id of the rule `name` names, if it has it: by id first, then by name.
    fn rule_id(&self, name: &RuleName) -> Option<u32> {
        let by_id = name.id.as_ref().and_then(|id| {
            self.names
                .iter()
                .position(|other| other.id.as_ref() == Some(id))
        });
        by_id
            .or_else(|| self.names.iter().position(|other| same_rule(other, name)))
            .map(|index| index as u32)
    }
}

#[cfg(test)]
mod tests {
    use tocsin_event::{Event, Origin, Value};
    use tocsin_sigma::ast::{CorrelationRule, Document};

    use super::*;

    const RULES: &str = "title: Failed\nid: 00000000-0000-4000-8000-0000000000a1\nname: failed\nlogsource: {product: windows, service: security}\ndetection:\n  sel: {EventID: 4625}\n  condition: sel\n---\ntitle: Many\ncorrelation:\n  type: value_count\n  rules: [failed]\n  group-by: [IpAddress]\n  timespan: 5m\n  condition: {field: TargetUserName, gte: 3}\n";

    fn correlations() -> Correlations {
        let documents: Vec<_> = tocsin_sigma::parse_documents(RULES, "r.yml".as_ref())
            .into_iter()
            .flatten()
            .collect();
        let (engine, _) = tocsin_engine::EngineBuilder::new().build(&documents);
        let rules: Vec<CorrelationRule> = documents
            .into_iter()
            .filter_map(|doc| match doc {
                Document::Correlation(rule) => Some(*rule),
                _ => None,
            })
            .collect();
        let (built, errors) = Correlations::build(rules, &engine);
        assert!(errors.is_empty(), "{errors:?}");
        built
    }

    /// A failed logon of `user` from one address, `seconds` into the stream.
    fn failed(user: &str, seconds: i64) -> KeptMatch {
        let mut event = Event::default();
        event.push(
            "Event.EventData.IpAddress",
            "IpAddress",
            Value::from("203.0.113.9"),
        );
        event.push(
            "Event.EventData.TargetUserName",
            "TargetUserName",
            Value::from(user),
        );
        event.timestamp_micros = Some(seconds * 1_000_000);
        event.origin = Origin {
            source: "security.evtx".into(),
            record: seconds as u64,
        };
        KeptMatch { rule: 0, event }
    }

    /// Replays one step of a live stream; the users of each hit's matches.
    fn step(correlations: &mut Correlations, kept: Vec<KeptMatch>) -> Vec<Vec<String>> {
        let mut buffer = TimeSorted::new(1 << 20);
        for item in kept {
            buffer.push(item).unwrap();
        }
        let replay = correlations.replay_live(&mut buffer, None).unwrap();
        replay
            .hits
            .iter()
            .map(|hit| {
                let mut users: Vec<String> = hit
                    .event_handles()
                    .iter()
                    .map(|handle| {
                        let event = &replay.matches[handle].event;
                        event.text("TargetUserName").unwrap_or_default().to_string()
                    })
                    .collect();
                users.sort();
                users
            })
            .collect()
    }

    #[test]
    fn a_window_spans_steps_and_its_hit_names_the_events_of_each() {
        let mut live = correlations();
        assert!(step(&mut live, vec![failed("ann", 10)]).is_empty());
        assert!(step(&mut live, vec![failed("bob", 20)]).is_empty());
        assert_eq!(live.live_matches(), 2);
        let hits = step(&mut live, vec![failed("cat", 30)]);
        assert_eq!(hits, [["ann", "bob", "cat"]]);
    }

    #[test]
    fn saved_windows_reopen_in_another_correlator() {
        let mut before = correlations();
        step(&mut before, vec![failed("ann", 10), failed("bob", 20)]);
        let state = before.live_state().unwrap();
        let mut after = correlations();
        assert_eq!(after.resume_live(&state).unwrap(), 2);
        let hits = step(&mut after, vec![failed("cat", 30)]);
        assert_eq!(hits, [["ann", "bob", "cat"]]);
        // Outside the five-minute window, the saved matches count for nothing.
        let mut late = correlations();
        late.resume_live(&state).unwrap();
        assert!(step(&mut late, vec![failed("cat", 400)]).is_empty());
    }

    #[test]
    fn matches_read_again_after_a_crash_are_not_counted_twice() {
        let mut before = correlations();
        step(&mut before, vec![failed("ann", 10), failed("bob", 20)]);
        let state = before.live_state().unwrap();
        let mut after = correlations();
        after.resume_live(&state).unwrap();
        // The records after the committed position are read again: bob's match is one the
        // saved windows hold.
        assert!(step(&mut after, vec![failed("bob", 20)]).is_empty());
        assert_eq!(after.live_matches(), 2);
        let hits = step(&mut after, vec![failed("cat", 30)]);
        assert_eq!(hits, [["ann", "bob", "cat"]]);
    }

    #[test]
    fn damaged_state_is_refused_with_a_reason() {
        let mut live = correlations();
        step(&mut live, vec![failed("ann", 10)]);
        let state = live.live_state().unwrap();
        for cut in [0, 5, state.len() - 3] {
            let error = correlations().resume_live(&state[..cut]).unwrap_err();
            assert!(
                matches!(
                    error.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                ),
                "{cut}: {error}"
            );
        }
        let other = String::from_utf8_lossy(&state).replacen("\"version\":1", "\"version\":9", 1);
        let error = correlations().resume_live(other.as_bytes()).unwrap_err();
        assert!(error.to_string().contains("version 9"), "{error}");
    }
}
