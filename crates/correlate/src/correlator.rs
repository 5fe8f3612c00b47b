//! The public entry point: feeds matches to the correlations that reference them and
//! passes correlation hits on to the correlations that reference those.

use std::sync::Arc;

use tocsin_event::Fields;
use tocsin_sigma::ast::CorrelationRule;

use crate::compile::Compiled;
use crate::error::CorrelateError;
use crate::graph::{Graph, NodeId};
use crate::hit::{CorrelationHit, Evidence, RuleName};
use crate::window::{Offer, Windows};
use crate::Stats;

/// Evaluates a set of correlation rules over a time-ordered stream of rule matches.
#[derive(Debug)]
pub struct Correlator {
    graph: Graph,
    /// The valid correlations (a slot is a position here), each after the
    /// correlations it references.
    compiled: Vec<Compiled>,
    windows: Vec<Windows>,
    /// Per node: the positions in `compiled` of the correlations referencing it.
    consumers: Vec<Vec<usize>>,
    /// Per node: whether its own detections are shown (see [`Correlator::shows_alone`]).
    shown: Vec<bool>,
    /// The newest time seen.
    now: Option<i64>,
    stats: Stats,
}

/// A correlator built from rules some of which were invalid, and why they were.
#[derive(Debug)]
pub struct Built {
    /// The correlator, evaluating the valid correlations.
    pub correlator: Correlator,
    /// One error per invalid correlation (left out of the correlator).
    pub errors: Vec<CorrelateError>,
}

impl Correlator {
    /// Builds a correlator, failing on the first invalid correlation.
    ///
    /// `base_rules` are the id/name of every detection rule whose matches may be observed;
    /// references are resolved against them and against the correlations themselves.
    pub fn new(
        correlations: Vec<CorrelationRule>,
        base_rules: &[RuleName],
    ) -> Result<Correlator, CorrelateError> {
        let built = Self::build(correlations, base_rules);
        match built.errors.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(built.correlator),
        }
    }

    /// Builds a correlator from the valid correlations and reports the invalid ones
    /// (unknown or ambiguous references, aliases for unreferenced rules, reference cycles,
    /// and correlations referencing an invalid correlation), so that one broken rule does
    /// not stop the others.
    pub fn build(correlations: Vec<CorrelationRule>, base_rules: &[RuleName]) -> Built {
        let (graph, errors) = Graph::build(&correlations, base_rules);
        let shown = shown_nodes(&graph, &correlations);
        let mut compiled = Vec::new();
        let mut consumers = vec![Vec::new(); graph.nodes.len()];
        for index in graph.children_first() {
            let rule = &correlations[index];
            let Some(resolved) = &graph.resolved[index] else {
                continue;
            };
            let node = graph.correlation_node(index);
            let mut referenced = resolved.rules.clone();
            referenced.sort_unstable();
            referenced.dedup();
            for child in referenced {
                consumers[child].push(compiled.len());
            }
            compiled.push(Compiled::new(index, rule, resolved, node, shown[node]));
        }
        let windows = compiled.iter().map(|_| Windows::default()).collect();
        Built {
            correlator: Correlator {
                graph,
                compiled,
                windows,
                consumers,
                shown,
                now: None,
                stats: Stats::default(),
            },
            errors,
        }
    }

    /// Whether a valid correlation references this rule, that is whether its matches
    /// need to be observed at all.
    pub fn references(&self, rule: &RuleName) -> bool {
        self.graph
            .lookup(rule)
            .is_some_and(|node| !self.consumers[node].is_empty())
    }

    /// Whether the rule's own detections should be shown to the analyst, per `generate`:
    /// `false` when valid correlations reference it and none of them says
    /// `generate: true` (the specification's default: only the correlation is output).
    /// Rules no correlation references are always shown.
    pub fn shows_alone(&self, rule: &RuleName) -> bool {
        self.graph.lookup(rule).is_none_or(|node| self.shown[node])
    }

    /// Feeds one match of a rule: `timestamp_micros` is the event time, `event` its
    /// fields, `handle` what the caller wants hits to point back to (for example the
    /// event's index). Returns the hits this match completes, including hits of
    /// correlations of correlations and of windows that closed because time advanced,
    /// oldest first. Matches of rules no correlation references are ignored.
    pub fn observe(
        &mut self,
        rule: &RuleName,
        timestamp_micros: i64,
        event: &dyn Fields,
        handle: u64,
    ) -> Vec<CorrelationHit> {
        let Some(node) = self.graph.lookup(rule) else {
            return Vec::new();
        };
        if self.consumers[node].is_empty() {
            return Vec::new();
        }
        let now = self
            .now
            .map_or(timestamp_micros, |now| now.max(timestamp_micros));
        let mut hits = Vec::new();
        // Windows that ended before this match close first, their hits passed on at their
        // own time, before the clock moves on.
        self.close_windows(Some(now), &mut hits);
        self.now = Some(now);
        let offer = Offer {
            node,
            ts: timestamp_micros,
            event,
            evidence: Evidence::Event(handle),
        };
        self.feed(offer, &mut hits);
        hits
    }

    /// Closes the windows that ended before `now` (for `lt`/`lte`/`eq`/`neq` conditions on
    /// counts and sums, see the crate documentation) and returns their hits. For a live
    /// stream, call it when the clock advances without matches.
    pub fn flush(&mut self, now: i64) -> Vec<CorrelationHit> {
        let now = self.now.map_or(now, |seen| seen.max(now));
        let mut hits = Vec::new();
        self.close_windows(Some(now), &mut hits);
        self.now = Some(now);
        hits
    }

    /// Ends the input: closes every open window, complete or not, and returns the hits.
    pub fn finish(&mut self) -> Vec<CorrelationHit> {
        let mut hits = Vec::new();
        self.close_windows(None, &mut hits);
        hits
    }

    /// The event handles the open windows still hold (nested hits' included): a live
    /// caller that replays its stream in steps must keep those events, since a later hit
    /// may name them.
    pub fn held_handles(&self) -> std::collections::HashSet<u64> {
        let mut handles = std::collections::HashSet::new();
        for windows in &self.windows {
            windows.collect_handles(&mut handles);
        }
        handles
    }

    /// Counts of matches that were ignored, dropped or suppressed so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// How many groups all correlations hold (to test the memory bound).
    #[cfg(test)]
    pub(crate) fn held_groups(&self) -> usize {
        self.windows.iter().map(Windows::group_count).sum()
    }

    /// Checks the closing windows of every correlation (children before the parents they
    /// feed, since a child's hit may open a parent's window).
    fn close_windows(&mut self, now: Option<i64>, hits: &mut Vec<CorrelationHit>) {
        for slot in 0..self.compiled.len() {
            self.close_slot(slot, now, hits);
        }
    }

    /// Checks the closing windows of one correlation that ended before `now` (all when
    /// `None`), and passes their hits on.
    fn close_slot(&mut self, slot: usize, now: Option<i64>, hits: &mut Vec<CorrelationHit>) {
        let closed = self.windows[slot].close(&self.compiled[slot], &self.graph.nodes, now);
        for hit in closed {
            self.emit(slot, hit, hits);
        }
    }

    /// Offers a match to every correlation referencing its rule.
    fn feed(&mut self, offer: Offer<'_>, hits: &mut Vec<CorrelationHit>) {
        let now = self.now.map_or(offer.ts, |now| now.max(offer.ts));
        self.now = Some(now);
        for slot in self.consumers[offer.node].clone() {
            let offer = Offer {
                evidence: offer.evidence.clone(),
                ..offer
            };
            self.close_slot(slot, Some(now), hits);
            let compiled = &self.compiled[slot];
            let hit =
                self.windows[slot].accept(compiled, &self.graph.nodes, offer, now, &mut self.stats);
            if let Some(hit) = hit {
                self.emit(slot, hit, hits);
            }
        }
    }

    /// Outputs a hit and feeds it, as a match of its correlation, to the correlations
    /// referencing that one.
    fn emit(&mut self, slot: usize, hit: CorrelationHit, hits: &mut Vec<CorrelationHit>) {
        let hit = Arc::new(hit);
        hits.push(CorrelationHit::clone(&hit));
        let node: NodeId = self.compiled[slot].node;
        if self.consumers[node].is_empty() {
            return;
        }
        let offer = Offer {
            node,
            ts: hit.window_end_micros,
            event: &*hit,
            evidence: Evidence::Correlation(hit.clone()),
        };
        self.feed(offer, hits);
    }
}

/// Per node, whether its own detections are shown: unless valid correlations reference
/// it and none has `generate: true`.
fn shown_nodes(graph: &Graph, correlations: &[CorrelationRule]) -> Vec<bool> {
    let mut referenced = vec![false; graph.nodes.len()];
    let mut generated = vec![false; graph.nodes.len()];
    for (index, rule) in correlations.iter().enumerate() {
        for &node in graph.resolved[index].iter().flat_map(|r| r.rules.iter()) {
            referenced[node] = true;
            generated[node] |= rule.generate;
        }
    }
    referenced
        .iter()
        .zip(&generated)
        .map(|(&referenced, &generated)| !referenced || generated)
        .collect()
}
