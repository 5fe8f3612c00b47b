//! The origin trust every driver gives the grouping: an API key's detections from the
//! site's own networks, as the behavioural detectors learned them, are context, not
//! evidence (see `tocsin_incident::origin` and `tocsin_anomaly::SiteNetworks`).
//!
//! Only alerts naming an API key are judged: keys are the site's scripts and integrations,
//! and a script run from the office is the site's own work, where a person's acts (and
//! every endpoint detection, which names no key) stay evidence wherever they come from.
//! An alert is familiar when it has a time, names at least one source address, and every
//! address it names was in one of the site's networks at that time.

use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};

use tocsin_anomaly::{saved_site_networks, SiteNetworks};
use tocsin_incident::{Alert, EntityKind, IncidentStore, OriginTrust};

use crate::behaviour::{BehaviourError, BASELINE_BLOB};

/// The site's networks as learned by the end of a run (a hunt, a demo, a regrouping of a
/// store): each network knows since when it is the site's, so one snapshot answers for
/// every earlier alert as the moment of that alert would have.
#[derive(Debug, Clone)]
pub struct FamiliarOrigins {
    networks: SiteNetworks,
}

impl FamiliarOrigins {
    /// Trusts what `networks` holds.
    pub fn new(networks: SiteNetworks) -> Self {
        FamiliarOrigins { networks }
    }

    /// Trusts the site's networks of a baseline an earlier run saved ([`BASELINE_BLOB`]),
    /// under the rules (allow-list, prefixes) they were learned with: what a driver that
    /// ran no behavioural detector itself (a regrouping, a hunt without `--behaviour`, a
    /// service without behaviour) groups with.
    ///
    /// # Errors
    ///
    /// The baseline cannot be read.
    pub fn from_baseline(saved: &[u8]) -> Result<Self, BehaviourError> {
        let networks = saved_site_networks(saved).map_err(|source| BehaviourError::Baseline {
            what: "read",
            source,
        })?;
        Ok(FamiliarOrigins { networks })
    }

    /// Trusts the site's networks of the baseline `store` holds ([`BASELINE_BLOB`]), as
    /// [`FamiliarOrigins::from_baseline`] does; `None` when it holds none (an empty blob
    /// counts as none). What `incidents regroup`, a hunt without `--behaviour` and a service
    /// without behaviour group with.
    ///
    /// # Errors
    ///
    /// The store cannot be read, or the baseline it holds cannot.
    pub fn from_store<S: IncidentStore>(
        store: &S,
    ) -> Result<Option<Self>, StoredOriginsError<S::Error>> {
        let saved = store
            .load_blob(BASELINE_BLOB)
            .map_err(StoredOriginsError::Store)?
            .filter(|bytes| !bytes.is_empty());
        saved
            .map(|saved| Self::from_baseline(&saved).map_err(StoredOriginsError::Baseline))
            .transpose()
    }

    /// The networks it trusts.
    pub fn networks(&self) -> &SiteNetworks {
        &self.networks
    }
}

/// Why [`FamiliarOrigins::from_store`] could not read a store's trust.
#[derive(Debug, thiserror::Error)]
pub enum StoredOriginsError<E: std::error::Error + 'static> {
    /// The store could not be read.
    #[error("cannot read {BASELINE_BLOB} from the store")]
    Store(#[source] E),
    /// The baseline it holds could not be read.
    #[error("cannot read the behaviour baseline saved in the store")]
    Baseline(#[source] BehaviourError),
}

impl OriginTrust for FamiliarOrigins {
    fn is_familiar(&self, alert: &Alert) -> bool {
        familiar(&self.networks, alert)
    }
}

/// The site's networks as a live service learns them: the judging thread renews the copy
/// ([`SharedOrigins::renew`]) when a network becomes the site's, before the step's
/// detections go to be grouped; the grouping thread asks. When the logs arrive in time
/// order, a network becomes the site's after every detection already grouped, so asking
/// later answers as a hunt over the same logs does. A log sent long after another (a
/// backfill) is judged with what the detectors knew when its detections were grouped: an
/// incident a hunt would not open can open then, and stays for the analyst.
#[derive(Debug, Clone, Default)]
pub struct SharedOrigins {
    networks: Arc<RwLock<SiteNetworks>>,
}

impl SharedOrigins {
    /// A copy holding `networks` to begin with.
    pub fn new(networks: SiteNetworks) -> Self {
        SharedOrigins {
            networks: Arc::new(RwLock::new(networks)),
        }
    }

    /// Replaces the copy with `networks`.
    pub fn renew(&self, networks: SiteNetworks) {
        *self
            .networks
            .write()
            .unwrap_or_else(PoisonError::into_inner) = networks;
    }
}

impl OriginTrust for SharedOrigins {
    fn is_familiar(&self, alert: &Alert) -> bool {
        let networks = self.networks.read().unwrap_or_else(PoisonError::into_inner);
        familiar(&networks, alert)
    }
}

/// Whether `alert` names an API key and only addresses of `networks` at its time.
fn familiar(networks: &SiteNetworks, alert: &Alert) -> bool {
    let Some(at) = alert.timestamp_micros else {
        return false;
    };
    let names_key = alert.entities.iter().any(|e| e.kind == EntityKind::ApiKey);
    let mut addresses = alert
        .entities
        .iter()
        .filter(|e| e.kind == EntityKind::SourceIp)
        .peekable();
    names_key
        && addresses.peek().is_some()
        && addresses.all(|e| {
            e.value
                .parse::<IpAddr>()
                .is_ok_and(|address| networks.was_familiar(address, at))
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tocsin_anomaly::{Config, Detector};
    use tocsin_event::{Event, LogSource, Value};
    use tocsin_incident::{AlertKind, AlertOrigin, Entity, Level, RuleRef};

    use super::*;

    const DAY: i64 = 86_400_000_000;

    fn login(at: i64, user: &str, ip: &str) -> Event {
        let mut event = Event::default();
        event.push("event", "", Value::from("login"));
        event.push("who_user", "", Value::from(user));
        event.push("who_ip", "", Value::from(ip));
        event.timestamp_micros = Some(at);
        event.logsource = Some(Arc::new(LogSource::new("remote_support", "appliance")));
        event
    }

    /// Two representatives working from the office 198.51.100.0/24 for ten days, three
    /// logins a day each: past their learning period (7 days, 20 events) on day 7.
    fn office_week() -> SiteNetworks {
        let mut detector = Detector::new(Config::builtin().expect("built-in configuration"));
        for day in 0..10 {
            for hour in [9, 12, 15] {
                let at = day * DAY + hour * DAY / 24;
                detector.observe(&login(at, "alice", "198.51.100.10"));
                detector.observe(&login(at + 1, "bob", "198.51.100.11"));
            }
        }
        detector.site_networks()
    }

    fn alert(at: i64, entities: &[(EntityKind, &str)]) -> Alert {
        let rule = RuleRef {
            id: "reset".into(),
            title: "Reset".into(),
            level: Level::Critical,
            tags: vec![],
            author: None,
        };
        let entities = entities
            .iter()
            .map(|(kind, value)| Entity {
                kind: *kind,
                value: (*value).to_owned(),
            })
            .collect();
        Alert::new(
            AlertKind::Sigma,
            rule,
            AlertOrigin::default(),
            Some(at),
            entities,
            vec![],
        )
    }

    #[test]
    fn only_a_keys_acts_from_the_sites_networks_are_familiar() {
        let trust = FamiliarOrigins::new(office_week());
        let late = 10 * DAY;
        let key = (EntityKind::ApiKey, "k-1");
        let office = (EntityKind::SourceIp, "198.51.100.99");
        let hosting = (EntityKind::SourceIp, "203.0.113.9");
        assert!(trust.is_familiar(&alert(late, &[key, office])));
        assert!(!trust.is_familiar(&alert(late, &[key, hosting])));
        assert!(!trust.is_familiar(&alert(late, &[key, office, hosting])));
        assert!(!trust.is_familiar(&alert(late, &[key])), "no address");
        let person = (EntityKind::User, "alice");
        assert!(
            !trust.is_familiar(&alert(late, &[person, office])),
            "not a key"
        );
        assert!(
            !trust.is_familiar(&alert(0, &[key, office])),
            "before it was the site's"
        );
    }

    #[test]
    fn a_shared_copy_answers_with_what_it_was_last_given() {
        let nothing_learned = Detector::new(Config::builtin().expect("built-in configuration"));
        let shared = SharedOrigins::new(nothing_learned.site_networks());
        let found = alert(
            10 * DAY,
            &[
                (EntityKind::ApiKey, "k-1"),
                (EntityKind::SourceIp, "198.51.100.99"),
            ],
        );
        assert!(!shared.is_familiar(&found));
        shared.renew(office_week());
        assert!(shared.clone().is_familiar(&found));
    }
}
