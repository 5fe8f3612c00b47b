//! `hunt --behaviour`: the behavioural detectors of `tocsin-anomaly` over the events of the
//! sources they watch (remote-support appliance and API audit logs by default).
//!
//! The detectors need events in time order and a baseline learned over earlier runs. The
//! workers keep only the events a watched source accepts; after the scan they are sorted by
//! (timestamp, source, record) and fed to the detector. With `--store`, the baseline is
//! loaded from the store before and saved after, so a later hunt over newer logs goes on
//! from what this one learned instead of starting a new learning period.

use std::path::Path;

use anyhow::{Context, Result};
use tocsin_anomaly::{Anomaly, Config, Detector};
use tocsin_event::Event;
use tocsin_incident::{Alert, AlertKind, Level, RuleRef};
use tocsin_output::DetectionRecord;
use tocsin_sigma::ast::{Level as SigmaLevel, Metadata};

/// The store blob the detector's baseline is saved under.
pub const BASELINE_BLOB: &str = "anomaly-baseline";

/// The detector of a hunt, and where its baseline came from.
pub struct Behaviour {
    detector: Detector,
    /// Whether a baseline was loaded from the store.
    pub resumed: bool,
}

impl Behaviour {
    /// The detector with the built-in configuration, or the one in `config`.
    pub fn new(config: Option<&Path>) -> Result<Self> {
        let detector = match config {
            Some(path) => Detector::new(
                Config::load(path)
                    .with_context(|| format!("cannot load behaviour config {}", path.display()))?,
            ),
            None => Detector::with_default_config(),
        };
        Ok(Behaviour {
            detector,
            resumed: false,
        })
    }

    /// Whether some watched source takes this event (workers keep only those).
    pub fn watches(&self, event: &Event) -> bool {
        self.detector
            .config()
            .sources
            .iter()
            .any(|s| s.accepts(event))
    }

    /// Goes on from a baseline saved by an earlier run.
    pub fn resume(&mut self, saved: &[u8]) -> Result<()> {
        self.detector
            .load_baseline(saved)
            .context("the stored behaviour baseline cannot be read")?;
        self.resumed = true;
        Ok(())
    }

    /// The baseline to save for the next run.
    pub fn baseline(&self) -> Result<Vec<u8>> {
        Ok(self.detector.save_baseline()?)
    }

    /// Feeds the kept events in time order; returns each anomaly with its event.
    pub fn run(&mut self, mut events: Vec<Event>) -> Vec<(Anomaly, Event)> {
        events.sort_by(|a, b| {
            (a.timestamp_micros, &a.origin.source, a.origin.record).cmp(&(
                b.timestamp_micros,
                &b.origin.source,
                b.origin.record,
            ))
        });
        let mut found = Vec::new();
        for event in events {
            let anomalies = self.detector.observe(&event);
            found.extend(anomalies.into_iter().map(|a| (a, event.clone())));
        }
        found
    }
}

/// An anomaly as an output line: the event's columns, the detector as the rule, and the
/// explanation in the details.
pub fn anomaly_record(anomaly: &Anomaly, event: &Event) -> DetectionRecord {
    let meta = Metadata {
        title: anomaly.title.clone(),
        id: Some(anomaly.rule_id()),
        level: Some(match anomaly.level {
            tocsin_anomaly::Level::Low => SigmaLevel::Low,
            tocsin_anomaly::Level::Medium => SigmaLevel::Medium,
            tocsin_anomaly::Level::High => SigmaLevel::High,
        }),
        tags: anomaly.tags.clone(),
        author: Some("tocsin behavioural detector".into()),
        ..Metadata::default()
    };
    let mut record = DetectionRecord::new(&meta, event);
    record
        .details
        .insert("explanation", anomaly.explanation.clone().into());
    record
}

/// The alert of an anomaly, joined to incidents through the event's entities and
/// explained in the anomaly's words.
pub fn anomaly_alert(anomaly: Anomaly, event: &Event) -> Alert {
    let rule = RuleRef {
        id: anomaly.rule_id(),
        title: anomaly.title,
        level: match anomaly.level {
            tocsin_anomaly::Level::Low => Level::Low,
            tocsin_anomaly::Level::Medium => Level::Medium,
            tocsin_anomaly::Level::High => Level::High,
        },
        tags: anomaly.tags,
        author: None,
    };
    Alert::from_event(AlertKind::Anomaly, rule, event).with_explanation(anomaly.explanation)
}
