//! The storage trait: what incident logic needs from a database, so that the embedded SQLite
//! store (`tocsin-store`) and a later server database are interchangeable.
//!
//! Contract for implementations:
//!
//! * [`IncidentStore::put_alerts`] and [`IncidentStore::record_hunt`] are idempotent: an alert
//!   whose key is already stored is counted as existing and left unchanged.
//! * [`IncidentStore::record_hunt`] is atomic: after a crash either all of its alerts and
//!   incidents are stored or none.
//! * Saving an incident replaces its computed part (title, members, ATT&CK, severity,
//!   timeline) but keeps the stored [`Lifecycle`](crate::Lifecycle): analysts' work is never
//!   overwritten by regrouping. Lifecycle changes go through [`IncidentStore::apply_change`].
//! * The audit trail is append-only.

use crate::alert::Alert;
use crate::incident::Incident;
use crate::lifecycle::{AuditRecord, Status};
use crate::severity::Band;

/// How many alerts a write added and how many were already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PutOutcome {
    /// Alerts stored for the first time.
    pub new: usize,
    /// Alerts whose key was already stored (a rerun of the same hunt).
    pub existing: usize,
}

/// Which incidents [`IncidentStore::list_incidents`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IncidentFilter {
    /// Only these statuses (all when empty).
    pub statuses: Vec<Status>,
    /// Only incidents of this band or worse.
    pub min_band: Option<Band>,
    /// Only incidents whose last activity is at or after this time (microseconds, UTC).
    pub since_micros: Option<i64>,
    /// At most this many (all when `None`).
    pub limit: Option<usize>,
}

impl IncidentFilter {
    /// Whether `incident` passes the filter (ignoring `limit`), for implementations that
    /// filter in memory.
    pub fn accepts(&self, incident: &Incident) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&incident.lifecycle.status))
            && self
                .min_band
                .is_none_or(|band| incident.severity.band >= band)
            && self
                .since_micros
                .is_none_or(|since| incident.last_seen_micros.is_some_and(|last| last >= since))
    }
}

/// Durable storage of alerts, incidents, their audit trail and other components' state.
pub trait IncidentStore {
    /// The store's error type.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Stores alerts, skipping those already stored (by key).
    fn put_alerts(&mut self, alerts: &[Alert]) -> Result<PutOutcome, Self::Error>;

    /// Stores alerts and the incidents grouped from them in one atomic step.
    fn record_hunt(
        &mut self,
        alerts: &[Alert],
        incidents: &[Incident],
    ) -> Result<PutOutcome, Self::Error>;

    /// Every stored alert, oldest first, for regrouping.
    fn all_alerts(&self) -> Result<Vec<Alert>, Self::Error>;

    /// Saves incidents' computed part; a new incident is stored whole (lifecycle included),
    /// an existing one keeps its stored lifecycle.
    fn save_incidents(&mut self, incidents: &[Incident]) -> Result<(), Self::Error>;

    /// One incident with its stored lifecycle.
    fn incident(&self, id: &str) -> Result<Option<Incident>, Self::Error>;

    /// The incidents that pass `filter`, most recent activity first.
    fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, Self::Error>;

    /// The alerts of an incident, in its member order.
    fn alerts_of(&self, incident_id: &str) -> Result<Vec<Alert>, Self::Error>;

    /// Saves the lifecycle of `incident` (after a change made with
    /// [`Incident::transition`] and friends) and appends `record`, atomically.
    fn apply_change(
        &mut self,
        incident: &Incident,
        record: &AuditRecord,
    ) -> Result<(), Self::Error>;

    /// The audit trail of an incident, oldest first.
    fn audit_of(&self, incident_id: &str) -> Result<Vec<AuditRecord>, Self::Error>;

    /// A named opaque blob another component saved (e.g. a learned baseline).
    fn load_blob(&self, name: &str) -> Result<Option<Vec<u8>>, Self::Error>;

    /// Saves (or replaces) a named opaque blob.
    fn save_blob(&mut self, name: &str, bytes: &[u8]) -> Result<(), Self::Error>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::Lifecycle;
    use crate::severity::{Severity, SeverityInput};
    use crate::Level;

    fn incident(status: Status, level: Level, last_seen: Option<i64>) -> Incident {
        let mut incident = Incident::placeholder("INC-1");
        incident.lifecycle = Lifecycle {
            status,
            ..Lifecycle::default()
        };
        incident.severity = Severity::compute(SeverityInput {
            max_level: level,
            ..SeverityInput::default()
        });
        incident.last_seen_micros = last_seen;
        incident
    }

    #[test]
    fn filter_checks_status_band_and_time() {
        let open_high = incident(Status::Investigating, Level::High, Some(100));
        assert!(IncidentFilter::default().accepts(&open_high));
        let only_new = IncidentFilter {
            statuses: vec![Status::New],
            ..IncidentFilter::default()
        };
        assert!(!only_new.accepts(&open_high));
        let critical = IncidentFilter {
            min_band: Some(Band::Critical),
            ..IncidentFilter::default()
        };
        assert!(!critical.accepts(&open_high));
        let high = IncidentFilter {
            min_band: Some(Band::High),
            ..IncidentFilter::default()
        };
        assert!(high.accepts(&open_high));
        let recent = IncidentFilter {
            since_micros: Some(101),
            ..IncidentFilter::default()
        };
        assert!(!recent.accepts(&open_high));
        assert!(!recent.accepts(&incident(Status::New, Level::High, None)));
    }
}
