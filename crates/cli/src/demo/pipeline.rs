//! The demo's pipeline: decode the generated logs with the real decoders, put every event
//! in time order, and run `tocsin-pipeline`'s detectors over them (the built-in Sigma rules,
//! their correlations and the behavioural detectors), exactly as `tocsin hunt --rules
//! builtin --behaviour` does; then score the alerts against the ground truth. Grouping into
//! incidents, with its opening level, is the pipeline's too (see `super::save`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tocsin_decode::EventSource;
use tocsin_engine::{Engine, Scratch};
use tocsin_event::Event;
use tocsin_incident::{Alert, GroupingConfig, Incident};
use tocsin_pipeline::{AlertCollector, Behaviour, Detectors, FamiliarOrigins};
use tocsin_sigma::ast::CorrelationRule;

use super::truth::{AttackFootprint, EventKey};

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
    /// The incidents opened, oldest first, as the store holds them (empty until the alerts
    /// are stored: see `super::save`).
    pub incidents: Vec<Incident>,
    /// Keys of the alerts raised on attacker events.
    pub attack_alerts: HashSet<String>,
    /// Timestamps of the attacker's events, in order.
    pub attacker_event_times: Vec<i64>,
    /// Each attacker event's rank (1 for the first) in time order.
    pub attacker_event_ranks: HashMap<EventKey, usize>,
    /// The behavioural detector's learned baseline (versioned JSON).
    pub baseline: Vec<u8>,
    /// The site's own networks it learned, for the grouping (see [`FamiliarOrigins`]).
    pub origins: Option<FamiliarOrigins>,
}

/// The rules and settings every run shares.
pub struct Pipeline {
    /// The built-in rules, compiled.
    pub engine: Arc<Engine>,
    /// The built-in correlation rules.
    pub correlations: Vec<CorrelationRule>,
    /// How alerts are grouped (the pipeline's defaults, as `hunt` uses them).
    pub grouping: GroupingConfig,
}

impl Pipeline {
    /// Runs the whole pipeline over `sources`, scoring events against `footprint`.
    pub fn run(
        &self,
        sources: Vec<Box<dyn EventSource + Send>>,
        footprint: &AttackFootprint,
    ) -> Result<Outcome> {
        self.run_part(sources, footprint, |_| true, None)
    }

    /// Runs the pipeline over the events of `sources` that `keep` takes, the behavioural
    /// detectors going on from `resumed` (a baseline an earlier part saved) when given: one
    /// side of a restart.
    pub fn run_part(
        &self,
        sources: Vec<Box<dyn EventSource + Send>>,
        footprint: &AttackFootprint,
        keep: impl Fn(&Event) -> bool,
        resumed: Option<&[u8]>,
    ) -> Result<Outcome> {
        let mut decoded = decode_all(sources);
        if decoded.events.is_empty() {
            bail!("no event could be read from the generated logs");
        }
        decoded.events.retain(|event| keep(event));
        let detected = self.detect(&decoded.events, footprint, resumed)?;
        Ok(Outcome {
            logs: decoded.logs,
            decode_errors: decoded.errors,
            problems: decoded.problems,
            api_keys: distinct_api_keys(&decoded.events),
            alerts: detected.alerts,
            incidents: Vec::new(),
            attack_alerts: detected.attack_alerts,
            attacker_event_times: detected.attacker_event_times,
            attacker_event_ranks: detected.attacker_events,
            baseline: detected.baseline,
            origins: detected.origins,
        })
    }

    /// The pipeline's detectors over the events (in time order), as a hunt runs them.
    fn detect(
        &self,
        events: &[Event],
        footprint: &AttackFootprint,
        resumed: Option<&[u8]>,
    ) -> Result<Detected> {
        let mut behaviour = Behaviour::builtin();
        if let Some(saved) = resumed {
            behaviour.resume(saved)?;
        }
        let (mut detectors, errors) = Detectors::new(
            Arc::clone(&self.engine),
            self.correlations.clone(),
            Some(behaviour),
        );
        if let Some(error) = errors.first() {
            bail!("a built-in correlation does not build: {error}");
        }
        let mut scratch = Scratch::default();
        let mut collector = AlertCollector::default();
        let mut attacker_events: HashMap<EventKey, usize> = HashMap::new();
        let mut attacker_event_times = Vec::new();
        for event in events {
            if footprint.is_attacker_event(event) {
                let rank = attacker_events.len() + 1;
                attacker_events.insert((event.origin.source.clone(), event.origin.record), rank);
                attacker_event_times.extend(event.timestamp_micros);
            }
            let _ = detectors.scan(event, &mut scratch, &mut collector);
        }
        collector
            .replay(&mut detectors)
            .context("cannot replay the demo's kept matches and watched events")?;
        let alerts = collector.alerts;
        let attack_alerts = alerts
            .iter()
            .filter(|alert| {
                let origin = (alert.origin.source.as_str().into(), alert.origin.record);
                attacker_events.contains_key(&origin)
            })
            .map(|alert| alert.key.clone())
            .collect();
        let baseline = match detectors.behaviour() {
            Some(behaviour) => behaviour.baseline()?,
            None => Vec::new(),
        };
        Ok(Detected {
            alerts,
            attack_alerts,
            attacker_event_times,
            attacker_events,
            baseline,
            origins: detectors.behaviour().map(Behaviour::familiar_origins),
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
    origins: Option<FamiliarOrigins>,
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
