//! The per-group windows of one correlation: what each group has seen, when its window
//! closes, and when it may raise its next hit.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use tocsin_event::Fields;

use crate::aggregate::{self, Tally};
use crate::compile::{Compiled, Sample};
use crate::condition::{self, Mode};
use crate::graph::NodeId;
use crate::hit::{Contribution, CorrelationHit, Evidence, RuleName};
use crate::Stats;

/// One match held in a window.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub ts: i64,
    pub node: NodeId,
    pub sample: Sample,
    pub evidence: Evidence,
}

/// A match offered to a correlation.
pub(crate) struct Offer<'a> {
    /// The rule (or correlation) that matched.
    pub node: NodeId,
    /// When.
    pub ts: i64,
    /// The event (or the correlation hit) that matched.
    pub event: &'a dyn Fields,
    /// What to link the match to.
    pub evidence: Evidence,
}

/// The state of one group (one combination of group-by values).
#[derive(Debug, Default)]
struct Group {
    /// The matches in the window, sorted by time (equal times in arrival order).
    entries: VecDeque<Entry>,
    /// Running totals of `entries`.
    tally: Tally,
    /// The newest match time seen.
    latest: i64,
    /// [`Mode::Closing`]: when the open window started.
    opened: Option<i64>,
    /// [`Mode::Sliding`]: after a hit, matches up to this time are suppressed.
    quiet_until: Option<i64>,
    /// Share reading of `value_percentile`: values already reported and still in the
    /// window.
    reported: HashSet<Box<str>>,
}

/// Everything one correlation remembers between matches.
#[derive(Debug, Default)]
pub(crate) struct Windows {
    groups: HashMap<Vec<String>, Group>,
    /// [`Mode::Closing`]: (window end, group) for every open window.
    deadlines: BTreeSet<(i64, Vec<String>)>,
    /// When idle groups were last dropped.
    last_sweep: Option<i64>,
}

impl Windows {
    /// Adds a match and returns the hit it completes, if any. `now` is the newest time
    /// the correlator has seen (including this match).
    pub fn accept(
        &mut self,
        compiled: &Compiled,
        nodes: &[RuleName],
        offer: Offer<'_>,
        now: i64,
        stats: &mut Stats,
    ) -> Option<CorrelationHit> {
        let Some(key) = compiled.group_key(offer.node, offer.event) else {
            stats.missing_group_field += 1;
            return None;
        };
        if offer.ts < now.saturating_sub(compiled.timespan_micros) {
            stats.late += 1;
            return None;
        }
        let entry = Entry {
            ts: offer.ts,
            node: offer.node,
            sample: compiled.sample(offer.node, offer.event),
            evidence: offer.evidence,
        };
        self.sweep(compiled, now);
        match compiled.mode {
            Mode::Closing => {
                self.open(compiled, key, entry);
                None
            }
            Mode::Sliding if compiled.share_mode() => self.slide_share(compiled, nodes, key, entry),
            Mode::Sliding => self.slide(compiled, nodes, key, entry, stats),
        }
    }

    /// [`Mode::Closing`]: adds the match to the group's open window, opening one at this
    /// match if there is none. A slightly late match (older than the window's start) joins
    /// the open window.
    fn open(&mut self, compiled: &Compiled, key: Vec<String>, entry: Entry) {
        let group = self.groups.entry(key.clone()).or_default();
        if group.opened.is_none() {
            group.opened = Some(entry.ts);
            let end = entry.ts.saturating_add(compiled.timespan_micros);
            self.deadlines.insert((end, key));
        }
        insert_sorted(group, entry);
    }

    /// [`Mode::Sliding`]: checks the window of one timespan ending at the newest match.
    /// After a hit the window is emptied and the group stays quiet for one timespan, so
    /// that one burst raises one hit.
    fn slide(
        &mut self,
        compiled: &Compiled,
        nodes: &[RuleName],
        key: Vec<String>,
        entry: Entry,
        stats: &mut Stats,
    ) -> Option<CorrelationHit> {
        let group = self.groups.entry(key.clone()).or_default();
        if group.quiet_until.is_some_and(|quiet| entry.ts <= quiet) {
            stats.suppressed += 1;
            return None;
        }
        insert_sorted(group, entry);
        expire(group, compiled.timespan_micros);
        let value = aggregate::measure(
            compiled,
            group.entries.make_contiguous(),
            &group.tally,
            None,
        )?;
        if !condition::holds(&compiled.comparisons, value) {
            return None;
        }
        let end = group.latest;
        group.quiet_until = Some(end.saturating_add(compiled.timespan_micros));
        group.tally = Tally::default();
        let entries: Vec<Entry> = group.entries.drain(..).collect();
        Some(hit(compiled, nodes, key, &entries, None, end, value))
    }

    /// Share reading of `value_percentile`: checks how common this match's value is in the
    /// window. The window is kept (it is the baseline); a value is reported once while it
    /// stays in the window.
    fn slide_share(
        &mut self,
        compiled: &Compiled,
        nodes: &[RuleName],
        key: Vec<String>,
        entry: Entry,
    ) -> Option<CorrelationHit> {
        let current = entry.sample.text.clone()?;
        let group = self.groups.entry(key.clone()).or_default();
        insert_sorted(group, entry);
        expire(group, compiled.timespan_micros);
        if group.reported.contains(&current) {
            return None;
        }
        let value = aggregate::measure(
            compiled,
            group.entries.make_contiguous(),
            &group.tally,
            Some(&current),
        )?;
        if !condition::holds(&compiled.comparisons, value) {
            return None;
        }
        group.reported.insert(current.clone());
        let same: Vec<Entry> = group
            .entries
            .iter()
            .filter(|e| e.sample.text.as_deref() == Some(&*current))
            .cloned()
            .collect();
        Some(hit(compiled, nodes, key, &same, None, group.latest, value))
    }

    /// [`Mode::Closing`]: checks every window that ended before `now` (all of them when
    /// `now` is `None`) and returns the hits, oldest window first.
    pub fn close(
        &mut self,
        compiled: &Compiled,
        nodes: &[RuleName],
        now: Option<i64>,
    ) -> Vec<CorrelationHit> {
        let mut hits = Vec::new();
        while let Some((end, _)) = self.deadlines.first() {
            if now.is_some_and(|now| *end >= now) {
                break;
            }
            let Some((end, key)) = self.deadlines.pop_first() else {
                break;
            };
            let Some(mut group) = self.groups.remove(&key) else {
                continue;
            };
            let entries = group.entries.make_contiguous();
            let Some(value) = aggregate::measure(compiled, entries, &group.tally, None) else {
                continue;
            };
            if condition::holds(&compiled.comparisons, value) {
                hits.push(hit(compiled, nodes, key, entries, group.opened, end, value));
            }
        }
        hits
    }

    /// Once per timespan: forgets sliding groups idle for longer than a timespan and drops
    /// expired matches, so memory stays bounded by what one window holds.
    fn sweep(&mut self, compiled: &Compiled, now: i64) {
        if compiled.mode == Mode::Closing {
            return;
        }
        let span = compiled.timespan_micros;
        if self
            .last_sweep
            .is_some_and(|last| now.saturating_sub(last) < span)
        {
            return;
        }
        self.last_sweep = Some(now);
        let horizon = now.saturating_sub(span);
        self.groups.retain(|_, group| {
            group.latest >= horizon || group.quiet_until.is_some_and(|quiet| quiet >= now)
        });
        for group in self.groups.values_mut() {
            expire(group, span);
        }
    }

    /// Adds the event handles the held matches name (nested correlation hits' too), so
    /// that a caller replaying a live stream in steps keeps those events.
    pub fn collect_handles(&self, out: &mut HashSet<u64>) {
        for entry in self.groups.values().flat_map(|group| &group.entries) {
            match &entry.evidence {
                Evidence::Event(handle) => {
                    out.insert(*handle);
                }
                Evidence::Correlation(hit) => out.extend(hit.event_handles()),
            }
        }
    }

    /// How many groups are held (for tests of the memory bound).
    #[cfg(test)]
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }
}

/// Inserts a match after every match with the same or an earlier time.
fn insert_sorted(group: &mut Group, entry: Entry) {
    let fresh = group.entries.is_empty() && group.quiet_until.is_none();
    group.latest = if fresh {
        entry.ts
    } else {
        group.latest.max(entry.ts)
    };
    group.tally.add(&entry);
    let at = group.entries.partition_point(|e| e.ts <= entry.ts);
    group.entries.insert(at, entry);
}

/// Drops the matches older than one timespan before the group's newest match. Two
/// matches exactly one timespan apart share a window.
fn expire(group: &mut Group, span: i64) {
    let horizon = group.latest.saturating_sub(span);
    while group.entries.front().is_some_and(|e| e.ts < horizon) {
        if let Some(gone) = group.entries.pop_front() {
            group.tally.remove(&gone);
        }
    }
    let tally = &group.tally;
    group.reported.retain(|value| tally.has_text(value));
}

/// Builds a hit from the window's matches. The window starts at `start`, or at the oldest
/// match when `None`.
fn hit(
    compiled: &Compiled,
    nodes: &[RuleName],
    key: Vec<String>,
    entries: &[Entry],
    start: Option<i64>,
    end: i64,
    aggregate: f64,
) -> CorrelationHit {
    let start = start
        .or_else(|| entries.first().map(|e| e.ts))
        .unwrap_or(end);
    CorrelationHit {
        correlation: compiled.info.clone(),
        group: compiled
            .group_by
            .iter()
            .map(|field| field.name.clone())
            .zip(key)
            .collect(),
        window_start_micros: start,
        window_end_micros: end,
        aggregate,
        matches: entries
            .iter()
            .map(|e| Contribution {
                rule: nodes.get(e.node).cloned().unwrap_or_default(),
                timestamp_micros: e.ts,
                evidence: e.evidence.clone(),
            })
            .collect(),
        visible: compiled.visible,
    }
}
