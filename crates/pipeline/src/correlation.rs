//! Correlations over a scan: which rule matches to keep while events are judged (in any
//! order, on any thread), and how to replay them in time order through a [`Correlator`]
//! once every input has been read.
//!
//! Workers keep a match only when a correlation references its rule (the event is cloned
//! then, never otherwise). After the scan the kept matches are sorted by (timestamp,
//! source, record, rule), so the hits never depend on file order or thread timing.

use std::sync::Arc;

use tocsin_correlate::{CorrelateError, CorrelationHit, Correlator, RuleName, Stats};
use tocsin_engine::{Engine, RuleId};
use tocsin_event::{Event, RuleRef};
use tocsin_sigma::ast::{CorrelationRule, Metadata};

use crate::finding::sigma_rule;
use crate::hit::HitView;

/// A match of a rule some correlation references, kept until the scan is over.
pub struct KeptMatch {
    /// The rule that matched.
    pub rule: RuleId,
    /// The event it matched (a clone).
    pub event: Event,
}

/// The correlations of a scan, with what the scan needs to know per rule.
pub struct Correlations {
    correlator: Correlator,
    /// The rule reference of each correlation, by its position in the list the correlator
    /// was built from (`CorrelationInfo::index`).
    rules: Vec<RuleRef>,
    /// How correlations name each rule of the engine, by rule id.
    names: Vec<RuleName>,
    /// Per rule id: whether a correlation references it (its matches must be kept).
    referenced: Vec<bool>,
    /// Per rule id: whether its detections are shown on their own (`generate`, and not
    /// loaded only as a correlation's input).
    shown: Vec<bool>,
    /// How each correlation is named, by its position (`CorrelationInfo::index`).
    correlation_names: Vec<RuleName>,
    /// By the same position: correlations loaded only as another's input, whose hits are
    /// not shown.
    hidden: Vec<bool>,
    /// Valid correlations.
    valid: usize,
}

/// What replaying the kept matches gave.
pub struct Replay {
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
        let bases: Vec<RuleName> = engine
            .rules()
            .map(|(_, info)| rule_name(&info.meta))
            .collect();
        let refs = rules.iter().map(|rule| sigma_rule(&rule.meta)).collect();
        let correlation_names: Vec<RuleName> =
            rules.iter().map(|rule| rule_name(&rule.meta)).collect();
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
            rules: refs,
            names: bases,
            referenced,
            shown,
            hidden: vec![false; correlation_names.len()],
            correlation_names,
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

    /// Hides the detections of the rules and the hits of the correlations in `input_only`
    /// (loaded only because a selected correlation references them).
    pub fn hide(&mut self, input_only: &[RuleName]) {
        let listed = |name: &RuleName| input_only.iter().any(|other| same_rule(name, other));
        for (shown, name) in self.shown.iter_mut().zip(&self.names) {
            *shown &= !listed(name);
        }
        for (hidden, name) in self.hidden.iter_mut().zip(&self.correlation_names) {
            *hidden = listed(name);
        }
    }

    /// Sorts the kept matches by time, feeds them to the correlator and returns the
    /// visible hits.
    pub fn replay(&mut self, kept: Vec<KeptMatch>) -> Replay {
        let (mut matches, untimed): (Vec<KeptMatch>, Vec<KeptMatch>) = kept
            .into_iter()
            .partition(|m| m.event.timestamp_micros.is_some());
        matches.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
        let mut hits = Vec::new();
        for (handle, kept) in matches.iter().enumerate() {
            let (Some(rule), Some(at)) = (
                self.names.get(kept.rule as usize),
                kept.event.timestamp_micros,
            ) else {
                continue;
            };
            hits.extend(
                self.correlator
                    .observe(rule, at, &kept.event, handle as u64),
            );
        }
        hits.extend(self.correlator.finish());
        let hidden = &self.hidden;
        hits.retain(|hit| {
            hit.visible && !hidden.get(hit.correlation.index).copied().unwrap_or(false)
        });
        Replay {
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

/// Whether two references name the same rule: the same id, or the same name.
fn same_rule(a: &RuleName, b: &RuleName) -> bool {
    let same = |x: &Option<String>, y: &Option<String>| x.is_some() && x == y;
    same(&a.id, &b.id) || same(&a.name, &b.name)
}

/// How correlations refer to a rule: by id or name.
fn rule_name(meta: &Metadata) -> RuleName {
    RuleName::new(meta.id.as_deref(), meta.name.as_deref())
}

impl Replay {
    /// The hits as findings, in the order the correlator raised them; `correlations` names
    /// the correlation rules, `rules` the engine's rules by id.
    pub fn hits<'a>(
        &'a self,
        correlations: &'a Correlations,
        rules: &'a [RuleRef],
    ) -> impl Iterator<Item = HitView<'a>> {
        self.hits.iter().filter_map(move |hit| {
            Some(HitView {
                hit,
                rule: correlations.rules.get(hit.correlation.index)?,
                matches: &self.matches,
                rules,
            })
        })
    }
}
