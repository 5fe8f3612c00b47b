//! The storage trait: what incident logic needs from a database, so that the embedded SQLite
//! store, the in-memory one (both in `tocsin-store`) and a later server database are
//! interchangeable.
//!
//! Contract for implementations (checked by the `conformance` suite, cargo feature
//! `conformance`, which every implementation runs):
//!
//! * [`IncidentStore::put_alerts`] and [`IncidentStore::record_hunt`] are idempotent: an alert
//!   whose key is already stored is counted as existing and left unchanged.
//! * [`IncidentStore::record_hunt`], [`IncidentStore::save_incidents`] and
//!   [`IncidentStore::save_incidents_with_blobs`] are atomic: after a crash or a refused write
//!   either all of their alerts, incidents and blobs are stored or none.
//!   An incident whose member names an alert the store does not hold is refused.
//! * Saving incidents follows the [`SavePlan`](crate::SavePlan), computed by this crate from
//!   what the store reports ([`IncidentStore::memberships_of`],
//!   [`IncidentStore::incident_states`]): an incident's computed part (title, members,
//!   ATT&CK, severity, timeline) is replaced but its stored
//!   [`Lifecycle`](crate::Lifecycle) is kept, so analysts' work is never overwritten by
//!   regrouping; an incident the regrouping absorbed points at its survivor
//!   ([`IncidentStore::merged_into`]), which takes over its lifecycle if its own is
//!   untouched ([`crate::plan`] gives the rules). Lifecycle changes go through
//!   [`IncidentStore::update_incident`] (read, change and write as one atomic step) or
//!   [`IncidentStore::apply_change`] (a change already made by the caller).
//! * Listing hides absorbed incidents; [`IncidentStore::incident`] still finds them.
//! * The audit trail is append-only.

use std::collections::BTreeMap;

use crate::alert::Alert;
use crate::incident::Incident;
use crate::lifecycle::{AuditRecord, Status};
use crate::plan::IncidentState;
use crate::severity::Band;
use crate::suppression::{NewSuppression, Removal, Suppression};

/// How many alerts a write added and how many were already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PutOutcome {
    /// Alerts stored for the first time.
    pub new: usize,
    /// Alerts whose key was already stored (a rerun of the same hunt).
    pub existing: usize,
}

impl PutOutcome {
    /// The outcome of a write that stored, for each alert, `first_time` or not
    /// ([`IncidentStore::store_alerts`]).
    pub fn of(first_time: &[bool]) -> PutOutcome {
        let new = first_time.iter().filter(|new| **new).count();
        PutOutcome {
            new,
            existing: first_time.len() - new,
        }
    }
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

    /// Stores alerts, skipping those already stored (by key); says of each whether it was
    /// stored for the first time, so that a caller groups only the new ones (an alert
    /// stored before was grouped then, see `tocsin_pipeline`'s writer).
    fn store_alerts(&mut self, alerts: &[Alert]) -> Result<Vec<bool>, Self::Error>;

    /// Stores alerts, skipping those already stored (by key); says how many were new.
    fn put_alerts(&mut self, alerts: &[Alert]) -> Result<PutOutcome, Self::Error> {
        self.store_alerts(alerts)
            .map(|first_time| PutOutcome::of(&first_time))
    }

    /// Stores alerts and saves the incidents grouped from them (as
    /// [`IncidentStore::save_incidents`] does) in one atomic step.
    fn record_hunt(
        &mut self,
        alerts: &[Alert],
        incidents: &[Incident],
    ) -> Result<PutOutcome, Self::Error>;

    /// How many alerts are stored (cheaply: without reading them).
    fn alert_count(&self) -> Result<usize, Self::Error>;

    /// Every stored alert, oldest first, for regrouping.
    fn all_alerts(&self) -> Result<Vec<Alert>, Self::Error>;

    /// The stored alerts after the one at `micros` keyed `key` in grouping order (time,
    /// then key), in that order, alerts without a time last: what continuing a grouping
    /// from a state saved up to that alert reads, instead of every stored alert.
    fn alerts_after(&self, micros: i64, key: &str) -> Result<Vec<Alert>, Self::Error>;

    /// The alerts stored after the first `count` ones, in the order they were stored, or
    /// `None` when the store cannot tell that order (then a caller regroups everything):
    /// what a grouping that covered the first `count` stored alerts leaves waiting, read
    /// without reading the others.
    fn alerts_stored_after(&self, count: usize) -> Result<Option<Vec<Alert>>, Self::Error>;

    /// The keys of [`IncidentStore::alerts_stored_after`], without reading the alerts.
    fn keys_stored_after(&self, count: usize) -> Result<Option<Vec<String>>, Self::Error> {
        self.alerts_stored_after(count)
            .map(|alerts| alerts.map(|alerts| alerts.into_iter().map(|a| a.key).collect()))
    }

    /// How many alerts [`IncidentStore::alerts_after`] would return (cheaply: without
    /// reading them), so that a caller with a memory budget can decide not to read them.
    fn count_alerts_after(&self, micros: i64, key: &str) -> Result<usize, Self::Error>;

    /// Saves a regrouping: computes the [`SavePlan`](crate::SavePlan) from what the store
    /// holds and applies it in one atomic step. A new incident is stored whole (lifecycle
    /// included), an existing one keeps its stored lifecycle unless it inherits one.
    fn save_incidents(&mut self, incidents: &[Incident]) -> Result<(), Self::Error>;

    /// Saves a regrouping as [`IncidentStore::save_incidents`] does and saves (or replaces)
    /// the named blobs, all in one atomic step: a run's last write, so that state learned
    /// from the run (a behavioural baseline, the grouping state) is never stored without the
    /// incidents grouped from the same run, nor they without it.
    fn save_incidents_with_blobs(
        &mut self,
        incidents: &[Incident],
        blobs: &[(&str, &[u8])],
    ) -> Result<(), Self::Error>;

    /// For each of `alert_keys` stored under an incident, that incident's id (keys stored
    /// under none are left out): what a save needs to know which detections move.
    fn memberships_of(&self, alert_keys: &[&str]) -> Result<BTreeMap<String, String>, Self::Error>;

    /// The stored lifecycle and current number of detections of each of `ids` the store
    /// holds (others are left out): what a save needs to tell absorbed incidents and
    /// whose lifecycle passes on.
    fn incident_states(&self, ids: &[&str])
        -> Result<BTreeMap<String, IncidentState>, Self::Error>;

    /// The incident that absorbed incident `id` when a later regrouping merged it or
    /// reopened it under a new id; `None` for a live or unknown incident. Old ids given to
    /// analysts keep leading to the detections by following these links.
    fn merged_into(&self, id: &str) -> Result<Option<String>, Self::Error>;

    /// One incident with its stored lifecycle, absorbed or not.
    fn incident(&self, id: &str) -> Result<Option<Incident>, Self::Error>;

    /// The live incidents (absorbed ones left out) that pass `filter`, most recent activity
    /// first (incidents without a time last, then by id).
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

    /// Applies `change` to incident `id` as stored at this moment and saves the lifecycle it
    /// leaves and the audit records it returns, as one atomic step that no other writer can
    /// come into between the read and the write (so concurrent analysts never lose each
    /// other's changes, and each audit record starts from the state the incident was really
    /// in). When `change` refuses, nothing is written and its error is returned inside `Ok`;
    /// an unknown incident is the store's error.
    fn update_incident<E>(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut Incident) -> Result<Vec<AuditRecord>, E>,
    ) -> Result<Result<Vec<AuditRecord>, E>, Self::Error>;

    /// The audit trail of an incident, oldest first.
    fn audit_of(&self, incident_id: &str) -> Result<Vec<AuditRecord>, Self::Error>;

    /// A named opaque blob another component saved (e.g. a learned baseline).
    fn load_blob(&self, name: &str) -> Result<Option<Vec<u8>>, Self::Error>;

    /// Saves (or replaces) a named opaque blob.
    fn save_blob(&mut self, name: &str, bytes: &[u8]) -> Result<(), Self::Error>;

    /// Records a suppression (checked with [`NewSuppression::validate`] by the caller) and
    /// returns it with the id the store gave it.
    fn add_suppression(&mut self, suppression: &NewSuppression)
        -> Result<Suppression, Self::Error>;

    /// Every suppression, removed ones included, oldest first.
    fn suppressions(&self) -> Result<Vec<Suppression>, Self::Error>;

    /// Marks suppression `id` removed by `removal`; `false` (nothing written) when the store
    /// holds no such suppression in force.
    fn remove_suppression(&mut self, id: u64, removal: &Removal) -> Result<bool, Self::Error>;
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
