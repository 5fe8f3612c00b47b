//! Correlations over a scan: which rule matches to keep while events are judged (in any
//! order, on any thread), and how to replay them in time order through a [`Correlator`]
//! once every input has been read.
//!
//! Workers keep a match only when a correlation references its rule (the event is cloned
//! then, never otherwise, and slimmed to the fields something reads). After the scan the
//! kept matches are read in (timestamp, source, record, rule) order from a [`TimeSorted`]
//! buffer, which spills to disk beyond its memory budget, so the hits never depend on file
//! order or thread timing and the memory a hunt needs does not grow with its input.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;

use tocsin_correlate::{CorrelateError, CorrelationHit, Correlator, RuleName, Stats};
use tocsin_engine::{Engine, RuleId};
use tocsin_event::{Event, Field, RuleRef};
use tocsin_incident::entities::entity_field_names;
use tocsin_sigma::ast::{CorrelationRule, Metadata};

use crate::finding::{sigma_rule, RuleRefs};
use crate::hit::HitView;
use crate::repeats::{Repeats, IDENTITY_FIELDS};
use crate::spill::TimeSorted;

mod live;

/// A match of a rule some correlation references, kept until the scan is over.
#[derive(Debug, Clone, PartialEq)]
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
    /// The field names a kept match is read by (see [`Correlations::slim`]).
    read_fields: BTreeSet<String>,
    /// What a live stream's replays carry from one step to the next (see `live.rs`).
    live: live::Live,
}

/// What replaying the kept matches gave.
pub struct Replay {
    /// The visible hits, in the order the correlator raised them.
    pub hits: Vec<CorrelationHit>,
    /// The kept matches behind the visible hits, by the handle the hits name them with.
    pub matches: HashMap<u64, KeptMatch>,
    /// How many matches were kept for the replay, with a timestamp or not.
    pub kept: usize,
    /// Kept matches without a timestamp, which cannot be placed in a window.
    pub untimed: usize,
    /// Kept matches of a Windows event already met in another input (or earlier in the
    /// same), not counted again (see `repeats.rs`).
    pub repeats: usize,
    /// What the correlator left out.
    pub stats: Stats,
}

impl Correlations {
    /// Builds the correlator over every compiled rule of `engine`; invalid correlations
    /// are returned as errors and left out.
    pub fn build(rules: Vec<CorrelationRule>, engine: &Engine) -> (Self, Vec<CorrelateError>) {
        let bases: Vec<RuleName> = engine
            .rule_names()
            .map(|(id, name)| RuleName::new(id, name))
            .collect();
        let refs = rules.iter().map(|rule| sigma_rule(&rule.meta)).collect();
        let correlation_names: Vec<RuleName> =
            rules.iter().map(|rule| rule_name(&rule.meta)).collect();
        let read_fields = read_fields(&rules);
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
            read_fields,
            live: live::Live::default(),
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

    /// The copy of a matched event that is kept for the replay: only the fields the
    /// correlations group, alias or aggregate by, those that name the hit's entities, and
    /// `Computer`, with the event's origin, time and logsource. A referenced rule may match
    /// millions of events of a large log; each is kept until the replay, so the fields
    /// nothing reads are dropped.
    pub fn slim(&self, event: &Event) -> Event {
        Event {
            fields: event
                .fields
                .iter()
                .filter(|field| self.reads(field))
                .cloned()
                .collect(),
            origin: event.origin.clone(),
            timestamp_micros: event.timestamp_micros,
            logsource: event.logsource.clone(),
        }
    }

    /// Whether some reader of a kept match reads this field (by its short name or path).
    fn reads(&self, field: &Field) -> bool {
        self.read_fields.contains(&*field.path)
            || field
                .alias
                .as_deref()
                .is_some_and(|alias| self.read_fields.contains(alias))
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

    /// Feeds the kept matches to the correlator in time order and returns the visible
    /// hits with the matches behind them. Two passes over `kept`: one to find the hits, one
    /// to pick up their matches, so that only those are held in memory. Every window is
    /// closed at the end: this is the replay of a whole run (a live stream replays in steps
    /// with [`Correlations::replay_live`]).
    ///
    /// # Errors
    ///
    /// `kept` spilled to disk and cannot be read back.
    pub fn replay(&mut self, kept: &mut TimeSorted<KeptMatch>) -> io::Result<Replay> {
        let mut observed = self.observe_sorted(kept, 0, None)?;
        observed.hits.extend(self.correlator.finish());
        self.keep_visible(&mut observed.hits);
        let wanted = named_handles(&observed.hits);
        let matches = pick(kept, 0, &wanted)?;
        Ok(self.replay_of(observed, matches, kept.len()))
    }

    /// Feeds `kept` to the correlator in time order, numbering the matches from `first`,
    /// and returns the hits they raised (visible or not). A match in `fed` (the correlator
    /// holds it already) is taken out of it instead of being fed again.
    fn observe_sorted(
        &mut self,
        kept: &mut TimeSorted<KeptMatch>,
        first: u64,
        mut fed: Option<&mut HashSet<live::MatchKey>>,
    ) -> io::Result<Observed> {
        let mut observed = Observed::default();
        let mut repeats = Repeats::default();
        for (index, item) in kept.sorted()?.enumerate() {
            let item = item?;
            let Some(at) = item.event.timestamp_micros else {
                observed.untimed += 1;
                continue;
            };
            if repeats.is_repeat(at, Some(item.rule), &item.event) {
                continue;
            }
            if let Some(fed) = fed.as_deref_mut() {
                if !fed.is_empty() && fed.remove(&live::MatchKey::of(&item)) {
                    observed.repeats += 1;
                    continue;
                }
            }
            let Some(rule) = self.names.get(item.rule as usize) else {
                continue;
            };
            let handle = first + index as u64;
            observed
                .hits
                .extend(self.correlator.observe(rule, at, &item.event, handle));
        }
        observed.repeats += repeats.found();
        Ok(observed)
    }

    /// Drops the hits nobody sees: of correlations that say so, and of correlations loaded
    /// only as another's input.
    fn keep_visible(&self, hits: &mut Vec<CorrelationHit>) {
        let hidden = &self.hidden;
        hits.retain(|hit| {
            hit.visible && !hidden.get(hit.correlation.index).copied().unwrap_or(false)
        });
    }

    /// The replay's result.
    fn replay_of(
        &self,
        observed: Observed,
        matches: HashMap<u64, KeptMatch>,
        kept: usize,
    ) -> Replay {
        Replay {
            hits: observed.hits,
            matches,
            kept,
            untimed: observed.untimed,
            repeats: observed.repeats,
            stats: self.correlator.stats(),
        }
    }
}

/// What one pass of the kept matches through the correlator gave.
#[derive(Default)]
struct Observed {
    hits: Vec<CorrelationHit>,
    untimed: usize,
    repeats: usize,
}

/// The event handles the hits name (their nested hits' too).
fn named_handles(hits: &[CorrelationHit]) -> HashSet<u64> {
    hits.iter().flat_map(|hit| hit.event_handles()).collect()
}

/// The kept matches with the `wanted` handles, reading `kept` (numbered from `first`)
/// again.
fn pick(
    kept: &mut TimeSorted<KeptMatch>,
    first: u64,
    wanted: &HashSet<u64>,
) -> io::Result<HashMap<u64, KeptMatch>> {
    let mut matches = HashMap::with_capacity(wanted.len());
    if wanted.is_empty() {
        return Ok(matches);
    }
    for (index, item) in kept.sorted()?.enumerate() {
        let item = item?;
        let handle = first + index as u64;
        if wanted.contains(&handle) {
            matches.insert(handle, item.into_owned());
        }
    }
    Ok(matches)
}

/// Every field name a kept match is read by: the correlations' `group-by` fields, the
/// fields their aliases stand for and the fields they aggregate, the entity fields of
/// `tocsin-incident` (the hit's alert names its events' entities), `Computer` (the hit's
/// computer) and the rest of a Windows event's identity, so that the replay counts an event
/// read from two inputs once.
fn read_fields(rules: &[CorrelationRule]) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    for rule in rules {
        names.extend(rule.group_by.iter().cloned());
        names.extend(
            rule.aliases
                .values()
                .flat_map(|by_rule| by_rule.values().cloned()),
        );
        names.extend(rule.condition.iter().filter_map(|c| c.field.clone()));
    }
    names.extend(entity_field_names().map(str::to_owned));
    names.insert("Computer".to_owned());
    names.extend(IDENTITY_FIELDS.map(str::to_owned));
    names
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
        rules: &'a RuleRefs,
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

#[cfg(test)]
mod tests {
    use tocsin_event::Value;

    use super::*;

    #[test]
    fn a_kept_match_keeps_only_the_fields_something_reads() {
        // Issue 20, finding 17: every kept match was a whole copy of its event.
        let rule = "title: Failed\nid: 00000000-0000-4000-8000-0000000000a1\nname: failed\nlogsource: {product: windows, service: security}\ndetection:\n  sel: {EventID: 4625}\n  condition: sel\n---\ntitle: Many\ncorrelation:\n  type: value_count\n  rules: [failed]\n  group-by: [IpAddress]\n  timespan: 5m\n  condition: {field: TargetUserName, gte: 3}\n";
        let documents: Vec<_> = tocsin_sigma::parse_documents(rule, "r.yml".as_ref())
            .into_iter()
            .flatten()
            .collect();
        let (engine, _) = tocsin_engine::EngineBuilder::new().build(&documents);
        let correlations: Vec<CorrelationRule> = documents
            .into_iter()
            .filter_map(|doc| match doc {
                tocsin_sigma::ast::Document::Correlation(rule) => Some(*rule),
                _ => None,
            })
            .collect();
        let (built, errors) = Correlations::build(correlations, &engine);
        assert!(errors.is_empty(), "{errors:?}");
        let mut event = Event::default();
        for (path, alias, value) in [
            ("Event.EventData.IpAddress", "IpAddress", "203.0.113.9"),
            ("Event.EventData.TargetUserName", "TargetUserName", "erin"),
            ("Event.System.Computer", "Computer", "dc01"),
            ("Event.EventData.FailureReason", "FailureReason", "%%2313"),
            ("Event.EventData.LmPackageName", "LmPackageName", "-"),
        ] {
            event.push(path, alias, Value::from(value));
        }
        event.timestamp_micros = Some(7);
        let slim = built.slim(&event);
        let kept: Vec<&str> = slim.fields.iter().map(|f| f.name()).collect();
        assert_eq!(kept, ["IpAddress", "TargetUserName", "Computer"]);
        assert_eq!(
            (slim.timestamp_micros, &slim.origin),
            (Some(7), &event.origin)
        );
    }
}
