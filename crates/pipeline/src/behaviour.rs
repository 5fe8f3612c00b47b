//! The behavioural detectors of `tocsin-anomaly` over the events of the sources they watch
//! (remote-support appliance and API audit logs by default).
//!
//! The detectors need events in time order and a baseline learned over earlier runs. A scan
//! keeps only the events a watched source accepts; afterwards they are sorted by
//! (timestamp, source, record) and fed to the detector. A driver with a store loads the
//! baseline before ([`Behaviour::resume`]) and saves it after ([`Behaviour::baseline`]), so
//! that a later run over newer logs goes on from what this one learned instead of starting a
//! new learning period.

use std::io;
use std::path::Path;

use tocsin_anomaly::{Anomaly, BaselineError, Config, ConfigError, Detector};
use tocsin_event::Event;

use crate::origins::FamiliarOrigins;
use crate::repeats::Repeats;
use crate::spill::TimeSorted;

/// The store blob the detector's baseline is saved under.
pub const BASELINE_BLOB: &str = "anomaly-baseline";

/// What can go wrong with the behavioural detectors' configuration or baseline.
#[derive(Debug, thiserror::Error)]
pub enum BehaviourError {
    /// The configuration file cannot be read or is invalid.
    #[error("cannot load the behaviour configuration {path}")]
    Config {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: ConfigError,
    },
    /// A saved baseline cannot be read, or the learned one cannot be saved.
    #[error("the behaviour baseline cannot be {what}")]
    Baseline {
        /// `read` or `saved`.
        what: &'static str,
        /// Why.
        #[source]
        source: BaselineError,
    },
}

/// The behavioural detectors of a run, and where their baseline came from.
pub struct Behaviour {
    detector: Detector,
    resumed: bool,
}

impl Behaviour {
    /// The detectors with the built-in configuration.
    pub fn builtin() -> Self {
        Behaviour {
            detector: Detector::with_default_config(),
            resumed: false,
        }
    }

    /// The detectors with the configuration in `path`, or the built-in one.
    pub fn load(path: Option<&Path>) -> Result<Self, BehaviourError> {
        let Some(path) = path else {
            return Ok(Self::builtin());
        };
        let config = Config::load(path).map_err(|source| BehaviourError::Config {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Behaviour {
            detector: Detector::new(config),
            resumed: false,
        })
    }

    /// Whether some watched source's logsource takes this event: a scan keeps (clones)
    /// only those until the replay. The detector ignores every other event, so leaving them
    /// out changes nothing but memory: on a hunt of 1.8 GB of endpoint logs beside an
    /// appliance's, it kept 2.3 million endpoint events it would never use.
    pub fn watches(&self, event: &Event) -> bool {
        let logsource = event.logsource.as_deref();
        self.detector
            .config()
            .sources
            .iter()
            .any(|s| s.logsource.matches(logsource))
    }

    /// Goes on from a baseline saved by an earlier run.
    pub fn resume(&mut self, saved: &[u8]) -> Result<(), BehaviourError> {
        self.detector
            .load_baseline(saved)
            .map_err(|source| BehaviourError::Baseline {
                what: "read",
                source,
            })?;
        self.resumed = true;
        Ok(())
    }

    /// The site's own networks learned so far, as the grouping's origin trust (see
    /// [`FamiliarOrigins`]).
    pub fn familiar_origins(&self) -> FamiliarOrigins {
        FamiliarOrigins::new(self.detector.site_networks())
    }

    /// The site's own networks learned so far (see [`tocsin_anomaly::SiteNetworks`]), for
    /// a live service to share with its grouping ([`crate::SharedOrigins`]).
    pub fn site_networks(&self) -> tocsin_anomaly::SiteNetworks {
        self.detector.site_networks()
    }

    /// How many networks are the site's so far (it only grows).
    pub fn site_network_count(&self) -> usize {
        self.detector.site_network_count()
    }

    /// Whether the baseline was loaded from an earlier run.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// The baseline to save for the next run.
    pub fn baseline(&self) -> Result<Vec<u8>, BehaviourError> {
        self.detector
            .save_baseline()
            .map_err(|source| BehaviourError::Baseline {
                what: "saved",
                source,
            })
    }

    /// Observes the watched events, in the time order `events` yields them, and returns
    /// each anomaly with its event. A Windows event read from two inputs is observed once.
    ///
    /// # Errors
    ///
    /// `events` spilled to disk and cannot be read back.
    pub fn run(&mut self, events: &mut TimeSorted<Event>) -> io::Result<Vec<(Anomaly, Event)>> {
        let mut found = Vec::new();
        let mut repeats = Repeats::default();
        for event in events.sorted()? {
            let event = event?;
            let repeat = event
                .timestamp_micros
                .is_some_and(|at| repeats.is_repeat(at, None, &event));
            if repeat {
                continue;
            }
            let anomalies = self.detector.observe(&event);
            found.extend(anomalies.into_iter().map(|a| (a, Event::clone(&event))));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tocsin_event::{Event, LogSource, Value};

    use super::*;

    fn event(logsource: Option<LogSource>) -> Event {
        let mut event = Event::default();
        event.push("api_key_id", "", Value::from("k-1"));
        event.logsource = logsource.map(Arc::new);
        event
    }

    #[test]
    fn only_events_of_a_watched_logsource_are_kept() {
        // Issue 20, finding 17: every event of a hunt was kept for the replay.
        let behaviour = Behaviour::builtin();
        assert!(behaviour.watches(&event(Some(LogSource::new("remote_support", "api_audit")))));
        assert!(behaviour.watches(&event(Some(LogSource::new("remote_support", "appliance")))));
        assert!(!behaviour.watches(&event(None)));
        assert!(!behaviour.watches(&event(Some(LogSource::new("linux", "sshd")))));
    }
}
