//! The demo's pipeline: decode the generated logs with the real decoders, put every event
//! in time order, run the built-in Sigma rules (and their correlations) and the behavioural
//! detector over them, turn what fires into alerts and group the alerts into incidents.
//!
//! # Which alerts open incidents
//!
//! Every alert is grouped, but only a group holding at least one alert of level
//! [`OPENING_LEVEL`] (medium) or above is kept as an incident: `low` and `informational`
//! alerts (API key changes, a new hire's first action, a shift running late) are context
//! that joins an incident, never a reason for one. `tocsin-incident` has no such notion
//! yet, so the policy lives here (see [`open_incidents`]).

use std::collections::{BTreeSet, HashMap, HashSet};

use anyhow::{bail, Result};
use tocsin_anomaly::Detector;
use tocsin_decode::EventSource;
use tocsin_engine::Scratch;
use tocsin_event::Event;
use tocsin_incident::{group, Alert, AlertKind, AttackCatalog, GroupingConfig, Incident, Level};

use super::hosts::HostNames;
use super::truth::{AttackFootprint, EventKey};
use crate::alerts::incident_rule;
use crate::behaviour::anomaly_alert;
use crate::correlation::{Correlations, KeptMatch};
use crate::hits::HitView;
use crate::ruleset::RuleSet;

/// The lowest alert level that opens an incident.
pub const OPENING_LEVEL: Level = Level::Medium;
/// How many decode problems are kept word for word.
const KEPT_PROBLEMS: usize = 5;

/// Events read from one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCount {
    /// The source name (the path as given).
    pub name: String,
    /// Events decoded.
    pub events: usize,
}

/// What the pipeline made of one scenario's logs.
pub struct Outcome {
    /// Events per log, in the order the logs were given.
    pub logs: Vec<LogCount>,
    /// Records that could not be decoded.
    pub decode_errors: usize,
    /// The first few decode problems, as messages.
    pub problems: Vec<String>,
    /// Distinct API key ids seen in the logs.
    pub api_keys: usize,
    /// Every alert: Sigma detections, correlation hits and anomalies.
    pub alerts: Vec<Alert>,
    /// The incidents opened (see the module documentation), oldest first.
    pub incidents: Vec<Incident>,
    /// Keys of the alerts raised on attacker events.
    pub attack_alerts: HashSet<String>,
    /// Timestamps of the attacker's events, in order.
    pub attacker_event_times: Vec<i64>,
    /// Each attacker event's rank (1 for the first) in time order.
    pub attacker_event_ranks: HashMap<EventKey, usize>,
    /// The behavioural detector's learned baseline (versioned JSON).
    pub baseline: Vec<u8>,
}

/// The rules and settings every run shares.
pub struct Pipeline<'a> {
    /// The built-in rules, compiled.
    pub rules: &'a RuleSet,
    /// How alerts are grouped.
    pub grouping: GroupingConfig,
}

impl Pipeline<'_> {
    /// Runs the whole pipeline over `sources`, scoring events against `footprint`.
    pub fn run(
        &self,
        sources: Vec<Box<dyn EventSource + Send>>,
        footprint: &AttackFootprint,
    ) -> Result<Outcome> {
        let decoded = decode_all(sources);
        if decoded.events.is_empty() {
            bail!("no event could be read from the generated logs");
        }
        let detected = self.detect(&decoded.events, footprint)?;
        let incidents = open_incidents(
            group(&detected.alerts, &self.grouping, &AttackCatalog::empty()),
            &detected.alerts,
        );
        Ok(Outcome {
            logs: decoded.logs,
            decode_errors: decoded.errors,
            problems: decoded.problems,
            api_keys: distinct_api_keys(&decoded.events),
            alerts: detected.alerts,
            incidents,
            attack_alerts: detected.attack_alerts,
            attacker_event_times: detected.attacker_event_times,
            attacker_event_ranks: detected.attacker_events,
            baseline: detected.baseline,
        })
    }

    /// Rules, correlations and the behavioural detector over events in time order.
    fn detect(&self, events: &[Event], footprint: &AttackFootprint) -> Result<Detected> {
        let engine = &self.rules.engine;
        let (mut correlations, errors) =
            Correlations::build(self.rules.correlations.clone(), engine);
        if let Some(error) = errors.first() {
            bail!("a built-in correlation does not build: {error}");
        }
        let hosts = HostNames::learn(events);
        let mut detector = Detector::with_default_config();
        let mut scratch = Scratch::default();
        let mut kept = Vec::new();
        let mut alerts = Vec::new();
        let mut attacker_events: HashMap<EventKey, usize> = HashMap::new();
        let mut attacker_event_times = Vec::new();
        for event in events {
            if footprint.is_attacker_event(event) {
                let rank = attacker_events.len() + 1;
                attacker_events.insert((event.origin.source.clone(), event.origin.record), rank);
                attacker_event_times.extend(event.timestamp_micros);
            }
            for &rule in engine.evaluate(event, &mut scratch) {
                if correlations.keeps(rule) {
                    kept.push(KeptMatch {
                        rule,
                        event: event.clone(),
                    });
                }
                if correlations.shows(rule) {
                    let meta = &engine.rule(rule).meta;
                    let mut alert = Alert::from_event(AlertKind::Sigma, incident_rule(meta), event);
                    hosts.link(&mut alert, event);
                    alerts.push(alert);
                }
            }
            for anomaly in detector.observe(event) {
                let mut alert = anomaly_alert(anomaly, event);
                hosts.link(&mut alert, event);
                alerts.push(alert);
            }
        }
        let outcome = correlations.replay(engine, kept);
        for hit in &outcome.hits {
            let view = HitView {
                hit,
                meta: correlations.meta_of(hit),
                matches: &outcome.matches,
                engine,
            };
            alerts.push(view.alert());
        }
        let attack_alerts = alerts
            .iter()
            .filter(|alert| {
                let origin = (alert.origin.source.as_str().into(), alert.origin.record);
                attacker_events.contains_key(&origin)
            })
            .map(|alert| alert.key.clone())
            .collect();
        Ok(Detected {
            alerts,
            attack_alerts,
            attacker_event_times,
            attacker_events,
            baseline: detector.save_baseline()?,
        })
    }
}

/// What the detectors raised.
struct Detected {
    alerts: Vec<Alert>,
    attack_alerts: HashSet<String>,
    attacker_event_times: Vec<i64>,
    attacker_events: HashMap<EventKey, usize>,
    baseline: Vec<u8>,
}

/// The groups that hold at least one alert at [`OPENING_LEVEL`] or above.
pub fn open_incidents(groups: Vec<Incident>, alerts: &[Alert]) -> Vec<Incident> {
    let opening: HashSet<&str> = alerts
        .iter()
        .filter(|alert| alert.rule.level >= OPENING_LEVEL)
        .map(|alert| alert.key.as_str())
        .collect();
    groups
        .into_iter()
        .filter(|incident| {
            incident
                .members
                .iter()
                .any(|member| opening.contains(member.alert_key.as_str()))
        })
        .collect()
}

/// The decoded events of every log, in time order (events without a time last).
struct Decoded {
    events: Vec<Event>,
    logs: Vec<LogCount>,
    errors: usize,
    problems: Vec<String>,
}

/// Decodes every source on its own thread, then sorts all events by time (then source and
/// record, so that the order never depends on thread timing).
fn decode_all(sources: Vec<Box<dyn EventSource + Send>>) -> Decoded {
    let parts: Vec<(String, Vec<Event>, usize, Vec<String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = sources
            .into_iter()
            .map(|source| scope.spawn(move || decode_one(source)))
            .collect();
        workers
            .into_iter()
            .filter_map(|worker| worker.join().ok())
            .collect()
    });
    let mut decoded = Decoded {
        events: Vec::new(),
        logs: Vec::new(),
        errors: 0,
        problems: Vec::new(),
    };
    for (name, events, errors, problems) in parts {
        decoded.logs.push(LogCount {
            name,
            events: events.len(),
        });
        decoded.events.extend(events);
        decoded.errors += errors;
        let room = KEPT_PROBLEMS.saturating_sub(decoded.problems.len());
        decoded.problems.extend(problems.into_iter().take(room));
    }
    decoded.events.sort_by(|a, b| {
        let key = |e: &Event| {
            (
                e.timestamp_micros.is_none(),
                e.timestamp_micros,
                e.origin.source.clone(),
                e.origin.record,
            )
        };
        key(a).cmp(&key(b))
    });
    decoded
}

/// One source's events, error count and first problems.
fn decode_one(source: Box<dyn EventSource + Send>) -> (String, Vec<Event>, usize, Vec<String>) {
    let name = source.name().to_owned();
    let mut events = Vec::new();
    let mut errors = 0;
    let mut problems = Vec::new();
    for item in source {
        match item {
            Ok(event) => events.push(event),
            Err(error) => {
                errors += 1;
                if problems.len() < KEPT_PROBLEMS {
                    problems.push(error.to_string());
                }
            }
        }
    }
    (name, events, errors, problems)
}

/// How many distinct API keys the logs name.
fn distinct_api_keys(events: &[Event]) -> usize {
    events
        .iter()
        .filter_map(|event| event.text("api_key_id"))
        .filter(|key| !key.is_empty())
        .collect::<BTreeSet<String>>()
        .len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_incident::{AlertOrigin, Entity, EntityKind, RuleRef};

    fn alert(record: u64, level: Level, host: &str) -> Alert {
        let rule = RuleRef {
            id: format!("r{record}"),
            title: format!("rule {record}"),
            level,
            tags: Vec::new(),
            author: None,
        };
        let origin = AlertOrigin {
            source: "log".into(),
            record,
        };
        let host = Entity::normalised(EntityKind::Host, host)
            .into_iter()
            .collect();
        Alert::new(
            AlertKind::Sigma,
            rule,
            origin,
            Some(record as i64),
            host,
            vec![],
        )
    }

    #[test]
    fn low_alerts_join_incidents_but_never_open_one() {
        let alerts = vec![
            alert(1, Level::Low, "ws-1"),
            alert(2, Level::Medium, "ws-1"),
            alert(3, Level::Low, "ws-2"),
            alert(4, Level::Informational, "ws-3"),
        ];
        let groups = group(&alerts, &GroupingConfig::default(), &AttackCatalog::empty());
        assert_eq!(groups.len(), 3);
        let opened = open_incidents(groups, &alerts);
        assert_eq!(opened.len(), 1);
        let members: Vec<&str> = opened[0]
            .members
            .iter()
            .map(|m| m.alert_key.as_str())
            .collect();
        assert_eq!(members, [alerts[0].key.as_str(), alerts[1].key.as_str()]);
    }
}
