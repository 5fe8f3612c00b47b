//! Correlations in `hunt`: which rule matches to keep during the parallel scan, and how to
//! replay them in time order through a [`Correlator`] once every input has been read.
//!
//! Workers keep a match only when a correlation references its rule (the event is cloned
//! then, never otherwise). After the scan the kept matches are sorted by (timestamp,
//! source, record, rule), so the hits never depend on file order or thread timing.

use std::sync::Arc;

use tocsin_correlate::{CorrelateError, CorrelationHit, Correlator, RuleRef, Stats};
use tocsin_engine::{Engine, RuleId};
use tocsin_event::Event;
use tocsin_sigma::ast::{CorrelationRule, Metadata};

/// A match of a rule some correlation references, kept until the scan is over.
pub struct KeptMatch {
    /// The rule that matched.
    pub rule: RuleId,
    /// The event it matched (a clone).
    pub event: Event,
}

/// The correlations of a hunt, with what the scan needs to know per rule.
pub struct Correlations {
    correlator: Correlator,
    /// The `ast::Metadata` of each correlation, by its position in the list the correlator
    /// was built from (`CorrelationInfo::index`).
    metas: Vec<Metadata>,
    /// Per rule id: whether a correlation references it (its matches must be kept).
    referenced: Vec<bool>,
    /// Per rule id: whether its detections are shown on their own (`generate`).
    shown: Vec<bool>,
    /// Valid correlations.
    valid: usize,
}

/// What replaying the kept matches gave.
pub struct Outcome {
    /// The visible hits, in the order the correlator raised them.
    pub hits: Vec<CorrelationHit>,
    /// The kept matches, in the order they were observed; hit handles index this list.
    pub matches: Vec<KeptMatch>,
    /// Kept matches without a timestamp, which cannot be placed in a window.
    pub untimed: usize,
    /// What the correlator left out.
    pub stats: Stats,
}

impl Correlations {
    /// Builds the correlator over every compiled rule of `engine`; invalid correlations
    /// are returned as errors and left out.
    pub fn build(rules: Vec<CorrelationRule>, engine: &Engine) -> (Self, Vec<CorrelateError>) {
        let bases: Vec<RuleRef> = engine
            .rules()
            .map(|(_, info)| rule_ref(&info.meta))
            .collect();
        let metas = rules.iter().map(|rule| rule.meta.clone()).collect();
        let total = rules.len();
        let built = Correlator::build(rules, &bases);
        let referenced = bases
            .iter()
            .map(|r| built.correlator.references(r))
            .collect();
        let shown = bases
            .iter()
            .map(|r| built.correlator.shows_alone(r))
            .collect();
        let valid = total - built.errors.len();
        let correlations = Correlations {
            correlator: built.correlator,
            metas,
            referenced,
            shown,
            valid,
        };
        (correlations, built.errors)
    }

    /// How many correlations are evaluated.
    pub fn valid(&self) -> usize {
        self.valid
    }

    /// Whether matches of `rule` must be kept for the correlations.
    pub fn keeps(&self, rule: RuleId) -> bool {
        self.referenced.get(rule as usize).copied().unwrap_or(false)
    }

    /// Whether detections of `rule` are shown on their own (see `generate` in the
    /// `tocsin-correlate` documentation).
    pub fn shows(&self, rule: RuleId) -> bool {
        self.shown.get(rule as usize).copied().unwrap_or(true)
    }

    /// The metadata of the correlation a hit came from.
    pub fn meta_of(&self, hit: &CorrelationHit) -> Option<&Metadata> {
        self.metas.get(hit.correlation.index)
    }

    /// Sorts the kept matches by time, feeds them to the correlator and returns the
    /// visible hits.
    pub fn replay(&mut self, engine: &Engine, kept: Vec<KeptMatch>) -> Outcome {
        let (mut matches, untimed): (Vec<KeptMatch>, Vec<KeptMatch>) = kept
            .into_iter()
            .partition(|m| m.event.timestamp_micros.is_some());
        matches.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
        let refs: Vec<RuleRef> = engine
            .rules()
            .map(|(_, info)| rule_ref(&info.meta))
            .collect();
        let mut hits = Vec::new();
        for (handle, kept) in matches.iter().enumerate() {
            let (Some(rule), Some(at)) =
                (refs.get(kept.rule as usize), kept.event.timestamp_micros)
            else {
                continue;
            };
            hits.extend(
                self.correlator
                    .observe(rule, at, &kept.event, handle as u64),
            );
        }
        hits.extend(self.correlator.finish());
        hits.retain(|hit| hit.visible);
        Outcome {
            hits,
            matches,
            untimed: untimed.len(),
            stats: self.correlator.stats(),
        }
    }
}

/// The order matches are replayed in: time, then file, then record, then rule.
fn sort_key(kept: &KeptMatch) -> (Option<i64>, &Arc<str>, u64, RuleId) {
    (
        kept.event.timestamp_micros,
        &kept.event.origin.source,
        kept.event.origin.record,
        kept.rule,
    )
}

/// How correlations refer to a rule: by id or name.
fn rule_ref(meta: &Metadata) -> RuleRef {
    RuleRef::new(meta.id.as_deref(), meta.name.as_deref())
}
