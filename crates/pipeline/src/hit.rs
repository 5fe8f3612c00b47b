//! [`HitView`]: a correlation hit with what is needed to describe it, as an output line
//! ([`DetectionRecord`]) and as an [`Alert`].
//!
//! A hit fills the detection columns this way: `timestamp` is the newest contributing match, `computer` the
//! group-by value of a `Computer`-like field (or the computer all events share),
//! `channel`/`event_id` are empty, `record_id` is 0, `source` lists the contributing
//! files, and `details` holds the correlation type, the group-by values, the window, the
//! aggregate and the number of events.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value as Json};
use tocsin_correlate::CorrelationHit;
use tocsin_event::time::format_machine;
use tocsin_event::{Event, RuleRef, Value};
use tocsin_incident::{extract_entities, Alert, AlertKind, AlertOrigin, Entity};
use tocsin_output::DetectionRecord;
use tocsin_sigma::ast::CorrelationType;

use crate::correlation::KeptMatch;
use crate::finding::RuleRefs;

/// At most this many contributing events are listed in a correlation alert's evidence.
const MAX_LISTED_EVENTS: usize = 40;

/// Group-by field names that name the computer a hit is about.
const COMPUTER_FIELDS: [&str; 4] = ["computer", "computername", "hostname", "host"];

/// A hit with what is needed to describe it.
pub struct HitView<'a> {
    /// The hit.
    pub hit: &'a CorrelationHit,
    /// The correlation rule that raised it.
    pub rule: &'a RuleRef,
    /// The kept matches the hit's event handles name.
    pub matches: &'a HashMap<u64, KeptMatch>,
    /// The rules of the engine by rule id, to name the contributing rules.
    pub rules: &'a RuleRefs,
}

impl HitView<'_> {
    /// The events behind the hit, oldest first (nested correlations included).
    fn events(&self) -> Vec<&KeptMatch> {
        self.hit
            .event_handles()
            .into_iter()
            .filter_map(|handle| self.matches.get(&handle))
            .collect()
    }

    /// The correlation rule that raised the hit.
    pub fn rule(&self) -> &RuleRef {
        self.rule
    }

    /// The title of a contributing rule.
    fn title_of(&self, kept: &KeptMatch) -> &str {
        self.rules
            .get(kept.rule)
            .map_or("unknown rule", |rule| rule.title.as_str())
    }

    /// When the hit happened: its newest contributing match.
    fn timestamp(&self) -> i64 {
        self.hit
            .matches
            .iter()
            .map(|m| m.timestamp_micros)
            .max()
            .unwrap_or(self.hit.window_end_micros)
    }

    /// The detection line of the hit (see the module documentation).
    pub fn record(&self) -> DetectionRecord {
        let rule = self.rule;
        let events = self.events();
        DetectionRecord {
            timestamp: format_machine(self.timestamp()),
            computer: self.computer(&events),
            channel: None,
            event_id: None,
            record_id: 0,
            rule_id: Some(rule.id.clone()),
            rule_title: rule.title.clone(),
            level: rule.level.as_str().to_owned(),
            tags: rule.tags.clone(),
            author: rule.author.clone(),
            source: sources(&events).join(", "),
            details: self.details(&events).into(),
        }
    }

    /// The alert stored for the hit: entities from its group-by values and its events,
    /// evidence from its details and the list of its events. Its key derives from the
    /// correlation, the first contributing event and the hit's time, so a rerun of the
    /// same hunt gives the same key.
    pub fn alert(&self) -> Alert {
        let events = self.events();
        let origin = events
            .first()
            .map_or_else(AlertOrigin::default, |first| AlertOrigin {
                source: first.event.origin.source.to_string(),
                record: first.event.origin.record,
            });
        let mut evidence: Vec<(String, String)> = self
            .details(&events)
            .into_iter()
            .map(|(key, value)| (key, json_text(&value)))
            .collect();
        evidence.extend(
            events
                .iter()
                .take(MAX_LISTED_EVENTS)
                .enumerate()
                .map(|(n, kept)| (format!("event {}", n + 1), self.describe(kept))),
        );
        let alert = Alert::new(
            AlertKind::Correlation,
            self.rule.clone(),
            origin,
            Some(self.timestamp()),
            self.entities(&events),
            evidence,
        );
        match events.first() {
            Some(first) => alert.keyed_by(&first.event),
            None => alert,
        }
    }

    /// The hosts, users, ... named by the group-by values and by the events.
    fn entities(&self, events: &[&KeptMatch]) -> Vec<Entity> {
        let mut group = Event::default();
        for (field, value) in &self.hit.group {
            group.push(field, field, Value::from(value.as_str()));
        }
        let mut found: BTreeSet<Entity> = extract_entities(&group).into_iter().collect();
        for kept in events {
            found.extend(extract_entities(&kept.event));
        }
        found.into_iter().collect()
    }

    fn computer(&self, events: &[&KeptMatch]) -> Option<String> {
        let grouped = self
            .hit
            .group
            .iter()
            .find(|(field, _)| COMPUTER_FIELDS.contains(&field.to_ascii_lowercase().as_str()));
        if let Some((_, value)) = grouped {
            return Some(value.clone());
        }
        let computers: BTreeSet<String> = events
            .iter()
            .filter_map(|k| k.event.text("Computer"))
            .collect();
        (computers.len() == 1)
            .then(|| computers.into_iter().next())
            .flatten()
    }

    fn details(&self, events: &[&KeptMatch]) -> Map<String, Json> {
        let hit = self.hit;
        let mut details = Map::new();
        details.insert("correlation".into(), hit.correlation.kind.name().into());
        for (field, value) in &hit.group {
            details.insert(field.clone(), value.clone().into());
        }
        let window = format!(
            "{} .. {}",
            format_machine(hit.window_start_micros).unwrap_or_default(),
            format_machine(hit.window_end_micros).unwrap_or_default()
        );
        details.insert("window".into(), window.into());
        details.insert(
            aggregate_name(hit.correlation.kind).into(),
            number(hit.aggregate),
        );
        details.insert("events".into(), events.len().into());
        let rules: BTreeSet<&str> = events.iter().map(|k| self.title_of(k)).collect();
        details.insert(
            "rules".into(),
            rules.into_iter().collect::<Vec<_>>().join(", ").into(),
        );
        details
    }

    /// One line about a contributing event: when, which rule, where it was read.
    fn describe(&self, kept: &KeptMatch) -> String {
        let when = kept
            .event
            .timestamp_micros
            .and_then(format_machine)
            .unwrap_or_else(|| "-".into());
        format!(
            "{when} {} ({} record {})",
            self.title_of(kept),
            kept.event.origin.source,
            kept.event.origin.record
        )
    }
}

/// The distinct files the events were read from, sorted.
fn sources(events: &[&KeptMatch]) -> Vec<String> {
    let set: BTreeSet<&str> = events.iter().map(|k| &*k.event.origin.source).collect();
    set.into_iter().map(str::to_owned).collect()
}

/// What a correlation type's aggregate is, as a details key.
fn aggregate_name(kind: CorrelationType) -> &'static str {
    match kind {
        CorrelationType::EventCount => "count",
        CorrelationType::ValueCount => "distinct_values",
        CorrelationType::Temporal | CorrelationType::TemporalOrdered => "rules_seen",
        CorrelationType::ValueSum => "sum",
        CorrelationType::ValueAvg => "average",
        CorrelationType::ValuePercentile => "percentile",
    }
}

/// A whole number as an integer, anything else as a float (or null when not finite).
fn number(value: f64) -> Json {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        Json::from(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Json::Null, Json::Number)
    }
}

/// JSON text without the quotes of a string.
fn json_text(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_aggregates_print_as_integers() {
        assert_eq!(number(5.0), Json::from(5));
        assert_eq!(number(2.5), Json::from(2.5));
        assert_eq!(number(f64::NAN), Json::Null);
    }

    #[test]
    fn every_type_has_its_sigma_name() {
        assert_eq!(CorrelationType::ValuePercentile.name(), "value_percentile");
        assert_eq!(
            aggregate_name(CorrelationType::ValueCount),
            "distinct_values"
        );
    }
}
